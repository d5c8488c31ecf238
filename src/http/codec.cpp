#include "http/codec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "common/error.h"
#include "common/util.h"
#include "http/message.h"

namespace statehouse::http {
namespace json = boost::json;

namespace {

std::string_view MediaType(std::string_view content_type) {
  size_t semi = content_type.find(';');
  return Trim(content_type.substr(0, semi));
}

std::string ContentTypeParam(std::string_view content_type, std::string_view name) {
  size_t pos = content_type.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = content_type.substr(pos + 1);
    size_t next = rest.find(';');
    std::string_view param = Trim(rest.substr(0, next));
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && IEquals(Trim(param.substr(0, eq)), name)) {
      std::string_view v = Trim(param.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return std::string(v);
    }
    pos = next == std::string_view::npos ? next : pos + 1 + next;
  }
  return {};
}

bool IsYamlMedia(std::string_view m) {
  return IEquals(m, "application/yaml") || IEquals(m, "application/x-yaml") ||
         IEquals(m, "text/yaml") || IEquals(m, "text/x-yaml");
}

bool IsJsonMedia(std::string_view m) {
  if (IEquals(m, "application/json")) return true;
  // application/problem+json, application/vnd.x+json, ...
  return m.size() > 5 && IEquals(m.substr(m.size() - 5), "+json") &&
         IEquals(m.substr(0, 12), "application/");
}

// Splits text at sep, except inside quoted strings (a parameter value may hold ',' or ';').
std::vector<std::string_view> SplitOutsideQuotes(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\') {
      ++i;  // quoted-pair
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == sep && !quoted) {
      out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(text.substr(start));
  return out;
}

// RFC 9110 qvalue ("0", "0.5", "1.000") in thousandths; -1 when malformed.
int ParseQValue(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return -1;
  int whole = v[0] - '0';
  if (v.size() == 1) return whole * 1000;
  if (v[1] != '.' || v.size() > 5) return -1;
  int frac = 0, digits = 0;
  for (char c : v.substr(2)) {
    if (c < '0' || c > '9') return -1;
    frac = frac * 10 + (c - '0');
    ++digits;
  }
  for (; digits < 3; ++digits) frac *= 10;
  if (whole == 1 && frac != 0) return -1;
  return whole * 1000 + frac;
}

struct MediaRange {
  std::string_view type;  // "application/json", "*/*", ... (parameters dropped)
  int q = 1000;           // thousandths
};

// The media ranges of an Accept header, in order. An element with a malformed q-value is left
// out (it asks for nothing); other parameters are ignored.
std::vector<MediaRange> ParseAccept(std::string_view accept) {
  std::vector<MediaRange> out;
  for (std::string_view element : SplitOutsideQuotes(accept, ',')) {
    std::vector<std::string_view> parts = SplitOutsideQuotes(element, ';');
    MediaRange r;
    r.type = Trim(parts[0]);
    if (r.type.empty()) continue;
    bool ok = true;
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string_view param = Trim(parts[i]);
      size_t eq = param.find('=');
      if (eq == std::string_view::npos || !IEquals(Trim(param.substr(0, eq)), "q")) continue;
      r.q = ParseQValue(Trim(param.substr(eq + 1)));
      ok = r.q >= 0;
      break;  // parameters after the weight are accept extensions
    }
    if (ok) out.push_back(r);
  }
  return out;
}

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || c > 0xF4 || i + static_cast<size_t>(len) > s.size()) return false;
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (int k = 1; k < len; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

// The one refusal of a body nested deeper than kMaxNestingDepth, whatever its format.
[[noreturn]] void TooDeep() {
  Fail(ErrorCode::kInvalidArgument, "the body is nested deeper than the nesting limit of " +
                                        std::to_string(kMaxNestingDepth) +
                                        " levels of objects and arrays");
}

// Every document, whatever format it came in, must be representable in a JSON reply that the
// server's own JSON readers read back: finite numbers, valid UTF-8 text, and at most
// kMaxNestingDepth containers deep. `enclosing` counts the containers around v.
void CheckDocument(const json::value& v, int enclosing = 0) {
  switch (v.kind()) {
    case json::kind::double_:
      if (!std::isfinite(v.get_double()))
        Fail(ErrorCode::kInvalidArgument, "a number in the body is out of range");
      break;
    case json::kind::string:
      if (!ValidUtf8(v.get_string()))
        Fail(ErrorCode::kInvalidArgument, "the body contains text that is not valid UTF-8");
      break;
    case json::kind::array:
      if (enclosing + 1 > kMaxNestingDepth) TooDeep();
      for (const auto& e : v.get_array()) CheckDocument(e, enclosing + 1);
      break;
    case json::kind::object:
      if (enclosing + 1 > kMaxNestingDepth) TooDeep();
      for (const auto& kv : v.get_object()) {
        if (!ValidUtf8(kv.key()))
          Fail(ErrorCode::kInvalidArgument, "the body contains a key that is not valid UTF-8");
        CheckDocument(kv.value(), enclosing + 1);
      }
      break;
    default:
      break;
  }
}

// YAML 1.2 core schema resolution for plain scalars.
// YAML 1.2 core-schema numbers: [-+]?[0-9]+ and [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsYamlInt(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

bool IsYamlFloat(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

// YAML 1.2 core schema resolution for plain scalars.
json::value PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (IsYamlInt(s)) {
    std::string_view digits = s[0] == '+' ? std::string_view(s).substr(1) : std::string_view(s);
    int64_t i;
    if (ParseInt64(digits, i)) return i;
    uint64_t u;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u);
    if (ec == std::errc() && ptr == digits.data() + digits.size()) return u;
  }
  if (IsYamlInt(s) || IsYamlFloat(s)) {
    // strtod, not stod: subnormals set ERANGE but are numbers; overflow gives inf, which the
    // document check refuses.
    return std::strtod(s.c_str(), nullptr);
  }
  return json::value(s);
}

