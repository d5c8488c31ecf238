// sprintf: Go's fmt.Sprintf over OPA's conversion of the arguments. As in OPA, an integral
// number is passed as a Go int, another number as a float64, a string as a string, and any
// other value as its Rego text (a string): so sprintf("%v", [[1, "a"]]) is `[1, "a"]` and
// sprintf("%t", [true]) is Go's `%!t(string=true)`.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;

struct FmtArg {
  enum Type { kInt, kFloat, kString } type = kString;
  int64_t i = 0;
  double d = 0;
  std::string s;

  const char* TypeName() const {
    return type == kInt ? "int" : type == kFloat ? "float64" : "string";
  }
};

struct Flags {
  bool plus = false;
  bool minus = false;
  bool sharp = false;
  bool space = false;
  bool zero = false;
  bool wid_present = false;
  bool prec_present = false;
  int wid = 0;
  int prec = 0;
};

constexpr int kTooLarge = 1000000;  // Go's fmt refuses widths and precisions beyond 1e6

size_t RuneCount(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void WritePadding(std::string& out, int n, bool zero) {
  if (n > 0) out.append(static_cast<size_t>(n), zero ? '0' : ' ');
}

// Go's fmt.pad: to the width, on the left unless '-', with zeros when '0'.
void Pad(std::string& out, const Flags& f, std::string_view s) {
  if (!f.wid_present || f.wid == 0) {
    out.append(s);
    return;
  }
  int width = f.wid - static_cast<int>(RuneCount(s));
  if (!f.minus) {
    WritePadding(out, width, f.zero);
    out.append(s);
  } else {
    out.append(s);
    WritePadding(out, width, false);
  }
}

std::string TruncateRunes(std::string_view s, const Flags& f) {
  if (!f.prec_present) return std::string(s);
  size_t i = 0;
  for (int n = 0; n < f.prec && i < s.size(); ++n) NextCodePoint(s, i);
  return std::string(s.substr(0, i));
}

bool CanBackquote(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t before = i;
    char32_t c = NextCodePoint(s, i);
    if (c == 0xFFFD && i - before == 1) return false;
    if (c == '`' || c == 0xFEFF) return false;
    if (c < ' ' && c != '\t') return false;
    if (c == 0x7F) return false;
  }
  return true;
}

std::string QuoteRune(char32_t c, bool ascii_only) {
  std::string s;
  if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  AppendUtf8(s, c);
  std::string q = GoQuote(s, ascii_only);
  // GoQuote wrapped it in double quotes: swap them for single ones.
  std::string out(1, '\'');
  out.append(q, 1, q.size() - 2);
  out += '\'';
  return out;
}

// --- integers ---

void FmtInteger(std::string& out, const Flags& f, int64_t value, int base, char verb, bool upper) {
  const char* digits = upper ? "0123456789ABCDEFX" : "0123456789abcdefx";
  bool negative = value < 0;
  uint64_t u = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  int prec = 0;
  if (f.prec_present) {
    prec = f.prec;
    if (prec == 0 && u == 0) {
      WritePadding(out, f.wid_present ? f.wid : 0, false);
      return;
    }
  } else if (f.zero && !f.minus && f.wid_present) {
    prec = f.wid;
    if (negative || f.plus || f.space) --prec;  // room for the sign
  }
  std::string buf;
  do {
    buf += digits[u % base];
    u /= base;
  } while (u);
  while (static_cast<int>(buf.size()) < prec) buf += '0';
  if (f.sharp) {
    if (base == 2) {
      buf += "b0";
    } else if (base == 8) {
      if (buf.back() != '0') buf += '0';
    } else if (base == 16) {
      buf += digits[16];
      buf += '0';
    }
  }
  if (verb == 'O') buf += "o0";
  if (negative) {
    buf += '-';
  } else if (f.plus) {
    buf += '+';
  } else if (f.space) {
    buf += ' ';
  }
  std::string s(buf.rbegin(), buf.rend());
  Flags no_zero = f;
  no_zero.zero = false;  // zero padding was done as precision
  Pad(out, no_zero, s);
}

