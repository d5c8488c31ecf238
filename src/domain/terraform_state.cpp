#include "domain/terraform_state.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace statehouse::domain::tfstate {

namespace json = boost::json;

bool StateHeader::IsV4() const {
  return is_object && version && *version == 4 && serial && lineage && !encrypted;
}

namespace {

std::optional<int64_t> IntegerOf(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return static_cast<int64_t>(v.get_uint64());
  return std::nullopt;  // doubles, strings, ... do not count
}

bool IsEncryptionKey(std::string_view key) {
  return key == "encrypted_data" || key == "encryption_version";
}

// ------------------------------------------------------------------------------------------
// Scanner

// The top-level keys some reader of a state looks at: the header's (StateScanner, HeaderOf)
// and what Analyze/Redact read. Each may appear once: readers that differ on which of two
// occurrences counts (a DOM keeps the last, a streaming reader might keep the first) would read
// two serials or lineages out of one state and step around the serial/lineage rules, so a
// repeated one refuses the state ("duplicate key serial in the state"). Terraform never writes
// a key twice.
constexpr std::string_view kWatchedKeys[] = {
    "version",   "serial", "lineage", "terraform_version", "encrypted_data", "encryption_version",
    "resources", "outputs"};

// SAX handler: tracks the nesting depth and captures only the members of the top-level object
// that make the header. Every callback is O(1) memory apart from the bounded capture buffers.
// It also applies the rules every reader of a state shares (StateScanner and ParseState both
// parse through it): numbers a double cannot hold and repeated watched keys refuse the state,
// with `problem` saying why.
class HeaderHandler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  StateHeader header;
  // Why the handler stopped the parse (empty: it did not; then the parser's error says it).
  std::string problem;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) {
    if (depth_ == 0) header.is_object = true;
    ResetField();  // a container is never a valid header value
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    --depth_;
    return true;
  }
  bool on_array_begin(json::error_code&) {
    ResetField();
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    --depth_;
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1) AppendBounded(key_, key_overflow_, s, kMaxKey);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    if (depth_ != 1) return true;
    AppendBounded(key_, key_overflow_, s, kMaxKey);
    field_ = Field::kOther;
    if (!key_overflow_) {
      for (std::size_t i = 0; i < std::size(kWatchedKeys); ++i) {
        if (key_ != kWatchedKeys[i]) continue;
        if (seen_ & (1u << i)) {
          problem = "duplicate key " + key_ + " in the state";
          ec = json::error::syntax;
          return false;
        }
        seen_ |= 1u << i;
      }
      if (key_ == "version")
        field_ = Field::kVersion;
      else if (key_ == "serial")
        field_ = Field::kSerial;
      else if (key_ == "lineage")
        field_ = Field::kLineage;
      else if (key_ == "terraform_version")
        field_ = Field::kTerraformVersion;
      else if (IsEncryptionKey(key_))
        header.encrypted = true;
    }
    key_.clear();
    key_overflow_ = false;
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1 && IsStringField()) {
      AppendBounded(str_, str_overflow_, s, StateScanner::kMaxCapturedString);
    }
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1) {
      if (IsStringField()) {
        AppendBounded(str_, str_overflow_, s, StateScanner::kMaxCapturedString);
        std::optional<std::string> captured;
        if (!str_overflow_) captured = std::move(str_);
        if (field_ == Field::kLineage)
          header.lineage = std::move(captured);
        else
          header.terraform_version = std::move(captured);
      } else {
        ResetField();
      }
    }
    str_.clear();
    str_overflow_ = false;
    return true;
  }

  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    if (depth_ == 1) SetInteger(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    if (depth_ == 1) {
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        SetInteger(static_cast<int64_t>(u));
      else
        ResetField();
    }
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code& ec) {
    // A number no double can hold cannot come back out as JSON (Boost.JSON reads 1e400 as
    // infinity and 0e400 as NaN). Refused wherever it is, even in a member that a later
    // duplicate key replaces in a DOM.
    if (!std::isfinite(d)) {
      problem = "state has a number out of range";
      ec = json::error::exponent_overflow;
      return false;
    }
    if (depth_ == 1) ResetField();
    return true;
  }
  bool on_bool(bool, json::error_code&) {
    if (depth_ == 1) ResetField();
    return true;
  }
  bool on_null(json::error_code&) {
    if (depth_ == 1) ResetField();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  enum class Field { kOther, kVersion, kSerial, kLineage, kTerraformVersion };
  // Longer keys cannot be one of ours; they are not accumulated.
  static constexpr std::size_t kMaxKey = 64;

  static void AppendBounded(std::string& out, bool& overflow, json::string_view s,
                            std::size_t limit) {
    if (overflow) return;
    if (out.size() + s.size() > limit) {
      overflow = true;
      out.clear();
      out.shrink_to_fit();
      return;
    }
    out.append(s.data(), s.size());
  }

  bool IsStringField() const {
    return field_ == Field::kLineage || field_ == Field::kTerraformVersion;
  }
  // Called for a top-level member value of the wrong type: the field counts as absent.
  void ResetField() {
    if (depth_ != 1) return;
    switch (field_) {
      case Field::kVersion:
        header.version.reset();
        break;
      case Field::kSerial:
        header.serial.reset();
        break;
      case Field::kLineage:
        header.lineage.reset();
        break;
      case Field::kTerraformVersion:
        header.terraform_version.reset();
        break;
      case Field::kOther:
        break;
    }
    field_ = Field::kOther;
  }
  void SetInteger(int64_t i) {
    if (field_ == Field::kVersion)
      header.version = i;
    else if (field_ == Field::kSerial)
      header.serial = i;
    else
      ResetField();
  }

  std::size_t depth_ = 0;
  Field field_ = Field::kOther;
  unsigned seen_ = 0;  // bit i: kWatchedKeys[i] was a top-level key
  std::string key_;
  bool key_overflow_ = false;
  std::string str_;
  bool str_overflow_ = false;
};

