// Encodings: json.marshal, json.marshal_with_options, json.unmarshal, json.is_valid,
// yaml.marshal, yaml.unmarshal, yaml.is_valid, base64*, base64url*, hex.*, urlquery.*.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;

constexpr int kMaxDocumentDepth = 1000;
constexpr size_t kMaxDocumentNodes = size_t{4} << 20;

// --- JSON ---

std::optional<Value> JsonMarshal(const Args& args, BuiltinContext& ctx) {
  ChargeText(ctx, "json.marshal", args[0]);
  return Value::String(GoJson(args[0]));
}

std::optional<Value> JsonMarshalWithOptions(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "json.marshal_with_options";
  const Object& opts = ObjectArg(fn, args, 2);
  std::string prefix;
  std::string indent = "\t";
  bool implicit_pretty = false;
  std::optional<bool> explicit_pretty;
  for (const auto& [k, v] : opts) {
    std::string key = k.IsString() ? k.AsString() : k.ToJson();
    if (key == "prefix") {
      if (!v.IsString())
        Fail(fn, "operand 2 \"prefix\" must be string but got " + std::string(TypeName(v)));
      prefix = v.AsString();
      implicit_pretty = true;
    } else if (key == "indent") {
      if (!v.IsString())
        Fail(fn, "operand 2 \"indent\" must be string but got " + std::string(TypeName(v)));
      indent = v.AsString();
      implicit_pretty = true;
    } else if (key == "pretty") {
      if (!v.IsBool())
        Fail(fn, "operand 2 \"pretty\" must be boolean but got " + std::string(TypeName(v)));
      explicit_pretty = v.AsBool();
    } else {
      Fail(fn, "object contained unknown key " + k.ToJson());
    }
  }
  bool pretty = explicit_pretty.value_or(implicit_pretty);
  ChargeText(ctx, fn, args[0]);
  if (!pretty) return Value::String(GoJson(args[0]));
  std::string out = GoJson(args[0], true, prefix, indent);
  if (out.size() > kMaxResultBytes) TooLarge(fn);
  return Value::String(std::move(out));
}

size_t JsonNodes(const boost::json::value& v) {
  size_t n = 1;
  if (v.is_array()) {
    for (const auto& item : v.get_array()) n += JsonNodes(item);
  } else if (v.is_object()) {
    for (const auto& member : v.get_object()) n += 1 + JsonNodes(member.value());
  }
  return n;
}

std::optional<boost::json::value> ParseJsonText(std::string_view text, std::string* error) {
  boost::json::parse_options opts;
  opts.max_depth = kMaxDocumentDepth;
  opts.allow_invalid_utf8 = true;  // Go's decoder replaces invalid bytes; it does not refuse them
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec,
                                            boost::json::storage_ptr(), opts);
  if (ec) {
    if (error) *error = ec.message();
    return std::nullopt;
  }
  return v;
}

std::optional<Value> JsonUnmarshal(const Args& args, BuiltinContext& ctx) {
  const std::string& text = StringArg("json.unmarshal", args, 1);
  Charge(ctx, "json.unmarshal", text.size());
  std::string error;
  auto json = ParseJsonText(text, &error);
  if (!json) Fail("json.unmarshal", error);
  ChargeElements(ctx, "json.unmarshal", JsonNodes(*json));
  return FromJson(*json);
}

std::optional<Value> JsonIsValid(const Args& args, BuiltinContext&) {
  if (!args[0].IsString()) return Value::Bool(false);
  return Value::Bool(ParseJsonText(args[0].AsString(), nullptr).has_value());
}

// --- YAML ---

