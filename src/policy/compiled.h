// The compiler's output, shared by the compiler and the evaluator (not part of the public
// interface): modules with every name resolved (locals to slots, rule and import names to
// data references, calls to their targets) and bodies reordered so every var is bound before
// it is read, plus the tree of rules under `data`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "policy/ast.h"
#include "policy/builtins.h"

namespace statehouse::policy::internal {

// Term::target_kind values for kCall terms.
enum CallKind : int {
  kCallUnresolved = 0,
  kCallBuiltin,   // target: const Builtin*
  kCallFunction,  // target: const RuleSet*
  kCallEq,        // =
  kCallAssign,    // :=
  kCallMember2,   // x in xs
  kCallMember3,   // k, v in xs
  kCallPrint,     // print(...)
  kCallWalk,      // walk(x) / walk(x, out)
};

// All definitions of one document under data (a complete rule, a partial set or object, or a
// function).
struct RuleSet {
  std::vector<std::string> path;  // under data: {"terraform", "deny"}
  std::string dotted;             // "data.terraform.deny"
  RuleKind kind = RuleKind::kComplete;
  std::vector<const Rule*> rules;  // non-default definitions, in source order
  const Rule* default_rule = nullptr;
  int arity = 0;  // functions
};

struct DataNode {
  std::map<std::string, std::unique_ptr<DataNode>> children;
  RuleSet* rules = nullptr;  // a document defined by rules ends the walk here
  bool is_package = false;
};

struct Program {
  std::vector<std::unique_ptr<Module>> modules;
  std::vector<std::unique_ptr<RuleSet>> rule_sets;
  DataNode root;
  Value base_data;  // object (or null)
  std::vector<std::string> packages;

  const RuleSet* FindRuleSet(const std::vector<std::string>& path) const;
  const DataNode* FindNode(const std::vector<std::string>& path) const;
};

// A compiled query: its body (resolved and ordered) and the slots it needs.
struct CompiledQuery {
  Body body;
  std::vector<std::string> texts;  // per expression, as written
  int num_slots = 0;
  std::vector<std::pair<std::string, int>> named_vars;  // user-visible vars, sorted by name
  // Per expression: its value is captured (a query's `1 == 2` reports false, not undefined).
  std::vector<bool> capture;
  // As OPA: a query with several expressions or with vars keeps only rows whose captured
  // values are not false; a single plain expression reports false as its value.
  bool check_capture = false;
};

// Throws PolicyError (compile, unsafe var, type errors).
std::unique_ptr<Program> CompileProgram(std::vector<std::unique_ptr<Module>> modules,
                                        const Value& data);
CompiledQuery CompileQuery(const Program& program, std::string_view text);

}  // namespace statehouse::policy::internal
