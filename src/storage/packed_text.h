// Large JSON columns (a policy evaluation's input and details) stored LZ4-compressed. Every
// evaluated save adds one evaluation row; with ten policies its text is ~8 KB and packs to
// ~2.8 KB, so the history grows a third as fast and a row fits in one page instead of three
// (measured: ~5 us to pack, a few us of commit and checkpoint work saved; bench/README).
#pragma once

#include <string>
#include <string_view>

namespace statehouse::storage {

// The packed form of text: a format byte, the text's size (4 bytes, little-endian) and one
// LZ4 block.
std::string PackText(std::string_view text);

// The text PackText packed. A value that is not one (a damaged row) is an internal error that
// says so; it never reads or allocates beyond what the header and kMaxUnpackedBytes allow.
std::string UnpackText(std::string_view packed);

inline constexpr size_t kMaxUnpackedBytes = 256u << 20;

}  // namespace statehouse::storage