bool IsYamlNull(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> YamlBool(std::string_view s) {
  static constexpr std::string_view kTrue[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                               "True", "TRUE", "on",  "On",  "ON"};
  static constexpr std::string_view kFalse[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                                "False", "FALSE", "off", "Off", "OFF"};
  if (std::find(std::begin(kTrue), std::end(kTrue), s) != std::end(kTrue)) return true;
  if (std::find(std::begin(kFalse), std::end(kFalse), s) != std::end(kFalse)) return false;
  return std::nullopt;
}

// YAML 1.1 integers and floats as go-yaml v2 resolves them.
std::optional<Number> YamlNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string plain;
  for (char c : s) {
    if (c != '_') plain += c;
  }
  std::string_view p = plain;
  bool neg = false;
  std::string_view digits = p;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    neg = digits[0] == '-';
    digits.remove_prefix(1);
  }
  auto parse_base = [&](std::string_view d, int base) -> std::optional<Number> {
    if (d.empty()) return std::nullopt;
    unsigned __int128 v = 0;
    for (char c : d) {
      int x = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : 99;
      if (x >= base) return std::nullopt;
      v = v * base + x;
      if (v > (static_cast<unsigned __int128>(1) << 64)) return Number::Double(neg ? -1e19 : 1e19);
    }
    if (v <= static_cast<unsigned __int128>(INT64_MAX)) {
      int64_t i = static_cast<int64_t>(v);
      return Number::Int(neg ? -i : i);
    }
    double d2 = static_cast<double>(v);
    return Number::Double(neg ? -d2 : d2);
  };
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    return parse_base(digits.substr(2), 16);
  }
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) {
    return parse_base(digits.substr(2), 2);
  }
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) {
    return parse_base(digits.substr(2), 8);
  }
  if (digits.size() > 1 && digits[0] == '0' &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
    return parse_base(digits.substr(1), 8);
  }
  auto n = ParseDecimal(p);
  if (!n) return std::nullopt;
  return n;
}

bool IsYamlSpecialFloat(std::string_view s) {
  static constexpr std::string_view kSpecial[] = {".inf",  ".Inf",  ".INF",  "+.inf",
                                                  "+.Inf", "+.INF", "-.inf", "-.Inf",
                                                  "-.INF", ".nan",  ".NaN",  ".NAN"};
  return std::find(std::begin(kSpecial), std::end(kSpecial), s) != std::end(kSpecial);
}

class YamlConverter {
 public:
  explicit YamlConverter(BuiltinContext& ctx) : ctx_(ctx) {}

  Value Convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDocumentDepth) Fail("yaml.unmarshal", "document nested too deeply");
    if (++nodes_ > kMaxDocumentNodes) Fail("yaml.unmarshal", "document too large");
    if (nodes_ % 4096 == 0) ChargeElements(ctx_, "yaml.unmarshal", 4096);
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return Value::Null();
      case YAML::NodeType::Scalar:
        return Scalar(node);
      case YAML::NodeType::Sequence: {
        Array items;
        items.reserve(node.size());
        for (const auto& item : node) items.push_back(Convert(item, depth + 1));
        return Value::MakeArray(std::move(items));
      }
      case YAML::NodeType::Map: {
        std::vector<ObjectEntry> entries;
        std::vector<ObjectEntry> merged;  // from "<<" merge keys; explicit keys win
        for (const auto& kv : node) {
          if (kv.first.IsScalar() && kv.first.Tag() == "?" && kv.first.Scalar() == "<<") {
            Merge(kv.second, depth, merged);
            continue;
          }
          entries.emplace_back(Key(kv.first), Convert(kv.second, depth + 1));
        }
        if (!merged.empty()) {
          merged.insert(merged.end(), entries.begin(), entries.end());
          entries = std::move(merged);
        }
        return Value::MakeObject(std::move(entries));
      }
    }
    return Value::Null();
  }

 private:
  void Merge(const YAML::Node& src, int depth, std::vector<ObjectEntry>& out) {
    auto add_map = [&](const YAML::Node& m) {
      if (!m.IsMap()) Fail("yaml.unmarshal", "map merge requires map or sequence of maps");
      Value v = Convert(m, depth + 1);
      for (const auto& e : v.AsObject()) out.push_back(e);
    };
    if (src.IsSequence()) {
      // Earlier maps in the list win over later ones.
      std::vector<ObjectEntry> acc;
      for (auto it = src.begin(); it != src.end(); ++it) {
        std::vector<ObjectEntry> one;
        std::swap(one, out);
        add_map(*it);
        std::swap(one, out);
        for (auto& e : one) {
          bool seen = std::any_of(acc.begin(), acc.end(),
                                  [&](const ObjectEntry& a) { return a.first == e.first; });
          if (!seen) acc.push_back(std::move(e));
        }
      }
      out.insert(out.end(), acc.begin(), acc.end());
    } else {
      add_map(src);
    }
  }

  // Keys become strings, as sigs.k8s.io/yaml turns them into JSON object keys.
  Value Key(const YAML::Node& key) {
    if (!key.IsScalar() && !key.IsNull()) {
      Fail("yaml.unmarshal", "error converting YAML to JSON: non-scalar map key");
    }
    Value v = key.IsNull() ? Value::Null() : Scalar(key);
    if (v.IsString()) return v;
    return Value::String(v.ToJson());
  }

  Value Scalar(const YAML::Node& node) {
    const std::string& s = node.Scalar();
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "!!str") return Value::String(s);
    if (tag == "?" || tag.empty()) {
      if (IsYamlNull(s)) return Value::Null();
      if (auto b = YamlBool(s)) return Value::Bool(*b);
      if (IsYamlSpecialFloat(s)) {
        Fail("yaml.unmarshal", "error converting YAML to JSON: json: unsupported value: " + s);
      }
      if (auto n = YamlNumber(s)) {
        if (!n->is_int && !std::isfinite(n->d)) {
          Fail("yaml.unmarshal", "error converting YAML to JSON: number out of range: " + s);
        }
        return Value::Num(*n);
      }
      return Value::String(s);
    }
    if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float") {
      if (auto n = YamlNumber(s)) return Value::Num(*n);
      Fail("yaml.unmarshal", "cannot decode !!" + tag.substr(tag.rfind(':') + 1) + " `" + s + "`");
    }
    if (tag == "tag:yaml.org,2002:bool") {
      if (auto b = YamlBool(s)) return Value::Bool(*b);
      Fail("yaml.unmarshal", "cannot decode !!bool `" + s + "`");
    }
    if (tag == "tag:yaml.org,2002:null") return Value::Null();
    return Value::String(s);
  }

  BuiltinContext& ctx_;
  size_t nodes_ = 0;
};

