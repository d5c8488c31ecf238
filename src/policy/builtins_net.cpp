// net.cidr_* builtins, with Go's net.ParseIP / net.ParseCIDR syntax (IPv4 and IPv6).
// Addresses are held as 16 bytes; an IPv4 address is its IPv4-mapped IPv6 form, and IPv4
// networks and addresses only ever match each other, as in Go.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;
using U128 = unsigned __int128;

constexpr size_t kMaxExpand = 65536;

struct Ip {
  std::array<uint8_t, 16> b{};
  bool v4() const {  // Go's To4() != nil: an IPv4-mapped address
    for (int i = 0; i < 10; ++i) {
      if (b[i]) return false;
    }
    return b[10] == 0xFF && b[11] == 0xFF;
  }
  U128 value() const {
    U128 v = 0;
    for (uint8_t x : b) v = (v << 8) | x;
    return v;
  }
  static Ip FromValue(U128 v) {
    Ip ip;
    for (int i = 15; i >= 0; --i) {
      ip.b[i] = static_cast<uint8_t>(v & 0xFF);
      v >>= 8;
    }
    return ip;
  }
};

struct Cidr {
  Ip ip;       // the network address (masked)
  int prefix;  // over the 128 bits; an IPv4 /24 is 120
};

std::optional<std::array<uint8_t, 4>> ParseV4(std::string_view s) {
  std::array<uint8_t, 4> out{};
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (s.empty() || s[0] != '.') return std::nullopt;
      s.remove_prefix(1);
    }
    size_t n = 0;
    int v = 0;
    while (n < s.size() && n < 4 && s[n] >= '0' && s[n] <= '9') v = v * 10 + (s[n++] - '0');
    if (n == 0 || n > 3 || v > 255) return std::nullopt;
    if (n > 1 && s[0] == '0') return std::nullopt;  // Go refuses leading zeros
    out[i] = static_cast<uint8_t>(v);
    s.remove_prefix(n);
  }
  if (!s.empty()) return std::nullopt;
  return out;
}

std::optional<Ip> ParseV6(std::string_view s) {
  Ip ip;
  int ellipsis = -1;
  int i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    ellipsis = 0;
    s.remove_prefix(2);
    if (s.empty()) return ip;
  }
  while (i < 16) {
    size_t c = 0;
    uint32_t n = 0;
    while (c < s.size() && c < 5 && std::isxdigit(static_cast<unsigned char>(s[c]))) {
      char ch = static_cast<char>(std::tolower(static_cast<unsigned char>(s[c])));
      n = n * 16 + static_cast<uint32_t>(ch <= '9' ? ch - '0' : ch - 'a' + 10);
      ++c;
    }
    if (c == 0 || c > 4) return std::nullopt;
    if (c < s.size() && s[c] == '.') {
      if (ellipsis < 0 && i != 12) return std::nullopt;
      if (i + 4 > 16) return std::nullopt;
      auto v4 = ParseV4(s);
      if (!v4) return std::nullopt;
      for (int k = 0; k < 4; ++k) ip.b[i + k] = (*v4)[k];
      i += 4;
      s = {};
      break;
    }
    ip.b[i] = static_cast<uint8_t>(n >> 8);
    ip.b[i + 1] = static_cast<uint8_t>(n);
    i += 2;
    s.remove_prefix(c);
    if (s.empty()) break;
    if (s[0] != ':' || s.size() == 1) return std::nullopt;
    s.remove_prefix(1);
    if (s[0] == ':') {
      if (ellipsis >= 0) return std::nullopt;
      ellipsis = i;
      s.remove_prefix(1);
      if (s.empty()) break;
    }
  }
  if (!s.empty()) return std::nullopt;
  if (i < 16) {
    if (ellipsis < 0) return std::nullopt;
    int n = 16 - i;
    for (int j = i - 1; j >= ellipsis; --j) ip.b[j + n] = ip.b[j];
    for (int j = ellipsis + n - 1; j >= ellipsis; --j) ip.b[j] = 0;
  } else if (ellipsis >= 0) {
    return std::nullopt;
  }
  return ip;
}

std::optional<Ip> ParseIp(std::string_view s) {
  if (s.find(':') != std::string_view::npos) return ParseV6(s);
  auto v4 = ParseV4(s);
  if (!v4) return std::nullopt;
  Ip ip;
  ip.b[10] = 0xFF;
  ip.b[11] = 0xFF;
  for (int k = 0; k < 4; ++k) ip.b[12 + k] = (*v4)[k];
  return ip;
}

U128 Mask(int prefix) {
  if (prefix <= 0) return 0;
  if (prefix >= 128) return ~U128{0};
  return ~U128{0} << (128 - prefix);
}

