// The Rego engine's public face: compile modules (and base data) once, then evaluate queries
// against inputs. Pure: no HTTP, no storage. A compiled policy is immutable and may be
// evaluated from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/ast.h"
#include "policy/errors.h"
#include "policy/value.h"

namespace statehouse::policy {

struct ModuleSource {
  std::string file;  // the name errors use: "policy.rego", "lib/tags.rego"
  std::string text;
};

struct EvalOptions {
  // A query that runs longer, or builds more than max_memory_bytes of values, halts with
  // eval_cancel_error. 0: no limit.
  int64_t timeout_ms = 1000;
  size_t max_memory_bytes = size_t{64} << 20;
  bool strict_builtin_errors = false;  // builtin errors halt instead of making undefined
  int64_t now_ns = 0;                  // time.now_ns; 0: the wall clock at query start
};

struct ExpressionValue {
  Value value;
  std::string text;  // the expression as written in the query
  Location loc;
};

struct QueryRow {
  std::vector<ExpressionValue> expressions;
  std::vector<std::pair<std::string, Value>> bindings;  // the query's named vars, sorted
};

struct QueryResult {
  std::vector<QueryRow> rows;       // one per solution; empty: undefined
  std::vector<std::string> prints;  // print() output lines, in order
};

class CompiledPolicy;

class Engine {
 public:
  // Parses and compiles modules over base data (a JSON object, or null). Throws PolicyError
  // (parse, compile, unsafe var, type errors) with OPA's message.
  static std::shared_ptr<const CompiledPolicy> Compile(const std::vector<ModuleSource>& modules,
                                                       const Value& data = Value());
};

class CompiledPolicy {
 public:
  virtual ~CompiledPolicy() = default;
  // Evaluates a query such as "data.terraform.deny" or "x := data.a.b; x > 1". Throws
  // PolicyError: parse/compile errors of the query, eval_conflict_error, budget errors, and
  // builtin errors in strict mode.
  virtual QueryResult Query(std::string_view query, const Value& input,
                            const EvalOptions& options = {}) const = 0;
  // The value of a document under data (e.g. {"terraform","deny"}); nullopt when undefined.
  virtual std::optional<Value> Evaluate(const std::vector<std::string>& path, const Value& input,
                                        const EvalOptions& options = {},
                                        std::vector<std::string>* prints = nullptr) const = 0;
  // The modules' packages, as "terraform.deny" (in module order, without duplicates).
  virtual std::vector<std::string> Packages() const = 0;
  // test_ rules (for `statehouse policy test`): {package path, rule name, location}.
  struct TestRule {
    std::vector<std::string> package;
    std::string name;
    Location loc;
  };
  virtual std::vector<TestRule> Tests() const = 0;
};

}  // namespace statehouse::policy
