// Packed columns (storage/packed_text.h): the policy evaluations' input and details as stored.
// The bytes come from the database, not a client, but a damaged row must still be an error,
// never an overread or a huge allocation. Properties: UnpackText of any bytes either fails
// with kInternal or gives at most kMaxUnpackedBytes; PackText of the bytes unpacks to them.
#include "storage/packed_text.h"

#include <string>

#include "common/error.h"
#include "fuzz_common.h"

using namespace statehouse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    std::string text = storage::UnpackText(bytes);
    FUZZ_CHECK(text.size() <= storage::kMaxUnpackedBytes, "unpacked too much");
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInternal, e.what());
  }
  FUZZ_CHECK(storage::UnpackText(storage::PackText(bytes)) == bytes, "round trip");
  return 0;
}
