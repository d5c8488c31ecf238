// time.* builtins over nanoseconds since the Unix epoch, with Go's layouts for parsing and
// formatting. Time zones: "" and "UTC"; "Local" is UTC too (a server's local zone must not
// change a decision). Other IANA names are refused: the engine reads no zone database.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <variant>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;

constexpr int64_t kNsPerSecond = 1000000000;
constexpr int64_t kSecondsPerDay = 86400;

// --- civil dates (proleptic Gregorian; H. Hinnant's algorithms) ---

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t FloorMod(int64_t a, int64_t b) {
  int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, int& m, int& d) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y += m <= 2;
}

bool IsLeap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int DaysIn(int m, int64_t y) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

constexpr const char* kLongMonths[] = {"January",   "February", "March",    "April",
                                       "May",       "June",     "July",     "August",
                                       "September", "October",  "November", "December"};
constexpr const char* kLongDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};

struct Civil {
  int64_t year = 0;
  int month = 1;
  int day = 1;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int64_t nsec = 0;
  int weekday = 0;  // 0 = Sunday
  int yday = 1;
};

Civil ToCivil(int64_t ns) {
  Civil c;
  int64_t secs = FloorDiv(ns, kNsPerSecond);
  c.nsec = FloorMod(ns, kNsPerSecond);
  int64_t days = FloorDiv(secs, kSecondsPerDay);
  int64_t sod = FloorMod(secs, kSecondsPerDay);
  CivilFromDays(days, c.year, c.month, c.day);
  c.hour = static_cast<int>(sod / 3600);
  c.minute = static_cast<int>(sod / 60 % 60);
  c.second = static_cast<int>(sod % 60);
  c.weekday = static_cast<int>(FloorMod(days + 4, 7));  // 1970-01-01 was a Thursday
  c.yday = static_cast<int>(days - DaysFromCivil(c.year, 1, 1) + 1);
  return c;
}

// Seconds since the epoch (as __int128, so no intermediate overflows) to nanoseconds.
std::optional<int64_t> ToNs(__int128 seconds, int64_t nsec) {
  __int128 ns = seconds * kNsPerSecond + nsec;
  if (ns < std::numeric_limits<int64_t>::min() || ns > std::numeric_limits<int64_t>::max()) {
    return std::nullopt;
  }
  return static_cast<int64_t>(ns);
}

std::optional<int64_t> CivilToNs(int64_t year, int month, int day, int hour, int minute, int second,
                                 int64_t nsec, int64_t offset_seconds) {
  if (year < -10000000 || year > 10000000) return std::nullopt;
  __int128 days = DaysFromCivil(year, month, day);
  __int128 secs = days * kSecondsPerDay + hour * 3600 + minute * 60 + second - offset_seconds;
  return ToNs(secs, nsec);
}

[[noreturn]] void OutOfRange(std::string_view fn) { Fail(fn, "time outside of valid range"); }

// --- arguments: ns, [ns, tz] or [ns, tz, layout] ---

struct TimeArg {
  int64_t ns = 0;
  std::string layout;
};

void CheckZone(std::string_view fn, const std::string& tz) {
  if (tz.empty() || tz == "UTC" || tz == "Local") return;
  Fail(fn, "unknown time zone " + tz);
}

int64_t NsOf(std::string_view fn, const Value& v, int pos) {
  if (!v.IsNumber()) FailType(fn, pos, v, {"number"});
  auto i = v.AsNumber().AsInt();
  if (!i) Fail(fn, "timestamp too big");
  return *i;
}

TimeArg ParseTimeArg(std::string_view fn, const Value& v, int pos) {
  TimeArg t;
  if (v.IsNumber()) {
    t.ns = NsOf(fn, v, pos);
    return t;
  }
  if (!v.IsArray()) FailType(fn, pos, v, {"number", "array"});
  const Array& arr = v.AsArray();
  if (arr.size() < 2 || arr.size() > 3) {
    Fail(fn, "operand " + std::to_string(pos) + " expected array of length 2 or 3");
  }
  t.ns = NsOf(fn, arr[0], pos);
  if (!arr[1].IsString()) FailElement(fn, pos, v, arr[1], {"string"});
  CheckZone(fn, arr[1].AsString());
  if (arr.size() == 3) {
    if (!arr[2].IsString()) FailElement(fn, pos, v, arr[2], {"string"});
    t.layout = arr[2].AsString();
  }
  return t;
}

// --- Go layouts ---