std::optional<Cidr> ParseCidr(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view addr = s.substr(0, slash);
  std::string_view bits = s.substr(slash + 1);
  bool dotted = addr.find(':') == std::string_view::npos;
  auto ip = ParseIp(addr);
  if (!ip || bits.empty() || bits.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  int width = dotted ? 32 : 128;
  if (n > width) return std::nullopt;
  int prefix = dotted ? n + 96 : n;
  return Cidr{Ip::FromValue(ip->value() & Mask(prefix)), prefix};
}

bool Contains(const Cidr& net, const Ip& ip) {
  if (net.ip.v4() != ip.v4()) return false;
  return (ip.value() & Mask(net.prefix)) == net.ip.value();
}

Ip LastIp(const Cidr& net) { return Ip::FromValue(net.ip.value() | ~Mask(net.prefix)); }

std::string FormatIp(const Ip& ip) {
  char buf[64];
  if (ip.v4()) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip.b[12], ip.b[13], ip.b[14], ip.b[15]);
    return buf;
  }
  // The longest run of two or more zero groups becomes "::" (the first such run on ties).
  int best = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && ip.b[2 * j] == 0 && ip.b[2 * j + 1] == 0) ++j;
    if (j - i > best_len && j - i >= 2) {
      best = i;
      best_len = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", (ip.b[2 * i] << 8) | ip.b[2 * i + 1]);
    out += buf;
  }
  return out;
}

std::string FormatCidr(const Ip& ip, int prefix) {
  return FormatIp(ip) + "/" + std::to_string(ip.v4() ? std::max(prefix - 96, 0) : prefix);
}

Cidr CidrArg(std::string_view fn, const Args& args, int pos) {
  const std::string& s = StringArg(fn, args, pos);
  auto net = ParseCidr(s);
  if (!net) Fail(fn, "invalid CIDR address: " + s);
  return *net;
}

bool CidrContains(std::string_view fn, const Cidr& net, const std::string& cidr_or_ip) {
  if (auto ip = ParseIp(cidr_or_ip)) return Contains(net, *ip);
  auto other = ParseCidr(cidr_or_ip);
  if (!other) {
    Fail(fn, "not a valid textual representation of an IP address or CIDR: " + cidr_or_ip);
  }
  return Contains(net, other->ip) && Contains(net, LastIp(*other));
}

std::optional<Value> CidrContainsFn(std::string_view fn, const Args& args) {
  Cidr net = CidrArg(fn, args, 1);
  return Value::Bool(CidrContains(fn, net, StringArg(fn, args, 2)));
}

std::optional<Value> CidrIntersects(const Args& args, BuiltinContext&) {
  Cidr a = CidrArg("net.cidr_intersects", args, 1);
  Cidr b = CidrArg("net.cidr_intersects", args, 2);
  return Value::Bool(Contains(a, b.ip) || Contains(b, a.ip));
}

std::optional<Value> CidrIsValid(const Args& args, BuiltinContext&) {
  if (!args[0].IsString()) return Value::Bool(false);
  return Value::Bool(ParseCidr(args[0].AsString()).has_value());
}

std::optional<Value> CidrExpand(const Args& args, BuiltinContext& ctx) {
  Cidr net = CidrArg("net.cidr_expand", args, 1);
  int host_bits = 128 - net.prefix;
  if (host_bits > 16)
    Fail("net.cidr_expand", "CIDR too large to expand (more than 65536 addresses)");
  size_t count = size_t{1} << host_bits;
  ChargeElements(ctx, "net.cidr_expand", count);
  Charge(ctx, "net.cidr_expand", count * 40);
  std::vector<Value> out;
  out.reserve(count);
  U128 base = net.ip.value();
  for (size_t k = 0; k < count; ++k)
    out.push_back(Value::String(FormatIp(Ip::FromValue(base + k))));
  return Value::MakeSet(std::move(out));
}

// net.cidr_contains_matches operands: a string, or an array / set / object of strings or
// arrays whose first element is the string. Calls f(cidr_text, index).
template <typename F>
void ForEachCidrOperand(std::string_view fn, const Value& v, F f) {
  auto term = [&](const Value& x) -> const std::string& {
    if (x.IsString()) return x.AsString();
    if (x.IsArray()) {
      if (x.AsArray().empty()) Fail(fn, "operand must be string or non-empty array");
      if (!x.AsArray()[0].IsString()) FailType(fn, 1, x.AsArray()[0], {"string"});
      return x.AsArray()[0].AsString();
    }
    Fail(fn, "operand must be string or array");
  };
  switch (v.kind()) {
    case Kind::kString:
      f(v.AsString(), v);
      return;
    case Kind::kArray: {
      const Array& arr = v.AsArray();
      for (size_t i = 0; i < arr.size(); ++i) f(term(arr[i]), Value::Int(static_cast<int64_t>(i)));
      return;
    }
    case Kind::kSet:
      for (const auto& x : v.AsSet()) f(term(x), x);
      return;
    case Kind::kObject:
      for (const auto& [k, x] : v.AsObject()) f(term(x), k);
      return;
    default:
      FailType(fn, 1, v, {"string", "array", "set", "object"});
  }
}

