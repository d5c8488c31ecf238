// Body codecs: JSON, YAML, form data (urlencoded and multipart) into one document model
// (boost::json::value), and JSON or YAML out. Parse failures throw Error(kInvalidArgument);
// an unknown media type throws Error(kUnsupportedMediaType).
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace statehouse::http {

enum class BodyFormat { kJson, kYaml, kFormUrlEncoded, kMultipart, kText };

// Media type of a Content-Type header (parameters ignored). kText is only accepted where a
// route says so (e.g. token validation takes the token as text/plain).
BodyFormat FormatOfContentType(std::string_view content_type, bool allow_text);

// Response format: YAML when the request body was YAML; otherwise, for body-less requests, the
// one of YAML and JSON that Accept ranks higher (q-values; on a tie the one listed first; a type
// with q=0 is refused; wildcards choose nothing); JSON by default.
enum class ReplyFormat { kJson, kYaml };
ReplyFormat ChooseReplyFormat(bool has_body, BodyFormat body_format, std::string_view accept);

// The media type the specs give error replies: the IaCMError body, as JSON.
inline constexpr const char* kGoaErrorContentType = "application/vnd.goa.error";

// Whether Accept asks for kGoaErrorContentType (Harness's Go SDK sends it on DELETE): the type
// is listed by name with q > 0 and no other listed type the server writes (JSON, YAML) has a
// higher q. Wildcards (*/*, application/*) do not count as asking for it.
bool AcceptsGoaError(std::string_view accept);

// The nesting limit of request bodies, in every format: at most this many objects/arrays inside
// one another (`{"a":{"b":1}}` is 2 deep). Deeper bodies are kInvalidArgument. It is Boost.JSON's
// default max_depth, so whatever a decoder accepts, any JSON reader in the server (stored
// columns are read with the default) reads back.
inline constexpr int kMaxNestingDepth = 32;

boost::json::value ParseJson(std::string_view text);
boost::json::value ParseYaml(std::string_view text);
// Form fields become nested objects: "org.name=x", "org[name]=x" -> {"org":{"name":"x"}}.
// All values are strings; readers coerce them where the schema wants numbers or booleans.
boost::json::value ParseFormUrlEncoded(std::string_view text);
boost::json::value ParseMultipart(std::string_view text, std::string_view content_type);

boost::json::value ParseBody(BodyFormat format, std::string_view body,
                             std::string_view content_type);

std::string SerializeJson(const boost::json::value& v);
std::string SerializeYaml(const boost::json::value& v);
const char* ContentTypeOf(ReplyFormat f);

}  // namespace statehouse::http
