// String builtins: concat, contains, startswith, endswith, format_int, indexof, indexof_n,
// lower, upper, replace, strings.replace_n, split, substring, trim*, strings.reverse,
// strings.count, strings.any_prefix_match, strings.any_suffix_match. Indexes count code
// points, as OPA's (Go's []rune) do.
#include <algorithm>
#include <cmath>
#include <limits>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;

std::optional<Value> Concat(const Args& args, BuiltinContext& ctx) {
  const std::string& delim = StringArg("concat", args, 1);
  const Value& coll = args[1];
  if (!coll.IsArray() && !coll.IsSet()) FailType("concat", 2, coll, {"set", "array"});
  const auto& items = coll.IsArray() ? coll.AsArray() : coll.AsSet();
  size_t size = 0;
  for (const auto& item : items) {
    if (!item.IsString()) FailElement("concat", 2, coll, item, {"string"});
    size += item.AsString().size() + delim.size();
  }
  Charge(ctx, "concat", size);
  std::string out;
  out.reserve(size);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += delim;
    out += items[i].AsString();
  }
  return Value::String(std::move(out));
}

template <typename Pred>
BuiltinFn StringPredicate(std::string name, Pred pred) {
  return [name, pred](const Args& args, BuiltinContext&) -> std::optional<Value> {
    const std::string& a = StringArg(name, args, 1);
    const std::string& b = StringArg(name, args, 2);
    return Value::Bool(pred(std::string_view(a), std::string_view(b)));
  };
}

std::string IntToBase(uint64_t v, int base) {
  if (v == 0) return "0";
  std::string out;
  while (v) {
    out += "0123456789abcdef"[v % base];
    v /= base;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<Value> FormatInt(const Args& args, BuiltinContext&) {
  const Number& n = NumberArg("format_int", args, 1);
  const Number& base_n = NumberArg("format_int", args, 2);
  auto base = base_n.AsInt();
  if (!base || (*base != 2 && *base != 8 && *base != 10 && *base != 16)) {
    Fail("format_int", "operand 2 must be one of {2, 8, 10, 16}");
  }
  int64_t i;
  if (n.is_int) {
    i = n.i;
  } else {
    // Fractions are truncated toward zero, as big.Float.Int does.
    double t = std::trunc(n.d);
    if (!(t > -9223372036854775808.0 && t < 9223372036854775808.0)) {
      Fail("format_int", "number too large");
    }
    i = static_cast<int64_t>(t);
  }
  uint64_t mag = i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
  std::string s = IntToBase(mag, static_cast<int>(*base));
  if (i < 0) s.insert(s.begin(), '-');
  return Value::String(std::move(s));
}

// Index of `needle` in `hay` counted in code points from code point `from`; -1 if absent.
std::optional<Value> IndexOf(const Args& args, BuiltinContext&) {
  const std::string& s = StringArg("indexof", args, 1);
  const std::string& search = StringArg("indexof", args, 2);
  if (search.empty()) Fail("indexof", "empty search character");
  std::u32string hay = DecodeUtf8(s);
  std::u32string needle = DecodeUtf8(search);
  auto pos = hay.find(needle);
  return Value::Int(pos == std::u32string::npos ? -1 : static_cast<int64_t>(pos));
}

std::optional<Value> IndexOfN(const Args& args, BuiltinContext& ctx) {
  const std::string& s = StringArg("indexof_n", args, 1);
  const std::string& search = StringArg("indexof_n", args, 2);
  if (search.empty()) Fail("indexof_n", "empty search character");
  std::u32string hay = DecodeUtf8(s);
  std::u32string needle = DecodeUtf8(search);
  Array out;
  // Overlapping matches count, as in OPA.
  for (size_t pos = hay.find(needle); pos != std::u32string::npos;
       pos = hay.find(needle, pos + 1)) {
    out.push_back(Value::Int(static_cast<int64_t>(pos)));
  }
  ChargeElements(ctx, "indexof_n", out.size());
  return Value::MakeArray(std::move(out));
}

template <typename Map>
std::string MapRunes(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(map(c));
      ++i;
      continue;
    }
    AppendUtf8(out, map(NextCodePoint(s, i)));
  }
  return out;
}

