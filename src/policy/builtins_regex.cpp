// regex.* and glob.* builtins. OPA uses Go's RE2 syntax; patterns are checked against RE2's
// rules (no backreferences, lookarounds or possessive quantifiers; repeat counts up to 1000)
// and run by Boost.Regex (Perl semantics, leftmost-first like RE2) over code points.
// Boost's matcher is non-recursive and gives up on pathological patterns with an error
// instead of running for ever; inputs are capped as well, so a hostile pattern or input
// yields a builtin error, never a stalled or crashed server.
#include <boost/regex.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;

constexpr size_t kMaxPatternBytes = 16 * 1024;
constexpr size_t kMaxInputBytes = 64 * 1024;
constexpr int kMaxRepeat = 1000;  // RE2's limit, also on nested repeats' product
constexpr size_t kCacheEntries = 512;

using WString = std::wstring;
using WIter = WString::const_iterator;
using WMatch = boost::match_results<WIter>;

struct CompiledRegex {
  boost::wregex re;
  std::vector<std::string> group_names;  // index 0 unused; "" for unnamed groups
};

WString Widen(std::string_view s) {
  std::u32string u = DecodeUtf8(s);
  return WString(u.begin(), u.end());
}

std::string Narrow(WIter begin, WIter end) {
  std::string out;
  out.reserve(static_cast<size_t>(end - begin));
  for (auto it = begin; it != end; ++it) AppendUtf8(out, static_cast<char32_t>(*it));
  return out;
}

[[noreturn]] void ParseError(std::string_view fn, const std::string& detail) {
  Fail(fn, "error parsing regexp: " + detail);
}

// Checks an RE2 pattern and rewrites the few spellings Boost reads differently.
class Re2Translator {
 public:
  Re2Translator(std::string_view fn, std::string_view p) : fn_(fn), p_(p) {}

  std::string Run(std::vector<std::string>& names) {
    names.assign(1, "");
    multiline_ = UsesFlag('m');
    dotall_ = UsesFlag('s');
    group_products_.push_back(0);
    while (i_ < p_.size()) Token(names);
    if (group_products_.size() != 1)
      ParseError(fn_, "missing closing ): `" + std::string(p_) + "`");
    return out_;
  }

 private:
  // Whether a flag group anywhere sets `flag`.
  bool UsesFlag(char flag) const {
    for (size_t k = 0; k + 2 < p_.size(); ++k) {
      if (p_[k] == '\\') {
        ++k;
        continue;
      }
      if (p_[k] == '(' && p_[k + 1] == '?') {
        for (size_t j = k + 2; j < p_.size() && p_[j] != ')' && p_[j] != ':'; ++j) {
          if (p_[j] == flag) return true;
        }
      }
    }
    return false;
  }

  void Quantified(int count) {
    if (after_quantifier_) ParseError(fn_, "invalid nested repetition operator");
    if (!repeatable_) ParseError(fn_, "missing argument to repetition operator");
    // RE2 bounds the product of nested counted repetitions.
    int product = std::max(count, 1) * std::max(last_atom_product_, 1);
    if (count > 0 && product > kMaxRepeat) ParseError(fn_, "invalid repeat count");
    group_products_.back() =
        std::max(group_products_.back(), count > 0 ? product : last_atom_product_);
    repeatable_ = false;
    after_quantifier_ = true;
  }

  void Atom(int product = 0) {
    repeatable_ = true;
    after_quantifier_ = false;
    last_atom_product_ = product;
  }

  void Open() {
    repeatable_ = false;
    after_quantifier_ = false;
    last_atom_product_ = 0;
  }

  void Token(std::vector<std::string>& names) {
    char c = p_[i_];
    switch (c) {
      case '\\':
        Escape();
        return;
      case '[':
        Class();
        return;
      case '(':
        Group(names);
        return;
      case ')': {
        if (group_products_.size() == 1) {
          ParseError(fn_, "unexpected ): `" + std::string(p_) + "`");
        }
        int inner = group_products_.back();
        group_products_.pop_back();
        out_ += ')';
        ++i_;
        Atom(inner);
        return;
      }
      case '.':
        // Boost's '.' also stops at \r and other line separators; RE2's only at \n.
        out_ += dotall_ ? "." : "[^\\n]";
        ++i_;
        Atom();
        return;
      case '$':
        out_ += multiline_ ? "$" : "\\z";
        ++i_;
        Atom();
        return;
      case '*':
      case '+':
        out_ += c;
        ++i_;
        Quantified(0);
        LazySuffix();
        return;
      case '?':
        out_ += c;
        ++i_;
        Quantified(0);
        LazySuffix();
        return;
      case '{':
        Repeat();
        return;
      case '|':
        out_ += c;
        ++i_;
        Open();
        return;
      default:
        out_ += c;
        ++i_;
        Atom();
    }
  }