// --- floats ---

// Decimal digits of |v| and the decimal point position, as Go's decimal type: value =
// 0.d1d2d3... * 10^dp. prec < 0: shortest; else `prec` significant digits (trailing zeros
// dropped).
struct Decimal {
  std::string digits;
  int dp = 0;
};

Decimal ToDecimal(double v, int significant) {
  // A double's exact decimal expansion has at most 767 significant digits; more precision
  // only adds zeros, which the callers pad themselves.
  char buf[1100];
  std::to_chars_result r;
  v = std::fabs(v);
  significant = std::min(significant, 800);
  if (significant < 0) {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific,
                      std::max(significant - 1, 0));
  }
  if (r.ec != std::errc()) Fail("sprintf", "precision too large");
  std::string_view text(buf, r.ptr - buf);
  size_t e = text.find('e');
  Decimal d;
  for (char c : text.substr(0, e)) {
    if (c != '.') d.digits += c;
  }
  int exp = std::atoi(std::string(text.substr(e + 1)).c_str());
  while (d.digits.size() > 1 && d.digits.back() == '0') d.digits.pop_back();
  if (d.digits == "0") {
    d.digits.clear();
    d.dp = 0;
  } else {
    d.dp = exp + 1;
  }
  return d;
}

std::string FormatE(const Decimal& d, int prec, char e_char) {
  std::string out;
  out += d.digits.empty() ? '0' : d.digits[0];
  if (prec > 0) {
    out += '.';
    for (int i = 1; i <= prec; ++i) {
      out += i < static_cast<int>(d.digits.size()) ? d.digits[i] : '0';
    }
  }
  int exp = d.digits.empty() ? 0 : d.dp - 1;
  out += e_char;
  out += exp < 0 ? '-' : '+';
  exp = std::abs(exp);
  if (exp < 10) out += '0';
  out += std::to_string(exp);
  return out;
}

std::string FormatF(const Decimal& d, int prec) {
  std::string out;
  if (d.dp > 0) {
    for (int i = 0; i < d.dp; ++i) out += i < static_cast<int>(d.digits.size()) ? d.digits[i] : '0';
  } else {
    out += '0';
  }
  if (prec > 0) {
    out += '.';
    for (int i = 0; i < prec; ++i) {
      int j = d.dp + i;
      out += (j >= 0 && j < static_cast<int>(d.digits.size())) ? d.digits[j] : '0';
    }
  }
  return out;
}

// strconv.FormatFloat(|v|, verb, prec, 64) for verbs e, E, f, g, G.
std::string FormatFloatAbs(double v, char verb, int prec) {
  const bool shortest = prec < 0;
  switch (verb) {
    case 'e':
    case 'E': {
      Decimal d = ToDecimal(v, shortest ? -1 : prec + 1);
      int p = shortest ? std::max(static_cast<int>(d.digits.size()) - 1, 0) : prec;
      return FormatE(d, p, verb);
    }
    case 'f': {
      char buf[400];
      std::to_chars_result r =
          shortest
              ? std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::fixed)
              : std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::fixed, prec);
      if (r.ec != std::errc()) return "0";
      return std::string(buf, r.ptr);
    }
    default: {  // g, G
      int p = prec;
      if (p == 0) p = 1;
      Decimal d = ToDecimal(v, shortest ? -1 : p);
      int nd = static_cast<int>(d.digits.size());
      if (shortest) p = nd;
      int eprec = p;
      if (eprec > nd && nd >= d.dp) eprec = nd;
      if (shortest) eprec = 6;
      int exp = d.dp - 1;
      if (nd == 0) exp = 0;
      if (exp < -4 || exp >= eprec) {
        if (p > nd) p = nd;
        return FormatE(d, std::max(p - 1, 0), verb == 'G' ? 'E' : 'e');
      }
      if (p > d.dp) p = nd;
      return FormatF(d, std::max(p - d.dp, 0));
    }
  }
}

