// Small shared helpers: time, randomness, string utilities.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace statehouse {

// Wall clock in Unix milliseconds (the API's timestamp unit).
int64_t NowMillis();

// Unix milliseconds as RFC 3339 UTC text: "2026-12-07T23:05:09Z", or with with_millis
// "2026-12-07T23:05:09.042Z".
std::string Rfc3339Utc(int64_t millis, bool with_millis = false);

// Cryptographically random bytes encoded in URL-safe alphanumerics (from OpenSSL's RAND_bytes).
std::string RandomToken(size_t length);

// Random lowercase hex id, e.g. for request ids.
std::string RandomHex(size_t bytes);

std::string ToLower(std::string_view s);
bool IEquals(std::string_view a, std::string_view b);
std::string_view Trim(std::string_view s);

// Parses a base-10 int64; false on any junk, sign misuse or overflow.
bool ParseInt64(std::string_view s, int64_t& out);

}  // namespace statehouse

namespace statehouse {
// A random (version 4) UUID in its canonical text form.
std::string RandomUuid();
}  // namespace statehouse

namespace statehouse {
// Lowercase hex of bytes.
std::string HexEncode(const unsigned char* data, size_t size);
// True for 64 lowercase hex digits (the names of blobs).
bool IsSha256Hex(std::string_view s);
// Standard (padded) base64, at most 4 KiB of text; nullopt when malformed.
std::optional<std::string> Base64Decode(std::string_view in);
// Hex SHA-256 of the concatenation of parts.
std::string Sha256Hex(std::initializer_list<std::string_view> parts);

// A digest fed piece by piece; read it once, at the end, as hex (SHA-256 blob names) or
// base64 (the Content-MD5 form of RFC 1864).
class DigestStream {
 public:
  enum class Algorithm { kSha256, kMd5 };
  explicit DigestStream(Algorithm algorithm);
  ~DigestStream();
  DigestStream(const DigestStream&) = delete;
  DigestStream& operator=(const DigestStream&) = delete;
  void Update(std::string_view bytes);
  std::string Hex();
  std::string Base64();

 private:
  std::string Final();
  void* ctx_;  // EVP_MD_CTX, kept out of this header
};
}  // namespace statehouse