enum class Std {
  kNone,
  kLongMonth,
  kMonth,
  kNumMonth,
  kZeroMonth,
  kLongWeekDay,
  kWeekDay,
  kDay,
  kUnderDay,
  kZeroDay,
  kUnderYearDay,
  kZeroYearDay,
  kHour,
  kHour12,
  kZeroHour12,
  kMinute,
  kZeroMinute,
  kSecond,
  kZeroSecond,
  kLongYear,
  kYear,
  kPM,
  kpm,
  kTZ,
  kISO8601TZ,
  kISO8601SecondsTZ,
  kISO8601ShortTZ,
  kISO8601ColonTZ,
  kISO8601ColonSecondsTZ,
  kNumTZ,
  kNumSecondsTz,
  kNumShortTZ,
  kNumColonTZ,
  kNumColonSecondsTZ,
  kFracSecond0,
  kFracSecond9,
};

struct Chunk {
  std::string_view prefix;
  Std std = Std::kNone;
  std::string_view suffix;
  int frac_digits = 0;
  char frac_sep = '.';
};

bool StartsWithLower(std::string_view s) { return !s.empty() && s[0] >= 'a' && s[0] <= 'z'; }
bool IsDigitAt(std::string_view s, size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }

// Go's nextStdChunk.
Chunk NextChunk(std::string_view layout) {
  auto make = [&](size_t i, Std std, size_t len) {
    return Chunk{layout.substr(0, i), std, layout.substr(i + len)};
  };
  auto has = [&](size_t i, std::string_view s) { return layout.substr(i, s.size()) == s; };
  for (size_t i = 0; i < layout.size(); ++i) {
    switch (layout[i]) {
      case 'J':
        if (has(i, "Jan")) {
          if (has(i, "January")) return make(i, Std::kLongMonth, 7);
          if (!StartsWithLower(layout.substr(i + 3))) return make(i, Std::kMonth, 3);
        }
        break;
      case 'M':
        if (has(i, "Mon")) {
          if (has(i, "Monday")) return make(i, Std::kLongWeekDay, 6);
          if (!StartsWithLower(layout.substr(i + 3))) return make(i, Std::kWeekDay, 3);
        }
        if (has(i, "MST")) return make(i, Std::kTZ, 3);
        break;
      case '0':
        if (i + 1 < layout.size() && layout[i + 1] >= '1' && layout[i + 1] <= '6') {
          static constexpr Std k0x[] = {Std::kZeroMonth,  Std::kZeroDay,    Std::kZeroHour12,
                                        Std::kZeroMinute, Std::kZeroSecond, Std::kYear};
          return make(i, k0x[layout[i + 1] - '1'], 2);
        }
        if (has(i, "002")) return make(i, Std::kZeroYearDay, 3);
        break;
      case '1':
        if (has(i, "15")) return make(i, Std::kHour, 2);
        return make(i, Std::kNumMonth, 1);
      case '2':
        if (has(i, "2006")) return make(i, Std::kLongYear, 4);
        return make(i, Std::kDay, 1);
      case '_':
        if (has(i, "_2")) {
          if (has(i + 1, "2006"))
            return Chunk{layout.substr(0, i + 1), Std::kLongYear, layout.substr(i + 5)};
          return make(i, Std::kUnderDay, 2);
        }
        if (has(i, "__2")) return make(i, Std::kUnderYearDay, 3);
        break;
      case '3':
        return make(i, Std::kHour12, 1);
      case '4':
        return make(i, Std::kMinute, 1);
      case '5':
        return make(i, Std::kSecond, 1);
      case 'P':
        if (has(i, "PM")) return make(i, Std::kPM, 2);
        break;
      case 'p':
        if (has(i, "pm")) return make(i, Std::kpm, 2);
        break;
      case '-':
        if (has(i, "-070000")) return make(i, Std::kNumSecondsTz, 7);
        if (has(i, "-07:00:00")) return make(i, Std::kNumColonSecondsTZ, 9);
        if (has(i, "-0700")) return make(i, Std::kNumTZ, 5);
        if (has(i, "-07:00")) return make(i, Std::kNumColonTZ, 6);
        if (has(i, "-07")) return make(i, Std::kNumShortTZ, 3);
        break;
      case 'Z':
        if (has(i, "Z070000")) return make(i, Std::kISO8601SecondsTZ, 7);
        if (has(i, "Z07:00:00")) return make(i, Std::kISO8601ColonSecondsTZ, 9);
        if (has(i, "Z0700")) return make(i, Std::kISO8601TZ, 5);
        if (has(i, "Z07:00")) return make(i, Std::kISO8601ColonTZ, 6);
        if (has(i, "Z07")) return make(i, Std::kISO8601ShortTZ, 3);
        break;
      case '.':
      case ',':
        if (i + 1 < layout.size() && (layout[i + 1] == '0' || layout[i + 1] == '9')) {
          char ch = layout[i + 1];
          size_t j = i + 1;
          while (j < layout.size() && layout[j] == ch) ++j;
          if (!IsDigitAt(layout, j)) {
            Chunk c{layout.substr(0, i), ch == '0' ? Std::kFracSecond0 : Std::kFracSecond9,
                    layout.substr(j)};
            c.frac_digits = static_cast<int>(j - (i + 1));
            c.frac_sep = layout[i];
            return c;
          }
        }
        break;
      default:
        break;
    }
  }
  return Chunk{layout, Std::kNone, {}};
}