std::string HexFloat(double v, bool upper, int prec) {
  char buf[64];
  if (prec >= 0) {
    std::snprintf(buf, sizeof buf, upper ? "%.*A" : "%.*a", prec, std::fabs(v));
  } else {
    std::snprintf(buf, sizeof buf, upper ? "%A" : "%a", std::fabs(v));
  }
  std::string s = buf;
  // Go writes the binary exponent with at least two digits.
  size_t p = s.find_first_of("pP");
  if (p != std::string::npos && s.size() == p + 3)
    s.insert(s.begin() + static_cast<ptrdiff_t>(p + 2), '0');
  return s;
}

void FmtFloat(std::string& out, const Flags& f, double v, char verb, int default_prec) {
  int prec = f.prec_present ? f.prec : default_prec;
  std::string num;
  bool neg = std::signbit(v);
  if (verb == 'x' || verb == 'X') {
    num = HexFloat(v, verb == 'X', prec);
  } else {
    num = FormatFloatAbs(v, verb == 'F' ? 'f' : verb, prec);
  }
  char sign = neg ? '-' : '+';
  if (f.space && sign == '+' && !f.plus) sign = ' ';
  if (f.plus || sign != '+') {
    if (f.zero && !f.minus && f.wid_present && f.wid > static_cast<int>(num.size()) + 1) {
      out += sign;
      WritePadding(out, f.wid - static_cast<int>(num.size()) - 1, true);
      out += num;
      return;
    }
    Pad(out, f, std::string(1, sign) + num);
    return;
  }
  Pad(out, f, num);
}

// --- strings ---