std::optional<Value> Lower(const Args& args, BuiltinContext& ctx) {
  return StringResult(ctx, "lower", MapRunes(StringArg("lower", args, 1), ToLowerRune));
}

std::optional<Value> Upper(const Args& args, BuiltinContext& ctx) {
  return StringResult(ctx, "upper", MapRunes(StringArg("upper", args, 1), ToUpperRune));
}

// Go's strings.Replace(s, old, new, -1); an empty `old` matches before every code point and
// at the end.
std::string ReplaceAll(BuiltinContext& ctx, std::string_view fn, std::string_view s,
                       std::string_view old, std::string_view repl) {
  if (old.empty()) {
    size_t runes = 0;
    for (unsigned char c : s) runes += (c & 0xC0) != 0x80;
    Charge(ctx, fn, s.size() + (runes + 1) * repl.size());
    std::string out(repl);
    for (size_t i = 0; i < s.size();) {
      size_t before = i;
      NextCodePoint(s, i);
      out.append(s.substr(before, i - before));
      out.append(repl);
    }
    return out;
  }
  size_t count = 0;
  for (size_t pos = s.find(old); pos != std::string_view::npos;
       pos = s.find(old, pos + old.size())) {
    ++count;
  }
  if (count == 0) return std::string(s);
  Charge(ctx, fn, s.size() - count * old.size() + count * repl.size());
  std::string out;
  size_t start = 0;
  for (size_t pos = s.find(old); pos != std::string_view::npos; pos = s.find(old, start)) {
    out.append(s.substr(start, pos - start));
    out.append(repl);
    start = pos + old.size();
  }
  out.append(s.substr(start));
  return out;
}

std::optional<Value> Replace(const Args& args, BuiltinContext& ctx) {
  const std::string& s = StringArg("replace", args, 1);
  const std::string& old = StringArg("replace", args, 2);
  const std::string& repl = StringArg("replace", args, 3);
  return Value::String(ReplaceAll(ctx, "replace", s, old, repl));
}

// Go's strings.NewReplacer over the pattern object's entries in key order: at each position
// the first key (in that order) that matches wins; no rescanning of replaced text.
std::optional<Value> ReplaceN(const Args& args, BuiltinContext& ctx) {
  const Object& patterns = ObjectArg("strings.replace_n", args, 1);
  const std::string& s = StringArg("strings.replace_n", args, 2);
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  for (const auto& [k, v] : patterns) {
    if (!k.IsString())
      Fail("strings.replace_n", "operand 1 non-string key found in pattern object");
    if (!v.IsString()) {
      Fail("strings.replace_n", "operand 1 non-string value found in pattern object");
    }
    pairs.emplace_back(k.AsString(), v.AsString());
  }
  // Charged before building: every position may be replaced by the longest replacement.
  size_t longest = 0;
  for (const auto& [old, repl] : pairs) longest = std::max(longest, repl.size());
  size_t bound = s.size() + (s.size() + 1) * longest;
  if (longest > 0 && bound / (longest + 1) < s.size()) bound = kMaxResultBytes + 1;  // overflow
  Charge(ctx, "strings.replace_n", std::min(bound, kMaxResultBytes + 1));
  std::string out;
  size_t i = 0;
  std::string_view sv = s;
  while (i <= sv.size()) {
    bool matched = false;
    for (const auto& [old, repl] : pairs) {
      if (sv.substr(i).substr(0, old.size()) == old) {
        out.append(repl);
        if (out.size() > kMaxResultBytes) Charge(ctx, "strings.replace_n", out.size());
        if (old.empty()) {
          if (i < sv.size()) {
            size_t before = i;
            NextCodePoint(sv, i);
            out.append(sv.substr(before, i - before));
          } else {
            ++i;
          }
        } else {
          i += old.size();
        }
        matched = true;
        break;
      }
    }
    if (!matched) {
      if (i < sv.size()) out += sv[i];
      ++i;
    }
  }
  return StringResult(ctx, "strings.replace_n", std::move(out));
}

