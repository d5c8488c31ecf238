#include "policy/value.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace statehouse::policy {

namespace {

constexpr double kTwo63 = 9223372036854775808.0;

// Length of the valid UTF-8 sequence at s[i], or 0 (overlong forms, surrogates and code points
// above U+10FFFF are invalid).
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  if (b < 0x80) return 1;
  size_t n = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 0;
  if (n == 0 || (b >= 0xF0 && n != 4) || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  unsigned char c = byte(i + 1);
  if (b == 0xE0 && c < 0xA0) return 0;  // overlong
  if (b == 0xED && c > 0x9F) return 0;  // surrogate
  if (b == 0xF0 && c < 0x90) return 0;  // overlong
  if (b == 0xF4 && c > 0x8F) return 0;  // above U+10FFFF
  return n;
}

// JSON text of a string. Strings may hold any bytes (base64.decode makes them); as Go's
// encoding/json does, each byte that is not part of valid UTF-8 becomes U+FFFD, so the text is
// always JSON.
void AppendJsonString(std::string& out, std::string_view s) {
  std::string repaired;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceAt(s, i);
    if (n == 0) {
      if (repaired.empty() && i > 0) repaired.assign(s.substr(0, i));
      repaired += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (!repaired.empty()) repaired.append(s.substr(i, n));
    i += n;
  }
  if (!repaired.empty()) s = repaired;
  out += boost::json::serialize(boost::json::string_view(s.data(), s.size()));
}

// Bytewise order (std::string::compare's) with the first bytes compared inline: keys of one
// object mostly differ there, and lookups and sorting compare keys more than anything else.
inline int CompareBytes(std::string_view a, std::string_view b) {
  if (!a.empty() && !b.empty() && a[0] != b[0]) {
    return static_cast<unsigned char>(a[0]) < static_cast<unsigned char>(b[0]) ? -1 : 1;
  }
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

inline int CompareOrders(uint64_t a, uint64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// A string's first six bytes, zero-padded, as a big-endian number: numbers order as the
// bytes do (Value's prefix).
uint64_t PrefixNumber(std::string_view s) {
  unsigned char bytes[8] = {};
  std::memcpy(bytes, s.data(), std::min<size_t>(s.size(), 6));
  uint64_t n = 0;
  for (int i = 0; i < 6; ++i) n = (n << 8) | bytes[i];
  return n;
}

}  // namespace

Number Number::Double(double v) {
  if (std::isfinite(v) && v == std::floor(v) && v >= -kTwo63 && v < kTwo63) {
    return Int(static_cast<int64_t>(v));
  }
  Number n;
  n.is_int = false;
  n.d = v;
  n.i = 0;
  return n;
}

std::optional<int64_t> Number::AsInt() const {
  if (is_int) return i;
  return std::nullopt;  // doubles that are integral were normalized to ints
}

int Number::Compare(const Number& other) const {
  if (is_int && other.is_int) return i < other.i ? -1 : (i > other.i ? 1 : 0);
  // An int64 may not fit a double exactly; compare in long double where both fit.
  long double a = is_int ? static_cast<long double>(i) : static_cast<long double>(d);
  long double b =
      other.is_int ? static_cast<long double>(other.i) : static_cast<long double>(other.d);
  return a < b ? -1 : (a > b ? 1 : 0);
}

std::string Number::ToString() const {
  if (is_int) return std::to_string(i);
  if (!std::isfinite(d)) return d > 0 ? "1e+309" : (d < 0 ? "-1e+309" : "null");
  char buf[64];
  // Shortest text that reads back to the same double.
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

Value Value::Bool(bool b) {
  Value v;
  v.head_ = Head(Kind::kBoolean, b);
  return v;
}

Value Value::Int(int64_t i) { return Num(Number::Int(i)); }
Value Value::Double(double d) { return Num(Number::Double(d)); }

Value Value::Num(Number n) {
  Value v;
  v.head_ = Head(Kind::kNumber, n.is_int);
  if (n.is_int) {
    v.i_ = n.i;
  } else {
    v.d_ = n.d;
  }
  return v;
}

Value Value::String(std::string s) {
  uint64_t prefix = PrefixNumber(s);
  Value v = Boxed(Kind::kString, std::move(s));
  v.head_ = Head(Kind::kString, false, prefix);
  return v;
}

// The order of two strings' zero-padded prefixes: when they differ, so do the strings, in the
// same order (a shorter string's padding sorts before any byte but 0); when they are equal,
// only the whole strings can tell.
inline int ComparePrefixes(const Value& a, const Value& b) {
  return CompareOrders(a.PrefixOrder(), b.PrefixOrder());
}

Value Value::MakeArray(Array items) { return Boxed(Kind::kArray, std::move(items)); }

void Value::Release() noexcept {
  if (node_->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  switch (kind()) {
    case Kind::kString:
      delete static_cast<const value_detail::Box<std::string>*>(node_);
      break;
    case Kind::kArray:
    case Kind::kSet:
      delete static_cast<const value_detail::Box<Array>*>(node_);
      break;
    case Kind::kObject: {
      auto* node = const_cast<value_detail::ObjectNode*>(
          static_cast<const value_detail::ObjectNode*>(node_));
      for (size_t i = node->data.size_; i > 0; --i) node->data.data_[i - 1].~ObjectEntry();
      node->~ObjectNode();
      ::operator delete(node);
      break;
    }
    default:
      break;
  }
}

Value Value::MakeSet(std::vector<Value> items) {
  std::sort(items.begin(), items.end(), ValueLess());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  return FromSortedSet(std::move(items));
}

namespace {
constexpr size_t kInsertionSortMax = 32;
}  // namespace

// Two strings' order: by prefix, by identity, then by bytes.
int CompareStrings(const Value& a, const Value& b) {
  if (int c = ComparePrefixes(a, b); c != 0) return c;
  if (a.node_ == b.node_) return 0;
  return CompareBytes(a.Payload<std::string>(), b.Payload<std::string>());
}

// Compare, with string keys (JSON's) compared inline.
int CompareKeys(const Value& a, const Value& b) {
  if (a.kind() == Kind::kString && b.kind() == Kind::kString) return CompareStrings(a, b);
  return a.Compare(b);
}

value_detail::ObjectNode* Value::NewObjectNode(size_t n) {
  void* memory = ::operator new(sizeof(value_detail::ObjectNode) + n * sizeof(ObjectEntry));
  auto* node = new (memory) value_detail::ObjectNode();
  node->data.data_ = reinterpret_cast<ObjectEntry*>(node + 1);
  node->data.size_ = n;
  return node;
}

Value Value::AdoptObjectNode(value_detail::ObjectNode* node) {
  Value v;
  v.head_ = Head(Kind::kObject);
  v.node_ = node;  // from here on, Release frees the node whatever happens
  Object& entries = node->data;
  ObjectEntry* first = entries.data_;
  ObjectEntry* last = first + entries.size_;
  auto by_key = [](const ObjectEntry& a, const ObjectEntry& b) {
    return CompareKeys(a.first, b.first) < 0;
  };
  if (!std::is_sorted(first, last, by_key)) {
    if (entries.size_ <= kInsertionSortMax) {
      // Stable, in place, and without the temporary buffer stable_sort allocates.
      for (ObjectEntry* i = first + 1; i < last; ++i) {
        if (!by_key(*i, *(i - 1))) continue;
        ObjectEntry moving = std::move(*i);
        ObjectEntry* j = i;
        for (; j > first && by_key(moving, *(j - 1)); --j) *j = std::move(*(j - 1));
        *j = std::move(moving);
      }
    } else {
      std::stable_sort(first, last, by_key);
    }
  }
  // Keep the last of equal keys, in place; the entries left over are destroyed.
  size_t kept = 0;
  for (size_t i = 0; i < entries.size_; ++i) {
    if (kept > 0 && CompareKeys(first[kept - 1].first, first[i].first) == 0) {
      first[kept - 1].second = std::move(first[i].second);
    } else {
      if (kept != i) first[kept] = std::move(first[i]);
      ++kept;
    }
  }
  for (size_t i = kept; i < entries.size_; ++i) first[i].~ObjectEntry();
  entries.size_ = kept;
  return v;
}

Value Value::MakeObject(std::vector<ObjectEntry> entries) {
  if (entries.empty()) return EmptyObject();
  value_detail::ObjectNode* node = NewObjectNode(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    new (node->data.data_ + i) ObjectEntry(std::move(entries[i]));
  }
  return AdoptObjectNode(node);
}

Value Value::ObjectFromPairs(Value* pairs, size_t n) {
  if (n == 0) return EmptyObject();
  value_detail::ObjectNode* node = NewObjectNode(n);
  for (size_t i = 0; i < n; ++i) {
    new (node->data.data_ + i) ObjectEntry(std::move(pairs[2 * i]), std::move(pairs[2 * i + 1]));
  }
  return AdoptObjectNode(node);
}

Value Value::FromSortedObject(std::vector<ObjectEntry> entries) {
  return MakeObject(std::move(entries));  // checking the order is one pass
}

Value Value::FromSortedSet(Set items) { return Boxed(Kind::kSet, std::move(items)); }

Value Value::EmptyArray() {
  static const Value empty = MakeArray({});
  return empty;
}
Value Value::EmptyObject() {
  static const Value empty = AdoptObjectNode(NewObjectNode(0));
  return empty;
}
Value Value::EmptySet() {
  static const Value empty = FromSortedSet({});
  return empty;
}

size_t Value::Size() const {
  switch (kind()) {
    case Kind::kString: {
      size_t n = 0;
      for (unsigned char c : AsString()) n += (c & 0xC0) != 0x80;
      return n;
    }
    case Kind::kArray:
      return AsArray().size();
    case Kind::kObject:
      return AsObject().size();
    case Kind::kSet:
      return AsSet().size();
    default:
      return 0;
  }
}

namespace {
// The entry of a sorted object with the string key whose zero-padded prefix and bytes are
// given; nullptr when absent. Prefixes decide most steps of the search without reading the
// keys' strings.
template <typename SameNode>
const ObjectEntry* FindStringKey(const Object& obj, uint64_t prefix, std::string_view key,
                                 SameNode same_node) {
  auto order = [&](const Value& k) {  // k against the key sought
    if (k.kind() != Kind::kString) return k.kind() < Kind::kString ? -1 : 1;
    if (int c = CompareOrders(k.PrefixOrder(), prefix); c != 0) return c;
    if (same_node(k)) return 0;
    return CompareBytes(k.AsString(), key);
  };
  size_t lo = 0, hi = obj.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = order(obj[mid].first);
    if (c == 0) return &obj[mid];
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return nullptr;
}

}  // namespace

const Value* Value::Find(const Value& key) const {
  if (kind() != Kind::kObject) return nullptr;
  const Object& obj = ObjectPayload();
  if (key.kind() == Kind::kString) {
    const ObjectEntry* e = FindStringKey(obj, key.PrefixOrder(), key.Payload<std::string>(),
                                         [&](const Value& k) { return k.node_ == key.node_; });
    return e ? &e->second : nullptr;
  }
  auto it = std::lower_bound(obj.begin(), obj.end(), key,
                             [](const ObjectEntry& e, const Value& k) { return e.first < k; });
  if (it == obj.end() || it->first != key) return nullptr;
  return &it->second;
}

const Value* Value::Find(std::string_view key) const {
  if (kind() != Kind::kObject) return nullptr;
  const ObjectEntry* e =
      FindStringKey(ObjectPayload(), PrefixNumber(key), key, [](const Value&) { return false; });
  return e ? &e->second : nullptr;
}

bool Value::SetContains(const Value& item) const {
  if (kind() != Kind::kSet) return false;
  const Set& s = AsSet();
  return std::binary_search(s.begin(), s.end(), item, ValueLess());
}

const Value* Value::Lookup(const Value& key) const {
  switch (kind()) {
    case Kind::kArray: {
      if (key.kind() != Kind::kNumber) return nullptr;
      auto idx = key.AsNumber().AsInt();
      const Array& arr = Payload<Array>();
      if (!idx || *idx < 0 || static_cast<uint64_t>(*idx) >= arr.size()) return nullptr;
      return &arr[static_cast<size_t>(*idx)];
    }
    case Kind::kObject:
      return Find(key);
    case Kind::kSet:
      return SetContains(key) ? &key : nullptr;
    default:
      return nullptr;
  }
}

std::optional<Value> Value::Index(const Value& key) const {
  const Value* found = Lookup(key);
  if (!found) return std::nullopt;
  return *found;
}

int Value::Compare(const Value& other) const {
  if (kind() != other.kind()) return kind() < other.kind() ? -1 : 1;
  switch (kind()) {
    case Kind::kNull:
      return 0;
    case Kind::kBoolean:
      return flag() == other.flag() ? 0 : (flag() ? 1 : -1);
    case Kind::kNumber:
      if (flag() && other.flag()) return i_ < other.i_ ? -1 : (i_ > other.i_ ? 1 : 0);
      return AsNumber().Compare(other.AsNumber());
    case Kind::kString:
      return CompareStrings(*this, other);
    case Kind::kArray:
    case Kind::kSet: {
      if (node_ == other.node_) return 0;
      const auto& a = kind() == Kind::kArray ? AsArray() : AsSet();
      const auto& b = kind() == Kind::kArray ? other.AsArray() : other.AsSet();
      size_t n = std::min(a.size(), b.size());
      for (size_t i = 0; i < n; ++i) {
        int c = a[i].Compare(b[i]);
        if (c != 0) return c;
      }
      return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
    }
    case Kind::kObject: {
      if (node_ == other.node_) return 0;
      const Object& a = AsObject();
      const Object& b = other.AsObject();
      size_t n = std::min(a.size(), b.size());
      for (size_t i = 0; i < n; ++i) {
        int c = a[i].first.Compare(b[i].first);
        if (c != 0) return c;
        c = a[i].second.Compare(b[i].second);
        if (c != 0) return c;
      }
      return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
    }
  }
  return 0;
}

std::string Value::ToJson() const {
  std::string out;
  switch (kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBoolean:
      return flag() ? "true" : "false";
    case Kind::kNumber:
      return AsNumber().ToString();
    case Kind::kString:
      AppendJsonString(out, AsString());
      return out;
    case Kind::kArray:
    case Kind::kSet: {
      const auto& items = kind() == Kind::kArray ? AsArray() : AsSet();
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        out += items[i].ToJson();
      }
      out += ']';
      return out;
    }
    case Kind::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : AsObject()) {
        if (!first) out += ',';
        first = false;
        AppendJsonString(out, k.IsString() ? k.AsString() : k.ToJson());
        out += ':';
        out += v.ToJson();
      }
      out += '}';
      return out;
    }
  }
  return out;
}

std::string Value::ToRego() const {
  std::string out;
  switch (kind()) {
    case Kind::kArray: {
      out += '[';
      const Array& items = AsArray();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += items[i].ToRego();
      }
      out += ']';
      return out;
    }
    case Kind::kSet: {
      const Set& items = AsSet();
      if (items.empty()) return "set()";
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += items[i].ToRego();
      }
      out += '}';
      return out;
    }
    case Kind::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : AsObject()) {
        if (!first) out += ", ";
        first = false;
        out += k.ToRego();
        out += ": ";
        out += v.ToRego();
      }
      out += '}';
      return out;
    }
    default:
      return ToJson();
  }
}

size_t Value::Footprint() const {
  switch (kind()) {
    case Kind::kString:
      return sizeof(Value) + AsString().size();
    case Kind::kArray:
    case Kind::kSet:
      return sizeof(Value) * (1 + (kind() == Kind::kArray ? AsArray() : AsSet()).size());
    case Kind::kObject:
      return sizeof(Value) * (1 + 2 * AsObject().size());
    default:
      return sizeof(Value);
  }
}

}  // namespace statehouse::policy
