// Helpers shared by the builtin families: errors, arguments, budget, UTF-8, numbers, Go's
// quoting and JSON text.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "policy/builtins_internal.h"
#include "policy/errors.h"

namespace statehouse::policy::internal {

const char* TypeName(Kind kind) {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBoolean:
      return "boolean";
    case Kind::kNumber:
      return "number";
    case Kind::kString:
      return "string";
    case Kind::kArray:
      return "array";
    case Kind::kObject:
      return "object";
    case Kind::kSet:
      return "set";
  }
  return "unknown";
}

const char* TypeName(const Value& v) { return TypeName(v.kind()); }

void Fail(std::string_view fn, std::string_view message) {
  std::string msg;
  msg.reserve(fn.size() + 2 + message.size());
  msg.append(fn).append(": ").append(message);
  throw BuiltinError(msg);
}

namespace {

std::string JoinNames(std::initializer_list<std::string_view> names) {
  std::string out;
  for (auto name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace

void FailType(std::string_view fn, int pos, const Value& got,
              std::initializer_list<std::string_view> expected) {
  std::string msg = "operand " + std::to_string(pos) + " must be ";
  if (expected.size() == 1) {
    msg.append(*expected.begin());
  } else {
    msg += "one of {" + JoinNames(expected) + "}";
  }
  msg += " but got ";
  msg += TypeName(got);
  Fail(fn, msg);
}

void FailElement(std::string_view fn, int pos, const Value& composite, const Value& got,
                 std::initializer_list<std::string_view> expected) {
  std::string tpe = TypeName(composite);
  std::string msg = "operand " + std::to_string(pos) + " must be " + tpe + " of ";
  if (expected.size() == 1) {
    msg.append(*expected.begin()).append("s");
  } else {
    msg += "(any of) {" + JoinNames(expected) + "}";
  }
  msg += " but got " + tpe + " containing " + TypeName(got);
  Fail(fn, msg);
}

const std::string& StringArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsString()) FailType(fn, pos, v, {"string"});
  return v.AsString();
}

Number NumberArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsNumber()) FailType(fn, pos, v, {"number"});
  return v.AsNumber();
}

int64_t IntArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Number& n = NumberArg(fn, args, pos);
  auto i = n.AsInt();
  if (!i) {
    Fail(fn, "operand " + std::to_string(pos) +
                 " must be integer number but got floating-point number");
  }
  return *i;
}

const Array& ArrayArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsArray()) FailType(fn, pos, v, {"array"});
  return v.AsArray();
}

const Object& ObjectArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsObject()) FailType(fn, pos, v, {"object"});
  return v.AsObject();
}

const Set& SetArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsSet()) FailType(fn, pos, v, {"set"});
  return v.AsSet();
}

bool BoolArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsBool()) FailType(fn, pos, v, {"boolean"});
  return v.AsBool();
}

std::vector<std::string> StringsArg(std::string_view fn, const std::vector<Value>& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsArray() && !v.IsSet()) FailType(fn, pos, v, {"array", "set"});
  const auto& items = v.IsArray() ? v.AsArray() : v.AsSet();
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    if (!item.IsString()) FailElement(fn, pos, v, item, {"string"});
    out.push_back(item.AsString());
  }
  return out;
}

// A result past the hard limits halts the query like an exhausted budget: an undefined call
// would let a deny built on it pass silently.
void TooLarge(std::string_view fn) {
  throw PolicyError(PolicyErrorKind::kBudget, {}, std::string(fn) + ": result too large");
}

void Charge(BuiltinContext& ctx, std::string_view fn, size_t bytes) {
  if (bytes > kMaxResultBytes) TooLarge(fn);
  if (ctx.charge) ctx.charge(bytes);
}

void ChargeElements(BuiltinContext& ctx, std::string_view fn, size_t count) {
  if (count > kMaxResultElements) TooLarge(fn);
  if (ctx.charge) ctx.charge(count * sizeof(Value));
}

