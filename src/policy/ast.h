// The Rego syntax tree, as the parser builds it and the compiler annotates it. Operators are
// calls with OPA's internal names (`a + b` is Call "plus"(a, b); `x := 1` is Call "assign";
// `a = b` is Call "eq"; `a == b` is Call "equal"; `x in xs` is Call "internal.member_2";
// `k, v in xs` is "internal.member_3"), so the compiler and evaluator see one shape.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "policy/value.h"

namespace statehouse::policy {

struct Location {
  std::string file;  // as given to the parser, e.g. "policy.rego"
  int line = 0;
  int column = 0;
};

struct Term;
struct Expr;
using TermPtr = std::shared_ptr<Term>;
using Body = std::vector<Expr>;

enum class TermKind {
  kScalar,       // null, true, 1.5, "s" (value)
  kVar,          // x, input, data, _ (name; "_" is a fresh wildcard each time)
  kRef,          // head[path...]: input.a[i].b, data.x, f(x).y, [1,2][0]
  kArray,        // [items...]
  kObject,       // {k: v, ...} (entries)
  kSet,          // {a, b}, set() (items)
  kArrayCompr,   // [head | body]
  kSetCompr,     // {head | body}
  kObjectCompr,  // {key: head | body}
  kCall,         // name(args...): builtins, user functions, operators
};

struct Term {
  TermKind kind = TermKind::kScalar;
  Location loc;

  Value value;                 // kScalar
  std::string name;            // kVar: the name; kCall: the operator as written, dotted
                               // ("count", "time.now_ns", "data.lib.f", "f", "plus")
  int slot = -1;               // kVar: the compiler's local slot (-1: not local: input, data,
                               // a rule of the package, an import)
  TermPtr head;                // kRef: first element (a kVar, or any term for f(x).y)
  std::vector<TermPtr> path;   // kRef: the rest; `.b` is a kScalar string term
  std::vector<TermPtr> items;  // kArray / kSet items; kCall args
  std::vector<std::pair<TermPtr, TermPtr>> entries;  // kObject
  TermPtr key;                                       // kObjectCompr key
  TermPtr compr_head;                                // comprehension head (value)
  std::shared_ptr<Body> body;                        // comprehension body

  // Set by the compiler for kCall: what the call runs (a builtin or a user function's rule
  // set), so evaluation does no name lookups.
  const void* target = nullptr;
  int target_kind = 0;
};

struct WithModifier {
  TermPtr target;  // a ref: input..., data..., or a function name (kVar or kRef)
  TermPtr value;
  Location loc;
};

enum class ExprKind {
  kTerm,    // a single term (true when defined and not false): `input.x`, `count(x) > 1` is a
            // kTerm holding the Call "gt"
  kSome,    // `some x, y` (declarations only): vars
  kSomeIn,  // `some x in xs` / `some k, v in xs`: vars = {x} or {k, v} (terms: names or
            // patterns such as [a, b]), domain = xs
  kEvery,   // `every x in xs { body }` / `every k, v in xs { body }`: vars = {x} or {k, v},
            // domain = xs, body
};

struct Expr {
  ExprKind kind = ExprKind::kTerm;
  Location loc;
  bool negated = false;        // `not ...`
  TermPtr term;                // kTerm, kSomeIn
  std::vector<TermPtr> vars;   // kSome: declared vars; kSomeIn / kEvery: {value} or {key, value}
  TermPtr domain;              // kSomeIn / kEvery: the collection
  std::shared_ptr<Body> body;  // kEvery body
  std::vector<WithModifier> with;
};

enum class RuleKind {
  kComplete,       // p := v, p = v, p (value true), default p := v
  kPartialSet,     // p[x] { ... }, p contains x if ...
  kPartialObject,  // p[k] = v { ... }, p[k] := v if ...
  kFunction,       // f(x) := y, f(x) (value true)
};

struct RuleElse {
  TermPtr value;  // null: true
  Body body;      // empty: always
  Location loc;
};

struct Rule {
  RuleKind kind = RuleKind::kComplete;
  Location loc;
  std::string name;               // last name of the head ("deny", "allow", "f")
  std::vector<std::string> path;  // full head path for dotted heads (`a.b.c := 1` ->
                                  // {"a","b","c"}); {name} for plain heads
  bool is_default = false;
  bool assign = false;        // head used := (rather than =)
  TermPtr key;                // partial set element / partial object key
  TermPtr value;              // complete value, object value, function result (null: true)
  std::vector<TermPtr> args;  // function parameters (terms, may be patterns)
  Body body;                  // empty body: always true
  std::vector<RuleElse> elses;
  int num_slots = 0;  // set by the compiler: local slots the rule needs
};

struct Import {
  std::vector<std::string> path;  // {"data","lib","x"}, {"input"}, {"future","keywords","in"},
                                  // {"rego","v1"}
  std::string alias;              // `as y`; empty: the last path element
  Location loc;
};

struct Module {
  std::string file;
  std::vector<std::string> package;  // {"terraform","deny"} for `package terraform.deny`
  std::vector<Import> imports;
  std::vector<Rule> rules;
  bool rego_v1 = false;  // `import rego.v1` or parsed as v1: `if`/`contains` required
};

}  // namespace statehouse::policy
