// JSON documents <-> policy values: parsing text straight into values (a Boost.JSON
// basic_parser handler, no DOM in between), converting a Boost.JSON DOM, and back.
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <limits>
#include <string>
#include <vector>

#include "policy/value.h"

namespace statehouse::policy {

namespace {

// Builds values from JSON with the strings it has seen shared: plans and states repeat the same
// keys and short values (addresses' types, actions) thousands of times, and one allocation
// each would dominate the conversion. The memory is direct-mapped, one string per slot: a
// lookup is one hash and one compare, and a string seen once (an ID) only takes over a slot.
// Tables start small (json.unmarshal and workspace documents are small) and grow with the
// strings a document brings.
class ValueFactory {
 public:
  Value Key(std::string_view s) { return keys_.Shared(s); }
  Value String(std::string_view s) { return strings_.Shared(s); }

 private:
  static constexpr size_t kSharedMaxLength = 24;

  class Table {
   public:
    explicit Table(size_t max_slots) : max_slots_(max_slots) {}
    Value Shared(std::string_view s) {
      if (s.size() > kSharedMaxLength) return Value::String(std::string(s));
      if (slots_.empty()) slots_.resize(kFirstSlots);
      size_t hash = std::hash<std::string_view>()(s);
      Slot& slot = slots_[hash & (slots_.size() - 1)];
      if (slot.hash == hash && slot.value.IsString() && slot.value.AsString() == s) {
        return slot.value;
      }
      Value made = Value::String(std::string(s));
      slot.hash = hash;
      slot.value = made;
      if (++made_ > 2 * slots_.size() && slots_.size() < max_slots_) Grow();
      return made;
    }