void FmtSx(std::string& out, const Flags& f, std::string_view s, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  size_t length = s.size();
  if (f.prec_present && static_cast<size_t>(f.prec) < length) length = f.prec;
  std::string buf;
  for (size_t i = 0; i < length; ++i) {
    if (i == 0 && f.sharp) buf += upper ? "0X" : "0x";
    if (i > 0 && f.space) {
      buf += ' ';
      if (f.sharp) buf += upper ? "0X" : "0x";
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    buf += digits[c >> 4];
    buf += digits[c & 15];
  }
  Pad(out, f, buf);
}

void PrintArg(std::string& out, const Flags& f, const FmtArg& arg, char32_t verb);

void BadVerb(std::string& out, const Flags& f, const FmtArg& arg, char32_t verb) {
  out += "%!";
  AppendUtf8(out, verb);
  out += '(';
  out += arg.TypeName();
  out += '=';
  PrintArg(out, f, arg, 'v');
  out += ')';
}

void PrintArg(std::string& out, const Flags& f, const FmtArg& arg, char32_t verb) {
  if (verb == 'T') {
    Flags plain = f;
    Pad(out, plain, TruncateRunes(arg.TypeName(), f));
    return;
  }
  switch (arg.type) {
    case FmtArg::kInt:
      switch (verb) {
        case 'v':
        case 'd':
          return FmtInteger(out, f, arg.i, 10, static_cast<char>(verb), false);
        case 'b':
          return FmtInteger(out, f, arg.i, 2, 'b', false);
        case 'o':
        case 'O':
          return FmtInteger(out, f, arg.i, 8, static_cast<char>(verb), false);
        case 'x':
          return FmtInteger(out, f, arg.i, 16, 'x', false);
        case 'X':
          return FmtInteger(out, f, arg.i, 16, 'X', true);
        case 'c': {
          std::string s;
          int64_t c = arg.i;
          AppendUtf8(s, (c < 0 || c > 0x10FFFF) ? 0xFFFD : static_cast<char32_t>(c));
          return Pad(out, f, s);
        }
        case 'q': {
          int64_t c = arg.i;
          return Pad(
              out, f,
              QuoteRune((c < 0 || c > 0x10FFFF) ? 0xFFFD : static_cast<char32_t>(c), f.plus));
        }
        case 'U': {
          char buf[32];
          uint64_t u = static_cast<uint64_t>(arg.i);
          std::snprintf(buf, sizeof buf, "U+%04llX", static_cast<unsigned long long>(u));
          std::string s = buf;
          if (f.sharp && arg.i >= 0 && arg.i <= 0x10FFFF) {
            std::string r;
            AppendUtf8(r, static_cast<char32_t>(arg.i));
            s += " '" + r + "'";
          }
          return Pad(out, f, s);
        }
        default:
          return BadVerb(out, f, arg, verb);
      }
    case FmtArg::kFloat:
      switch (verb) {
        case 'v':
          return FmtFloat(out, f, arg.d, 'g', -1);
        case 'g':
        case 'G':
        case 'x':
        case 'X':
          return FmtFloat(out, f, arg.d, static_cast<char>(verb), -1);
        case 'e':
        case 'E':
        case 'f':
        case 'F':
          return FmtFloat(out, f, arg.d, static_cast<char>(verb), 6);
        default:
          return BadVerb(out, f, arg, verb);
      }
    case FmtArg::kString:
      switch (verb) {
        case 'v':
        case 's':
          return Pad(out, f, TruncateRunes(arg.s, f));
        case 'x':
        case 'X':
          return FmtSx(out, f, arg.s, verb == 'X');
        case 'q': {
          std::string s = TruncateRunes(arg.s, f);
          if (f.sharp && CanBackquote(s)) return Pad(out, f, "`" + s + "`");
          return Pad(out, f, GoQuote(s, f.plus));
        }
        default:
          return BadVerb(out, f, arg, verb);
      }
  }
}

bool IsDigit(std::string_view s, size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }

// Go's parsenum: digits at s[i]; false when absent, or when too large, in which case the
// rest of the format is consumed (Go then reports %!(NOVERB)).
bool ParseNum(std::string_view s, size_t& i, int& num) {
  if (!IsDigit(s, i)) return false;
  num = 0;
  while (IsDigit(s, i)) {
    num = num * 10 + (s[i] - '0');
    ++i;
    if (num > kTooLarge) {
      num = 0;
      i = s.size();
      return false;
    }
  }
  return true;
}

// Go's argNumber: "[n]" before a width, precision or verb.
void ArgNumber(std::string_view format, size_t& i, size_t nargs, size_t& arg_num, bool& good,
               bool& after_index, bool& reordered) {
  after_index = false;
  if (i >= format.size() || format[i] != '[') return;
  reordered = true;
  size_t close = format.find(']', i + 1);
  if (close == std::string_view::npos) {
    good = false;
    return;
  }
  std::string_view digits = format.substr(i + 1, close - i - 1);
  int n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty() || n < 1 ||
      static_cast<size_t>(n) > nargs) {
    good = false;
    i = close + 1;
    return;
  }
  arg_num = static_cast<size_t>(n - 1);
  i = close + 1;
  after_index = true;
}

