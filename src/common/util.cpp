#include "common/util.h"

#include <openssl/rand.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "common/error.h"

namespace statehouse {

int64_t NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string Rfc3339Utc(int64_t millis, bool with_millis) {
  std::time_t secs = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  // Wide enough for any int year, so nothing is cut (and the compiler can tell).
  char buf[96];
  if (with_millis)
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis % 1000));
  else
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string RandomToken(size_t length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  out.reserve(length);
  unsigned char buf[64];
  while (out.size() < length) {
    if (RAND_bytes(buf, sizeof buf) != 1) Fail(ErrorCode::kInternal, "RAND_bytes failed");
    for (unsigned char b : buf) {
      // Rejection sampling keeps the distribution uniform over 62 symbols.
      if (b >= 248) continue;
      out.push_back(kAlphabet[b % 62]);
      if (out.size() == length) break;
    }
  }
  return out;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    Fail(ErrorCode::kInternal, "RAND_bytes failed");
  return HexEncode(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool ParseInt64(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  if (*begin == '+') return false;
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace statehouse

namespace statehouse {
std::string RandomUuid() {
  std::string hex = RandomHex(16);
  hex[12] = '4';
  static constexpr char kVariant[] = "89ab";
  hex[16] = kVariant[(hex[16] >= 'a' ? hex[16] - 'a' + 10 : hex[16] - '0') & 3];
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}
}  // namespace statehouse

#include <openssl/evp.h>

namespace statehouse {
namespace {
// Fetched once: EVP_sha256() and EVP_md5() make OpenSSL 3 look the algorithm up in its
// provider tables again on every EVP_DigestInit_ex, a visible cost when every request checks a
// token secret. Kept for the life of the process.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md ? md : EVP_sha256();
}
const EVP_MD* Md5Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md ? md : EVP_md5();
}
}  // namespace

std::string Sha256Hex(std::initializer_list<std::string_view> parts) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, Sha256Md(), nullptr) == 1;
  for (std::string_view p : parts) ok = ok && EVP_DigestUpdate(ctx, p.data(), p.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) Fail(ErrorCode::kInternal, "SHA-256 failed");
  return HexEncode(digest, len);
}

DigestStream::DigestStream(Algorithm algorithm) : ctx_(EVP_MD_CTX_new()) {
  const EVP_MD* md = algorithm == Algorithm::kMd5 ? Md5Md() : Sha256Md();
  if (!ctx_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), md, nullptr) != 1)
    Fail(ErrorCode::kInternal, "digest init failed");
}

DigestStream::~DigestStream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void DigestStream::Update(std::string_view bytes) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size());
}

std::string DigestStream::Final() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &len) != 1)
    Fail(ErrorCode::kInternal, "digest failed");
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string DigestStream::Hex() {
  std::string raw = Final();
  return HexEncode(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string DigestStream::Base64() {
  std::string raw = Final();
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
}

std::string HexEncode(const unsigned char* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace statehouse

namespace statehouse {
std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}
}  // namespace statehouse
