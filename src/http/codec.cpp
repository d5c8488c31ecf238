#include "http/codec.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cmath>
#include <limits>

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

void CheckDepth(const json::value& v, int depth) {
  if (depth > kMaxNestingDepth) Fail(ErrorCode::kInvalidArgument, "document nested too deeply");
  if (v.is_object())
    for (const auto& kv : v.get_object()) CheckDepth(kv.value(), depth + 1);
  else if (v.is_array())
    for (const auto& e : v.get_array()) CheckDepth(e, depth + 1);
}

// YAML 1.2 core schema resolution for plain scalars.
json::value PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t i;
  if (ParseInt64(s, i)) return i;
  if (s.size() > 1 && s[0] == '+' && ParseInt64(s.substr(1), i)) return i;
  // Floats: only plain decimal forms; everything else stays a string.
  bool digits = false, ok = true;
  for (size_t k = 0; k < s.size(); ++k) {
    char c = s[k];
    if (c >= '0' && c <= '9') digits = true;
    else if (!(c == '.' || c == 'e' || c == 'E' || ((c == '-' || c == '+') && (k == 0 || s[k - 1] == 'e' || s[k - 1] == 'E')))) ok = false;
  }
  if (ok && digits && s.find('.') != std::string::npos) {
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used == s.size() && std::isfinite(d)) return d;
    } catch (...) {
    }
  }
  return json::value(s);
}

// budget caps the expanded size, so alias bombs ("billion laughs") fail instead of exploding.
json::value YamlToJson(const YAML::Node& node, int depth, size_t& budget) {
  if (depth > kMaxNestingDepth) Fail(ErrorCode::kInvalidArgument, "document nested too deeply");
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
      for (const auto& child : node) arr.push_back(YamlToJson(child, depth + 1, budget));
      return arr;
    }
    case YAML::NodeType::Map: {
      json::object obj;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) Fail(ErrorCode::kInvalidArgument, "YAML keys must be scalars");
        const std::string& key = kv.first.Scalar();
        if (obj.contains(key)) Fail(ErrorCode::kInvalidArgument, "duplicate key '" + key + "'");
        obj[key] = YamlToJson(kv.second, depth + 1, budget);
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
  return !parts.empty() && static_cast<int>(parts.size()) <= kMaxNestingDepth;
}

void InsertField(json::object& root, std::string_view name, std::string value) {
  std::vector<std::string> parts;
  if (!SplitFieldPath(name, parts))
    Fail(ErrorCode::kInvalidArgument, "malformed form field name '" + std::string(name) + "'");
  json::object* obj = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    json::value& slot = (*obj)[parts[i]];
    if (slot.is_null()) slot = json::object();
    if (!slot.is_object())
      Fail(ErrorCode::kInvalidArgument, "form field '" + std::string(name) + "' conflicts with another field");
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
    Fail(ErrorCode::kInvalidArgument, "form field '" + std::string(name) + "' conflicts with another field");
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

void EmitYaml(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: out << YAML::Null; break;
    case json::kind::bool_: out << (v.get_bool() ? "true" : "false"); break;
    case json::kind::int64: out << v.get_int64(); break;
    case json::kind::uint64: out << v.get_uint64(); break;
    case json::kind::double_: out << v.get_double(); break;
    case json::kind::string: {
      std::string s(v.get_string());
      if (NeedsQuoting(s)) out << YAML::DoubleQuoted << s;
      else out << s;
      break;
    }
    case json::kind::array:
      if (v.get_array().empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& e : v.get_array()) EmitYaml(out, e);
      out << YAML::EndSeq;
      break;
    case json::kind::object:
      if (v.get_object().empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& kv : v.get_object()) {
        std::string key(kv.key());
        out << YAML::Key;
        if (NeedsQuoting(key)) out << YAML::DoubleQuoted;
        out << key << YAML::Value;
        EmitYaml(out, kv.value());
      }
      out << YAML::EndMap;
      break;
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
  // First acceptable listed type wins; q-values are rare enough in API clients to ignore.
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view m = MediaType(accept.substr(0, comma));
    if (IsYamlMedia(m)) return ReplyFormat::kYaml;
    if (IsJsonMedia(m)) return ReplyFormat::kJson;
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
  }
  return ReplyFormat::kJson;
}

json::value ParseJson(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = kMaxNestingDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) Fail(ErrorCode::kInvalidArgument, "malformed JSON body: " + ec.message());
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
    return YamlToJson(node, 0, budget);
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
  return root;
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
    if (text.substr(pos, 2) != "\r\n") Fail(ErrorCode::kInvalidArgument, "malformed multipart body");
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
  return root;
}

json::value ParseBody(BodyFormat format, std::string_view body, std::string_view content_type) {
  switch (format) {
    case BodyFormat::kJson: return ParseJson(body);
    case BodyFormat::kYaml: return ParseYaml(body);
    case BodyFormat::kFormUrlEncoded: return ParseFormUrlEncoded(body);
    case BodyFormat::kMultipart: return ParseMultipart(body, content_type);
    case BodyFormat::kText: return json::value(body);
  }
  return nullptr;
}

std::string SerializeJson(const json::value& v) { return json::serialize(v); }

std::string SerializeYaml(const json::value& v) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitYaml(out, v);
  std::string s = out.c_str();
  s.push_back('\n');
  return s;
}

const char* ContentTypeOf(ReplyFormat f) {
  return f == ReplyFormat::kYaml ? "application/yaml" : "application/json";
}

}  // namespace statehouse::http