// budget caps the expanded size, so alias bombs ("billion laughs") fail instead of exploding;
// `enclosing` counts the containers around node, so recursive aliases stop at the nesting limit.
json::value YamlToJson(const YAML::Node& node, int enclosing, size_t& budget) {
  if ((node.IsSequence() || node.IsMap()) && enclosing + 1 > kMaxNestingDepth) TooDeep();
  if (budget == 0) Fail(ErrorCode::kInvalidArgument, "YAML document expands too large");
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar: {
      // Quoted scalars carry the "!" tag and are always strings.
      if (node.Tag() == "!") return json::value(node.Scalar());
      if (node.Tag() == "tag:yaml.org,2002:str") return json::value(node.Scalar());
      return PlainScalar(node.Scalar());
    }
    case YAML::NodeType::Sequence: {
      json::array arr;
      for (const auto& child : node) arr.push_back(YamlToJson(child, enclosing + 1, budget));
      return arr;
    }
    case YAML::NodeType::Map: {
      json::object obj;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) Fail(ErrorCode::kInvalidArgument, "YAML keys must be scalars");
        const std::string& key = kv.first.Scalar();
        if (obj.contains(key)) Fail(ErrorCode::kInvalidArgument, "duplicate key '" + key + "'");
        obj[key] = YamlToJson(kv.second, enclosing + 1, budget);
      }
      return obj;
    }
  }
  return nullptr;
}

// Splits "a.b[c]" into {"a","b","c"}.
bool SplitFieldPath(std::string_view name, std::vector<std::string>& parts) {
  std::string cur;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (cur.empty()) return false;
      parts.push_back(std::move(cur));
      cur.clear();
    } else if (c == '[') {
      if (!cur.empty()) parts.push_back(std::move(cur));
      cur.clear();
      size_t close = name.find(']', i);
      if (close == std::string_view::npos || close == i + 1) return false;
      parts.emplace_back(name.substr(i + 1, close - i - 1));
      i = close;
      if (i + 1 < name.size() && name[i + 1] == '.') ++i;
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) parts.push_back(std::move(cur));
  return !parts.empty();
}

void InsertField(json::object& root, std::string_view name, std::string value) {
  std::vector<std::string> parts;
  if (!SplitFieldPath(name, parts))
    Fail(ErrorCode::kInvalidArgument, "malformed form field name '" + std::string(name) + "'");
  // A name of n parts puts its value inside n objects (the body's own and n - 1 below it); a
  // repeated field adds a list, which CheckDocument counts.
  if (static_cast<int>(parts.size()) > kMaxNestingDepth) TooDeep();
  json::object* obj = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    json::value& slot = (*obj)[parts[i]];
    if (slot.is_null()) slot = json::object();
    if (!slot.is_object())
      Fail(ErrorCode::kInvalidArgument,
           "form field '" + std::string(name) + "' conflicts with another field");
    obj = &slot.get_object();
  }
  json::value& leaf = (*obj)[parts.back()];
  if (leaf.is_null()) {
    leaf = json::value(std::move(value));
  } else if (leaf.is_string()) {
    // A repeated field becomes a list (e.g. modules=CD&modules=CI).
    json::array arr;
    arr.push_back(leaf);
    arr.push_back(json::value(std::move(value)));
    leaf = std::move(arr);
  } else if (leaf.is_array()) {
    leaf.get_array().push_back(json::value(std::move(value)));
  } else {
    Fail(ErrorCode::kInvalidArgument,
         "form field '" + std::string(name) + "' conflicts with another field");
  }
}