std::optional<Value> CidrContainsMatches(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "net.cidr_contains_matches";
  std::vector<std::pair<Cidr, Value>> nets;
  ForEachCidrOperand(fn, args[0], [&](const std::string& s, const Value& index) {
    auto net = ParseCidr(s);
    if (!net) Fail(fn, "invalid CIDR address: " + s);
    nets.emplace_back(*net, index);
  });
  std::vector<Value> out;
  ForEachCidrOperand(fn, args[1], [&](const std::string& s, const Value& index) {
    for (const auto& [net, net_index] : nets) {
      if (CidrContains(fn, net, s)) {
        out.push_back(Value::MakeArray({net_index, index}));
        if (out.size() > kMaxResultElements) TooLarge(fn);
      }
    }
  });
  ChargeElements(ctx, fn, 3 * out.size());
  return Value::MakeSet(std::move(out));
}

// --- net.cidr_merge (netaddr's algorithm, as OPA) ---

struct Block {
  bool v4;
  U128 first;
  U128 last;
  std::optional<std::string> original;  // an unmerged network keeps its own text
};

// Go's IP.DefaultMask: the classful mask of an IPv4 address (OPA merges a bare IPv4 address
// as its class network).
int ClassfulPrefix(const Ip& ip) {
  uint8_t a = ip.b[12];
  if (a < 0x80) return 8;
  if (a < 0xC0) return 16;
  if (a < 0xE0) return 24;
  return 32;
}

void RangeToCidrs(bool v4, U128 first, U128 last, std::vector<Value>& out) {
  const int width = v4 ? 32 : 128;
  const U128 offset = v4 ? (U128{0xFFFF} << 32) : 0;  // the mapped prefix of IPv4
  U128 lo = first - offset;
  U128 hi = last - offset;
  for (;;) {
    int size = 0;  // host bits of the largest aligned block starting at lo within [lo, hi]
    while (size < width) {
      int next = size + 1;
      U128 span = next == 128 ? ~U128{0} : (U128{1} << next) - 1;
      if ((lo & span) != 0 || hi - lo < span) break;
      size = next;
    }
    int prefix = (v4 ? 96 : 0) + (width - size);
    out.push_back(Value::String(FormatCidr(Ip::FromValue(lo + offset), prefix)));
    U128 end = lo + (size == 128 ? ~U128{0} : (U128{1} << size) - 1);
    if (end >= hi) break;
    lo = end + 1;
  }
}

std::optional<Value> CidrMerge(const Args& args, BuiltinContext& ctx) {
  constexpr std::string_view fn = "net.cidr_merge";
  const Value& v = args[0];
  if (!v.IsArray() && !v.IsSet()) Fail(fn, "operand must be an array");
  std::vector<Block> blocks;
  for (const auto& item : v.IsArray() ? v.AsArray() : v.AsSet()) {
    if (!item.IsString()) Fail(fn, "element must be string");
    const std::string& s = item.AsString();
    if (auto ip = ParseIp(s)) {
      if (!ip->v4()) Fail(fn, "IPv6 invalid: needs prefix length");
      int prefix = 96 + ClassfulPrefix(*ip);
      U128 first = ip->value() & Mask(prefix);
      blocks.push_back(
          {true, first, first | ~Mask(prefix), FormatIp(*ip) + "/" + std::to_string(prefix - 96)});
      continue;
    }
    auto net = ParseCidr(s);
    if (!net) Fail(fn, "invalid CIDR address: " + s);
    blocks.push_back(
        {net->ip.v4(), net->ip.value(), LastIp(*net).value(), FormatCidr(net->ip, net->prefix)});
  }
  std::sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) {
    if (a.v4 != b.v4) return a.v4 && !b.v4;
    if (a.last != b.last) return a.last < b.last;
    return a.first < b.first;
  });
  for (size_t i = blocks.size(); i-- > 1;) {
    Block& prev = blocks[i - 1];
    Block& cur = blocks[i];
    if (prev.v4 != cur.v4) continue;
    U128 before = cur.first - 1;  // wraps for the very first address: then never merges
    if (cur.first != 0 && before <= prev.last) {
      prev = Block{cur.v4, std::min(prev.first, cur.first), cur.last, std::nullopt};
      blocks.erase(blocks.begin() + static_cast<ptrdiff_t>(i));
    }
  }
  std::vector<Value> out;
  for (const auto& b : blocks) {
    if (b.original) {
      out.push_back(Value::String(*b.original));
    } else {
      RangeToCidrs(b.v4, b.first, b.last, out);
    }
  }
  ChargeElements(ctx, fn, out.size());
  return Value::MakeSet(std::move(out));
}

}  // namespace

void RegisterNetBuiltins(BuiltinTable& t) {
  Add(t, "net.cidr_contains", 2,
      [](const Args& args, BuiltinContext&) { return CidrContainsFn("net.cidr_contains", args); });
  // The deprecated name, still accepted by OPA outside rego.v1.
  Add(t, "net.cidr_overlap", 2,
      [](const Args& args, BuiltinContext&) { return CidrContainsFn("net.cidr_overlap", args); });
  Add(t, "net.cidr_intersects", 2, CidrIntersects);
  Add(t, "net.cidr_is_valid", 1, CidrIsValid);
  Add(t, "net.cidr_expand", 1, CidrExpand);
  Add(t, "net.cidr_contains_matches", 2, CidrContainsMatches);
  Add(t, "net.cidr_merge", 1, CidrMerge);
}

}  // namespace statehouse::policy::internal