std::optional<Value> YamlUnmarshal(const Args& args, BuiltinContext& ctx) {
  const std::string& text = StringArg("yaml.unmarshal", args, 1);
  // yaml-cpp's node tree takes several times the text; charged before it is built.
  Charge(ctx, "yaml.unmarshal", text.size() * 8);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    Fail("yaml.unmarshal", e.what());
  }
  try {
    return YamlConverter(ctx).Convert(root, 0);
  } catch (const YAML::Exception& e) {
    Fail("yaml.unmarshal", e.what());
  }
}

std::optional<Value> YamlIsValid(const Args& args, BuiltinContext& ctx) {
  if (!args[0].IsString()) return Value::Bool(false);
  try {
    YAML::Node root = YAML::Load(args[0].AsString());
    BuiltinContext quiet;  // validation does not keep the document
    quiet.now_ns = ctx.now_ns;
    YamlConverter(quiet).Convert(root, 0);
    return Value::Bool(true);
  } catch (const BuiltinError&) {
    return Value::Bool(false);
  } catch (const YAML::Exception&) {
    return Value::Bool(false);
  }
}

// A plain string that go-yaml would read back as something else must be quoted.
bool ResolvesToNonString(std::string_view s) {
  if (IsYamlNull(s) || YamlBool(s) || IsYamlSpecialFloat(s) || YamlNumber(s)) return true;
  // Base-60 numbers ("1:20") of YAML 1.1.
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) &&
      s.find(':') != std::string_view::npos && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '_';
      })) {
    return true;
  }
  // Timestamps ("2001-12-14", "2001-12-14T21:59:43Z"): go-yaml quotes what it would read
  // back as one.
  auto digits = [&](size_t from, size_t min, size_t max, size_t& end) {
    end = from;
    while (end < s.size() && end - from < max && std::isdigit(static_cast<unsigned char>(s[end]))) {
      ++end;
    }
    return end - from >= min;
  };
  size_t e1, e2, e3;
  if (digits(0, 4, 4, e1) && e1 < s.size() && s[e1] == '-' && digits(e1 + 1, 1, 2, e2) &&
      e2 < s.size() && s[e2] == '-' && digits(e2 + 1, 1, 2, e3) &&
      (e3 == s.size() || s[e3] == 'T' || s[e3] == 't' || s[e3] == ' ')) {
    return true;
  }
  return s == "<<" || s == "=";
}

