// Types (is_*, type_name), units.parse_bytes, units.parse, semver.*, graph.reachable,
// trace, crypto hashes and HMACs, io.jwt.decode.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <deque>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;
using U128 = unsigned __int128;

// --- types ---

BuiltinFn IsKind(Kind kind) {
  return [kind](const Args& args, BuiltinContext&) -> std::optional<Value> {
    return Value::Bool(args[0].kind() == kind);
  };
}

std::optional<Value> TypeNameFn(const Args& args, BuiltinContext&) {
  return Value::String(TypeName(args[0]));
}

// --- units ---

// OPA's extractNumAndUnit: the number is the leading run of digits, '.', signs and a
// well-formed exponent; the rest is the unit.
struct NumAndUnit {
  std::string_view num;
  std::string_view unit;
  bool exponent_too_large = false;
};

NumAndUnit SplitNumAndUnit(std::string_view s) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t first_non_num = std::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!digit(c) && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-') {
      first_non_num = i;
      break;
    }
    if (c == 'e' || c == 'E') {
      if (i == s.size() - 1 || (!digit(s[i + 1]) && s[i + 1] != '+' && s[i + 1] != '-')) {
        first_non_num = i;
        break;
      }
      if (s[i + 1] == '+' || s[i + 1] == '-') ++i;
      size_t start = i + 1;
      size_t end = start;
      while (end < s.size() && digit(s[end])) ++end;
      if (end - start > 6) return {{}, {}, true};
    }
  }
  if (first_non_num == std::string_view::npos) return {s, {}};
  if (first_non_num == 0) return {{}, s};
  return {s.substr(0, first_non_num), s.substr(first_non_num)};
}

// An exact decimal m * 10^exp, with a long double approximation for when it is not exact.
struct Decimal {
  bool neg = false;
  U128 m = 0;
  int64_t exp = 0;
  bool exact = true;
  long double approx = 0;
};

std::optional<Decimal> ParseDecimalText(std::string_view s) {
  Decimal d;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) d.neg = s[i++] == '-';
  static const U128 kCap = static_cast<U128>(1000000000000000000ULL) * 1000000000000000000ULL;
  size_t digits = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (dot) return std::nullopt;
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    ++digits;
    if (d.m < kCap) {
      d.m = d.m * 10 + static_cast<unsigned>(c - '0');
      if (dot) --d.exp;
    } else {
      if (c != '0') d.exact = false;
      if (!dot) ++d.exp;
    }
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    size_t start = i;
    int64_t e = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (e < 100000000) e = e * 10 + (s[i] - '0');
    }
    if (i == start) return std::nullopt;
    d.exp += eneg ? -e : e;
  }
  if (i != s.size()) return std::nullopt;
  d.approx = std::strtold(std::string(s).c_str(), nullptr);
  return d;
}

// value * unit * 10^unit_exp: an exact integer when possible (truncated toward zero when
// `truncate`), else a double.
Number Scale(std::string_view fn, const Decimal& d, uint64_t unit, int unit_exp, bool truncate) {
  auto approx = [&]() {
    long double v = d.approx * static_cast<long double>(unit) * std::pow(10.0L, unit_exp);
    if (truncate) v = std::trunc(v);
    return CheckedDouble(fn, static_cast<double>(v));
  };
  if (!d.exact) return approx();
  U128 m = d.m;
  if (unit != 0 && m > ~U128{0} / unit) return approx();
  m *= unit;
  int64_t exp = d.exp + unit_exp;
  if (m == 0) return Number::Int(0);
  if (exp >= 0) {
    for (int64_t k = 0; k < exp; ++k) {
      if (m > ~U128{0} / 10) return approx();
      m *= 10;
    }
  } else {
    if (exp < -38) {
      if (truncate) return Number::Int(0);
      return approx();
    }
    U128 div = 1;
    for (int64_t k = 0; k < -exp; ++k) div *= 10;
    if (m % div != 0 && !truncate) {
      // A fraction: one correctly rounded division where both sides are exact.
      if (m >> 64 == 0 && -exp <= 27) {
        long double q =
            static_cast<long double>(static_cast<uint64_t>(m)) / static_cast<long double>(div);
        return CheckedDouble(fn, static_cast<double>(d.neg ? -q : q));
      }
      return approx();
    }
    m /= div;
  }
  if (m <= static_cast<U128>(INT64_MAX)) {
    int64_t i = static_cast<int64_t>(m);
    return Number::Int(d.neg ? -i : i);
  }
  double v = static_cast<double>(m);
  return CheckedDouble(fn, d.neg ? -v : v);
}