  // A '?' after a quantifier makes it lazy; any further quantifier is refused by Quantified.
  void LazySuffix() {
    if (i_ < p_.size() && p_[i_] == '?') {
      out_ += '?';
      ++i_;
    }
  }

  void Repeat() {
    // {n}, {n,}, {n,m}; anything else is a literal brace in RE2.
    size_t j = i_ + 1;
    auto digits = [&](int& value) {
      size_t start = j;
      value = 0;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
        if (value <= 100000) value = value * 10 + (p_[j] - '0');
        ++j;
      }
      return j > start;
    };
    int lo = 0;
    int hi = -1;
    bool ok = digits(lo);
    if (ok && j < p_.size() && p_[j] == ',') {
      ++j;
      if (j < p_.size() && p_[j] != '}') {
        ok = digits(hi);
      }
    } else {
      hi = lo;
    }
    if (!ok || j >= p_.size() || p_[j] != '}') {
      out_ += "\\{";
      ++i_;
      Atom();
      return;
    }
    if (lo > kMaxRepeat || hi > kMaxRepeat || (hi >= 0 && hi < lo)) {
      ParseError(fn_, "invalid repeat count: `" + std::string(p_.substr(i_, j + 1 - i_)) + "`");
    }
    out_.append(p_.substr(i_, j + 1 - i_));
    i_ = j + 1;
    Quantified(std::max(lo, hi));
    LazySuffix();
  }

  void Escape() {
    if (i_ + 1 >= p_.size()) ParseError(fn_, "trailing backslash at end of expression: ``");
    char e = p_[i_ + 1];
    if (e == 'Q') {
      // Literal text up to \E.
      size_t end = p_.find("\\E", i_ + 2);
      std::string_view lit =
          p_.substr(i_ + 2, end == std::string_view::npos ? std::string_view::npos : end - i_ - 2);
      for (char ch : lit) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) &&
            static_cast<unsigned char>(ch) < 0x80) {
          out_ += '\\';
        }
        out_ += ch;
      }
      i_ = end == std::string_view::npos ? p_.size() : end + 2;
      Atom();
      return;
    }
    static constexpr std::string_view kAllowed = "AbBdDsSwWzpPxnrtfav0";
    bool punct = !std::isalnum(static_cast<unsigned char>(e));
    if (!punct && kAllowed.find(e) == std::string_view::npos) {
      ParseError(fn_, "invalid escape sequence: `\\" + std::string(1, e) + "`");
    }
    out_ += '\\';
    out_ += e;
    i_ += 2;
    if (e == 'v') {
      out_.back() = 'x';
      out_ += "0B";  // RE2's \v is the vertical tab; Boost's is a class
    }
    Atom();
  }

  void Class() {
    size_t j = i_ + 1;
    out_ += '[';
    if (j < p_.size() && p_[j] == '^') {
      out_ += '^';
      ++j;
    }
    if (j < p_.size() && p_[j] == ']') {
      out_ += "\\]";
      ++j;
    }
    while (j < p_.size() && p_[j] != ']') {
      if (p_[j] == '\\' && j + 1 < p_.size()) {
        char e = p_[j + 1];
        if (std::isdigit(static_cast<unsigned char>(e)) && e != '0') {
          ParseError(fn_, "invalid escape sequence: `\\" + std::string(1, e) + "`");
        }
        out_.append(p_.substr(j, 2));
        j += 2;
      } else if (p_[j] == '[' && j + 1 < p_.size() && p_[j + 1] == ':') {
        size_t close = p_.find(":]", j + 2);
        if (close == std::string_view::npos) {
          out_ += "\\[";
          ++j;
        } else {
          out_.append(p_.substr(j, close + 2 - j));
          j = close + 2;
        }
      } else if (p_[j] == '[') {
        out_ += "\\[";
        ++j;
      } else {
        out_ += p_[j];
        ++j;
      }
    }
    if (j >= p_.size()) {
      ParseError(fn_, "missing closing ]: `" + std::string(p_.substr(i_)) + "`");
    }
    out_ += ']';
    i_ = j + 1;
    Atom();
  }

  void Group(std::vector<std::string>& names) {
    if (i_ + 1 < p_.size() && p_[i_ + 1] == '?') {
      std::string_view rest = p_.substr(i_ + 2);
      if (rest.substr(0, 2) == "P<" ||
          (rest.substr(0, 1) == "<" && rest.substr(0, 2) != "<=" && rest.substr(0, 2) != "<!")) {
        size_t start = rest[0] == 'P' ? 2 : 1;
        size_t close = rest.find('>', start);
        if (close == std::string_view::npos) {
          ParseError(fn_, "invalid named capture: `" + std::string(p_.substr(i_)) + "`");
        }
        std::string name(rest.substr(start, close - start));
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char ch) {
              return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
            })) {
          ParseError(fn_, "invalid named capture: `" + std::string(p_.substr(i_, close + 3)) + "`");
        }
        names.push_back(name);
        out_ += "(?<" + name + ">";
        i_ += 2 + close + 1;
        group_products_.push_back(0);
        Open();
        return;
      }
      // Flags: (?i) (?i-s) (?i:...); RE2 knows i, m, s and U.
      size_t j = 0;
      while (j < rest.size() && (rest[j] == 'i' || rest[j] == 'm' || rest[j] == 's' ||
                                 rest[j] == 'U' || rest[j] == '-')) {
        ++j;
      }
      if (j < rest.size() && (rest[j] == ')' || rest[j] == ':')) {
        std::string_view flags = rest.substr(0, j);
        if (flags.find('U') != std::string_view::npos) {
          ParseError(fn_, "the ungreedy flag (?U) is not supported");
        }
        if (rest[j] == ')') {
          if (j == 0) ParseError(fn_, "missing argument to repetition operator: `?`");
          out_ += "(?" + std::string(flags) + ")";
          i_ += 2 + j + 1;
          Open();  // a flag setting cannot be repeated
          return;
        }
        out_ += "(?" + std::string(flags) + ":";
        i_ += 2 + j + 1;
        group_products_.push_back(0);
        Open();
        return;
      }
      ParseError(fn_, "invalid or unsupported Perl syntax: `" +
                          std::string(p_.substr(i_, std::min<size_t>(3, p_.size() - i_))) + "`");
    }
    names.emplace_back();
    out_ += '(';
    ++i_;
    group_products_.push_back(0);
    Open();
  }

  std::string_view fn_;
  std::string_view p_;
  size_t i_ = 0;
  std::string out_;
  bool multiline_ = false;
  bool dotall_ = false;
  bool repeatable_ = false;  // a leading quantifier has nothing to repeat
  bool after_quantifier_ = false;
  int last_atom_product_ = 0;
  std::vector<int> group_products_;
};

