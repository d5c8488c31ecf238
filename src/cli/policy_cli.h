// `statehouse policy eval` and `statehouse policy test`: the Rego engine on the command line,
// so policies can be written and tested without a server (like `opa eval` and `opa test`).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace statehouse::cli {

struct PolicyEvalOptions {
  std::vector<std::string> data_paths;  // -d: .rego, .json, .yaml files or directories
  std::string input_path;               // -i: JSON or YAML
  std::string format = "json";          // json | pretty
  std::string query;
  bool fail = false;          // exit 1 when the result is undefined
  bool fail_defined = false;  // exit 1 when the result is defined
  bool strict_builtin_errors = false;
  int64_t timeout_ms = 0;  // 0: none
};

// Returns the process exit code: 0, 1 (--fail / --fail-defined), 2 (errors).
int PolicyEval(const PolicyEvalOptions& options, std::ostream& out, std::ostream& err);

struct PolicyTestOptions {
  std::vector<std::string> paths;
  bool verbose = false;
  std::string run_filter;  // --run REGEX: only tests whose full name matches
  int64_t timeout_ms = 5000;
};

// Runs test_ rules; 0 when all pass, 2 otherwise.
int PolicyTest(const PolicyTestOptions& options, std::ostream& out, std::ostream& err);

}  // namespace statehouse::cli