std::string StripQuotes(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '"') out += c;
  }
  return out;
}

std::optional<Value> UnitsParseBytes(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "units.parse_bytes";
  std::string s = StripQuotes(StringArg(fn, args, 1));
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s.find(' ') != std::string::npos) Fail(fn, "spaces not allowed in resource strings");
  NumAndUnit nu = SplitNumAndUnit(s);
  if (nu.exponent_too_large) Fail(fn, "exponent too large");
  if (nu.num.empty()) Fail(fn, "no byte amount provided");
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},
      {"kb", 1000ULL},
      {"k", 1000ULL},
      {"kib", 1ULL << 10},
      {"ki", 1ULL << 10},
      {"mb", 1000000ULL},
      {"m", 1000000ULL},
      {"mib", 1ULL << 20},
      {"mi", 1ULL << 20},
      {"gb", 1000000000ULL},
      {"g", 1000000000ULL},
      {"gib", 1ULL << 30},
      {"gi", 1ULL << 30},
      {"tb", 1000000000000ULL},
      {"t", 1000000000000ULL},
      {"tib", 1ULL << 40},
      {"ti", 1ULL << 40},
      {"pb", 1000000000000000ULL},
      {"p", 1000000000000000ULL},
      {"pib", 1ULL << 50},
      {"pi", 1ULL << 50},
      {"eb", 1000000000000000000ULL},
      {"e", 1000000000000000000ULL},
      {"eib", 1ULL << 60},
      {"ei", 1ULL << 60},
  };
  const uint64_t* unit = nullptr;
  for (const auto& [name, mult] : kUnits) {
    if (name == nu.unit) unit = &mult;
  }
  if (!unit) Fail(fn, "byte unit " + std::string(nu.unit) + " not recognized");
  auto d = ParseDecimalText(nu.num);
  if (!d) Fail(fn, "could not parse byte amount to a number");
  return Value::Num(Scale(fn, *d, *unit, 0, true));
}

std::optional<Value> UnitsParse(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "units.parse";
  std::string s = StripQuotes(StringArg(fn, args, 1));
  if (s.find(' ') != std::string::npos) Fail(fn, "spaces not allowed in resource strings");
  NumAndUnit nu = SplitNumAndUnit(s);
  if (nu.exponent_too_large) Fail(fn, "exponent too large");
  if (nu.num.empty()) Fail(fn, "no amount provided");
  // Only the letters after the first are lowered, so that m (milli) and M (mega) differ.
  std::string unit(nu.unit);
  for (size_t i = 1; i < unit.size(); ++i) {
    unit[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(unit[i])));
  }
  uint64_t mult = 1;
  int exp = 0;
  if (unit == "m") {
    exp = -3;
  } else if (unit.empty()) {
    mult = 1;
  } else if (unit == "k" || unit == "K") {
    mult = 1000ULL;
  } else if (unit == "ki" || unit == "Ki") {
    mult = 1ULL << 10;
  } else if (unit == "M") {
    mult = 1000000ULL;
  } else if (unit == "mi" || unit == "Mi") {
    mult = 1ULL << 20;
  } else if (unit == "g" || unit == "G") {
    mult = 1000000000ULL;
  } else if (unit == "gi" || unit == "Gi") {
    mult = 1ULL << 30;
  } else if (unit == "t" || unit == "T") {
    mult = 1000000000000ULL;
  } else if (unit == "ti" || unit == "Ti") {
    mult = 1ULL << 40;
  } else if (unit == "p" || unit == "P") {
    mult = 1000000000000000ULL;
  } else if (unit == "pi" || unit == "Pi") {
    mult = 1ULL << 50;
  } else if (unit == "e" || unit == "E") {
    mult = 1000000000000000000ULL;
  } else if (unit == "ei" || unit == "Ei") {
    mult = 1ULL << 60;
  } else {
    Fail(fn, "unit " + unit + " not recognized");
  }
  auto d = ParseDecimalText(nu.num);
  if (!d) Fail(fn, "could not parse amount to a number");
  return Value::Num(Scale(fn, *d, mult, exp, false));
}