std::string GoSprintf(std::string_view format, const std::vector<FmtArg>& args,
                      BuiltinContext& ctx) {
  std::string out;
  size_t arg_num = 0;
  bool reordered = false;
  const size_t end = format.size();
  for (size_t i = 0; i < end;) {
    bool good_arg_num = true;
    size_t lit = i;
    while (i < end && format[i] != '%') ++i;
    out.append(format.substr(lit, i - lit));
    if (i >= end) break;
    ++i;  // '%'
    Flags f;
    for (; i < end; ++i) {
      char c = format[i];
      if (c == '#') {
        f.sharp = true;
      } else if (c == '0') {
        f.zero = !f.minus;
      } else if (c == '+') {
        f.plus = true;
      } else if (c == '-') {
        f.minus = true;
        f.zero = false;
      } else if (c == ' ') {
        f.space = true;
      } else {
        break;
      }
    }
    bool after_index = false;
    ArgNumber(format, i, args.size(), arg_num, good_arg_num, after_index, reordered);
    if (i < end && format[i] == '*') {
      ++i;
      if (arg_num < args.size() && args[arg_num].type == FmtArg::kInt &&
          args[arg_num].i >= -kTooLarge && args[arg_num].i <= kTooLarge) {
        int64_t w = args[arg_num].i;
        f.wid_present = true;
        if (w < 0) {
          f.minus = true;
          f.zero = false;
          w = -w;
        }
        f.wid = static_cast<int>(w);
      } else {
        out += "%!(BADWIDTH)";
      }
      ++arg_num;
      after_index = false;
    } else {
      f.wid_present = ParseNum(format, i, f.wid);
      if (after_index && f.wid_present) good_arg_num = false;
    }
    if (i + 1 <= end && i < end && format[i] == '.') {
      ++i;
      if (after_index) good_arg_num = false;
      ArgNumber(format, i, args.size(), arg_num, good_arg_num, after_index, reordered);
      if (i < end && format[i] == '*') {
        ++i;
        if (arg_num < args.size() && args[arg_num].type == FmtArg::kInt &&
            args[arg_num].i >= -kTooLarge && args[arg_num].i <= kTooLarge) {
          int64_t p = args[arg_num].i;
          f.prec_present = p >= 0;
          f.prec = p >= 0 ? static_cast<int>(p) : 0;
        } else {
          out += "%!(BADPREC)";
        }
        ++arg_num;
        after_index = false;
      } else {
        f.prec_present = ParseNum(format, i, f.prec);
        if (!f.prec_present) {
          f.prec = 0;
          f.prec_present = true;
        }
      }
    }
    if (!after_index) {
      ArgNumber(format, i, args.size(), arg_num, good_arg_num, after_index, reordered);
    }
    if (i >= end) {
      out += "%!(NOVERB)";
      break;
    }
    char32_t verb = NextCodePoint(format, i);
    if (verb == '%') {
      out += '%';
    } else if (!good_arg_num) {
      out += "%!";
      AppendUtf8(out, verb);
      out += "(BADINDEX)";
    } else if (arg_num >= args.size()) {
      out += "%!";
      AppendUtf8(out, verb);
      out += "(MISSING)";
    } else {
      if (verb == 'v') {
        // %+v and %#v change struct and Go-syntax printing only.
        f.plus = false;
        if (f.sharp && args[arg_num].type == FmtArg::kString) {
          f.sharp = false;
          Pad(out, f, GoQuote(args[arg_num].s));
          ++arg_num;
          continue;
        }
        f.sharp = false;
      }
      PrintArg(out, f, args[arg_num], verb);
      ++arg_num;
    }
    if (out.size() > kMaxResultBytes) TooLarge("sprintf");
  }
  if (!reordered && arg_num < args.size()) {
    out += "%!(EXTRA ";
    for (size_t k = arg_num; k < args.size(); ++k) {
      if (k > arg_num) out += ", ";
      out += args[k].TypeName();
      out += '=';
      PrintArg(out, Flags{}, args[k], 'v');
    }
    out += ')';
  }
  Charge(ctx, "sprintf", out.size());
  return out;
}

std::optional<Value> Sprintf(const Args& args, BuiltinContext& ctx) {
  const std::string& format = StringArg("sprintf", args, 1);
  const Array& values = ArrayArg("sprintf", args, 2);
  std::vector<FmtArg> fmt_args;
  fmt_args.reserve(values.size());
  // The copies of string arguments, and so most of the output, are charged before they are
  // made.
  size_t string_bytes = format.size();
  for (const auto& v : values) {
    if (v.IsString()) string_bytes += v.AsString().size();
  }
  if (string_bytes >= 4096) Charge(ctx, "sprintf", string_bytes * 2);
  for (const auto& v : values) {
    FmtArg a;
    if (v.IsNumber()) {
      const Number& n = v.AsNumber();
      if (n.is_int) {
        a.type = FmtArg::kInt;
        a.i = n.i;
      } else {
        a.type = FmtArg::kFloat;
        a.d = n.d;
      }
    } else if (v.IsString()) {
      a.s = v.AsString();
    } else {
      ChargeText(ctx, "sprintf", v);
      a.s = v.ToRego();
    }
    fmt_args.push_back(std::move(a));
  }
  return Value::String(GoSprintf(format, fmt_args, ctx));
}

}  // namespace

void RegisterSprintfBuiltin(BuiltinTable& t) { Add(t, "sprintf", 2, Sprintf); }

}  // namespace statehouse::policy::internal
