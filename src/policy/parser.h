// The Rego lexer and parser: source text to the syntax tree of ast.h. Accepts OPA's v0 and v1
// syntax; `in`, `every`, `if` and `contains` are always keywords (as with `import
// future.keywords`). Errors are PolicyError(kParse) with OPA's wording, at the first error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/ast.h"
#include "policy/errors.h"

namespace statehouse::policy {

// Parses one module; throws PolicyError(kParse, loc, msg) on the first syntax error.
Module ParseModule(std::string_view file, std::string_view text);

// Parses a query: one or more expressions separated by ';' or newlines (as `opa eval` takes).
// Also fills, per expression, the source text it came from (for opa eval's "text" field).
Body ParseQuery(std::string_view text, std::vector<std::string>* expr_texts = nullptr,
                std::string_view file = "query");

}  // namespace statehouse::policy