bool IsPrintableYaml(char32_t c) {
  return c == '\t' || c == '\n' || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
         (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

// libyaml's analysis of whether a scalar may be written plain in block context.
bool PlainAllowed(std::string_view s) {
  if (s.empty()) return false;
  if (s.substr(0, 3) == "---" || s.substr(0, 3) == "...") return false;
  static constexpr std::string_view kIndicators = ",[]{}#&*!|>'\"%@`";
  auto followed_by_space = [&](size_t i) {
    return i + 1 >= s.size() || s[i + 1] == ' ' || s[i + 1] == '\t';
  };
  char first = s[0];
  if (kIndicators.find(first) != std::string_view::npos) return false;
  if ((first == '?' || first == ':' || first == '-') && followed_by_space(0)) return false;
  if (first == ' ' || first == '\t' || s.back() == ' ' || s.back() == '\t') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':' && followed_by_space(i)) return false;
    if (c == '#' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t')) return false;
    if (c == '\n' || c == '\r' || c == '\t') return false;
  }
  for (size_t i = 0; i < s.size();) {
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    if ((c == 0xFFFD && i - before == 1) || !IsPrintableYaml(c) || c == 0x85) return false;
  }
  return true;
}

bool SingleQuotedAllowed(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    if ((c == 0xFFFD && i - before == 1) || !IsPrintableYaml(c) || c == '\n' || c == '\t') {
      return false;
    }
  }
  return !s.empty() && s.front() != ' ' && s.back() != ' ';
}

std::string DoubleQuoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    if (c == 0xFFFD && i - before == 1) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(s[before]));
      out += buf;
      continue;
    }
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
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case 0:
        out += "\\0";
        break;
      default:
        if (IsPrintableYaml(c) && c != 0x85) {
          AppendUtf8(out, c);
        } else {
          char buf[16];
          if (c <= 0xFF) {
            std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(c));
          } else if (c <= 0xFFFF) {
            std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(c));
          } else {
            std::snprintf(buf, sizeof buf, "\\U%08X", static_cast<unsigned>(c));
          }
          out += buf;
        }
    }
  }
  out += '"';
  return out;
}

// A literal block ("|-") can carry a multi-line string whose lines are printable and do not
// start with a space (which would need an indentation indicator).
bool LiteralAllowed(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.front() == '\n') return false;
  for (size_t i = 0; i < s.size();) {
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    if ((c == 0xFFFD && i - before == 1) || !IsPrintableYaml(c) || c == '\r') return false;
    if (c == ' ' && (i == s.size() || s[i] == '\n')) return false;  // trailing space on a line
  }
  return true;
}