   private:
    static constexpr size_t kFirstSlots = 64;
    struct Slot {
      size_t hash = 0;
      Value value;
    };
    void Grow() {
      std::vector<Slot> bigger(slots_.size() * 4);
      for (auto& slot : slots_) {
        if (slot.value.IsString()) bigger[slot.hash & (bigger.size() - 1)] = std::move(slot);
      }
      slots_ = std::move(bigger);
      made_ = 0;
    }
    std::vector<Slot> slots_;
    size_t made_ = 0;  // strings made since the table last grew
    size_t max_slots_;
  };
  Table keys_{1024};
  Table strings_{4096};
};

Value FromJsonWith(const boost::json::value& json, ValueFactory& factory) {
  switch (json.kind()) {
    case boost::json::kind::null:
      return Value::Null();
    case boost::json::kind::bool_:
      return Value::Bool(json.get_bool());
    case boost::json::kind::int64:
      return Value::Int(json.get_int64());
    case boost::json::kind::uint64: {
      uint64_t u = json.get_uint64();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Int(static_cast<int64_t>(u));
      }
      return Value::Double(static_cast<double>(u));
    }
    case boost::json::kind::double_:
      return Value::Double(json.get_double());
    case boost::json::kind::string:
      return factory.String(json.get_string());
    case boost::json::kind::array: {
      const auto& arr = json.get_array();
      Array items;
      items.reserve(arr.size());
      for (const auto& item : arr) items.push_back(FromJsonWith(item, factory));
      return Value::MakeArray(std::move(items));
    }
    case boost::json::kind::object: {
      const auto& obj = json.get_object();
      std::vector<ObjectEntry> entries;
      entries.reserve(obj.size());
      for (const auto& member : obj) {
        entries.emplace_back(factory.Key(member.key()), FromJsonWith(member.value(), factory));
      }
      return Value::MakeObject(std::move(entries));  // sorts only when the keys are not
    }
  }
  return Value::Null();
}

// A boost::json::basic_parser handler that builds values directly, without a DOM in between.
class ValueBuilder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  using ec_t = boost::system::error_code;
  using sv_t = boost::json::string_view;

  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_object_begin(ec_t&) { return true; }
  bool on_object_end(std::size_t n, ec_t&) {
    size_t first = stack_.size() - 2 * n;
    Value object = Value::ObjectFromPairs(stack_.data() + first, n);
    stack_.resize(first);
    stack_.push_back(std::move(object));
    return true;
  }
  bool on_array_begin(ec_t&) { return true; }
  bool on_array_end(std::size_t n, ec_t&) {
    auto first = stack_.end() - static_cast<std::ptrdiff_t>(n);
    Array items(std::make_move_iterator(first), std::make_move_iterator(stack_.end()));
    stack_.erase(first, stack_.end());
    stack_.push_back(Value::MakeArray(std::move(items)));
    return true;
  }
  bool on_key_part(sv_t s, std::size_t, ec_t&) {
    partial_.append(s.data(), s.size());
    return true;
  }
  bool on_key(sv_t s, std::size_t, ec_t&) {
    stack_.push_back(factory_.Key(Whole(s)));
    return true;
  }
  bool on_string_part(sv_t s, std::size_t, ec_t&) {
    partial_.append(s.data(), s.size());
    return true;
  }
  bool on_string(sv_t s, std::size_t, ec_t&) {
    stack_.push_back(factory_.String(Whole(s)));
    return true;
  }
  bool on_number_part(sv_t, ec_t&) { return true; }
  bool on_int64(std::int64_t i, sv_t, ec_t&) {
    stack_.push_back(Value::Int(i));
    return true;
  }
  bool on_uint64(std::uint64_t u, sv_t, ec_t&) {
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      stack_.push_back(Value::Int(static_cast<int64_t>(u)));
    } else {
      stack_.push_back(Value::Double(static_cast<double>(u)));
    }
    return true;
  }
  bool on_double(double d, sv_t, ec_t&) {
    stack_.push_back(Value::Double(d));
    return true;
  }
  bool on_bool(bool b, ec_t&) {
    stack_.push_back(Value::Bool(b));
    return true;
  }
  bool on_null(ec_t&) {
    stack_.push_back(Value::Null());
    return true;
  }
  bool on_comment_part(sv_t, ec_t&) { return true; }
  bool on_comment(sv_t, ec_t&) { return true; }

  Value Result() { return stack_.empty() ? Value() : std::move(stack_.back()); }

 private:
  // The string whose last part is s: s itself unless earlier parts were buffered.
  std::string_view Whole(sv_t s) {
    if (partial_.empty()) return std::string_view(s.data(), s.size());
    partial_.append(s.data(), s.size());
    whole_.swap(partial_);
    partial_.clear();
    return whole_;
  }

  ValueFactory factory_;
  std::vector<Value> stack_;
  std::string partial_;
  std::string whole_;
};

}  // namespace

Value FromJson(const boost::json::value& json) {
  ValueFactory factory;
  return FromJsonWith(json, factory);
}

boost::json::value ToBoostJson(const Value& value) {
  switch (value.kind()) {
    case Kind::kNull:
      return nullptr;
    case Kind::kBoolean:
      return value.AsBool();
    case Kind::kNumber: {
      const Number& n = value.AsNumber();
      if (n.is_int) return n.i;
      return n.d;
    }
    case Kind::kString:
      return boost::json::string(value.AsString());
    case Kind::kArray:
    case Kind::kSet: {
      boost::json::array arr;
      const auto& items = value.IsArray() ? value.AsArray() : value.AsSet();
      arr.reserve(items.size());
      for (const auto& item : items) arr.push_back(ToBoostJson(item));
      return arr;
    }
    case Kind::kObject: {
      boost::json::object obj;
      obj.reserve(value.AsObject().size());
      for (const auto& [k, v] : value.AsObject()) {
        obj[k.IsString() ? k.AsString() : k.ToJson()] = ToBoostJson(v);
      }
      return obj;
    }
  }
  return nullptr;
}

Value ParseJson(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 512;  // Boost's default of 32 is too shallow for some plan documents
  boost::json::basic_parser<ValueBuilder> parser(options);
  boost::system::error_code ec;
  size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = boost::json::error::extra_data;
  if (ec) throw std::runtime_error(ec.message());
  return parser.handler().Result();
}

}  // namespace statehouse::policy