Value StringResult(BuiltinContext& ctx, std::string_view fn, std::string s) {
  // Small strings are not worth a call into the budget.
  if (s.size() >= 256) Charge(ctx, fn, s.size());
  return Value::String(std::move(s));
}

size_t EstimateTextSize(const Value& v, size_t limit) {
  switch (v.kind()) {
    case Kind::kNull:
    case Kind::kBoolean:
      return 5;
    case Kind::kNumber:
      return 24;
    case Kind::kString:
      return 2 + v.AsString().size();
    case Kind::kArray:
    case Kind::kSet: {
      size_t total = 2;
      for (const auto& item : v.IsArray() ? v.AsArray() : v.AsSet()) {
        total += 2 + EstimateTextSize(item, limit);
        if (total > limit) return limit + 1;
      }
      return total;
    }
    case Kind::kObject: {
      size_t total = 2;
      for (const auto& [k, val] : v.AsObject()) {
        total += 4 + EstimateTextSize(k, limit) + EstimateTextSize(val, limit);
        if (total > limit) return limit + 1;
      }
      return total;
    }
  }
  return 0;
}

void ChargeText(BuiltinContext& ctx, std::string_view fn, const Value& v) {
  if (v.IsString() || v.IsNumber() || v.IsNull() || v.IsBool()) {
    if (v.IsString()) Charge(ctx, fn, v.AsString().size());
    return;
  }
  Charge(ctx, fn, EstimateTextSize(v, kMaxResultBytes));
}

// --- UTF-8 ---

char32_t NextCodePoint(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t need = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    need = 1;
    cp = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    need = 2;
    cp = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    need = 3;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + need >= s.size()) {
    ++i;
    return 0xFFFD;
  }
  for (size_t k = 1; k <= need; ++k) {
    unsigned char cc = byte(i + k);
    if ((cc & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += need + 1;
  return cp;
}

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) out.push_back(NextCodePoint(s, i));
  return out;
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string EncodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendUtf8(out, c);
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    // A real U+FFFD takes three bytes; an invalid byte decodes to it taking one.
    if (c == 0xFFFD && i - before == 1) return false;
  }
  return true;
}

bool IsUnicodeSpace(char32_t c) {
  switch (c) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

namespace {

// Ranges where upper and lower case alternate (even = upper, or odd = upper).
bool AlternatingUpperEven(char32_t c) {
  return (c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177) ||
         (c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF) ||
         (c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F) ||
         (c >= 0x3E2 && c <= 0x3EF);
}
bool AlternatingUpperOdd(char32_t c) {
  return (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E) || (c >= 0x4C1 && c <= 0x4CE);
}

}  // namespace

char32_t ToLowerRune(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (AlternatingUpperEven(c)) return (c % 2 == 0) ? c + 1 : c;
  if (AlternatingUpperOdd(c)) return (c % 2 == 1) ? c + 1 : c;
  if (c == 0x130) return 'i';
  if (c == 0x178) return 0xFF;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c == 0x4C0) return 0x4CF;
  if (c >= 0x531 && c <= 0x556) return c + 48;
  if (c >= 0x10A0 && c <= 0x10C5) return c + 7264;
  if (c >= 0x1F08 && c <= 0x1F6F && (c & 0xF) >= 8 && c != 0x1F58 && c != 0x1F5A && c != 0x1F5C &&
      c != 0x1F5E) {
    return c - 8;
  }
  if (c >= 0x2160 && c <= 0x216F) return c + 16;
  if (c >= 0x24B6 && c <= 0x24CF) return c + 26;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  if (c >= 0x10400 && c <= 0x10427) return c + 40;
  return c;
}