std::shared_ptr<const CompiledRegex> Compile(std::string_view fn, const std::string& pattern) {
  if (pattern.size() > kMaxPatternBytes) ParseError(fn, "expression too large");
  auto compiled = std::make_shared<CompiledRegex>();
  Re2Translator translator(fn, pattern);
  std::string translated = translator.Run(compiled->group_names);
  try {
    compiled->re.assign(Widen(translated),
                        boost::regex::perl | boost::regex::no_mod_s | boost::regex::no_mod_m);
  } catch (const std::exception& e) {
    ParseError(fn, std::string(e.what()) + ": `" + pattern + "`");
  }
  return compiled;
}

class Cache {
 public:
  template <typename Make>
  std::shared_ptr<const CompiledRegex> Get(const std::string& key, Make make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(key);
      if (it != entries_.end()) return it->second;
    }
    auto compiled = make();  // outside the lock: compiling may be slow or throw
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.emplace(key, compiled).second) {
      order_.push_back(key);
      if (order_.size() > kCacheEntries) {
        entries_.erase(order_.front());
        order_.pop_front();
      }
    }
    return compiled;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const CompiledRegex>> entries_;
  std::deque<std::string> order_;
};

Cache& RegexCache() {
  static Cache cache;
  return cache;
}

std::shared_ptr<const CompiledRegex> GetRegex(std::string_view fn, const std::string& pattern) {
  return RegexCache().Get(pattern, [&] { return Compile(fn, pattern); });
}