json::parse_options ScannerOptions() {
  json::parse_options opt;
  opt.max_depth = StateScanner::kMaxDepth;
  opt.allow_comments = false;
  opt.allow_trailing_commas = false;
  opt.allow_invalid_utf8 = false;
  return opt;
}

// ParseState's handler: HeaderHandler's rules, and the DOM that json::parse would build (the
// same value_stack calls as Boost.JSON's own parser handler). Sharing the rules is what makes
// ParseState and StateScanner agree on every input.
class DomHandler : public HeaderHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  DomHandler() { st.reset(); }

  json::value_stack st;

  bool on_object_end(std::size_t n, json::error_code& ec) {
    if (!HeaderHandler::on_object_end(n, ec)) return false;
    st.push_object(n);
    return true;
  }
  bool on_array_end(std::size_t n, json::error_code& ec) {
    if (!HeaderHandler::on_array_end(n, ec)) return false;
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t n, json::error_code& ec) {
    if (!HeaderHandler::on_key_part(s, n, ec)) return false;
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t n, json::error_code& ec) {
    if (!HeaderHandler::on_key(s, n, ec)) return false;
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t n, json::error_code& ec) {
    if (!HeaderHandler::on_string_part(s, n, ec)) return false;
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t n, json::error_code& ec) {
    if (!HeaderHandler::on_string(s, n, ec)) return false;
    st.push_string(s);
    return true;
  }
  bool on_int64(int64_t i, json::string_view s, json::error_code& ec) {
    if (!HeaderHandler::on_int64(i, s, ec)) return false;
    st.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view s, json::error_code& ec) {
    if (!HeaderHandler::on_uint64(u, s, ec)) return false;
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    if (!HeaderHandler::on_double(d, s, ec)) return false;
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code& ec) {
    if (!HeaderHandler::on_bool(b, ec)) return false;
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code& ec) {
    if (!HeaderHandler::on_null(ec)) return false;
    st.push_null();
    return true;
  }
};

}  // namespace

struct StateScanner::Impl {
  Impl() : parser(ScannerOptions()) {}

  [[noreturn]] void Invalid(std::string why) {
    // The handler's own refusal (a duplicate key, a number out of range) says what it is.
    const std::string& problem = parser.handler().problem;
    error = problem.empty() ? "state is not valid JSON: " + std::move(why) : problem;
    Fail(ErrorCode::kInvalidArgument, error);
  }

  json::basic_parser<HeaderHandler> parser;
  std::string error;  // sticky
  bool finished = false;
  bool saw_content = false;  // a non-whitespace byte was fed
  uint64_t offset = 0;       // bytes accepted so far
};

