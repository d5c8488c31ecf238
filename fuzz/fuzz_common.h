// Shared helpers of the libFuzzer targets. statehouse::Error is an expected outcome of bad
// input; anything else that escapes a target (another exception, a sanitizer report, a failed
// FUZZ_CHECK) is a finding.
#pragma once

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/log.h"

namespace fuzz {

// See "Known findings" below.
#ifndef FUZZ_TOLERATE_KNOWN
#define FUZZ_TOLERATE_KNOWN 0
#endif
inline constexpr bool kTolerateKnown = FUZZ_TOLERATE_KNOWN != 0;

// Set when Equivalent accepted a double that came back as its own text (F3) or as another
// number kind (F6): the YAML text is then allowed to change on a second round.
inline bool g_f3_seen = false;

// Aborts with a message (libFuzzer saves the input as a crash).
[[noreturn]] inline void Die(const char* file, int line, const char* what, std::string_view detail) {
  std::fprintf(stderr, "\nFUZZ_CHECK failed at %s:%d: %s\n%.*s\n", file, line, what,
               static_cast<int>(detail.size() > 4000 ? 4000 : detail.size()), detail.data());
  std::abort();
}
#define FUZZ_CHECK(cond, detail) \
  do {                           \
    if (!(cond)) ::fuzz::Die(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)

inline void QuietLogs() {
  static bool once = [] {
    statehouse::log::SetLevel(statehouse::log::Level::kOff);
    return true;
  }();
  (void)once;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline std::string Show(const boost::json::value& v) { return boost::json::serialize(v); }

// Equality of documents where numbers compare by value, whatever their kind (int64, uint64,
// double): used where a codec may legitimately pick another number representation.
inline bool SameNumber(const boost::json::value& a, const boost::json::value& b) {
  auto as_double = [](const boost::json::value& v) {
    return v.is_int64() ? static_cast<double>(v.get_int64())
           : v.is_uint64() ? static_cast<double>(v.get_uint64())
                           : v.get_double();
  };
  if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
  if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
  double x = as_double(a), y = as_double(b);
  return x == y || std::fabs(x - y) <= 4e-16 * std::fmax(std::fabs(x), std::fabs(y));  // F5
}


inline bool Equivalent(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() != b.kind()) g_f3_seen = true;  // F6
    return SameNumber(a, b);
  }
  if (kTolerateKnown && a.is_number() && b.is_string()) {  // F3 (1e+207, 1.8e-313, uint64 above int64)
    std::string text(b.get_string());
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);  // not stod: it throws on subnormals
    if (!text.empty() && end == text.c_str() + text.size() && SameNumber(a, boost::json::value(d))) {
      g_f3_seen = true;
      return true;
    }
    return false;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case boost::json::kind::array: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!Equivalent(x[i], y[i])) return false;
      return true;
    }
    case boost::json::kind::object: {
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& kv : x) {
        const boost::json::value* other = y.if_contains(kv.key());
        if (!other || !Equivalent(kv.value(), *other)) return false;
      }
      return true;
    }
    default:
      return a == b;
  }
}

// Known findings that the round-trip oracles can step around so that a campaign keeps going (see
// fuzz/README.md, "Findings"); crash detection still covers such documents. F1-F4 and F7 are
// fixed in the server, so the oracles enforce them again unless built with
// -DFUZZ_TOLERATE_KNOWN=1; F5 (a Boost.JSON limitation) and F6 (number kinds) are always allowed.
//  F1: ParseJson/ParseState accept numbers beyond the double range (1e400) as +-infinity and
//      zero with a large exponent (0e400) as NaN (Boost.JSON 1.81), which SerializeJson writes
//      as `Infinity` / `NaN` (not JSON).
//  F2: form, multipart, YAML and text bodies are not checked for UTF-8; invalid sequences reach
//      SerializeJson (invalid JSON) and do not survive SerializeYaml -> ParseYaml.
//  F3: SerializeYaml writes some numbers that ParseYaml reads back as strings: doubles without
//      a '.' (1e+207; its float rule wants a '.'), subnormal doubles (1.8444744000116117e-313:
//      std::stod throws out_of_range on them) and integers above INT64_MAX.
//  F5: Boost.JSON 1.81 does not round doubles correctly when parsing, so SerializeJson ->
//      ParseJson can move a double by an ulp (1.3133333333333334E39); SameNumber allows that.
//  F6: SerializeYaml writes whole doubles as integers (1.0 -> 1, -0.0 -> -0), so they come back
//      as integers (and -0.0 as 0); Equivalent accepts that and sets g_f3_seen.
//  F7: SerializeYaml writes a double-quoted map key longer than 1024 characters as an implicit
//      key, which YAML forbids; ParseYaml rejects the reply ("illegal map value").
//  F4: noncharacters (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF) do not survive yaml-cpp's emitter -> reader; ValidUtf8
//      below treats them as not valid so the round-trip oracles skip them.
inline bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((cp & 0xFFFE) == 0xFFFE || (cp >= 0xFDD0 && cp <= 0xFDEF)) return false;  // F4
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

inline bool AllUtf8(const boost::json::value& v) {
  if (!kTolerateKnown) return true;
  if (v.is_string()) return ValidUtf8(std::string_view(v.get_string().data(), v.get_string().size()));
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (!AllUtf8(e)) return false;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (!ValidUtf8(std::string_view(kv.key().data(), kv.key().size())) || !AllUtf8(kv.value()))
        return false;
  }
  return true;
}

inline bool AllFinite(const boost::json::value& v) {
  if (!kTolerateKnown) return true;
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (!AllFinite(e)) return false;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (!AllFinite(kv.value())) return false;
  }
  return true;
}

// F7: a key whose double-quoted YAML form may pass 1024 characters (escapes take up to 10).
inline bool HasLongKey(const boost::json::value& v) {
  if (!kTolerateKnown) return false;
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (HasLongKey(e)) return true;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (kv.key().size() > 100 || HasLongKey(kv.value())) return true;
  }
  return false;
}

// First place where two documents differ, for messages.
inline std::string FirstDifference(const boost::json::value& a, const boost::json::value& b,
                                   const std::string& path = "$") {
  if (a.is_number() && b.is_number())
    return SameNumber(a, b) ? std::string() : path + ": " + Show(a) + " vs " + Show(b);
  if (a.kind() != b.kind()) return path + ": " + Show(a) + " vs " + Show(b);
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return path + ": array sizes " + std::to_string(x.size()) + " vs " +
                                      std::to_string(y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      std::string d = FirstDifference(x[i], y[i], path + "[" + std::to_string(i) + "]");
      if (!d.empty()) return d;
    }
    return {};
  }
  if (a.is_object()) {
    for (const auto& kv : a.get_object()) {
      const boost::json::value* other = b.get_object().if_contains(kv.key());
      if (!other) return path + "." + std::string(kv.key()) + ": missing on the right";
      std::string d = FirstDifference(kv.value(), *other, path + "." + std::string(kv.key()));
      if (!d.empty()) return d;
    }
    if (a.get_object().size() != b.get_object().size()) return path + ": extra keys on the right";
    return {};
  }
  return a == b ? std::string() : path + ": " + Show(a) + " vs " + Show(b);
}

}  // namespace fuzz