char32_t ToUpperRune(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (AlternatingUpperEven(c)) return (c % 2 == 1) ? c - 1 : c;
  if (AlternatingUpperOdd(c)) return (c % 2 == 0) ? c - 1 : c;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2) return c - 32;
  if (c == 0x3C2) return 0x3A3;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c == 0x4CF) return 0x4C0;
  if (c >= 0x561 && c <= 0x586) return c - 48;
  if (c >= 0x2D00 && c <= 0x2D25) return c - 7264;
  if (c >= 0x1F00 && c <= 0x1F67 && (c & 0xF) < 8 && c != 0x1F50 && c != 0x1F52 && c != 0x1F54 &&
      c != 0x1F56 && !(c >= 0x1F16 && c <= 0x1F17) && !(c >= 0x1F46 && c <= 0x1F47)) {
    return c + 8;
  }
  if (c >= 0x2170 && c <= 0x217F) return c - 16;
  if (c >= 0x24D0 && c <= 0x24E9) return c - 26;
  if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
  if (c >= 0x10428 && c <= 0x1044F) return c - 40;
  return c;
}

// --- numbers ---

Number CheckedDouble(std::string_view fn, double d) {
  if (!std::isfinite(d)) Fail(fn, "number out of range");
  return Number::Double(d);
}

namespace {

// OPA computes with 64-bit-mantissa big.Floats read from each number's shortest decimal
// text, and keeps the result's shortest text: so 0.1 + 0.2 is 0.3 there, not
// 0.30000000000000004. x86's long double has that precision.
long double ToWide(const Number& n) {
  if (n.is_int) return static_cast<long double>(n.i);  // exact
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf - 1, n.d);
  *r.ptr = '\0';
  return std::strtold(buf, nullptr);
}

Number FromWide(std::string_view fn, long double v) {
  if (!std::isfinite(v)) Fail(fn, "number out of range");
  if (v == std::trunc(v) && v >= -9223372036854775808.0L && v < 9223372036854775808.0L) {
    return Number::Int(static_cast<int64_t>(v));
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf - 1, v);
  *r.ptr = '\0';
  return CheckedDouble(fn, std::strtod(buf, nullptr));
}

}  // namespace

Number AddNumbers(std::string_view fn, const Number& a, const Number& b) {
  if (a.is_int && b.is_int) {
    int64_t r;
    if (!__builtin_add_overflow(a.i, b.i, &r)) return Number::Int(r);
  }
  return FromWide(fn, ToWide(a) + ToWide(b));
}

Number SubNumbers(std::string_view fn, const Number& a, const Number& b) {
  if (a.is_int && b.is_int) {
    int64_t r;
    if (!__builtin_sub_overflow(a.i, b.i, &r)) return Number::Int(r);
  }
  return FromWide(fn, ToWide(a) - ToWide(b));
}

Number MulNumbers(std::string_view fn, const Number& a, const Number& b) {
  if (a.is_int && b.is_int) {
    int64_t r;
    if (!__builtin_mul_overflow(a.i, b.i, &r)) return Number::Int(r);
  }
  return FromWide(fn, ToWide(a) * ToWide(b));
}

Number DivNumbers(std::string_view fn, const Number& a, const Number& b) {
  if (a.is_int && b.is_int && b.i != 0 && !(a.i == INT64_MIN && b.i == -1) && a.i % b.i == 0) {
    return Number::Int(a.i / b.i);
  }
  return FromWide(fn, ToWide(a) / ToWide(b));
}

std::optional<Number> ParseDecimal(std::string_view text) {
  // Go's ParseFloat grammar for decimal numbers (hex floats, inf and nan are not numbers here).
  size_t i = 0;
  const size_t n = text.size();
  if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
  size_t int_digits = 0;
  size_t frac_digits = 0;
  bool fraction = false;
  while (i < n && text[i] >= '0' && text[i] <= '9') ++i, ++int_digits;
  if (i < n && text[i] == '.') {
    fraction = true;
    ++i;
    while (i < n && text[i] >= '0' && text[i] <= '9') ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  bool exponent = false;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    exponent = true;
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < n && text[i] >= '0' && text[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != n) return std::nullopt;
  std::string_view digits = text;
  if (!fraction && !exponent) {
    if (digits.front() == '+') digits.remove_prefix(1);
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc() && ptr == digits.data() + digits.size()) return Number::Int(v);
  }
  std::string copy(text);
  double d = std::strtod(copy.c_str(), nullptr);
  if (std::isinf(d)) {
    Number inf;
    inf.is_int = false;
    inf.d = d;
    return inf;
  }
  return Number::Double(d);
}