StateScanner::StateScanner() : impl_(std::make_unique<Impl>()) {}
StateScanner::~StateScanner() = default;

void StateScanner::Feed(std::string_view chunk) {
  Impl& s = *impl_;
  if (s.finished) Fail(ErrorCode::kInternal, "StateScanner::Feed after Finish");
  if (!s.error.empty()) Fail(ErrorCode::kInvalidArgument, s.error);
  if (chunk.empty()) return;
  if (!s.saw_content) {
    for (char c : chunk) {
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        s.saw_content = true;
        break;
      }
    }
  }
  json::error_code ec;
  std::size_t n = s.parser.write_some(true, chunk.data(), chunk.size(), ec);
  if (ec) s.Invalid(ec.message() + " (near byte " + std::to_string(s.offset) + ")");
  if (n < chunk.size()) {
    s.Invalid("unexpected data after the document at byte " + std::to_string(s.offset + n));
  }
  s.offset += n;
}

void StateScanner::Finish() {
  Impl& s = *impl_;
  if (s.finished) return;
  if (!s.error.empty()) Fail(ErrorCode::kInvalidArgument, s.error);
  if (!s.saw_content) s.Invalid("the document is empty");
  static constexpr char kNothing[1] = {0};
  json::error_code ec;
  s.parser.write_some(false, kNothing, 0, ec);
  if (ec || !s.parser.done()) {
    s.Invalid((ec ? ec.message() : std::string("incomplete JSON")) + " (document ends at byte " +
              std::to_string(s.offset) + ")");
  }
  s.finished = true;
}

const StateHeader& StateScanner::header() const { return impl_->parser.handler().header; }

json::value ParseState(std::string_view text) {
  json::basic_parser<DomHandler> parser(ScannerOptions());
  json::error_code ec;
  std::size_t n = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    const std::string& problem = parser.handler().problem;
    Fail(ErrorCode::kInvalidArgument,
         problem.empty() ? "state is not valid JSON: " + ec.message() : problem);
  }
  if (n < text.size())
    Fail(ErrorCode::kInvalidArgument,
         "state is not valid JSON: " + json::make_error_code(json::error::extra_data).message());
  if (!parser.done())
    Fail(ErrorCode::kInvalidArgument,
         "state is not valid JSON: " + json::make_error_code(json::error::incomplete).message());
  return parser.handler().st.release();
}

// ------------------------------------------------------------------------------------------
// Header of a parsed document

StateHeader HeaderOf(const json::value& state) {
  StateHeader h;
  const json::object* obj = state.if_object();
  if (!obj) return h;
  h.is_object = true;
  for (const auto& member : *obj) {
    std::string_view key(member.key().data(), member.key().size());
    const json::value& v = member.value();
    if (key == "version") {
      h.version = IntegerOf(v);
    } else if (key == "serial") {
      h.serial = IntegerOf(v);
    } else if (key == "lineage") {
      if (v.is_string() && v.get_string().size() <= StateScanner::kMaxCapturedString)
        h.lineage = std::string(v.get_string());
      else
        h.lineage.reset();
    } else if (key == "terraform_version") {
      if (v.is_string() && v.get_string().size() <= StateScanner::kMaxCapturedString)
        h.terraform_version = std::string(v.get_string());
      else
        h.terraform_version.reset();
    } else if (IsEncryptionKey(key)) {
      h.encrypted = true;
    }
  }
  return h;
}

// ------------------------------------------------------------------------------------------
// Addresses

std::string ProviderAddress(std::string_view config) {
  // Current form: provider["registry.terraform.io/hashicorp/aws"] with an optional .alias
  // suffix and, in old states, a module.x. prefix.
  static constexpr std::string_view kOpen = "provider[\"";
  if (auto pos = config.find(kOpen); pos != std::string_view::npos) {
    std::size_t begin = pos + kOpen.size();
    std::size_t end = config.find('"', begin);
    if (end != std::string_view::npos) return std::string(config.substr(begin, end - begin));
  }
  // Legacy (0.12) form: provider.aws or provider.aws.alias, maybe module-prefixed.
  static constexpr std::string_view kLegacy = "provider.";
  for (std::size_t pos = config.find(kLegacy); pos != std::string_view::npos;
       pos = config.find(kLegacy, pos + 1)) {
    if (pos != 0 && config[pos - 1] != '.') continue;
    std::size_t begin = pos + kLegacy.size();
    std::size_t end = config.find('.', begin);
    std::string_view name =
        config.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    if (!name.empty()) return std::string(name);
  }
  return std::string(config);
}