// --- semver (OPA's lenient parser: MAJOR.MINOR.PATCH[-PRERELEASE][+METADATA]) ---

struct SemVer {
  int64_t major = 0;
  int64_t minor = 0;
  int64_t patch = 0;
  std::string pre;
};

bool ValidIdentifiers(std::string_view s) {
  if (s.empty()) return true;
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    std::string_view part =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty()) return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<SemVer> ParseSemVer(std::string_view s) {
  size_t plus = s.find('+');
  std::string_view meta;
  if (plus != std::string_view::npos) {
    meta = s.substr(plus + 1);
    s = s.substr(0, plus);
  }
  size_t dash = s.find('-');
  std::string_view pre;
  if (dash != std::string_view::npos) {
    pre = s.substr(dash + 1);
    s = s.substr(0, dash);
  }
  if (!ValidIdentifiers(pre) || !ValidIdentifiers(meta)) return std::nullopt;
  size_t d1 = s.find('.');
  if (d1 == std::string_view::npos) return std::nullopt;
  size_t d2 = s.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return std::nullopt;
  auto major = ParseInt64(s.substr(0, d1));
  auto minor = ParseInt64(s.substr(d1 + 1, d2 - d1 - 1));
  auto patch = ParseInt64(s.substr(d2 + 1));
  if (!major || !minor || !patch) return std::nullopt;
  return SemVer{*major, *minor, *patch, std::string(pre)};
}

int Sign(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }

int ComparePre(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  if (a.empty()) return 1;
  if (b.empty()) return -1;
  for (;;) {
    if (a.empty() && b.empty()) return 0;
    if (a.empty()) return -1;
    if (b.empty()) return 1;
    size_t da = a.find('.');
    size_t db = b.find('.');
    std::string_view x = a.substr(0, da);
    std::string_view y = b.substr(0, db);
    a = da == std::string_view::npos ? std::string_view() : a.substr(da + 1);
    b = db == std::string_view::npos ? std::string_view() : b.substr(db + 1);
    bool x_num = !x.empty() && x[0] != '+' && ParseInt64(x).has_value();
    bool y_num = !y.empty() && y[0] != '+' && ParseInt64(y).has_value();
    if (x_num != y_num) return x_num ? -1 : 1;  // numeric identifiers sort first
    if (x_num) {
      int c = Sign(ParseInt64(x).value_or(0), ParseInt64(y).value_or(0));
      if (c != 0) return c;
    }
    if (x != y) return x < y ? -1 : 1;
  }
}

std::optional<Value> SemVerIsValid(const Args& args, BuiltinContext&) {
  if (!args[0].IsString()) return Value::Bool(false);
  return Value::Bool(ParseSemVer(args[0].AsString()).has_value());
}

std::optional<Value> SemVerCompare(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "semver.compare";
  const std::string& a = StringArg(fn, args, 1);
  const std::string& b = StringArg(fn, args, 2);
  auto va = ParseSemVer(a);
  if (!va) Fail(fn, "operand 1: string " + GoQuote(a) + " is not a valid SemVer");
  auto vb = ParseSemVer(b);
  if (!vb) Fail(fn, "operand 2: string " + GoQuote(b) + " is not a valid SemVer");
  int c = Sign(va->major, vb->major);
  if (c == 0) c = Sign(va->minor, vb->minor);
  if (c == 0) c = Sign(va->patch, vb->patch);
  if (c == 0) c = ComparePre(va->pre, vb->pre);
  return Value::Int(c);
}

