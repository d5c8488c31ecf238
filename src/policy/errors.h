// Errors of the policy engine, in OPA's form: "policy.rego:25: rego_parse_error: message".
#pragma once

#include <stdexcept>
#include <string>

#include "policy/ast.h"

namespace statehouse::policy {

enum class PolicyErrorKind {
  kParse,      // rego_parse_error
  kCompile,    // rego_compile_error (unknown builtin, forbidden builtin, bad import)
  kUnsafeVar,  // rego_unsafe_var_error
  kRecursion,  // rego_recursion_error
  kType,       // rego_type_error (wrong arity, wrong argument types known at compile time)
  kConflict,   // eval_conflict_error (two values for one complete rule or function call)
  kBuiltin,    // eval_builtin_error (strict mode, or errors that always halt)
  kTypeEval,   // eval_type_error (e.g. object.get on a number in strict mode)
  kBudget,     // eval_cancel_error: the time, step or memory budget ran out
};

const char* PolicyErrorCode(PolicyErrorKind kind);

class PolicyError : public std::runtime_error {
 public:
  PolicyError(PolicyErrorKind kind, const Location& loc, const std::string& message);
  PolicyErrorKind kind() const { return kind_; }
  const Location& location() const { return loc_; }
  // The message without location and code.
  const std::string& message() const { return message_; }

 private:
  PolicyErrorKind kind_;
  Location loc_;
  std::string message_;
};

}  // namespace statehouse::policy
