#include "policy/builtins.h"

#include <algorithm>
#include <cassert>

#include "policy/builtins_internal.h"

namespace statehouse::policy {

namespace internal {

void Add(BuiltinTable& table, std::string name, int arity, BuiltinFn fn) {
  Builtin b{name, arity, std::move(fn)};
  [[maybe_unused]] bool inserted = table.emplace(std::move(name), std::move(b)).second;
  assert(inserted && "builtin registered twice");
}

}  // namespace internal

namespace {

// Built once, on first use: registration by static initializers would be dropped by the
// linker with the static library's unreferenced objects. A function-local static is
// initialized thread-safely and read-only afterwards.
const internal::BuiltinTable& Table() {
  static const internal::BuiltinTable table = [] {
    internal::BuiltinTable t;
    internal::RegisterOperatorBuiltins(t);
    internal::RegisterNumberBuiltins(t);
    internal::RegisterStringBuiltins(t);
    internal::RegisterSprintfBuiltin(t);
    internal::RegisterRegexBuiltins(t);
    internal::RegisterCollectionBuiltins(t);
    internal::RegisterEncodingBuiltins(t);
    internal::RegisterTimeBuiltins(t);
    internal::RegisterNetBuiltins(t);
    internal::RegisterMiscBuiltins(t);
    return t;
  }();
  return table;
}

}  // namespace

const Builtin* FindBuiltin(std::string_view name) {
  const auto& table = Table();
  auto it = table.find(name);
  return it == table.end() ? nullptr : &it->second;
}

bool IsForbiddenBuiltin(std::string_view name) {
  // Network, files and the runtime, and the non-deterministic ones: a decision must depend
  // on its input and data only.
  static constexpr std::string_view kForbidden[] = {
      "http.send",           "opa.runtime",        "net.lookup_ip_addr", "rego.parse_module",
      "rego.metadata.chain", "rego.metadata.rule", "rand.intn",          "uuid.rfc4122",
  };
  return std::find(std::begin(kForbidden), std::end(kForbidden), name) != std::end(kForbidden);
}

std::vector<std::string> BuiltinNames() {
  std::vector<std::string> names;
  names.reserve(Table().size());
  for (const auto& [name, builtin] : Table()) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace statehouse::policy
