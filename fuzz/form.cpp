// Form bodies: http::ParseFormUrlEncoded and http::ParseMultipart with a fuzzed Content-Type
// (boundary parameter). Input layout: <content-type line>\n<body>; without a newline the whole
// input is the body and the content type is a fixed multipart one.
// Properties: accepted forms are objects whose leaves are strings or lists of strings, at most
// kMaxNestingDepth objects/lists deep, and they serialize to JSON and YAML (the reply formats)
// that the server's own readers (ParseJson, ParseYaml) read back.
#include "fuzz_common.h"
#include "http/codec.h"

using namespace statehouse;
namespace json = boost::json;

namespace {

// depth: the containers around v.
void CheckFormValue(const json::value& v, int depth, const std::string& doc) {
  if (v.is_string()) return;
  FUZZ_CHECK(depth + 1 <= http::kMaxNestingDepth, doc);
  if (v.is_array()) {
    FUZZ_CHECK(v.get_array().size() >= 2, doc);
    for (const auto& e : v.get_array()) FUZZ_CHECK(e.is_string(), doc);
    return;
  }
  FUZZ_CHECK(v.is_object(), doc);
  for (const auto& kv : v.get_object()) {
    FUZZ_CHECK(!kv.key().empty(), doc);
    CheckFormValue(kv.value(), depth + 1, doc);
  }
}

void CheckForm(const json::value& v) {
  std::string doc = fuzz::Show(v);
  FUZZ_CHECK(v.is_object(), doc);
  CheckFormValue(v, 0, doc);
  // The server may echo any of it back in either format.
  std::string yaml = http::SerializeYaml(v);
  std::string json_text = http::SerializeJson(v);
  if (!fuzz::AllUtf8(v)) return;  // F2 (see fuzz_common.h): only crashes count then
  try {
    FUZZ_CHECK(http::ParseJson(json_text) == v, doc);
  } catch (const Error& e) {
    fuzz::Die(__FILE__, __LINE__, "JSON reply of a form does not parse", doc + "\n" + e.what());
  }
  json::value back;
  try {
    back = http::ParseYaml(yaml);
  } catch (const Error& e) {
    if (fuzz::HasLongKey(v)) return;  // F7 (see fuzz_common.h)
    fuzz::Die(__FILE__, __LINE__, "YAML reply of a form does not parse",
              doc + "\n--- yaml:\n" + yaml + "\n--- error: " + e.what());
  }
  FUZZ_CHECK(back == v, doc + "\n--- yaml:\n" + yaml + "\n--- diff: " + fuzz::FirstDifference(v, back));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  std::string_view in = fuzz::AsText(data, size);
  std::string_view content_type = "multipart/form-data; boundary=XyZ";
  std::string_view body = in;
  if (size_t nl = in.find('\n'); nl != std::string_view::npos && nl <= 512) {
    content_type = in.substr(0, nl);
    body = in.substr(nl + 1);
  }

  try {
    CheckForm(http::ParseFormUrlEncoded(body));
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
  }
  try {
    CheckForm(http::ParseMultipart(body, content_type));
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
  }
  // The dispatcher's path: media type first, then the body by that format.
  try {
    http::BodyFormat f = http::FormatOfContentType(content_type, true);
    json::value v = http::ParseBody(f, body, content_type);
    (void)http::SerializeJson(v);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument ||
                   e.code() == ErrorCode::kUnsupportedMediaType,
               e.what());
  }
  return 0;
}