std::string LiteralBlock(std::string_view s, int indent) {
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  std::string out = trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
  std::string_view body = s.substr(0, s.size() - trailing);
  std::string pad(static_cast<size_t>(indent), ' ');
  size_t start = 0;
  for (;;) {
    size_t nl = body.find('\n', start);
    std::string_view line =
        body.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out += '\n';
    if (!line.empty()) out += pad;
    out.append(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  for (size_t k = 1; k < trailing; ++k) out += '\n';
  return out;
}

std::string YamlScalar(const Value& v, int indent) {
  switch (v.kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBoolean:
      return v.AsBool() ? "true" : "false";
    case Kind::kNumber:
      return v.AsNumber().ToString();
    default:
      break;
  }
  const std::string& s = v.AsString();
  if (s.find('\n') != std::string::npos && LiteralAllowed(s)) return LiteralBlock(s, indent);
  if (ResolvesToNonString(s)) return DoubleQuoted(s);
  if (PlainAllowed(s)) return s;
  if (SingleQuotedAllowed(s)) {
    std::string out = "'";
    for (char c : s) {
      out += c;
      if (c == '\'') out += '\'';
    }
    return out + "'";
  }
  return DoubleQuoted(s);
}

bool IsEmptyCollection(const Value& v) {
  return (v.IsArray() && v.AsArray().empty()) || (v.IsSet() && v.AsSet().empty()) ||
         (v.IsObject() && v.AsObject().empty());
}

bool IsCollection(const Value& v) { return v.IsArray() || v.IsSet() || v.IsObject(); }

// go-yaml v2's block style: maps indent their children by two, sequences inside maps do not.
void EmitYaml(std::string& out, const Value& v, int indent, int depth) {
  if (depth > kMaxDocumentDepth) Fail("yaml.marshal", "value nested too deeply");
  if (out.size() > kMaxResultBytes) TooLarge("yaml.marshal");
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.IsObject()) {
    std::vector<std::pair<std::string, const Value*>> entries;
    for (const auto& [k, val] : v.AsObject()) {
      entries.emplace_back(k.IsString() ? k.AsString() : k.ToJson(), &val);
    }
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    bool first = true;
    for (const auto& [key, val] : entries) {
      if (!first) out += pad;
      first = false;
      out += YamlScalar(Value::String(key), indent + 2);
      out += ':';
      if (IsCollection(*val) && !IsEmptyCollection(*val)) {
        out += '\n';
        if (val->IsObject()) {
          out += std::string(static_cast<size_t>(indent + 2), ' ');
          EmitYaml(out, *val, indent + 2, depth + 1);
        } else {
          out += pad;
          EmitYaml(out, *val, indent, depth + 1);
        }
      } else {
        out += ' ';
        if (IsEmptyCollection(*val)) {
          out += val->IsObject() ? "{}" : "[]";
        } else {
          out += YamlScalar(*val, indent + 2);
        }
        out += '\n';
      }
    }
    return;
  }
  if (v.IsArray() || v.IsSet()) {
    const auto& items = v.IsArray() ? v.AsArray() : v.AsSet();
    bool first = true;
    for (const auto& item : items) {
      if (!first) out += pad;
      first = false;
      out += "- ";
      if (IsCollection(item) && !IsEmptyCollection(item)) {
        EmitYaml(out, item, indent + 2, depth + 1);
      } else if (IsEmptyCollection(item)) {
        out += item.IsObject() ? "{}\n" : "[]\n";
      } else {
        out += YamlScalar(item, indent + 2);
        out += '\n';
      }
    }
    return;
  }
  out += YamlScalar(v, indent);
  out += '\n';
}

std::optional<Value> YamlMarshal(const Args& args, BuiltinContext& ctx) {
  const Value& v = args[0];
  ChargeText(ctx, "yaml.marshal", v);
  std::string out;
  if (IsEmptyCollection(v)) {
    out = v.IsObject() ? "{}\n" : "[]\n";
  } else {
    EmitYaml(out, v, 0, 0);
  }
  return Value::String(std::move(out));
}

// --- base64 / hex ---

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64Encode(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t n = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  size_t rest = in.size() - i;
  if (rest) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (rest == 2) out += alphabet[(n >> 6) & 63];
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

// Go's encoding/base64 decoding (padded or not); \r and \n are skipped. nullopt with the
// offending input offset on error.
std::optional<std::string> Base64Decode(std::string_view in, const char* alphabet, bool padded,
                                        size_t* bad_at) {
  int8_t table[256];
  std::memset(table, -1, sizeof table);
  for (int k = 0; k < 64; ++k)
    table[static_cast<unsigned char>(alphabet[k])] = static_cast<int8_t>(k);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t chars = 0;          // data characters of the current quantum
  size_t quantum_start = 0;  // where the current quantum began, for Go's error offsets
  size_t i = 0;
  auto fail = [&](size_t at) -> std::optional<std::string> {
    if (bad_at) *bad_at = at;
    return std::nullopt;
  };
  for (; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '\r' || c == '\n') continue;
    if (c == '=') break;
    if (table[c] < 0) return fail(i);
    if (chars == 0) quantum_start = i;
    acc = (acc << 6) | static_cast<uint32_t>(table[c]);
    bits += 6;
    chars = (chars + 1) % 4;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (i < in.size()) {
    // Padding: only after 2 or 3 data characters, filling the quantum, then nothing else.
    if (!padded || chars < 2) return fail(i);
    size_t need = 4 - chars;
    size_t got = 0;
    for (; i < in.size(); ++i) {
      char c = in[i];
      if (c == '\r' || c == '\n') continue;
      if (c != '=' || got == need) return fail(i);
      ++got;
    }
    if (got != need) return fail(in.size());
  } else {
    if (chars == 1) return fail(quantum_start);
    if (padded && chars != 0) return fail(quantum_start);
  }
  return out;
}

std::optional<Value> Base64EncodeFn(const Args& args, BuiltinContext& ctx) {
  return StringResult(ctx, "base64.encode",
                      Base64Encode(StringArg("base64.encode", args, 1), kStd, true));
}

std::optional<Value> Base64DecodeFn(const Args& args, BuiltinContext& ctx) {
  const std::string& s = StringArg("base64.decode", args, 1);
  size_t bad = 0;
  auto out = Base64Decode(s, kStd, true, &bad);
  if (!out) Fail("base64.decode", "illegal base64 data at input byte " + std::to_string(bad));
  return StringResult(ctx, "base64.decode", std::move(*out));
}

std::optional<Value> Base64IsValid(const Args& args, BuiltinContext&) {
  if (!args[0].IsString()) return Value::Bool(false);
  return Value::Bool(Base64Decode(args[0].AsString(), kStd, true, nullptr).has_value());
}

std::optional<Value> Base64UrlEncode(const Args& args, BuiltinContext& ctx) {
  return StringResult(ctx, "base64url.encode",
                      Base64Encode(StringArg("base64url.encode", args, 1), kUrl, true));
}

std::optional<Value> Base64UrlEncodeNoPad(const Args& args, BuiltinContext& ctx) {
  return StringResult(ctx, "base64url.encode_no_pad",
                      Base64Encode(StringArg("base64url.encode_no_pad", args, 1), kUrl, false));
}

std::optional<Value> Base64UrlDecode(const Args& args, BuiltinContext& ctx) {
  std::string s = StringArg("base64url.decode", args, 1);
  // Unpadded input is padded first (RFC 7515 appendix C), as OPA does.
  if (s.empty() || s.back() != '=') {
    switch (s.size() % 4) {
      case 0:
        break;
      case 2:
        s += "==";
        break;
      case 3:
        s += "=";
        break;
      default:
        Fail("base64url.decode", "illegal base64url string: " + s);
    }
  }
  size_t bad = 0;
  auto out = Base64Decode(s, kUrl, true, &bad);
  if (!out) Fail("base64url.decode", "illegal base64 data at input byte " + std::to_string(bad));
  return StringResult(ctx, "base64url.decode", std::move(*out));
}

std::optional<Value> HexEncode(const Args& args, BuiltinContext& ctx) {
  const std::string& s = StringArg("hex.encode", args, 1);
  static constexpr char kDigits[] = "0123456789abcdef";
  Charge(ctx, "hex.encode", 2 * s.size());
  std::string out;
  out.reserve(2 * s.size());
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return Value::String(std::move(out));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[noreturn]] void InvalidHexByte(unsigned char c) {
  char buf[48];
  if (c >= 0x20 && c < 0x7F) {
    std::snprintf(buf, sizeof buf, "U+%04X '%c'", c, c);
  } else {
    std::snprintf(buf, sizeof buf, "U+%04X", c);
  }
  Fail("hex.decode", std::string("encoding/hex: invalid byte: ") + buf);
}

std::optional<Value> HexDecode(const Args& args, BuiltinContext& ctx) {
  const std::string& s = StringArg("hex.decode", args, 1);
  std::string out;
  out.reserve(s.size() / 2);
  size_t j = 1;
  for (; j < s.size(); j += 2) {
    int a = HexValue(s[j - 1]);
    int b = HexValue(s[j]);
    if (a < 0) InvalidHexByte(static_cast<unsigned char>(s[j - 1]));
    if (b < 0) InvalidHexByte(static_cast<unsigned char>(s[j]));
    out += static_cast<char>((a << 4) | b);
  }
  if (s.size() % 2 == 1) {
    if (HexValue(s[j - 1]) < 0) InvalidHexByte(static_cast<unsigned char>(s[j - 1]));
    Fail("hex.decode", "encoding/hex: odd length hex string");
  }
  return StringResult(ctx, "hex.decode", std::move(out));
}

// --- urlquery ---

std::string QueryEscape(std::string_view s) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

// Go's url.QueryUnescape; error text like Go's EscapeError.
std::optional<std::string> QueryUnescape(std::string_view s, std::string* error) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= s.size()) {
        std::string bad(s.substr(i, 3));
        if (error) *error = "invalid URL escape " + GoQuote(bad);
        return std::nullopt;
      }
      int a = HexValue(s[i + 1]);
      int b = HexValue(s[i + 2]);
      if (a < 0 || b < 0) {
        if (error) *error = "invalid URL escape " + GoQuote(std::string(s.substr(i, 3)));
        return std::nullopt;
      }
      out += static_cast<char>((a << 4) | b);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<Value> UrlQueryEncode(const Args& args, BuiltinContext& ctx) {
  return StringResult(ctx, "urlquery.encode", QueryEscape(StringArg("urlquery.encode", args, 1)));
}

std::optional<Value> UrlQueryDecode(const Args& args, BuiltinContext& ctx) {
  std::string error;
  auto out = QueryUnescape(StringArg("urlquery.decode", args, 1), &error);
  if (!out) Fail("urlquery.decode", error);
  return StringResult(ctx, "urlquery.decode", std::move(*out));
}

std::optional<Value> UrlQueryEncodeObject(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "urlquery.encode_object";
  const Object& obj = ObjectArg(fn, args, 1);
  std::string out;
  for (const auto& [k, v] : obj) {  // string keys sort as Go's sort.Strings does
    if (!k.IsString()) FailType(fn, 1, k, {"string"});
    std::string key = QueryEscape(k.AsString());
    auto add = [&](const Value& item) {
      if (!item.IsString()) {
        Fail(fn, std::string("operand 1 must be object of strings, arrays or sets of strings but "
                             "got ") +
                     TypeName(item));
      }
      if (!out.empty()) out += '&';
      out += key;
      out += '=';
      out += QueryEscape(item.AsString());
    };
    if (v.IsString()) {
      add(v);
    } else if (v.IsArray() || v.IsSet()) {
      for (const auto& item : v.IsArray() ? v.AsArray() : v.AsSet()) add(item);
    } else {
      add(v);
    }
  }
  return StringResult(ctx, fn, std::move(out));
}

std::optional<Value> UrlQueryDecodeObject(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "urlquery.decode_object";
  std::string_view query = StringArg(fn, args, 1);
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.find(';') != std::string_view::npos) Fail(fn, "invalid semicolon separator in query");
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string error;
    auto key = QueryUnescape(part.substr(0, eq), &error);
    if (!key) Fail(fn, error);
    auto value = QueryUnescape(eq == std::string_view::npos ? "" : part.substr(eq + 1), &error);
    if (!value) Fail(fn, error);
    pairs.emplace_back(std::move(*key), std::move(*value));
  }
  ChargeElements(ctx, fn, 2 * pairs.size());
  // Values keep their order under each key.
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ObjectEntry> out;
  for (size_t i = 0; i < pairs.size();) {
    Array values;
    size_t j = i;
    for (; j < pairs.size() && pairs[j].first == pairs[i].first; ++j) {
      values.push_back(Value::String(pairs[j].second));
    }
    out.emplace_back(Value::String(pairs[i].first), Value::MakeArray(std::move(values)));
    i = j;
  }
  return Value::FromSortedObject(std::move(out));
}

}  // namespace