bool LooksLikeNonString(const std::string& s) {
  json::value v = PlainScalar(s);
  return !v.is_string() || s.empty();
}

bool NeedsQuoting(const std::string& s) {
  if (LooksLikeNonString(s)) return true;
  // Leading/trailing spaces, indicators and anything yaml-cpp might emit ambiguously.
  if (s.front() == ' ' || s.back() == ' ') return true;
  static constexpr std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@`";
  if (kIndicators.find(s.front()) != std::string_view::npos) return true;
  for (char c : s)
    if (c == '\n' || c == '#' || c == ':' || static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}

// A plain scalar only when it reads back as the same string: printable ASCII, not a YAML
// indicator, not something that resolves to null/bool/number.
bool PlainSafe(const std::string& s) {
  if (NeedsQuoting(s)) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) return false;
  return true;
}

// Double-quoted with JSON's escapes, which YAML's double-quoted style shares; non-ASCII stays
// UTF-8 as it is (no emitter re-encodes it).
std::string QuotedScalar(std::string_view s) { return json::serialize(json::string(s)); }

std::string ScalarText(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return v.get_bool() ? "true" : "false";
    case json::kind::string: {
      std::string s(v.get_string());
      return PlainSafe(s) ? s : QuotedScalar(s);
    }
    case json::kind::double_: {
      // Shortest round-trip form, shaped so YAML 1.1 readers too see a float: a '.' in the
      // mantissa and a signed exponent ("1.0e+207", "125.5", "5.0").
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
      std::string text(buf, ec == std::errc() ? end : buf);
      size_t e = text.find('e');
      std::string mantissa = text.substr(0, e);
      if (mantissa.find('.') == std::string::npos) mantissa += ".0";
      return e == std::string::npos ? mantissa : mantissa + text.substr(e);
    }
    default:
      return json::serialize(v);  // integers
  }
}

std::string KeyText(std::string_view key) {
  std::string k(key);
  return PlainSafe(k) ? k : QuotedScalar(k);
}

// Writes v after "key:" or "-" (block style); containers start on the next line.
void EmitYaml(std::string& out, const json::value& v, size_t indent) {
  if (v.is_object() && !v.get_object().empty()) {
    out += "\n";
    for (const auto& kv : v.get_object()) {
      std::string key = KeyText(kv.key());
      out.append(indent, ' ');
      // YAML caps implicit keys at 1024 characters; longer ones need the explicit form.
      if (key.size() > 1000) {
        out += "? " + key + "\n";
        out.append(indent, ' ');
      } else {
        out += key;
      }
      out += ":";
      EmitYaml(out, kv.value(), indent + 2);
    }
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "\n";
    for (const auto& e : v.get_array()) {
      out.append(indent, ' ');
      out += "-";
      EmitYaml(out, e, indent + 2);
    }
  } else if (v.is_object()) {
    out += " {}\n";
  } else if (v.is_array()) {
    out += " []\n";
  } else {
    out += " " + ScalarText(v) + "\n";
  }
}

}  // namespace

BodyFormat FormatOfContentType(std::string_view content_type, bool allow_text) {
  std::string_view m = MediaType(content_type);
  if (m.empty() || IsJsonMedia(m)) return BodyFormat::kJson;
  if (IsYamlMedia(m)) return BodyFormat::kYaml;
  if (IEquals(m, "application/x-www-form-urlencoded")) return BodyFormat::kFormUrlEncoded;
  if (IEquals(m, "multipart/form-data")) return BodyFormat::kMultipart;
  if (allow_text && IEquals(m, "text/plain")) return BodyFormat::kText;
  Fail(ErrorCode::kUnsupportedMediaType,
       "unsupported Content-Type '" + std::string(m) +
           "'; use application/json, application/yaml, application/x-www-form-urlencoded or "
           "multipart/form-data");
}

ReplyFormat ChooseReplyFormat(bool has_body, BodyFormat body_format, std::string_view accept) {
  if (has_body) return body_format == BodyFormat::kYaml ? ReplyFormat::kYaml : ReplyFormat::kJson;
  ReplyFormat best = ReplyFormat::kJson;
  int best_q = 0;
  for (const MediaRange& r : ParseAccept(accept)) {
    bool yaml = IsYamlMedia(r.type);
    if ((yaml || IsJsonMedia(r.type)) && r.q > best_q) {  // on a tie the first listed stays
      best = yaml ? ReplyFormat::kYaml : ReplyFormat::kJson;
      best_q = r.q;
    }
  }
  return best;
}

bool AcceptsGoaError(std::string_view accept) {
  int goa_q = 0, other_q = 0;
  for (const MediaRange& r : ParseAccept(accept)) {
    if (IEquals(r.type, kGoaErrorContentType))
      goa_q = std::max(goa_q, r.q);
    else if (IsJsonMedia(r.type) || IsYamlMedia(r.type))
      other_q = std::max(other_q, r.q);
  }
  // A tie goes to the spec's own media type for errors.
  return goa_q > 0 && goa_q >= other_q;
}

json::value ParseJson(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = kMaxNestingDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec == json::error::too_deep) TooDeep();
  if (ec) Fail(ErrorCode::kInvalidArgument, "malformed JSON body: " + ec.message());
  CheckDocument(v);
  return v;
}

json::value ParseYaml(std::string_view text) {
  YAML::Node node;
  try {
    node = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    Fail(ErrorCode::kInvalidArgument, std::string("malformed YAML body: ") + e.what());
  }
  try {
    size_t budget = 1'000'000;
    json::value v = YamlToJson(node, 0, budget);
    CheckDocument(v);
    return v;
  } catch (const YAML::Exception& e) {
    // Aliases that recurse, bad conversions and the like.
    Fail(ErrorCode::kInvalidArgument, std::string("malformed YAML body: ") + e.what());
  }
}

json::value ParseFormUrlEncoded(std::string_view text) {
  NameValues pairs;
  if (!ParseUrlEncoded(text, pairs)) Fail(ErrorCode::kInvalidArgument, "malformed form body");
  json::object root;
  for (auto& [k, v] : pairs) InsertField(root, k, std::move(v));
  json::value doc = std::move(root);
  CheckDocument(doc);
  return doc;
}

json::value ParseMultipart(std::string_view text, std::string_view content_type) {
  std::string boundary = ContentTypeParam(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200)
    Fail(ErrorCode::kInvalidArgument, "multipart body without a valid boundary parameter");
  const std::string delim = "--" + boundary;
  json::object root;
  size_t pos = text.find(delim);
  if (pos == std::string_view::npos)
    Fail(ErrorCode::kInvalidArgument, "multipart body without its boundary");
  pos += delim.size();
  for (;;) {
    if (text.substr(pos, 2) == "--") break;  // closing delimiter
    if (text.substr(pos, 2) != "\r\n")
      Fail(ErrorCode::kInvalidArgument, "malformed multipart body");
    pos += 2;
    size_t headers_end = text.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos)
      Fail(ErrorCode::kInvalidArgument, "malformed multipart part headers");
    std::string_view headers = text.substr(pos, headers_end - pos);
    size_t body_start = headers_end + 4;
    size_t next = text.find("\r\n" + delim, body_start);
    if (next == std::string_view::npos)
      Fail(ErrorCode::kInvalidArgument, "multipart body ends before its closing boundary");
    std::string_view part_body = text.substr(body_start, next - body_start);
    std::string name;
    while (!headers.empty()) {
      size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (IEquals(Trim(line.substr(0, colon)), "content-disposition")) {
        name = ContentTypeParam(line.substr(colon + 1), "name");
      }
    }
    if (name.empty()) Fail(ErrorCode::kInvalidArgument, "multipart part without a field name");
    InsertField(root, name, std::string(part_body));
    pos = next + 2 + delim.size();
  }
  json::value doc = std::move(root);
  CheckDocument(doc);
  return doc;
}

json::value ParseBody(BodyFormat format, std::string_view body, std::string_view content_type) {
  switch (format) {
    case BodyFormat::kJson:
      return ParseJson(body);
    case BodyFormat::kYaml:
      return ParseYaml(body);
    case BodyFormat::kFormUrlEncoded:
      return ParseFormUrlEncoded(body);
    case BodyFormat::kMultipart:
      return ParseMultipart(body, content_type);
    case BodyFormat::kText: {
      json::value v(body);
      CheckDocument(v);
      return v;
    }
  }
  return nullptr;
}

std::string SerializeJson(const json::value& v) { return json::serialize(v); }

std::string SerializeYaml(const json::value& v) {
  std::string out;
  if (v.is_structured() && !(v.is_object() ? v.get_object().empty() : v.get_array().empty())) {
    EmitYaml(out, v, 0);
    out.erase(0, 1);  // the container's leading newline
  } else {
    EmitYaml(out, v, 0);
    out.erase(0, 1);  // the scalar's leading space
  }
  return out;
}

const char* ContentTypeOf(ReplyFormat f) {
  return f == ReplyFormat::kYaml ? "application/yaml" : "application/json";
}

}  // namespace statehouse::http