// --- formatting ---

void AppendInt(std::string& out, int64_t x, int width) {
  if (x < 0) {
    out += '-';
    x = -x;
  }
  std::string digits = std::to_string(x);
  for (int k = static_cast<int>(digits.size()); k < width; ++k) out += '0';
  out += digits;
}

std::string GoFormat(int64_t ns, std::string_view layout) {
  Civil c = ToCivil(ns);
  std::string out;
  while (!layout.empty()) {
    Chunk ch = NextChunk(layout);
    out.append(ch.prefix);
    if (ch.std == Std::kNone) break;
    layout = ch.suffix;
    switch (ch.std) {
      case Std::kYear:
        AppendInt(out, (c.year < 0 ? -c.year : c.year) % 100, 2);
        break;
      case Std::kLongYear:
        AppendInt(out, c.year, 4);
        break;
      case Std::kMonth:
        out.append(kLongMonths[c.month - 1], 3);
        break;
      case Std::kLongMonth:
        out += kLongMonths[c.month - 1];
        break;
      case Std::kNumMonth:
        AppendInt(out, c.month, 0);
        break;
      case Std::kZeroMonth:
        AppendInt(out, c.month, 2);
        break;
      case Std::kWeekDay:
        out.append(kLongDays[c.weekday], 3);
        break;
      case Std::kLongWeekDay:
        out += kLongDays[c.weekday];
        break;
      case Std::kDay:
        AppendInt(out, c.day, 0);
        break;
      case Std::kUnderDay:
        if (c.day < 10) out += ' ';
        AppendInt(out, c.day, 0);
        break;
      case Std::kZeroDay:
        AppendInt(out, c.day, 2);
        break;
      case Std::kUnderYearDay:
        if (c.yday < 100) out += c.yday < 10 ? "  " : " ";
        AppendInt(out, c.yday, 0);
        break;
      case Std::kZeroYearDay:
        AppendInt(out, c.yday, 3);
        break;
      case Std::kHour:
        AppendInt(out, c.hour, 2);
        break;
      case Std::kHour12:
      case Std::kZeroHour12: {
        int hr = c.hour % 12;
        if (hr == 0) hr = 12;
        AppendInt(out, hr, ch.std == Std::kHour12 ? 0 : 2);
        break;
      }
      case Std::kMinute:
        AppendInt(out, c.minute, 0);
        break;
      case Std::kZeroMinute:
        AppendInt(out, c.minute, 2);
        break;
      case Std::kSecond:
        AppendInt(out, c.second, 0);
        break;
      case Std::kZeroSecond:
        AppendInt(out, c.second, 2);
        break;
      case Std::kPM:
        out += c.hour >= 12 ? "PM" : "AM";
        break;
      case Std::kpm:
        out += c.hour >= 12 ? "pm" : "am";
        break;
      case Std::kISO8601TZ:
      case Std::kISO8601ColonTZ:
      case Std::kISO8601SecondsTZ:
      case Std::kISO8601ShortTZ:
      case Std::kISO8601ColonSecondsTZ:
        out += 'Z';  // the offset is always zero here
        break;
      case Std::kNumTZ:
        out += "+0000";
        break;
      case Std::kNumColonTZ:
        out += "+00:00";
        break;
      case Std::kNumShortTZ:
        out += "+00";
        break;
      case Std::kNumSecondsTz:
        out += "+000000";
        break;
      case Std::kNumColonSecondsTZ:
        out += "+00:00:00";
        break;
      case Std::kTZ:
        out += "UTC";
        break;
      case Std::kFracSecond0:
      case Std::kFracSecond9: {
        bool trim = ch.std == Std::kFracSecond9;
        if (trim && (ch.frac_digits == 0 || c.nsec == 0)) break;
        std::string frac;
        AppendInt(frac, c.nsec, 9);
        frac.resize(static_cast<size_t>(std::min(ch.frac_digits, 9)));
        if (trim) {
          while (!frac.empty() && frac.back() == '0') frac.pop_back();
          if (frac.empty()) break;
        }
        out += ch.frac_sep;
        out += frac;
        break;
      }
      case Std::kNone:
        break;
    }
  }
  return out;
}