std::optional<Value> Split(const Args& args, BuiltinContext& ctx) {
  const std::string& s = StringArg("split", args, 1);
  const std::string& delim = StringArg("split", args, 2);
  Array out;
  std::string_view sv = s;
  // Charged before anything is built: at most one piece per byte (empty delimiter) or per
  // occurrence of the delimiter.
  size_t pieces = 1;
  if (delim.empty()) {
    pieces = sv.size();
  } else {
    for (size_t pos = sv.find(delim); pos != std::string_view::npos;
         pos = sv.find(delim, pos + delim.size())) {
      ++pieces;
    }
  }
  ChargeElements(ctx, "split", pieces);
  Charge(ctx, "split", sv.size() + pieces * 32);
  if (delim.empty()) {
    for (size_t i = 0; i < sv.size();) {
      size_t before = i;
      NextCodePoint(sv, i);
      out.push_back(Value::String(std::string(sv.substr(before, i - before))));
    }
  } else {
    size_t start = 0;
    for (size_t pos = sv.find(delim); pos != std::string_view::npos; pos = sv.find(delim, start)) {
      out.push_back(Value::String(std::string(sv.substr(start, pos - start))));
      start = pos + delim.size();
    }
    out.push_back(Value::String(std::string(sv.substr(start))));
  }
  return Value::MakeArray(std::move(out));
}

std::optional<Value> Substring(const Args& args, BuiltinContext&) {
  const std::string& s = StringArg("substring", args, 1);
  int64_t start = IntArg("substring", args, 2);
  int64_t length = IntArg("substring", args, 3);
  if (start < 0) Fail("substring", "negative offset");
  std::string_view sv = s;
  // Walk code points without decoding the whole string.
  size_t i = 0;
  for (int64_t k = 0; k < start && i < sv.size(); ++k) NextCodePoint(sv, i);
  if (i >= sv.size()) return Value::String("");
  size_t begin = i;
  if (length < 0) return Value::String(std::string(sv.substr(begin)));
  for (int64_t k = 0; k < length && i < sv.size(); ++k) NextCodePoint(sv, i);
  return Value::String(std::string(sv.substr(begin, i - begin)));
}

struct Rune {
  char32_t c;
  size_t begin;
  size_t end;
  bool invalid;  // an invalid byte, decoded as U+FFFD
};

std::vector<Rune> Runes(std::string_view s) {
  std::vector<Rune> out;
  for (size_t i = 0; i < s.size();) {
    size_t begin = i;
    char32_t c = NextCodePoint(s, i);
    out.push_back({c, begin, i, c == 0xFFFD && i - begin == 1});
  }
  return out;
}

// Strips leading and/or trailing code points for which `strip` holds.
template <typename Pred>
std::string TrimRunes(std::string_view s, bool left, bool right, Pred strip) {
  std::vector<Rune> runes = Runes(s);
  size_t b = 0;
  size_t e = runes.size();
  if (left) {
    while (b < e && strip(runes[b])) ++b;
  }
  if (right) {
    while (e > b && strip(runes[e - 1])) --e;
  }
  if (b == e) return "";
  return std::string(s.substr(runes[b].begin, runes[e - 1].end - runes[b].begin));
}

// Go's strings.Trim/TrimLeft/TrimRight: strips code points found in the cutset.
std::string TrimCutset(std::string_view s, std::string_view cutset_text, bool left, bool right) {
  if (s.empty() || cutset_text.empty()) return std::string(s);
  std::u32string cutset = DecodeUtf8(cutset_text);
  return TrimRunes(s, left, right,
                   [&](const Rune& r) { return cutset.find(r.c) != std::u32string::npos; });
}

BuiltinFn Trim(std::string name, bool left, bool right) {
  return [name, left, right](const Args& args, BuiltinContext&) -> std::optional<Value> {
    const std::string& s = StringArg(name, args, 1);
    const std::string& cutset = StringArg(name, args, 2);
    return Value::String(TrimCutset(s, cutset, left, right));
  };
}

std::optional<Value> TrimPrefix(const Args& args, BuiltinContext&) {
  const std::string& s = StringArg("trim_prefix", args, 1);
  const std::string& prefix = StringArg("trim_prefix", args, 2);
  if (std::string_view(s).substr(0, prefix.size()) == prefix) {
    return Value::String(s.substr(prefix.size()));
  }
  return args[0];
}