// --- graph.reachable ---

template <typename F>
void ForEachMember(const Value& v, F f) {
  switch (v.kind()) {
    case Kind::kArray:
      for (const auto& x : v.AsArray()) f(x);
      break;
    case Kind::kSet:
      for (const auto& x : v.AsSet()) f(x);
      break;
    case Kind::kObject:
      for (const auto& [k, x] : v.AsObject()) f(x);
      break;
    default:
      break;
  }
}

std::optional<Value> GraphReachable(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "graph.reachable";
  ObjectArg(fn, args, 1);
  const Value& initial = args[1];
  if (!initial.IsArray() && !initial.IsSet()) FailType(fn, 2, initial, {"set", "array"});
  std::deque<Value> queue;
  ForEachMember(initial, [&](const Value& x) { queue.push_back(x); });
  std::vector<Value> reached;  // kept sorted for lookups
  auto is_reached = [&](const Value& x) {
    return std::binary_search(reached.begin(), reached.end(), x, ValueLess());
  };
  while (!queue.empty()) {
    Value node = std::move(queue.front());
    queue.pop_front();
    if (is_reached(node)) continue;
    const Value* edges = args[0].Find(node);
    if (!edges) continue;
    reached.insert(std::upper_bound(reached.begin(), reached.end(), node, ValueLess()), node);
    ForEachMember(*edges, [&](const Value& next) {
      if (!is_reached(next)) queue.push_back(next);
    });
  }
  ChargeElements(ctx, fn, reached.size());
  return Value::FromSortedSet(std::move(reached));
}

std::optional<Value> Trace(const Args& args, BuiltinContext&) {
  StringArg("trace", args, 1);
  return Value::Bool(true);
}

// --- crypto ---

std::string ToHex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string Digest(std::string_view fn, const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) Fail(fn, "digest failed");
  return ToHex(out, len);
}

std::string Hmac(std::string_view fn, const EVP_MD* md, std::string_view data,
                 std::string_view key) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(md, key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len)) {
    Fail(fn, "hmac failed");
  }
  return ToHex(out, len);
}

BuiltinFn DigestFn(std::string name, const EVP_MD* (*md)()) {
  return [name, md](const Args& args, BuiltinContext&) -> std::optional<Value> {
    return Value::String(Digest(name, md(), StringArg(name, args, 1)));
  };
}

BuiltinFn HmacFn(std::string name, const EVP_MD* (*md)()) {
  return [name, md](const Args& args, BuiltinContext&) -> std::optional<Value> {
    const std::string& data = StringArg(name, args, 1);
    const std::string& key = StringArg(name, args, 2);
    if (key.size() > static_cast<size_t>(INT32_MAX)) Fail(name, "key too long");
    return Value::String(Hmac(name, md(), data, key));
  };
}