WString Input(std::string_view fn, const std::string& s) {
  if (s.size() > kMaxInputBytes) Fail(fn, "input too long for a regular expression");
  return Widen(s);
}

// Boost throws when a match grows too complex; that is the caller's error here.
template <typename F>
auto Guarded(std::string_view fn, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const BuiltinError&) {
    throw;
  } catch (const std::exception& e) {
    Fail(fn, std::string("regular expression too complex for the input: ") + e.what());
  }
}

bool Search(const CompiledRegex& re, const WString& s, size_t pos, WMatch& m) {
  auto flags = boost::match_default;
  if (pos > 0) flags |= boost::match_prev_avail;
  return boost::regex_search(s.begin() + static_cast<ptrdiff_t>(pos), s.end(), m, re.re, flags);
}

// Go's allMatches: successive non-overlapping matches; an empty match right after a match is
// skipped. Calls deliver(m) for each, up to n (n < 0: all).
template <typename Deliver>
void AllMatches(const CompiledRegex& re, const WString& s, int64_t n, Deliver deliver) {
  size_t pos = 0;
  ptrdiff_t prev_end = -1;
  int64_t count = 0;
  WMatch m;
  while ((n < 0 || count < n) && pos <= s.size()) {
    if (!Search(re, s, pos, m)) break;
    ptrdiff_t b = m[0].first - s.begin();
    ptrdiff_t e = m[0].second - s.begin();
    bool accept = true;
    if (e == static_cast<ptrdiff_t>(pos) && b == e) {
      if (b == prev_end) accept = false;
      pos += 1;
    } else {
      pos = static_cast<size_t>(e);
    }
    prev_end = e;
    if (accept) {
      deliver(m);
      ++count;
    }
  }
}

std::optional<Value> RegexMatch(std::string_view fn, const Args& args) {
  const std::string& pattern = StringArg(fn, args, 1);
  const std::string& value = StringArg(fn, args, 2);
  auto re = GetRegex(fn, pattern);
  WString s = Input(fn, value);
  return Guarded(fn, [&] {
    WMatch m;
    return Value::Bool(Search(*re, s, 0, m));
  });
}

std::optional<Value> IsValid(const Args& args, BuiltinContext&) {
  if (!args[0].IsString()) return Value::Bool(false);
  try {
    GetRegex("regex.is_valid", args[0].AsString());
    return Value::Bool(true);
  } catch (const BuiltinError&) {
    return Value::Bool(false);
  }
}

std::optional<Value> FindN(const Args& args, BuiltinContext& ctx) {
  const std::string& pattern = StringArg("regex.find_n", args, 1);
  const std::string& value = StringArg("regex.find_n", args, 2);
  int64_t n = IntArg("regex.find_n", args, 3);
  auto re = GetRegex("regex.find_n", pattern);
  WString s = Input("regex.find_n", value);
  Array out;
  Guarded("regex.find_n", [&] {
    AllMatches(*re, s, n, [&](const WMatch& m) {
      out.push_back(Value::String(Narrow(m[0].first, m[0].second)));
    });
    return 0;
  });
  ChargeElements(ctx, "regex.find_n", out.size());
  return Value::MakeArray(std::move(out));
}

std::optional<Value> FindAllSubmatch(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "regex.find_all_string_submatch_n";
  const std::string& pattern = StringArg(fn, args, 1);
  const std::string& value = StringArg(fn, args, 2);
  int64_t n = IntArg(fn, args, 3);
  auto re = GetRegex(fn, pattern);
  WString s = Input(fn, value);
  Array out;
  size_t elements = 0;
  Guarded(fn, [&] {
    AllMatches(*re, s, n, [&](const WMatch& m) {
      Array groups;
      for (size_t g = 0; g < m.size(); ++g) {
        groups.push_back(Value::String(m[g].matched ? Narrow(m[g].first, m[g].second) : ""));
      }
      elements += groups.size() + 1;
      if (elements > kMaxResultElements) TooLarge(fn);
      out.push_back(Value::MakeArray(std::move(groups)));
    });
    return 0;
  });
  ChargeElements(ctx, fn, elements);
  return Value::MakeArray(std::move(out));
}