// --- Go's quoting and JSON text ---

namespace {

bool IsGoPrintable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c < 0x7F) return true;
  if (c >= 0x80 && c <= 0xA0) return false;
  if (c == 0xAD) return false;
  if (c >= 0xD800 && c <= 0xDFFF) return false;
  if (c == 0x2028 || c == 0x2029 || c == 0xFEFF) return false;
  if (c >= 0x200B && c <= 0x200F) return false;
  if (c >= 0x202A && c <= 0x202E) return false;
  if (c >= 0x2060 && c <= 0x206F) return false;
  if (c >= 0xFFF9 && c <= 0xFFFB) return false;
  if ((c & 0xFFFE) == 0xFFFE) return false;
  if (c >= 0xE000 && c <= 0xF8FF) return false;
  if (c >= 0xF0000) return false;
  return c <= 0x10FFFF;
}

const char kHex[] = "0123456789abcdef";

}  // namespace

std::string GoQuote(std::string_view s, bool ascii_only) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    if (c == 0xFFFD && i - before == 1) {
      unsigned char b = static_cast<unsigned char>(s[before]);
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 15];
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    if (IsGoPrintable(c) && !(ascii_only && c >= 0x80)) {
      AppendUtf8(out, c);
      continue;
    }
    char buf[16];
    if (c < 0x80) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
    } else if (c < 0x10000) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
    } else {
      std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
    }
    out += buf;
  }
  out += '"';
  return out;
}

namespace {

void AppendGoJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      switch (b) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '<':
        case '>':
        case '&':
          out += "\\u00";
          out += kHex[b >> 4];
          out += kHex[b & 15];
          break;
        default:
          if (b < 0x20) {
            out += "\\u00";
            out += kHex[b >> 4];
            out += kHex[b & 15];
          } else {
            out += static_cast<char>(b);
          }
      }
      continue;
    }
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    if (c == 0xFFFD && i - before == 1) {
      out += "\\ufffd";
    } else if (c == 0x2028 || c == 0x2029) {
      out += c == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(before, i - before));
    }
  }
  out += '"';
}

void AppendGoJson(std::string& out, const Value& v, bool pretty, std::string_view prefix,
                  std::string_view indent, int depth) {
  auto newline = [&](int level) {
    out += '\n';
    out.append(prefix);
    for (int k = 0; k < level; ++k) out.append(indent);
  };
  switch (v.kind()) {
    case Kind::kString:
      AppendGoJsonString(out, v.AsString());
      return;
    case Kind::kArray:
    case Kind::kSet: {
      const auto& items = v.IsArray() ? v.AsArray() : v.AsSet();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        if (pretty) newline(depth + 1);
        AppendGoJson(out, items[i], pretty, prefix, indent, depth + 1);
      }
      if (pretty) newline(depth);
      out += ']';
      return;
    }
    case Kind::kObject: {
      const Object& obj = v.AsObject();
      if (obj.empty()) {
        out += "{}";
        return;
      }
      // Go sorts the keys as strings; non-string keys are written as their JSON text.
      std::vector<std::pair<std::string, const Value*>> entries;
      entries.reserve(obj.size());
      bool all_strings = true;
      for (const auto& [k, val] : obj) {
        all_strings = all_strings && k.IsString();
        entries.emplace_back(k.IsString() ? k.AsString() : k.ToJson(), &val);
      }
      if (!all_strings) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += ',';
        if (pretty) newline(depth + 1);
        AppendGoJsonString(out, entries[i].first);
        out += pretty ? ": " : ":";
        AppendGoJson(out, *entries[i].second, pretty, prefix, indent, depth + 1);
      }
      if (pretty) newline(depth);
      out += '}';
      return;
    }
    default:
      out += v.ToJson();
  }
}

}  // namespace

std::string GoJson(const Value& v, bool pretty, std::string_view prefix, std::string_view indent) {
  std::string out;
  AppendGoJson(out, v, pretty, prefix, indent, 0);
  return out;
}

}  // namespace statehouse::policy::internal