std::optional<Value> HmacEqual(const Args& args, BuiltinContext&) {
  const std::string& a = StringArg("crypto.hmac.equal", args, 1);
  const std::string& b = StringArg("crypto.hmac.equal", args, 2);
  if (a.size() != b.size()) return Value::Bool(false);
  return Value::Bool(CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

// --- io.jwt.decode ---

std::optional<std::string> Base64UrlDecodeRaw(std::string_view s) {
  static const std::string kUrl =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  if (s.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    size_t v = kUrl.find(c);
    if (v == std::string::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

Value DecodeJwtPart(std::string_view fn, std::string_view part, const char* what) {
  auto raw = Base64UrlDecodeRaw(part);
  if (!raw) Fail(fn, std::string("JWT ") + what + " had invalid encoding: illegal base64 data");
  Value v;
  try {
    v = ParseJson(*raw);
  } catch (const std::exception& e) {
    Fail(fn, std::string("JWT ") + what + " had invalid encoding: " + e.what());
  }
  if (!v.IsObject()) Fail(fn, std::string("JWT ") + what + " must be a JSON object");
  return v;
}

std::optional<Value> JwtDecode(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "io.jwt.decode";
  std::string token = StringArg(fn, args, 1);
  for (int nesting = 0; nesting < 8; ++nesting) {
    size_t d1 = token.find('.');
    size_t d2 = d1 == std::string::npos ? std::string::npos : token.find('.', d1 + 1);
    if (d1 == std::string::npos || d2 == std::string::npos ||
        token.find('.', d2 + 1) != std::string::npos) {
      Fail(fn, "encoded JWT must have 3 sections");
    }
    std::string_view tv = token;
    Value header = DecodeJwtPart(fn, tv.substr(0, d1), "header");
    std::string_view payload_text = tv.substr(d1 + 1, d2 - d1 - 1);
    auto sig = Base64UrlDecodeRaw(tv.substr(d2 + 1));
    if (!sig) Fail(fn, "JWT signature had invalid encoding");
    const Value* cty = header.Find("cty");
    if (cty && cty->IsString() && (cty->AsString() == "JWT" || cty->AsString() == "jwt")) {
      // A nested token: the payload is itself a JWT.
      auto inner = Base64UrlDecodeRaw(payload_text);
      if (!inner) Fail(fn, "JWT payload had invalid encoding");
      token = *inner;
      continue;
    }
    Value payload = DecodeJwtPart(fn, payload_text, "payload");
    return Value::MakeArray(
        {header, payload,
         Value::String(ToHex(reinterpret_cast<const unsigned char*>(sig->data()), sig->size()))});
  }
  Fail(fn, "JWT nested too deeply");
}

}  // namespace

void RegisterMiscBuiltins(BuiltinTable& t) {
  Add(t, "is_number", 1, IsKind(Kind::kNumber));
  Add(t, "is_string", 1, IsKind(Kind::kString));
  Add(t, "is_boolean", 1, IsKind(Kind::kBoolean));
  Add(t, "is_array", 1, IsKind(Kind::kArray));
  Add(t, "is_set", 1, IsKind(Kind::kSet));
  Add(t, "is_object", 1, IsKind(Kind::kObject));
  Add(t, "is_null", 1, IsKind(Kind::kNull));
  Add(t, "type_name", 1, TypeNameFn);

  Add(t, "units.parse_bytes", 1, UnitsParseBytes);
  Add(t, "units.parse", 1, UnitsParse);
  Add(t, "semver.is_valid", 1, SemVerIsValid);
  Add(t, "semver.compare", 2, SemVerCompare);
  Add(t, "graph.reachable", 2, GraphReachable);
  Add(t, "trace", 1, Trace);

  Add(t, "crypto.md5", 1, DigestFn("crypto.md5", EVP_md5));
  Add(t, "crypto.sha1", 1, DigestFn("crypto.sha1", EVP_sha1));
  Add(t, "crypto.sha256", 1, DigestFn("crypto.sha256", EVP_sha256));
  Add(t, "crypto.sha512", 1, DigestFn("crypto.sha512", EVP_sha512));
  Add(t, "crypto.hmac.md5", 2, HmacFn("crypto.hmac.md5", EVP_md5));
  Add(t, "crypto.hmac.sha1", 2, HmacFn("crypto.hmac.sha1", EVP_sha1));
  Add(t, "crypto.hmac.sha256", 2, HmacFn("crypto.hmac.sha256", EVP_sha256));
  Add(t, "crypto.hmac.sha512", 2, HmacFn("crypto.hmac.sha512", EVP_sha512));
  Add(t, "crypto.hmac.equal", 2, HmacEqual);
  Add(t, "io.jwt.decode", 1, JwtDecode);
}

}  // namespace statehouse::policy::internal