std::optional<Value> TrimSuffix(const Args& args, BuiltinContext&) {
  const std::string& s = StringArg("trim_suffix", args, 1);
  const std::string& suffix = StringArg("trim_suffix", args, 2);
  if (s.size() >= suffix.size() &&
      s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return Value::String(s.substr(0, s.size() - suffix.size()));
  }
  return args[0];
}

std::optional<Value> TrimSpace(const Args& args, BuiltinContext&) {
  std::string_view s = StringArg("trim_space", args, 1);
  return Value::String(
      TrimRunes(s, true, true, [](const Rune& r) { return !r.invalid && IsUnicodeSpace(r.c); }));
}

std::optional<Value> Reverse(const Args& args, BuiltinContext& ctx) {
  std::u32string runes = DecodeUtf8(StringArg("strings.reverse", args, 1));
  std::reverse(runes.begin(), runes.end());
  return StringResult(ctx, "strings.reverse", EncodeUtf8(runes));
}

std::optional<Value> Count(const Args& args, BuiltinContext&) {
  const std::string& s = StringArg("strings.count", args, 1);
  const std::string& sub = StringArg("strings.count", args, 2);
  if (sub.empty()) return Value::Int(static_cast<int64_t>(args[0].Size()) + 1);
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) {
    ++n;
  }
  return Value::Int(n);
}

std::vector<std::string_view> StringOrStrings(std::string_view fn, const Args& args, int pos) {
  const Value& v = args[pos - 1];
  if (v.IsString()) return {v.AsString()};
  if (!v.IsArray() && !v.IsSet()) FailType(fn, pos, v, {"string", "set", "array"});
  const auto& items = v.IsArray() ? v.AsArray() : v.AsSet();
  std::vector<std::string_view> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    if (!item.IsString()) FailElement(fn, pos, v, item, {"string"});
    out.push_back(item.AsString());
  }
  return out;
}

BuiltinFn AnyAffixMatch(std::string name, bool suffix) {
  return [name, suffix](const Args& args, BuiltinContext&) -> std::optional<Value> {
    auto strs = StringOrStrings(name, args, 1);
    auto affixes = StringOrStrings(name, args, 2);
    for (auto s : strs) {
      for (auto a : affixes) {
        bool match = suffix ? (s.size() >= a.size() && s.substr(s.size() - a.size()) == a)
                            : s.substr(0, a.size()) == a;
        if (match) return Value::Bool(true);
      }
    }
    return Value::Bool(false);
  };
}

}  // namespace

void RegisterStringBuiltins(BuiltinTable& t) {
  Add(t, "concat", 2, Concat);
  Add(t, "contains", 2, StringPredicate("contains", [](std::string_view a, std::string_view b) {
        return a.find(b) != std::string_view::npos;
      }));
  Add(t, "startswith", 2, StringPredicate("startswith", [](std::string_view a, std::string_view b) {
        return a.substr(0, b.size()) == b;
      }));
  Add(t, "endswith", 2, StringPredicate("endswith", [](std::string_view a, std::string_view b) {
        return a.size() >= b.size() && a.substr(a.size() - b.size()) == b;
      }));
  Add(t, "format_int", 2, FormatInt);
  Add(t, "indexof", 2, IndexOf);
  Add(t, "indexof_n", 2, IndexOfN);
  Add(t, "lower", 1, Lower);
  Add(t, "upper", 1, Upper);
  Add(t, "replace", 3, Replace);
  Add(t, "strings.replace_n", 2, ReplaceN);
  Add(t, "split", 2, Split);
  Add(t, "substring", 3, Substring);
  Add(t, "trim", 2, Trim("trim", true, true));
  Add(t, "trim_left", 2, Trim("trim_left", true, false));
  Add(t, "trim_right", 2, Trim("trim_right", false, true));
  Add(t, "trim_prefix", 2, TrimPrefix);
  Add(t, "trim_suffix", 2, TrimSuffix);
  Add(t, "trim_space", 1, TrimSpace);
  Add(t, "strings.reverse", 1, Reverse);
  Add(t, "strings.count", 2, Count);
  Add(t, "strings.any_prefix_match", 2, AnyAffixMatch("strings.any_prefix_match", false));
  Add(t, "strings.any_suffix_match", 2, AnyAffixMatch("strings.any_suffix_match", true));
}

}  // namespace statehouse::policy::internal