// --- parsing ---

struct ParseFailure {
  std::string message;
};

std::string Quote(std::string_view s) { return GoQuote(s); }

std::string_view CutSpace(std::string_view s) {
  while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
  return s;
}

bool Skip(std::string_view& value, std::string_view prefix) {
  while (!prefix.empty()) {
    if (prefix[0] == ' ') {
      if (!value.empty() && value[0] != ' ') return false;
      prefix = CutSpace(prefix);
      value = CutSpace(value);
      continue;
    }
    if (value.empty() || value[0] != prefix[0]) return false;
    prefix.remove_prefix(1);
    value.remove_prefix(1);
  }
  return true;
}

bool GetNum(std::string_view& s, bool fixed, int& out) {
  if (!IsDigitAt(s, 0)) return false;
  if (!IsDigitAt(s, 1)) {
    if (fixed) return false;
    out = s[0] - '0';
    s.remove_prefix(1);
    return true;
  }
  out = (s[0] - '0') * 10 + (s[1] - '0');
  s.remove_prefix(2);
  return true;
}

bool GetNum3(std::string_view& s, bool fixed, int& out) {
  int n = 0;
  size_t i = 0;
  for (; i < 3 && IsDigitAt(s, i); ++i) n = n * 10 + (s[i] - '0');
  if (i == 0 || (fixed && i != 3)) return false;
  out = n;
  s.remove_prefix(i);
  return true;
}

bool Lookup(const char* const* names, int count, size_t len, std::string_view& value, int& index) {
  for (int k = 0; k < count; ++k) {
    std::string_view name(names[k]);
    if (len) name = name.substr(0, len);
    if (value.size() >= name.size()) {
      bool eq = true;
      for (size_t j = 0; j < name.size() && eq; ++j) {
        eq = std::tolower(static_cast<unsigned char>(value[j])) ==
             std::tolower(static_cast<unsigned char>(name[j]));
      }
      if (eq) {
        index = k;
        value.remove_prefix(name.size());
        return true;
      }
    }
  }
  return false;
}

bool ParseNanoseconds(std::string_view value, size_t nbytes, int64_t& ns) {
  if (value.empty() || (value[0] != '.' && value[0] != ',')) return false;
  if (nbytes > 10) nbytes = 10;
  ns = 0;
  for (size_t i = 1; i < nbytes; ++i) {
    if (!IsDigitAt(value, i)) return false;
    ns = ns * 10 + (value[i] - '0');
  }
  for (size_t i = nbytes; i < 10; ++i) ns *= 10;
  return true;
}

