// Top-down evaluation of compiled Rego: continuation-passing, with each solution of an
// expression handed to the rest of the body, so iteration, unification and backtracking need
// no explicit choice points. Internal to the engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/compiled.h"
#include "policy/engine.h"

namespace statehouse::policy::internal {

// A non-owning callable reference: continuations live on the caller's stack for exactly the
// duration of the call they are passed to, so no allocation is needed.
template <typename Sig>
class FnRef;
template <typename R, typename... A>
class FnRef<R(A...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FnRef>>>
  FnRef(F&& f)  // NOLINT: implicit on purpose, lambdas are passed directly
      : obj_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, A... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...);
        }) {}
  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

// Continuations return true to stop the enumeration (a solution was enough).
using Cont = FnRef<bool()>;
using ValueCont = FnRef<bool(const Value&)>;

// A rule's variables. A slot points at the value it is bound to rather than holding a copy:
// a binding lasts exactly as long as the continuation it was made for (Bind undoes it when the
// continuation returns), and the value it points at lives at least as long, as the argument
// of the call that made it. Values that can change under a running continuation (the `input`
// that `with` swaps) are copied before they are bound.
struct Frame {
  explicit Frame(int slots) : values(static_cast<size_t>(slots), nullptr) {}
  bool Bound(int slot) const { return values[static_cast<size_t>(slot)] != nullptr; }
  std::vector<const Value*> values;  // null while unbound
};

class Evaluator {
 public:
  Evaluator(const Program& program, const Value& input, const EvalOptions& options);

  QueryResult RunQuery(const CompiledQuery& query);
  std::optional<Value> EvalPath(const std::vector<std::string>& path);
  std::vector<std::string>& prints() { return prints_; }

 private:
  struct Cache {
    std::map<const RuleSet*, std::optional<Value>> docs;
    std::map<std::pair<const RuleSet*, Value>, std::optional<Value>> calls;
  };
  struct DataOverride {
    std::vector<std::string> path;
    Value value;
  };
  struct FunctionOverride {
    bool is_value = false;
    Value value;
    const Term* replacement = nullptr;  // a kCall term naming the function that stands in
  };
  // What `with` changes; swapped in for one expression and out for the rest of the body.
  struct Overrides {
    Value input;
    std::vector<DataOverride> data;
    std::map<const void*, FunctionOverride> functions;
    Cache* cache = nullptr;
  };

  bool EvalBody(const Body& body, size_t index, Frame& frame, Cont k);
  bool EvalExpr(const Expr& expr, Frame& frame, Cont k);
  bool EvalExprPlain(const Expr& expr, Frame& frame, Cont k);
  bool WithOverrides(const Expr& expr, Frame& frame, FnRef<bool(Cont)> body, Cont k);
  bool EvalEvery(const Expr& expr, Frame& frame, Cont k);
  bool EvalSomeIn(const Expr& expr, Frame& frame, Cont k);

  bool EvalTerm(const Term& term, Frame& frame, ValueCont k);
  // Evaluates terms[index, end) (all of them without end), each solution's values in out.
  bool EvalTerms(const std::vector<TermPtr>& terms, size_t index, std::vector<Value>& out,
                 Frame& frame, Cont k, size_t end = SIZE_MAX);
  bool EvalRef(const Term& ref, Frame& frame, ValueCont k);
  bool ApplyPath(const Value& value, const Term& ref, size_t index, Frame& frame, ValueCont k);
  bool EvalData(const DataNode* node, std::vector<std::string>& prefix, const Term& ref,
                size_t index, Frame& frame, ValueCont k);
  bool EvalCall(const Term& call, Frame& frame, ValueCont k);
  bool EvalComprehension(const Term& term, Frame& frame, ValueCont k);

  bool Unify(const Term& a, const Term& b, Frame& frame, Cont k);
  bool UnifyValue(const Term& pattern, const Value& value, Frame& frame, Cont k);
  bool UnifyItems(const std::vector<TermPtr>& patterns, const Array& values, size_t index,
                  Frame& frame, Cont k);
  bool Bind(Frame& frame, int slot, const Value& value, Cont k);
  bool HasUnboundVars(const Term& term, const Frame& frame) const;

  std::optional<Value> InvokeCall(const Term& call, const void* target, int kind,
                                  const std::vector<Value>& args);
  std::optional<Value> CallBuiltin(const Term& call, const Builtin& builtin,
                                   const std::vector<Value>& args);
  std::optional<Value> CallFunction(const Term& call, const RuleSet& rules,
                                    const std::vector<Value>& args);
  std::optional<Value> RuleDocument(const RuleSet& rules);
  // Evaluates one definition (body, else chain), handing each value of its head to on_value.
  void EvalDefinition(const Rule& rule, Frame& frame, bool stop_at_first,
                      FnRef<void(const Value*, const Value&)> on_value);
  Value MaterializeNode(const DataNode* node, std::vector<std::string>& prefix);
  std::optional<Value> BaseDataAt(const std::vector<std::string>& prefix) const;
  const Value* DataOverrideAt(const std::vector<std::string>& prefix) const;

  void Step();
  void Charge(size_t bytes);
  [[noreturn]] void Fail(PolicyErrorKind kind, const Location& loc, const std::string& message);

  const Program& program_;
  EvalOptions options_;
  Overrides state_;
  Cache root_cache_;
  std::vector<std::string> prints_;
  BuiltinContext builtin_context_;
  std::vector<const RuleSet*> active_;  // rules being evaluated (recursion guard)
  std::chrono::steady_clock::time_point deadline_;
  bool has_deadline_ = false;
  uint64_t steps_ = 0;
  size_t memory_ = 0;
  const char* stack_base_ = nullptr;
};

}  // namespace statehouse::policy::internal