std::optional<Value> RegexSplit(const Args& args, BuiltinContext& ctx) {
  const std::string& pattern = StringArg("regex.split", args, 1);
  const std::string& value = StringArg("regex.split", args, 2);
  auto re = GetRegex("regex.split", pattern);
  WString s = Input("regex.split", value);
  Array out;
  if (!pattern.empty() && s.empty()) {
    out.push_back(Value::String(""));
    return Value::MakeArray(std::move(out));
  }
  std::vector<std::pair<size_t, size_t>> matches;
  Guarded("regex.split", [&] {
    AllMatches(*re, s, -1, [&](const WMatch& m) {
      matches.emplace_back(m[0].first - s.begin(), m[0].second - s.begin());
    });
    return 0;
  });
  size_t beg = 0;
  size_t end = 0;
  for (const auto& [b, e] : matches) {
    end = b;
    if (e != 0) out.push_back(Value::String(Narrow(s.begin() + beg, s.begin() + end)));
    beg = e;
  }
  if (end != s.size()) out.push_back(Value::String(Narrow(s.begin() + beg, s.end())));
  ChargeElements(ctx, "regex.split", out.size());
  return Value::MakeArray(std::move(out));
}

// Go's Regexp.Expand for ReplaceAllString: $1, ${1}, $name, ${name}, $$.
void Expand(std::string& out, std::string_view tmpl, const CompiledRegex& re, const WMatch& m) {
  auto group_text = [&](std::string_view name) {
    size_t index = 0;
    bool numeric = !name.empty() && std::all_of(name.begin(), name.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) {
      if (name.size() > 6) return;
      index = static_cast<size_t>(std::stoul(std::string(name)));
    } else {
      auto it = std::find(re.group_names.begin() + 1, re.group_names.end(), name);
      if (it == re.group_names.end()) return;
      index = static_cast<size_t>(it - re.group_names.begin());
    }
    if (index < m.size() && m[index].matched) out += Narrow(m[index].first, m[index].second);
  };
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] != '$' || i + 1 >= tmpl.size()) {
      out += tmpl[i++];
      continue;
    }
    char next = tmpl[i + 1];
    if (next == '$') {
      out += '$';
      i += 2;
      continue;
    }
    auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (next == '{') {
      size_t close = tmpl.find('}', i + 2);
      std::string_view name =
          close == std::string_view::npos ? std::string_view() : tmpl.substr(i + 2, close - i - 2);
      if (close == std::string_view::npos || name.empty() ||
          !std::all_of(name.begin(), name.end(), is_name)) {
        out += '$';
        ++i;
        continue;
      }
      group_text(name);
      i = close + 1;
      continue;
    }
    size_t j = i + 1;
    while (j < tmpl.size() && is_name(tmpl[j])) ++j;
    if (j == i + 1) {
      out += '$';
      ++i;
      continue;
    }
    group_text(tmpl.substr(i + 1, j - i - 1));
    i = j;
  }
}

std::optional<Value> RegexReplace(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "regex.replace";
  const std::string& value = StringArg(fn, args, 1);
  const std::string& pattern = StringArg(fn, args, 2);
  const std::string& repl = StringArg(fn, args, 3);
  auto re = GetRegex(fn, pattern);
  WString s = Input(fn, value);
  std::string out;
  Guarded(fn, [&] {
    size_t last_end = 0;
    size_t search = 0;
    WMatch m;
    while (search <= s.size()) {
      if (!Search(*re, s, search, m)) break;
      size_t b = static_cast<size_t>(m[0].first - s.begin());
      size_t e = static_cast<size_t>(m[0].second - s.begin());
      out += Narrow(s.begin() + last_end, s.begin() + b);
      if (e > last_end || b == 0) Expand(out, repl, *re, m);
      if (out.size() > kMaxResultBytes) TooLarge(fn);
      last_end = e;
      search = search + 1 > e ? search + 1 : e;
    }
    out += Narrow(s.begin() + last_end, s.end());
    return 0;
  });
  return StringResult(ctx, fn, std::move(out));
}