// Go's time.Parse; the result in nanoseconds, or the error text Go gives.
std::variant<int64_t, ParseFailure> GoParse(std::string_view layout_in, std::string_view value_in) {
  std::string_view layout = layout_in;
  std::string_view value = value_in;
  auto error = [&](std::string_view elem, std::string_view rest, std::string_view message) {
    if (!message.empty())
      return ParseFailure{"parsing time " + Quote(value_in) + std::string(message)};
    return ParseFailure{"parsing time " + Quote(value_in) + " as " + Quote(layout_in) +
                        ": cannot parse " + Quote(rest) + " as " + Quote(elem)};
  };
  int64_t year = 0;
  int month = -1;
  int day = -1;
  int yday = -1;
  int hour = 0;
  int minute = 0;
  int sec = 0;
  int64_t nsec = 0;
  bool pm_set = false;
  bool am_set = false;
  int64_t zone_offset = 0;
  for (;;) {
    Chunk ch = NextChunk(layout);
    std::string_view stdstr =
        layout.substr(ch.prefix.size(), layout.size() - ch.prefix.size() - ch.suffix.size());
    if (!Skip(value, ch.prefix)) return error(ch.prefix, value, "");
    if (ch.std == Std::kNone) {
      if (!value.empty()) return error("", value, ": extra text: " + Quote(value));
      break;
    }
    layout = ch.suffix;
    std::string_view hold = value;
    bool ok = true;
    std::string range;
    switch (ch.std) {
      case Std::kYear: {
        if (value.size() < 2 || !IsDigitAt(value, 0) || !IsDigitAt(value, 1)) {
          ok = false;
          break;
        }
        int y = (value[0] - '0') * 10 + (value[1] - '0');
        value.remove_prefix(2);
        year = y >= 69 ? 1900 + y : 2000 + y;
        break;
      }
      case Std::kLongYear:
        if (value.size() < 4 || !IsDigitAt(value, 0) || !IsDigitAt(value, 1) ||
            !IsDigitAt(value, 2) || !IsDigitAt(value, 3)) {
          ok = false;
          break;
        }
        year = std::stoi(std::string(value.substr(0, 4)));
        value.remove_prefix(4);
        break;
      case Std::kMonth:
        ok = Lookup(kLongMonths, 12, 3, value, month);
        ++month;
        break;
      case Std::kLongMonth:
        ok = Lookup(kLongMonths, 12, 0, value, month);
        ++month;
        break;
      case Std::kNumMonth:
      case Std::kZeroMonth:
        ok = GetNum(value, ch.std == Std::kZeroMonth, month);
        if (ok && (month <= 0 || month > 12)) range = "month";
        break;
      case Std::kWeekDay: {
        int ignored;
        ok = Lookup(kLongDays, 7, 3, value, ignored);
        break;
      }
      case Std::kLongWeekDay: {
        int ignored;
        ok = Lookup(kLongDays, 7, 0, value, ignored);
        break;
      }
      case Std::kDay:
      case Std::kUnderDay:
      case Std::kZeroDay:
        if (ch.std == Std::kUnderDay && !value.empty() && value[0] == ' ') value.remove_prefix(1);
        ok = GetNum(value, ch.std == Std::kZeroDay, day);
        break;
      case Std::kUnderYearDay:
      case Std::kZeroYearDay:
        for (int k = 0; k < 2; ++k) {
          if (ch.std == Std::kUnderYearDay && !value.empty() && value[0] == ' ')
            value.remove_prefix(1);
        }
        ok = GetNum3(value, ch.std == Std::kZeroYearDay, yday);
        break;
      case Std::kHour:
        ok = GetNum(value, false, hour);
        if (hour < 0 || hour >= 24) range = "hour";
        break;
      case Std::kHour12:
      case Std::kZeroHour12:
        ok = GetNum(value, ch.std == Std::kZeroHour12, hour);
        if (hour < 0 || hour > 12) range = "hour";
        break;
      case Std::kMinute:
      case Std::kZeroMinute:
        ok = GetNum(value, ch.std == Std::kZeroMinute, minute);
        if (minute < 0 || minute >= 60) range = "minute";
        break;
      case Std::kSecond:
      case Std::kZeroSecond: {
        ok = GetNum(value, ch.std == Std::kZeroSecond, sec);
        if (!ok) break;
        if (sec < 0 || sec >= 60) {
          range = "second";
          break;
        }
        // A fraction in the value that the layout does not name is read anyway.
        if (value.size() >= 2 && (value[0] == '.' || value[0] == ',') && IsDigitAt(value, 1)) {
          Std next = NextChunk(layout).std;
          if (next == Std::kFracSecond0 || next == Std::kFracSecond9) break;
          size_t n = 2;
          while (n < value.size() && IsDigitAt(value, n)) ++n;
          ok = ParseNanoseconds(value, n, nsec);
          value.remove_prefix(n);
        }
        break;
      }
      case Std::kPM:
      case Std::kpm: {
        if (value.size() < 2) {
          ok = false;
          break;
        }
        std::string_view p = value.substr(0, 2);
        value.remove_prefix(2);
        bool upper = ch.std == Std::kPM;
        if (p == (upper ? "PM" : "pm")) {
          pm_set = true;
        } else if (p == (upper ? "AM" : "am")) {
          am_set = true;
        } else {
          ok = false;
        }
        break;
      }
      case Std::kISO8601TZ:
      case Std::kISO8601ShortTZ:
      case Std::kISO8601ColonTZ:
      case Std::kISO8601SecondsTZ:
      case Std::kISO8601ColonSecondsTZ:
        if (!value.empty() && value[0] == 'Z') {
          value.remove_prefix(1);
          zone_offset = 0;
          break;
        }
        [[fallthrough]];
      case Std::kNumTZ:
      case Std::kNumShortTZ:
      case Std::kNumColonTZ:
      case Std::kNumSecondsTz:
      case Std::kNumColonSecondsTZ: {
        std::string_view sign, hh, mm, ss = "00";
        Std s = ch.std;
        if (s == Std::kISO8601ColonTZ || s == Std::kNumColonTZ) {
          if (value.size() < 6 || value[3] != ':') {
            ok = false;
            break;
          }
          sign = value.substr(0, 1), hh = value.substr(1, 2), mm = value.substr(4, 2);
          value.remove_prefix(6);
        } else if (s == Std::kNumShortTZ || s == Std::kISO8601ShortTZ) {
          if (value.size() < 3) {
            ok = false;
            break;
          }
          sign = value.substr(0, 1), hh = value.substr(1, 2), mm = "00";
          value.remove_prefix(3);
        } else if (s == Std::kISO8601ColonSecondsTZ || s == Std::kNumColonSecondsTZ) {
          if (value.size() < 9 || value[3] != ':' || value[6] != ':') {
            ok = false;
            break;
          }
          sign = value.substr(0, 1), hh = value.substr(1, 2), mm = value.substr(4, 2),
          ss = value.substr(7, 2);
          value.remove_prefix(9);
        } else if (s == Std::kISO8601SecondsTZ || s == Std::kNumSecondsTz) {
          if (value.size() < 7) {
            ok = false;
            break;
          }
          sign = value.substr(0, 1), hh = value.substr(1, 2), mm = value.substr(3, 2),
          ss = value.substr(5, 2);
          value.remove_prefix(7);
        } else {
          if (value.size() < 5) {
            ok = false;
            break;
          }
          sign = value.substr(0, 1), hh = value.substr(1, 2), mm = value.substr(3, 2);
          value.remove_prefix(5);
        }
        int h = 0, m = 0, sc = 0;
        ok = GetNum(hh, true, h) && GetNum(mm, true, m) && GetNum(ss, true, sc);
        if (h > 24) range = "time zone offset hour";
        if (m > 60) range = "time zone offset minute";
        if (sc > 60) range = "time zone offset second";
        zone_offset = (h * 60 + m) * 60 + sc;
        if (sign == "-") {
          zone_offset = -zone_offset;
        } else if (sign != "+") {
          ok = false;
        }
        break;
      }
      case Std::kTZ: {
        if (value.substr(0, 3) == "UTC") {
          value.remove_prefix(3);
          zone_offset = 0;
          break;
        }
        if (value.substr(0, 3) == "GMT") {
          value.remove_prefix(3);
          zone_offset = 0;
          if (!value.empty() && (value[0] == '+' || value[0] == '-')) {
            bool neg = value[0] == '-';
            size_t n = 1;
            int h = 0;
            while (n < value.size() && n < 3 && IsDigitAt(value, n))
              h = h * 10 + (value[n++] - '0');
            if (n == 1) {
              ok = false;
              break;
            }
            value.remove_prefix(n);
            zone_offset = (neg ? -h : h) * 3600;
          }
          break;
        }
        // An abbreviation of 3 to 5 letters: unknown zones count as UTC, as in Go.
        size_t n = 0;
        while (n < value.size() && n < 5 && std::isupper(static_cast<unsigned char>(value[n]))) ++n;
        if (n < 3) {
          ok = false;
          break;
        }
        value.remove_prefix(n);
        zone_offset = 0;
        break;
      }
      case Std::kFracSecond0: {
        size_t ndigit = 1 + static_cast<size_t>(ch.frac_digits);
        if (value.size() < ndigit) {
          ok = false;
          break;
        }
        ok = ParseNanoseconds(value, ndigit, nsec);
        value.remove_prefix(ndigit);
        break;
      }
      case Std::kFracSecond9: {
        if (value.size() < 2 || (value[0] != '.' && value[0] != ',') || !IsDigitAt(value, 1)) {
          break;  // the fraction is optional
        }
        size_t i = 0;
        while (i + 1 < value.size() && IsDigitAt(value, i + 1)) ++i;
        ok = ParseNanoseconds(value, 1 + i, nsec);
        value.remove_prefix(1 + i);
        break;
      }
      case Std::kNone:
        break;
    }
    if (!range.empty()) return error(stdstr, value, ": " + range + " out of range");
    if (!ok) return error(stdstr, hold, "");
  }
  if (pm_set && hour < 12) {
    hour += 12;
  } else if (am_set && hour == 12) {
    hour = 0;
  }
  if (yday >= 0) {
    int days_in_year = IsLeap(year) ? 366 : 365;
    if (yday < 1 || yday > days_in_year) return error("", value, ": day-of-year out of range");
    int m = 1;
    int d = yday;
    while (d > DaysIn(m, year)) d -= DaysIn(m++, year);
    if (month >= 0 && month != m) return error("", value, ": day-of-year does not match month");
    if (day >= 0 && day != d) return error("", value, ": day-of-year does not match day");
    month = m;
    day = d;
  } else {
    if (month < 0) month = 1;
    if (day < 0) day = 1;
  }
  if (day < 1 || day > DaysIn(month, year)) return error("", value, ": day out of range");
  auto ns = CivilToNs(year, month, day, hour, minute, sec, nsec, zone_offset);
  if (!ns) return ParseFailure{"time outside of valid range"};
  return *ns;
}

