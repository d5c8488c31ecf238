// OPA's built-in functions, by OPA's names and with OPA's results. Pure: no builtin reaches the
// network, the file system or the process (those OPA builtins are refused at compile time).
// Operators are builtins too, under OPA's internal names: plus, minus, mul, div, rem, equal,
// neq, lt, lte, gt, gte, and (set intersection &), or (set union |).
// The evaluator itself handles: eq (=), assign (:=), internal.member_2/3 (in), print, walk,
// and calls of user-defined functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "policy/value.h"

namespace statehouse::policy {

// What a builtin may see of its evaluation.
struct BuiltinContext {
  int64_t now_ns = 0;  // time.now_ns: the same for every call of one query
  // Charges bytes against the evaluation's memory budget; throws when it runs out. Builtins
  // that build large values (strings.repeat-like growth, numbers.range, json.unmarshal...)
  // call it with the size they are about to create.
  std::function<void(size_t)> charge;
};

// A builtin's error: a wrong argument type or an invalid argument. Without strict mode the
// call is undefined (as in OPA); with --strict-builtin-errors it halts the query.
// The message follows OPA: "count: operand 1 must be one of {array, object, set, string} but
// got number", "to_number: strconv.ParseFloat: parsing \"x\": invalid syntax".
class BuiltinError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// nullopt: undefined (e.g. object.get never is, but regex.find_n with no match is an empty
// array, not undefined: follow OPA).
using BuiltinFn =
    std::function<std::optional<Value>(const std::vector<Value>& args, BuiltinContext& ctx)>;

struct Builtin {
  std::string name;  // "count", "strings.replace_n", "plus"
  int arity = 0;     // number of arguments (the result is not counted)
  BuiltinFn fn;
};

// nullptr when no such builtin.
const Builtin* FindBuiltin(std::string_view name);
// OPA builtins that Statehouse refuses on purpose (network, files, runtime): http.send,
// opa.runtime, net.lookup_ip_addr, rego.parse_module... The compiler names them in its error.
bool IsForbiddenBuiltin(std::string_view name);
// Every builtin's name (for docs and tests).
std::vector<std::string> BuiltinNames();

}  // namespace statehouse::policy