std::string QuoteRegexMeta(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// regex.template_match: literal text with regular expressions between the delimiters, as
// gorilla/mux templates.
std::optional<Value> TemplateMatch(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "regex.template_match";
  const std::string& tmpl = StringArg(fn, args, 1);
  const std::string& value = StringArg(fn, args, 2);
  const std::string& start = StringArg(fn, args, 3);
  const std::string& end = StringArg(fn, args, 4);
  if (start.size() != 1 || end.size() != 1) Fail(fn, "delimiters must be single characters");
  std::string pattern = "^";
  size_t level = 0;
  size_t idx = 0;
  size_t literal_start = 0;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == start[0]) {
      if (level++ == 0) {
        pattern += QuoteRegexMeta(std::string_view(tmpl).substr(literal_start, i - literal_start));
        idx = i;
      }
    } else if (tmpl[i] == end[0]) {
      if (level == 0) Fail(fn, "unbalanced braces in \"" + tmpl + "\"");
      if (--level == 0) {
        pattern += '(';
        pattern.append(tmpl, idx + 1, i - idx - 1);
        pattern += ')';
        literal_start = i + 1;
      }
    }
  }
  if (level != 0) Fail(fn, "unbalanced braces in \"" + tmpl + "\"");
  pattern += QuoteRegexMeta(std::string_view(tmpl).substr(literal_start));
  pattern += "$";
  auto re = GetRegex(fn, pattern);
  WString s = Input(fn, value);
  return Guarded(fn, [&] {
    WMatch m;
    return Value::Bool(Search(*re, s, 0, m));
  });
}

// --- glob (gobwas/glob syntax, as OPA's glob.match) ---

class GlobTranslator {
 public:
  GlobTranslator(std::string_view fn, std::u32string_view p, std::u32string_view seps)
      : fn_(fn), p_(p) {
    if (seps.empty()) {
      not_sep_ = L"[\\s\\S]";
    } else {
      not_sep_ = L"[^";
      for (char32_t c : seps) AppendClassChar(not_sep_, c);
      not_sep_ += L"]";
    }
  }

  WString Run() {
    WString out;
    Sequence(out, 0);
    if (i_ < p_.size()) Fail(fn_, "unexpected end of input");  // a stray '}' or ','
    return out;
  }

 private:
  static void AppendClassChar(WString& out, char32_t c) {
    if (c == ']' || c == '\\' || c == '^' || c == '-' || c == '[') out += L'\\';
    out += static_cast<wchar_t>(c);
  }
  static void AppendLiteral(WString& out, char32_t c) {
    if (c < 0x80 && !std::isalnum(static_cast<int>(c))) out += L'\\';
    out += static_cast<wchar_t>(c);
  }

  // Reads up to the end, or (inside braces) to the ',' or '}' that ends an alternative.
  void Sequence(WString& out, int level) {
    while (i_ < p_.size()) {
      char32_t c = p_[i_];
      if (level > 0 && (c == ',' || c == '}')) return;
      switch (c) {
        case '*':
          if (i_ + 1 < p_.size() && p_[i_ + 1] == '*') {
            out += L"[\\s\\S]*";
            i_ += 2;
          } else {
            out += not_sep_ + L"*";
            ++i_;
          }
          break;
        case '?':
          out += not_sep_;
          ++i_;
          break;
        case '[':
          Range(out);
          break;
        case '{':
          Terms(out, level);
          break;
        case '\\':
          if (i_ + 1 >= p_.size()) Fail(fn_, "unexpected end of input");
          AppendLiteral(out, p_[i_ + 1]);
          i_ += 2;
          break;
        default:
          AppendLiteral(out, c);
          ++i_;
      }
    }
    if (level > 0) Fail(fn_, "unexpected end of input");
  }

  void Terms(WString& out, int level) {
    ++i_;  // '{'
    out += L"(?:";
    for (;;) {
      Sequence(out, level + 1);
      if (i_ >= p_.size()) Fail(fn_, "unexpected end of input");
      if (p_[i_] == '}') {
        ++i_;
        break;
      }
      out += L'|';
      ++i_;  // ','
    }
    out += L')';
  }

