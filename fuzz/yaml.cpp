// http::ParseYaml (YAML request bodies): no crash, no blow-up (anchors/aliases), and for every
// accepted document the YAML reply round trip is stable: ParseYaml(SerializeYaml(v)) means v,
// and serializing that again gives the same text. The JSON reply of a YAML document must parse.
#include "fuzz_common.h"
#include "http/codec.h"

using namespace statehouse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  std::string_view text = fuzz::AsText(data, size);
  boost::json::value v;
  try {
    v = http::ParseYaml(text);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    return 0;
  }
  std::string y1 = http::SerializeYaml(v);
  if (!fuzz::AllUtf8(v)) {  // F2 (see fuzz_common.h): only crashes count then
    (void)http::SerializeJson(v);
    try {
      (void)http::ParseYaml(y1);
    } catch (const Error&) {
    }
    return 0;
  }
  fuzz::g_f3_seen = false;
  boost::json::value v2;
  try {
    v2 = http::ParseYaml(y1);
  } catch (const Error& e) {
    if (fuzz::HasLongKey(v)) return 0;  // F7 (see fuzz_common.h)
    fuzz::Die(__FILE__, __LINE__, "SerializeYaml output does not parse",
              fuzz::Show(v) + "\n--- yaml:\n" + y1 + "\n--- error: " + e.what());
  }
  FUZZ_CHECK(fuzz::Equivalent(v, v2), fuzz::Show(v) + "\n--- yaml:\n" + y1 + "\n--- diff: " +
                                          fuzz::FirstDifference(v, v2));
  std::string y2 = http::SerializeYaml(v2);
  FUZZ_CHECK(fuzz::g_f3_seen || y1 == y2, "--- first:\n" + y1 + "--- second:\n" + y2);

  // JSON reply of a YAML document.
  std::string j = http::SerializeJson(v);
  boost::json::value from_json = boost::json::parse(j);
  FUZZ_CHECK(fuzz::Equivalent(from_json, v), j);  // F5: an ulp of drift allowed
  return 0;
}