constexpr std::string_view kRFC3339 = "2006-01-02T15:04:05Z07:00";
constexpr std::string_view kRFC3339Nano = "2006-01-02T15:04:05.999999999Z07:00";

// Go's named layouts, which time.format accepts by name.
std::string_view NamedLayout(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"ANSIC", "Mon Jan _2 15:04:05 2006"},
      {"UnixDate", "Mon Jan _2 15:04:05 MST 2006"},
      {"RubyDate", "Mon Jan 02 15:04:05 -0700 2006"},
      {"RFC822", "02 Jan 06 15:04 MST"},
      {"RFC822Z", "02 Jan 06 15:04 -0700"},
      {"RFC850", "Monday, 02-Jan-06 15:04:05 MST"},
      {"RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"},
      {"RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"},
      {"RFC3339", kRFC3339},
      {"RFC3339Nano", kRFC3339Nano},
      {"Kitchen", "3:04PM"},
      {"Stamp", "Jan _2 15:04:05"},
      {"StampMilli", "Jan _2 15:04:05.000"},
      {"StampMicro", "Jan _2 15:04:05.000000"},
      {"StampNano", "Jan _2 15:04:05.000000000"},
      {"DateTime", "2006-01-02 15:04:05"},
      {"DateOnly", "2006-01-02"},
      {"TimeOnly", "15:04:05"},
  };
  for (const auto& [n, layout] : kNamed) {
    if (n == name) return layout;
  }
  return name;
}