void RegisterEncodingBuiltins(BuiltinTable& t) {
  Add(t, "json.marshal", 1, JsonMarshal);
  Add(t, "json.marshal_with_options", 2, JsonMarshalWithOptions);
  Add(t, "json.unmarshal", 1, JsonUnmarshal);
  Add(t, "json.is_valid", 1, JsonIsValid);
  Add(t, "yaml.marshal", 1, YamlMarshal);
  Add(t, "yaml.unmarshal", 1, YamlUnmarshal);
  Add(t, "yaml.is_valid", 1, YamlIsValid);
  Add(t, "base64.encode", 1, Base64EncodeFn);
  Add(t, "base64.decode", 1, Base64DecodeFn);
  Add(t, "base64.is_valid", 1, Base64IsValid);
  Add(t, "base64url.encode", 1, Base64UrlEncode);
  Add(t, "base64url.encode_no_pad", 1, Base64UrlEncodeNoPad);
  Add(t, "base64url.decode", 1, Base64UrlDecode);
  Add(t, "hex.encode", 1, HexEncode);
  Add(t, "hex.decode", 1, HexDecode);
  Add(t, "urlquery.encode", 1, UrlQueryEncode);
  Add(t, "urlquery.decode", 1, UrlQueryDecode);
  Add(t, "urlquery.encode_object", 1, UrlQueryEncodeObject);
  Add(t, "urlquery.decode_object", 1, UrlQueryDecodeObject);
}

}  // namespace statehouse::policy::internal