namespace {

// Terraform's StringKey rendering: HCL quoted-string syntax.
void AppendQuotedKey(std::string& out, std::string_view key) {
  out += '"';
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '$':
      case '%':
        out += c;
        if (i + 1 < key.size() && key[i + 1] == '{') out += c;  // ${ -> $${, %{ -> %%{
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

std::string InstanceAddress(std::string_view module, bool data, std::string_view type,
                            std::string_view name, const json::value* index_key) {
  std::string out;
  if (!module.empty()) {
    out.append(module);
    out += '.';
  }
  if (data) out += "data.";
  out.append(type);
  out += '.';
  out.append(name);
  if (index_key && !index_key->is_null()) {
    out += '[';
    if (index_key->is_string()) {
      const json::string& s = index_key->get_string();
      AppendQuotedKey(out, std::string_view(s.data(), s.size()));
    } else if (index_key->is_int64()) {
      out += std::to_string(index_key->get_int64());
    } else if (index_key->is_uint64()) {
      out += std::to_string(index_key->get_uint64());
    } else if (index_key->is_double() && std::isfinite(index_key->get_double()) &&
               std::trunc(index_key->get_double()) == index_key->get_double() &&
               std::fabs(index_key->get_double()) < 9.007199254740992e15) {
      out += std::to_string(static_cast<int64_t>(index_key->get_double()));
    } else {
      out += json::serialize(*index_key);
    }
    out += ']';
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Redaction

namespace {

// The element of an array named by an index key (a JSON number, or digits in a string).
std::optional<std::size_t> ArrayIndex(const json::value& key) {
  if (key.is_int64() && key.get_int64() >= 0) return static_cast<std::size_t>(key.get_int64());
  if (key.is_uint64()) return static_cast<std::size_t>(key.get_uint64());
  if (key.is_double()) {
    double d = key.get_double();
    if (d >= 0 && std::trunc(d) == d && d < 9.007199254740992e15)
      return static_cast<std::size_t>(d);
    return std::nullopt;
  }
  if (key.is_string()) {
    const json::string& s = key.get_string();
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::size_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    return n;
  }
  return std::nullopt;
}

// Follows one sensitive path (a list of {type, value} steps); nullptr when it is malformed or
// names nothing that exists.
json::value* Resolve(json::value& root, const json::array& steps) {
  json::value* cur = &root;
  for (const json::value& step_value : steps) {
    const json::object* step = step_value.if_object();
    if (!step) return nullptr;
    const json::value* type = step->if_contains("type");
    const json::value* arg = step->if_contains("value");
    if (!type || !type->is_string() || !arg) return nullptr;
    if (type->get_string() == "get_attr") {
      json::object* obj = cur->if_object();
      if (!obj || !arg->is_string()) return nullptr;
      cur = obj->if_contains(arg->get_string());
    } else if (type->get_string() == "index") {
      // Index keys are cty values of dynamic type: {"value": <key>, "type": <cty type>}.
      const json::value* key = arg;
      if (const json::object* wrapped = arg->if_object()) {
        key = wrapped->if_contains("value");
        if (!key) return nullptr;
      }
      if (json::object* obj = cur->if_object()) {
        if (!key->is_string()) return nullptr;
        cur = obj->if_contains(key->get_string());
      } else if (json::array* arr = cur->if_array()) {
        std::optional<std::size_t> i = ArrayIndex(*key);
        if (!i || *i >= arr->size()) return nullptr;
        cur = &(*arr)[*i];
      } else {
        return nullptr;
      }
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

json::value Placeholder() { return json::string(kSensitivePlaceholder); }

}  // namespace

void RedactAttributes(json::value& attributes, const json::value& sensitive_paths) {
  const json::array* paths = sensitive_paths.if_array();
  if (!paths) return;
  for (const json::value& path_value : *paths) {
    const json::array* steps = path_value.if_array();
    if (!steps) continue;
    if (steps->empty()) {
      // The whole object is sensitive: keep its shape, hide every value.
      if (json::object* obj = attributes.if_object()) {
        for (auto& member : *obj) member.value() = Placeholder();
      }
      continue;
    }
    if (json::value* target = Resolve(attributes, *steps)) *target = Placeholder();
  }
}

// ------------------------------------------------------------------------------------------
// Analysis

namespace {

std::string_view StringField(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (!v || !v->is_string()) return {};
  return std::string_view(v->get_string().data(), v->get_string().size());
}

std::string ScalarText(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return json::serialize(v);
}

void RequireV4(const json::value& state) {
  StateHeader h = HeaderOf(state);
  if (h.encrypted) Fail(ErrorCode::kInvalidArgument, "state is encrypted");
  if (!h.IsV4()) Fail(ErrorCode::kInvalidArgument, "state is not a Terraform v4 state");
}

bool IsSensitiveOutput(const json::object& output) {
  const json::value* s = output.if_contains("sensitive");
  return s && s->is_bool() && s->get_bool();
}

}  // namespace

StateAnalysis Analyze(const json::value& state, bool prune_sensitive) {
  RequireV4(state);
  const json::object& root = state.get_object();
  StateAnalysis out;
  std::map<std::string, int64_t> module_blocks;

  if (const json::value* resources = root.if_contains("resources");
      resources && resources->is_array()) {
    for (const json::value& rv : resources->get_array()) {
      const json::object* r = rv.if_object();
      if (!r) continue;
      std::string_view mode = StringField(*r, "mode");
      bool data;
      if (mode == "managed")
        data = false;
      else if (mode == "data")
        data = true;
      else
        continue;
      std::string type(StringField(*r, "type"));
      std::string name(StringField(*r, "name"));
      std::string module(StringField(*r, "module"));
      std::string provider = ProviderAddress(StringField(*r, "provider"));
      if (!module.empty()) ++module_blocks[module];
      std::set<std::string>& type_attrs = out.type_attributes[type];

      const json::value* instances = r->if_contains("instances");
      if (!instances || !instances->is_array()) continue;
      for (const json::value& iv : instances->get_array()) {
        const json::object* inst = iv.if_object();
        if (!inst) continue;
        json::value attributes = json::object();
        if (const json::value* a = inst->if_contains("attributes"); a && a->is_object()) {
          attributes = *a;
          for (const auto& member : a->get_object()) type_attrs.emplace(member.key());
        } else if (const json::value* f = inst->if_contains("attributes_flat");
                   f && f->is_object()) {
          attributes = *f;  // legacy flatmap attributes, kept as they are
        }
        json::value sensitive = json::array();
        if (const json::value* s = inst->if_contains("sensitive_attributes"); s && s->is_array())
          sensitive = *s;
        if (prune_sensitive) RedactAttributes(attributes, sensitive);

        std::string resource_id;
        if (const json::value* id = attributes.get_object().if_contains("id"); id && !id->is_null())
          resource_id = ScalarText(*id);

        json::object res;
        res["provider"] = provider;
        res["type"] = type;
        res["name"] = name;
        res["module"] = module;
        res["mode"] = data ? "data" : "resource";
        res["path_id"] = InstanceAddress(module, data, type, name, inst->if_contains("index_key"));
        res["resource_id"] = resource_id;
        res["attributes"] = std::move(attributes);
        res["drift_status"] = "unchanged";
        res["drift_attributes"] = json::object();
        res["sensitive_attributes"] = std::move(sensitive);
        if (data) {
          out.data_sources.emplace_back(std::move(res));
        } else {
          out.resources.emplace_back(std::move(res));
          ++out.total_resources;
        }
      }
    }
  }

  if (const json::value* outputs = root.if_contains("outputs"); outputs && outputs->is_object()) {
    for (const auto& member : outputs->get_object()) {
      const json::object* o = member.value().if_object();
      if (!o) continue;
      bool sensitive = IsSensitiveOutput(*o);
      std::string value;
      if (sensitive && prune_sensitive) {
        value = std::string(kSensitivePlaceholder);
      } else if (const json::value* v = o->if_contains("value")) {
        value = ScalarText(*v);
      } else {
        value = "null";
      }
      json::object entry;
      entry["name"] = member.key();
      entry["value"] = value;
      entry["sensitive"] = sensitive;
      out.outputs.emplace_back(std::move(entry));
    }
  }

  for (const auto& [key, blocks] : module_blocks) {
    json::object m;
    m["key"] = key;
    m["source"] = "";
    m["version"] = "";
    m["invocations"] = blocks;
    out.modules.emplace_back(std::move(m));
  }
  return out;
}

json::value Redact(const json::value& state) {
  json::value copy = state;
  if (!HeaderOf(state).IsV4()) return copy;
  json::object& root = copy.get_object();

  if (json::value* resources = root.if_contains("resources"); resources && resources->is_array()) {
    for (json::value& rv : resources->get_array()) {
      json::object* r = rv.if_object();
      if (!r) continue;
      json::value* instances = r->if_contains("instances");
      if (!instances || !instances->is_array()) continue;
      for (json::value& iv : instances->get_array()) {
        json::object* inst = iv.if_object();
        if (!inst) continue;
        json::value* attributes = inst->if_contains("attributes");
        const json::value* sensitive = inst->if_contains("sensitive_attributes");
        if (attributes && sensitive) RedactAttributes(*attributes, *sensitive);
      }
    }
  }

  if (json::value* outputs = root.if_contains("outputs"); outputs && outputs->is_object()) {
    for (auto& member : outputs->get_object()) {
      json::object* o = member.value().if_object();
      if (!o || !IsSensitiveOutput(*o)) continue;
      (*o)["value"] = Placeholder();
      (*o)["type"] = "string";  // keeps value and type consistent for Terraform
    }
  }
  return copy;
}

// ------------------------------------------------------------------------------------------
// Serial replacement

namespace {

// The decoded text of a JSON string token (quotes included) from a validated document.
std::string DecodeStringToken(std::string_view token) {
  std::string_view inner = token.substr(1, token.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return std::string(inner);
  json::error_code ec;
  json::value v = json::parse(token, ec);
  if (ec || !v.is_string()) return {};
  return std::string(v.get_string());
}

bool IsNumberChar(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// [begin, end) of every numeric value of the top-level member `wanted`, in a document already
// known to be syntactically valid JSON with an object at the top.
std::vector<std::pair<std::size_t, std::size_t>> TopLevelNumberSpans(std::string_view text,
                                                                     std::string_view wanted) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  std::size_t depth = 0;
  bool expect_key = false;
  bool key_matches = false;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    char c = text[i];
    switch (c) {
      case '"': {
        std::size_t start = i++;
        while (i < n && text[i] != '"') i += (text[i] == '\\') ? 2 : 1;
        std::size_t end = std::min(i + 1, n);
        if (depth == 1 && expect_key) {
          key_matches = DecodeStringToken(text.substr(start, end - start)) == wanted;
          expect_key = false;
        }
        i = end;
        break;
      }
      case '{':
        ++depth;
        if (depth == 1) expect_key = true;
        ++i;
        break;
      case '[':
        ++depth;
        ++i;
        break;
      case '}':
      case ']':
        --depth;
        ++i;
        break;
      case ',':
        if (depth == 1) expect_key = true;
        ++i;
        break;
      case ':':
        ++i;
        if (depth == 1 && key_matches) {
          while (i < n && IsJsonSpace(text[i])) ++i;
          std::size_t begin = i;
          if (i < n && (text[i] == '-' || (text[i] >= '0' && text[i] <= '9'))) {
            while (i < n && IsNumberChar(text[i])) ++i;
            spans.emplace_back(begin, i);
          }
        }
        key_matches = false;
        break;
      default:
        ++i;
    }
  }
  return spans;
}

}  // namespace

std::string WithSerial(std::string_view state_text, int64_t serial) {
  StateScanner scanner;
  scanner.Feed(state_text);
  scanner.Finish();
  const StateHeader& h = scanner.header();
  if (h.encrypted) Fail(ErrorCode::kInvalidArgument, "state is encrypted");
  if (!h.IsV4()) Fail(ErrorCode::kInvalidArgument, "state is not a Terraform v4 state");

  auto spans = TopLevelNumberSpans(state_text, "serial");
  if (spans.empty()) Fail(ErrorCode::kInvalidArgument, "state has no numeric serial");
  const std::string replacement = std::to_string(serial);
  std::string out;
  out.reserve(state_text.size() + spans.size() * replacement.size());
  std::size_t pos = 0;
  for (const auto& [begin, end] : spans) {
    out.append(state_text.substr(pos, begin - pos));
    out += replacement;
    pos = end;
  }
  out.append(state_text.substr(pos));
  return out;
}

}  // namespace statehouse::domain::tfstate