int64_t ParseOrFail(std::string_view fn, std::string_view layout, std::string_view value) {
  auto r = GoParse(layout, value);
  if (auto* f = std::get_if<ParseFailure>(&r)) Fail(fn, f->message);
  return std::get<int64_t>(r);
}

// --- builtins ---

std::optional<Value> NowNs(const Args&, BuiltinContext& ctx) { return Value::Int(ctx.now_ns); }

std::optional<Value> ParseRfc3339(const Args& args, BuiltinContext&) {
  const std::string& s = StringArg("time.parse_rfc3339_ns", args, 1);
  return Value::Int(ParseOrFail("time.parse_rfc3339_ns", kRFC3339, s));
}

std::optional<Value> ParseNs(const Args& args, BuiltinContext&) {
  const std::string& layout = StringArg("time.parse_ns", args, 1);
  const std::string& value = StringArg("time.parse_ns", args, 2);
  return Value::Int(ParseOrFail("time.parse_ns", layout, value));
}

// Go's time.ParseDuration.
std::optional<Value> ParseDuration(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "time.parse_duration_ns";
  const std::string& orig = StringArg(fn, args, 1);
  std::string_view s = orig;
  auto invalid = [&]() { Fail(fn, "time: invalid duration " + Quote(orig)); };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Value::Int(0);
  if (s.empty()) invalid();
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  uint64_t d = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) invalid();
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (v > (kLimit - 1) / 10) invalid();
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) invalid();
    }
    bool pre = i > 0;
    s.remove_prefix(i);
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && s[j] >= '0' && s[j] <= '9'; ++j) {
        if (overflow) continue;
        if (f > (kLimit - 1) / 10) {
          overflow = true;
          continue;
        }
        uint64_t y = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (y > kLimit) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) invalid();
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !(s[u] >= '0' && s[u] <= '9')) ++u;
    if (u == 0) Fail(fn, "time: missing unit in duration " + Quote(orig));
    std::string_view unit_name = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_name == "ns") {
      unit = 1;
    } else if (unit_name == "us" || unit_name == "\xC2\xB5s" || unit_name == "\xCE\xBCs") {
      unit = 1000;
    } else if (unit_name == "ms") {
      unit = 1000000;
    } else if (unit_name == "s") {
      unit = 1000000000;
    } else if (unit_name == "m") {
      unit = 60000000000;
    } else if (unit_name == "h") {
      unit = 3600000000000;
    } else {
      Fail(fn, "time: unknown unit " + Quote(unit_name) + " in duration " + Quote(orig));
    }
    if (v > kLimit / unit) invalid();
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) invalid();
    }
    d += v;
    if (d > kLimit) invalid();
  }
  if (neg)
    return Value::Int(d == kLimit ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(d));
  if (d > kLimit - 1) invalid();
  return Value::Int(static_cast<int64_t>(d));
}