  void Range(WString& out) {
    ++i_;  // '['
    bool negate = false;
    if (i_ < p_.size() && p_[i_] == '!') {
      negate = true;
      ++i_;
    }
    WString cls = negate ? L"[^" : L"[";
    if (i_ + 2 < p_.size() && p_[i_ + 1] == '-' && p_[i_ + 2] != ']') {
      char32_t lo = p_[i_];
      char32_t hi = p_[i_ + 2];
      i_ += 3;
      if (i_ >= p_.size()) Fail(fn_, "unexpected end of input");
      if (p_[i_] != ']') Fail(fn_, "expected close range character");
      ++i_;
      if (hi < lo) Fail(fn_, "hi character should be greater than lo character");
      AppendClassChar(cls, lo);
      cls += L'-';
      AppendClassChar(cls, hi);
      out += cls + L"]";
      return;
    }
    size_t count = 0;
    while (i_ < p_.size() && p_[i_] != ']') {
      char32_t c = p_[i_];
      if (c == '\\' && i_ + 1 < p_.size()) {
        c = p_[i_ + 1];
        ++i_;
      }
      AppendClassChar(cls, c);
      ++count;
      ++i_;
    }
    if (i_ >= p_.size()) Fail(fn_, "unexpected end of input");
    ++i_;  // ']'
    if (count == 0) Fail(fn_, "unexpected length of lo character");
    out += cls + L"]";
  }

  std::string_view fn_;
  std::u32string_view p_;
  size_t i_ = 0;
  WString not_sep_;
};

Cache& GlobCache() {
  static Cache cache;
  return cache;
}

std::optional<Value> GlobMatch(const Args& args, BuiltinContext&) {
  constexpr std::string_view fn = "glob.match";
  const std::string& pattern = StringArg(fn, args, 1);
  std::u32string seps;
  const Value& d = args[1];
  if (d.IsArray()) {
    for (const auto& item : d.AsArray()) {
      if (!item.IsString()) FailElement(fn, 2, d, item, {"string"});
      std::u32string r = DecodeUtf8(item.AsString());
      if (r.size() != 1) FailElement(fn, 2, d, item, {"rune"});
      seps += r[0];
    }
    if (seps.empty()) seps.push_back(U'.');
  } else if (!d.IsNull()) {
    FailType(fn, 2, d, {"array", "null"});
  }
  const std::string& match = StringArg(fn, args, 3);
  if (pattern.size() > kMaxPatternBytes) Fail(fn, "pattern too large");
  std::string key = pattern;
  key += '\0';
  key += EncodeUtf8(seps);
  auto re = GlobCache().Get(key, [&] {
    auto compiled = std::make_shared<CompiledRegex>();
    std::u32string p = DecodeUtf8(pattern);
    WString translated = GlobTranslator(fn, p, seps).Run();
    try {
      compiled->re.assign(translated, boost::regex::perl);
    } catch (const std::exception& e) {
      Fail(fn, e.what());
    }
    return compiled;
  });
  WString s = Input(fn, match);
  return Guarded(fn, [&] { return Value::Bool(boost::regex_match(s, re->re)); });
}

std::optional<Value> GlobQuoteMeta(const Args& args, BuiltinContext&) {
  const std::string& s = StringArg("glob.quote_meta", args, 1);
  std::string out;
  for (char c : s) {
    if (std::string_view("*?\\[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return Value::String(std::move(out));
}

}  // namespace

void RegisterRegexBuiltins(BuiltinTable& t) {
  Add(t, "regex.match", 2,
      [](const Args& args, BuiltinContext&) { return RegexMatch("regex.match", args); });
  // The deprecated name, still accepted by OPA outside rego.v1.
  Add(t, "re_match", 2,
      [](const Args& args, BuiltinContext&) { return RegexMatch("re_match", args); });
  Add(t, "regex.is_valid", 1, IsValid);
  Add(t, "regex.find_n", 3, FindN);
  Add(t, "regex.find_all_string_submatch_n", 3, FindAllSubmatch);
  Add(t, "regex.split", 2, RegexSplit);
  Add(t, "regex.replace", 3, RegexReplace);
  Add(t, "regex.template_match", 4, TemplateMatch);
  Add(t, "glob.match", 3, GlobMatch);
  Add(t, "glob.quote_meta", 1, GlobQuoteMeta);
}

}  // namespace statehouse::policy::internal
