// http::ParseJson (every JSON request body): no crash on any input; accepted documents
// serialize back (JSON and YAML, the two reply formats) without loss.
#include "fuzz_common.h"
#include "http/codec.h"

using namespace statehouse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  std::string_view text = fuzz::AsText(data, size);
  boost::json::value v;
  try {
    v = http::ParseJson(text);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    return 0;
  }
  // F1 (see fuzz_common.h): +-infinity has no JSON spelling; only crashes count then.
  if (!fuzz::AllFinite(v)) {
    (void)http::SerializeJson(v);
    (void)http::SerializeYaml(v);
    return 0;
  }
  // JSON reply: exact round trip.
  std::string out = http::SerializeJson(v);
  boost::json::value again = http::ParseJson(out);
  FUZZ_CHECK(fuzz::Equivalent(again, v), out + "\n--- diff: " + fuzz::FirstDifference(v, again));

  // YAML reply (a YAML client reading back a stored JSON document): must be loadable by our
  // own YAML reader and mean the same (numbers compared by value).
  std::string yaml = http::SerializeYaml(v);
  if (!fuzz::AllUtf8(v)) return 0;  // F4 (see fuzz_common.h)
  boost::json::value from_yaml;
  try {
    from_yaml = http::ParseYaml(yaml);
  } catch (const Error& e) {
    if (fuzz::HasLongKey(v)) return 0;  // F7 (see fuzz_common.h)
    fuzz::Die(__FILE__, __LINE__, "YAML reply of an accepted JSON body does not parse",
              out + "\n--- yaml:\n" + yaml + "\n--- error: " + e.what());
  }
  FUZZ_CHECK(fuzz::Equivalent(v, from_yaml),
             out + "\n--- yaml:\n" + yaml + "\n--- diff: " + fuzz::FirstDifference(v, from_yaml));
  return 0;
}