std::optional<Value> Date(const Args& args, BuiltinContext&) {
  Civil c = ToCivil(ParseTimeArg("time.date", args[0], 1).ns);
  return Value::MakeArray({Value::Int(c.year), Value::Int(c.month), Value::Int(c.day)});
}

std::optional<Value> Clock(const Args& args, BuiltinContext&) {
  Civil c = ToCivil(ParseTimeArg("time.clock", args[0], 1).ns);
  return Value::MakeArray({Value::Int(c.hour), Value::Int(c.minute), Value::Int(c.second)});
}

std::optional<Value> Weekday(const Args& args, BuiltinContext&) {
  Civil c = ToCivil(ParseTimeArg("time.weekday", args[0], 1).ns);
  return Value::String(kLongDays[c.weekday]);
}

// Go's Time.AddDate: months and days overflow into the next units (Oct 31 + 1 month is
// Dec 1).
std::optional<Value> AddDate(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "time.add_date";
  int64_t ns = ParseTimeArg(fn, args[0], 1).ns;
  int64_t years = IntArg(fn, args, 2);
  int64_t months = IntArg(fn, args, 3);
  int64_t days = IntArg(fn, args, 4);
  constexpr int64_t kBound = int64_t{1} << 40;  // far beyond the int64 nanosecond range
  auto out_of_bounds = [&](int64_t v) { return v < -kBound || v > kBound; };
  if (out_of_bounds(years) || out_of_bounds(months) || out_of_bounds(days)) OutOfRange(fn);
  Civil c = ToCivil(ns);
  int64_t m0 = (c.month - 1) + months;
  int64_t year = c.year + years + FloorDiv(m0, 12);
  int64_t month = FloorMod(m0, 12) + 1;
  if (year < -10000000 || year > 10000000) OutOfRange(fn);
  __int128 day_number = DaysFromCivil(year, month, 1) + (c.day - 1) + static_cast<__int128>(days);
  __int128 secs = day_number * kSecondsPerDay + c.hour * 3600 + c.minute * 60 + c.second;
  auto out = ToNs(secs, c.nsec);
  if (!out) OutOfRange(fn);
  return Value::Int(*out);
}

std::optional<Value> Diff(const Args& args, BuiltinContext&) {
  int64_t a = ParseTimeArg("time.diff", args[0], 1).ns;
  int64_t b = ParseTimeArg("time.diff", args[1], 2).ns;
  if (a > b) std::swap(a, b);
  Civil t1 = ToCivil(a);
  Civil t2 = ToCivil(b);
  int64_t year = t2.year - t1.year;
  int64_t month = t2.month - t1.month;
  int64_t day = t2.day - t1.day;
  int64_t hour = t2.hour - t1.hour;
  int64_t min = t2.minute - t1.minute;
  int64_t sec = t2.second - t1.second;
  if (sec < 0) {
    sec += 60;
    --min;
  }
  if (min < 0) {
    min += 60;
    --hour;
  }
  if (hour < 0) {
    hour += 24;
    --day;
  }
  if (day < 0) {
    day += DaysIn(t1.month, t1.year);
    --month;
  }
  if (month < 0) {
    month += 12;
    --year;
  }
  return Value::MakeArray({Value::Int(year), Value::Int(month), Value::Int(day), Value::Int(hour),
                           Value::Int(min), Value::Int(sec)});
}

std::optional<Value> Format(const Args& args, BuiltinContext& ctx) {
  TimeArg t = ParseTimeArg("time.format", args[0], 1);
  std::string_view layout = t.layout.empty() ? kRFC3339Nano : NamedLayout(t.layout);
  return StringResult(ctx, "time.format", GoFormat(t.ns, layout));
}

}  // namespace

void RegisterTimeBuiltins(BuiltinTable& t) {
  Add(t, "time.now_ns", 0, NowNs);
  Add(t, "time.parse_rfc3339_ns", 1, ParseRfc3339);
  Add(t, "time.parse_ns", 2, ParseNs);
  Add(t, "time.parse_duration_ns", 1, ParseDuration);
  Add(t, "time.date", 1, Date);
  Add(t, "time.clock", 1, Clock);
  Add(t, "time.weekday", 1, Weekday);
  Add(t, "time.add_date", 4, AddDate);
  Add(t, "time.diff", 2, Diff);
  Add(t, "time.format", 1, Format);
}

}  // namespace statehouse::policy::internal
