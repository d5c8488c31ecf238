#include "policy/errors.h"

namespace statehouse::policy {

namespace {

// OPA's Error.Error(): "file:row: code: msg", "row:col: code: msg" without a file, or
// "code: msg" without a location.
std::string FormatError(PolicyErrorKind kind, const Location& loc, const std::string& message) {
  std::string out;
  if (!loc.file.empty()) {
    out = loc.file + ":" + std::to_string(loc.line) + ": ";
  } else if (loc.line > 0) {
    out = std::to_string(loc.line) + ":" + std::to_string(loc.column) + ": ";
  }
  out += PolicyErrorCode(kind);
  out += ": ";
  out += message;
  return out;
}

}  // namespace

const char* PolicyErrorCode(PolicyErrorKind kind) {
  switch (kind) {
    case PolicyErrorKind::kParse:
      return "rego_parse_error";
    case PolicyErrorKind::kCompile:
      return "rego_compile_error";
    case PolicyErrorKind::kUnsafeVar:
      return "rego_unsafe_var_error";
    case PolicyErrorKind::kRecursion:
      return "rego_recursion_error";
    case PolicyErrorKind::kType:
      return "rego_type_error";
    case PolicyErrorKind::kConflict:
      return "eval_conflict_error";
    case PolicyErrorKind::kBuiltin:
      return "eval_builtin_error";
    case PolicyErrorKind::kTypeEval:
      return "eval_type_error";
    case PolicyErrorKind::kBudget:
      return "eval_cancel_error";
  }
  return "rego_error";
}

PolicyError::PolicyError(PolicyErrorKind kind, const Location& loc, const std::string& message)
    : std::runtime_error(FormatError(kind, loc, message)),
      kind_(kind),
      loc_(loc),
      message_(message) {}

}  // namespace statehouse::policy
