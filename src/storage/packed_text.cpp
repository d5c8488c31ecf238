#include "storage/packed_text.h"

#include <lz4.h>

#include <cstdint>

#include "common/error.h"

namespace statehouse::storage {
namespace {

constexpr char kFormatLz4 = 1;
constexpr size_t kHeaderBytes = 5;

[[noreturn]] void Damaged(const std::string& why) {
  Fail(ErrorCode::kInternal, "a packed column is damaged: " + why);
}

}  // namespace

std::string PackText(std::string_view text) {
  if (text.size() > kMaxUnpackedBytes || text.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE))
    Fail(ErrorCode::kInternal,
         "text of " + std::to_string(text.size()) + " bytes is too large to pack");
  const int bound = LZ4_compressBound(static_cast<int>(text.size()));
  std::string out(kHeaderBytes + static_cast<size_t>(bound), '\0');
  out[0] = kFormatLz4;
  const auto size = static_cast<uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<char>((size >> (8 * i)) & 0xFF);
  const int written = LZ4_compress_default(text.data(), out.data() + kHeaderBytes,
                                           static_cast<int>(text.size()), bound);
  if (written <= 0) Fail(ErrorCode::kInternal, "LZ4 could not pack a column");
  out.resize(kHeaderBytes + static_cast<size_t>(written));
  return out;
}

std::string UnpackText(std::string_view packed) {
  if (packed.size() < kHeaderBytes) Damaged("shorter than its header");
  if (packed[0] != kFormatLz4) Damaged("unknown format " + std::to_string(int{packed[0]}));
  uint32_t size = 0;
  for (int i = 0; i < 4; ++i)
    size |= static_cast<uint32_t>(static_cast<unsigned char>(packed[1 + i])) << (8 * i);
  const auto body = packed.substr(kHeaderBytes);
  // An LZ4 block expands at most ~255 times: a size beyond that is damage, refused before
  // the allocation.
  if (size > kMaxUnpackedBytes || size > body.size() * 255 + 16)
    Damaged("claims " + std::to_string(size) + " bytes from a block of " +
            std::to_string(body.size()));
  std::string out(size, '\0');
  const int got = LZ4_decompress_safe(body.data(), out.data(), static_cast<int>(body.size()),
                                      static_cast<int>(size));
  if (got < 0 || static_cast<uint32_t>(got) != size)
    Damaged("its LZ4 block does not unpack to the " + std::to_string(size) + " bytes it claims");
  return out;
}

}  // namespace statehouse::storage
