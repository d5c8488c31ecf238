// Compiles parsed modules: builds the rule tree, resolves names (locals to slots; rule and
// import names to data references; calls to builtins or functions), checks arity and
// forbidden builtins, and orders each body so every var is bound before it is read (OPA's
// safety reordering), reporting unsafe vars as OPA does.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "policy/compiled.h"
#include "policy/errors.h"
#include "policy/parser.h"

namespace statehouse::policy::internal {

namespace {

std::string Join(const std::vector<std::string>& parts, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) {
    if (i > from) out += '.';
    out += parts[i];
  }
  return out;
}

std::vector<std::string> SplitDots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

TermPtr StringTerm(const std::string& s, const Location& loc) {
  auto t = std::make_shared<Term>();
  t->kind = TermKind::kScalar;
  t->value = Value::String(s);
  t->loc = loc;
  return t;
}

TermPtr RootVar(const std::string& name, const Location& loc) {
  auto t = std::make_shared<Term>();
  t->kind = TermKind::kVar;
  t->name = name;
  t->slot = -1;
  t->loc = loc;
  return t;
}

[[noreturn]] void Throw(PolicyErrorKind kind, const Location& loc, const std::string& msg) {
  throw PolicyError(kind, loc, msg);
}

bool IsWildcardName(const std::string& name) { return !name.empty() && name[0] == '$'; }

// Names visible in a module without a local binding: its package's rules and its imports.
// Each maps to a path whose first element is "data" or "input".
using Globals = std::unordered_map<std::string, std::vector<std::string>>;

class BodyCompiler {
 public:
  BodyCompiler(const Program& program, const Globals& globals)
      : program_(program), globals_(globals) {
    scopes_.emplace_back();
  }

  int num_slots() const { return static_cast<int>(slot_names_.size()); }
  const std::vector<std::string>& slot_names() const { return slot_names_; }

  void PushScope() { scopes_.emplace_back(); }
  void PopScope() { scopes_.pop_back(); }

  // Declares the vars of a pattern (function args, := targets, some-in vars) in the innermost
  // scope, each with a fresh slot.
  void DeclarePattern(Term& t, bool check_redeclare) {
    switch (t.kind) {
      case TermKind::kVar: {
        if (t.name == "input" || t.name == "data") {
          Throw(PolicyErrorKind::kCompile, t.loc, "variables must not shadow " + t.name);
        }
        auto& scope = scopes_.back();
        if (check_redeclare && !IsWildcardName(t.name) && scope.count(t.name)) {
          Throw(PolicyErrorKind::kCompile, t.loc, "var " + t.name + " assigned above");
        }
        int slot = NewSlot(t.name);
        scope[t.name] = slot;
        t.slot = slot;
        break;
      }
      case TermKind::kArray:
        for (auto& item : t.items) DeclarePattern(*item, check_redeclare);
        break;
      case TermKind::kObject:
        for (auto& [k, v] : t.entries) DeclarePattern(*v, check_redeclare);
        break;
      default:
        break;
    }
  }

  void ResolveBody(Body& body) {
    // Declarations first: `some` and `:=` introduce their vars for the whole body.
    for (auto& expr : body) {
      if (expr.kind == ExprKind::kSome) {
        for (auto& v : expr.vars) DeclarePattern(*v, false);
      } else if (expr.kind == ExprKind::kTerm && expr.term && expr.term->kind == TermKind::kCall &&
                 expr.term->name == "assign" && expr.term->items.size() == 2) {
        DeclarePattern(*expr.term->items[0], true);
      }
    }
    for (auto& expr : body) ResolveExpr(expr);
  }

  void ResolveTermPtr(TermPtr& t) { Resolve(t); }

 private:
  int NewSlot(const std::string& name) {
    slot_names_.push_back(name);
    return static_cast<int>(slot_names_.size()) - 1;
  }

  int Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return -1;
  }

  void ResolveExpr(Expr& expr) {
    for (auto& w : expr.with) {
      ResolveWithTarget(w);
      if (w.target->kind != TermKind::kCall || !ResolveFunctionValue(w)) Resolve(w.value);
    }
    switch (expr.kind) {
      case ExprKind::kSome:
        break;  // declared in ResolveBody
      case ExprKind::kSomeIn:
        Resolve(expr.domain);
        for (auto& v : expr.vars) DeclarePattern(*v, false);
        for (auto& v : expr.vars) Resolve(v);  // object-pattern keys, etc.
        break;
      case ExprKind::kEvery:
        Resolve(expr.domain);
        PushScope();
        for (auto& v : expr.vars) {
          if (v) DeclarePattern(*v, false);
        }
        for (auto& v : expr.vars) {
          if (v) Resolve(v);
        }
        ResolveBody(*expr.body);
        PopScope();
        break;
      case ExprKind::kTerm:
        Resolve(expr.term);
        break;
    }
  }

  // A `with` target: input/data documents, or a function (builtin or user) to replace.
  void ResolveWithTarget(WithModifier& w) {
    std::vector<std::string> path;
    if (!DottedPath(*w.target, path)) {
      Throw(PolicyErrorKind::kType, w.loc,
            "with keyword target must reference existing input, "
            "data, or a function");
    }
    auto global = globals_.find(path[0]);
    if (path[0] != "input" && path[0] != "data" && global != globals_.end()) {
      std::vector<std::string> full = global->second;
      full.insert(full.end(), path.begin() + 1, path.end());
      path = full;
    }
    if (path[0] == "input" || path[0] == "data") {
      if (path[0] == "data") {
        std::vector<std::string> rest(path.begin() + 1, path.end());
        const RuleSet* rs = program_.FindRuleSet(rest);
        if (rs && rs->kind == RuleKind::kFunction) {
          SetFunctionTarget(w, rs);
          return;
        }
      }
      auto ref = std::make_shared<Term>();
      ref->kind = TermKind::kRef;
      ref->loc = w.target->loc;
      ref->head = RootVar(path[0], w.target->loc);
      for (size_t i = 1; i < path.size(); ++i) ref->path.push_back(StringTerm(path[i], ref->loc));
      w.target = ref;
      return;
    }
    std::string name = Join(path);
    if (IsForbiddenBuiltin(name)) {
      Throw(PolicyErrorKind::kCompile, w.loc, ForbiddenMessage(name));
    }
    const Builtin* builtin = FindBuiltin(name);
    if (!builtin) {
      Throw(PolicyErrorKind::kCompile, w.loc,
            "with keyword replacing built-in function: " + name + " is not a known function");
    }
    auto call = std::make_shared<Term>();
    call->kind = TermKind::kCall;
    call->name = name;
    call->loc = w.target->loc;
    call->target = builtin;
    call->target_kind = kCallBuiltin;
    w.target = call;
  }

  // `with f as g` where g names a function (user or builtin): the value becomes a reference
  // to it (a kCall term without args, marked with slot -2). False when g is a value.
  bool ResolveFunctionValue(WithModifier& w) {
    std::vector<std::string> path;
    if (!DottedPath(*w.value, path)) return false;
    if (w.value->kind == TermKind::kVar && Lookup(path[0]) >= 0) return false;  // a local
    std::vector<std::string> full;
    if (path[0] == "data") {
      full.assign(path.begin() + 1, path.end());
    } else if (auto global = globals_.find(path[0]);
               global != globals_.end() && global->second[0] == "data") {
      full.assign(global->second.begin() + 1, global->second.end());
      full.insert(full.end(), path.begin() + 1, path.end());
    }
    auto ref = std::make_shared<Term>();
    ref->kind = TermKind::kCall;
    ref->loc = w.value->loc;
    ref->slot = -2;
    if (!full.empty()) {
      const RuleSet* rs = program_.FindRuleSet(full);
      if (!rs || rs->kind != RuleKind::kFunction) return false;
      ref->name = rs->dotted;
      ref->target = rs;
      ref->target_kind = kCallFunction;
    } else {
      std::string name = Join(path);
      const Builtin* builtin = FindBuiltin(name);
      if (!builtin || IsForbiddenBuiltin(name)) return false;
      ref->name = name;
      ref->target = builtin;
      ref->target_kind = kCallBuiltin;
    }
    w.value = ref;
    return true;
  }

  void SetFunctionTarget(WithModifier& w, const RuleSet* rs) {
    auto call = std::make_shared<Term>();
    call->kind = TermKind::kCall;
    call->name = rs->dotted;
    call->loc = w.target->loc;
    call->target = rs;
    call->target_kind = kCallFunction;
    w.target = call;
  }

  // a.b.c as names; false for anything else.
  static bool DottedPath(const Term& t, std::vector<std::string>& out) {
    if (t.kind == TermKind::kVar) {
      out.push_back(t.name);
      return true;
    }
    if (t.kind == TermKind::kRef && t.head && t.head->kind == TermKind::kVar) {
      out.push_back(t.head->name);
      for (auto& p : t.path) {
        if (p->kind != TermKind::kScalar || !p->value.IsString()) return false;
        out.push_back(p->value.AsString());
      }
      return true;
    }
    return false;
  }

  static std::string ForbiddenMessage(const std::string& name) {
    return name +
           ": built-in function is not allowed (policies may not reach the network, files or "
           "the runtime)";
  }

  void Resolve(TermPtr& t) {
    if (!t) return;
    switch (t->kind) {
      case TermKind::kScalar:
        return;
      case TermKind::kVar:
        ResolveVar(t);
        return;
      case TermKind::kRef: {
        Resolve(t->head);
        for (auto& p : t->path) Resolve(p);
        // A head that became a ref (a rule or import name) is spliced in front of the path.
        if (t->head->kind == TermKind::kRef) {
          TermPtr inner = t->head;
          std::vector<TermPtr> path = inner->path;
          path.insert(path.end(), t->path.begin(), t->path.end());
          t->head = inner->head;
          t->path = std::move(path);
        }
        return;
      }
      case TermKind::kArray:
      case TermKind::kSet:
        for (auto& item : t->items) Resolve(item);
        FoldConstant(*t);
        return;
      case TermKind::kObject:
        for (auto& [k, v] : t->entries) {
          Resolve(k);
          Resolve(v);
        }
        FoldConstant(*t);
        return;
      case TermKind::kArrayCompr:
      case TermKind::kSetCompr:
      case TermKind::kObjectCompr:
        PushScope();
        ResolveBody(*t->body);
        Resolve(t->key);
        Resolve(t->compr_head);
        PopScope();
        return;
      case TermKind::kCall:
        ResolveCall(*t);
        for (auto& arg : t->items) Resolve(arg);
        return;
    }
  }

  // A collection literal made only of constants becomes one constant, so `x in {"a", "b"}`
  // builds its set once, at compile time.
  static void FoldConstant(Term& t) {
    auto constant = [](const TermPtr& x) { return x && x->kind == TermKind::kScalar; };
    std::vector<Value> values;
    switch (t.kind) {
      case TermKind::kArray:
      case TermKind::kSet:
        if (!std::all_of(t.items.begin(), t.items.end(), constant)) return;
        for (auto& item : t.items) values.push_back(item->value);
        t.value = t.kind == TermKind::kArray ? Value::MakeArray(std::move(values))
                                             : Value::MakeSet(std::move(values));
        t.items.clear();
        break;
      case TermKind::kObject: {
        std::vector<ObjectEntry> entries;
        for (auto& [k, v] : t.entries) {
          if (!constant(k) || !constant(v)) return;
          entries.emplace_back(k->value, v->value);
        }
        t.value = Value::MakeObject(std::move(entries));
        t.entries.clear();
        break;
      }
      default:
        return;
    }
    t.kind = TermKind::kScalar;
  }

  void ResolveVar(TermPtr& t) {
    if (t->slot >= 0) return;  // declared
    int slot = Lookup(t->name);
    if (slot >= 0) {
      t->slot = slot;
      return;
    }
    if (t->name == "input" || t->name == "data") return;
    auto global = globals_.find(t->name);
    if (global != globals_.end()) {
      auto ref = std::make_shared<Term>();
      ref->kind = TermKind::kRef;
      ref->loc = t->loc;
      ref->head = RootVar(global->second[0], t->loc);
      for (size_t i = 1; i < global->second.size(); ++i) {
        ref->path.push_back(StringTerm(global->second[i], t->loc));
      }
      if (ref->path.empty()) {
        t = ref->head;
      } else {
        t = ref;
      }
      return;
    }
    // An implicit var belongs to the rule's outermost scope: the same name anywhere in the
    // rule, comprehensions included, is the same var unless declared in an inner scope.
    slot = NewSlot(t->name);
    if (IsWildcardName(t->name)) {
      scopes_.back()[t->name] = slot;
    } else {
      scopes_.front()[t->name] = slot;
    }
    t->slot = slot;
  }

  void ResolveCall(Term& t) {
    const std::string& name = t.name;
    size_t argc = t.items.size();
    if (name == "eq") {
      t.target_kind = kCallEq;
      return;
    }
    if (name == "assign") {
      t.target_kind = kCallAssign;
      return;
    }
    if (name == "internal.member_2") {
      t.target_kind = kCallMember2;
      return;
    }
    if (name == "internal.member_3") {
      t.target_kind = kCallMember3;
      return;
    }
    std::vector<std::string> path = SplitDots(name);
    // User functions: in this package, through an import, or by their data path.
    std::vector<std::string> full;
    if (path[0] == "data") {
      full.assign(path.begin() + 1, path.end());
    } else if (Lookup(path[0]) < 0) {
      auto global = globals_.find(path[0]);
      if (global != globals_.end() && global->second[0] == "data") {
        full.assign(global->second.begin() + 1, global->second.end());
        full.insert(full.end(), path.begin() + 1, path.end());
      }
    }
    if (!full.empty()) {
      const RuleSet* rs = program_.FindRuleSet(full);
      if (rs && rs->kind == RuleKind::kFunction) {
        if (argc != static_cast<size_t>(rs->arity) && argc != static_cast<size_t>(rs->arity) + 1) {
          Throw(PolicyErrorKind::kType, t.loc,
                "function " + rs->dotted + " has arity " + std::to_string(rs->arity) + ", got " +
                    std::to_string(argc) + " arguments");
        }
        t.target = rs;
        t.target_kind = kCallFunction;
        return;
      }
      if (path[0] == "data" || rs) {
        Throw(PolicyErrorKind::kType, t.loc,
              "undefined function " + Join(full.empty() ? path : full));
      }
    }
    if (name == "print") {
      t.target_kind = kCallPrint;
      return;
    }
    if (name == "walk") {
      if (argc != 1 && argc != 2) {
        Throw(PolicyErrorKind::kType, t.loc,
              "walk: arity mismatch\n\thave: " + std::to_string(argc) + " arguments\n\twant: 1");
      }
      t.target_kind = kCallWalk;
      return;
    }
    if (IsForbiddenBuiltin(name)) Throw(PolicyErrorKind::kCompile, t.loc, ForbiddenMessage(name));
    const Builtin* builtin = FindBuiltin(name);
    if (!builtin) Throw(PolicyErrorKind::kType, t.loc, "undefined function " + name);
    if (argc != static_cast<size_t>(builtin->arity) &&
        argc != static_cast<size_t>(builtin->arity) + 1) {
      Throw(PolicyErrorKind::kType, t.loc,
            name + ": arity mismatch\n\thave: " + std::to_string(argc) +
                " arguments\n\twant: " + std::to_string(builtin->arity) + " arguments");
    }
    t.target = builtin;
    t.target_kind = kCallBuiltin;
  }

  const Program& program_;
  const Globals& globals_;
  std::vector<std::unordered_map<std::string, int>> scopes_;
  std::vector<std::string> slot_names_;
};

// ---- Safety: ordering bodies so vars are bound before they are read ----

using Slots = std::vector<int>;

void AddSlot(Slots& s, int slot) {
  if (slot >= 0) s.push_back(slot);
}

void CollectAllTerm(const Term* t, Slots& out);

void CollectAllBody(const Body& body, Slots& out);

void CollectAllExpr(const Expr& e, Slots& out) {
  CollectAllTerm(e.term.get(), out);
  CollectAllTerm(e.domain.get(), out);
  for (auto& v : e.vars) CollectAllTerm(v.get(), out);
  if (e.body) CollectAllBody(*e.body, out);
  for (auto& w : e.with) CollectAllTerm(w.value.get(), out);
}

void CollectAllBody(const Body& body, Slots& out) {
  for (auto& e : body) CollectAllExpr(e, out);
}

// The vars of a term; with nested, also those inside its comprehensions.
void CollectVars(const Term* t, Slots& out, bool nested) {
  if (!t) return;
  switch (t->kind) {
    case TermKind::kVar:
      AddSlot(out, t->slot);
      break;
    case TermKind::kRef:
      CollectVars(t->head.get(), out, nested);
      for (auto& p : t->path) CollectVars(p.get(), out, nested);
      break;
    case TermKind::kArray:
    case TermKind::kSet:
    case TermKind::kCall:
      for (auto& i : t->items) CollectVars(i.get(), out, nested);
      break;
    case TermKind::kObject:
      for (auto& [k, v] : t->entries) {
        CollectVars(k.get(), out, nested);
        CollectVars(v.get(), out, nested);
      }
      break;
    case TermKind::kArrayCompr:
    case TermKind::kSetCompr:
    case TermKind::kObjectCompr:
      if (!nested) break;
      CollectVars(t->key.get(), out, nested);
      CollectVars(t->compr_head.get(), out, nested);
      CollectAllBody(*t->body, out);
      break;
    default:
      break;
  }
}

void CollectAllTerm(const Term* t, Slots& out) { CollectVars(t, out, true); }

struct ExprNeeds {
  Slots needs;
  Slots outs;
  bool is_eq = false;  // ready when either side's vars are bound (pairwise for arrays)
  Slots eq_left, eq_right;
  const Term* eq_a = nullptr;
  const Term* eq_b = nullptr;
};

class Orderer {
 public:
  explicit Orderer(const std::vector<std::string>& slot_names) : names_(slot_names) {}

  // Orders body given the bound slots; on return `bound` has every slot the body binds.
  // `context` marks slots that belong to enclosing bodies (for closures).
  void OrderBody(Body& body, std::vector<char>& bound, const std::vector<char>& context) {
    // Slots of this level: what a nested body shares with its surroundings.
    std::vector<char> level = context;
    for (auto& e : body) {
      Slots direct;
      CollectDirect(e, direct);
      for (int s : direct) level[s] = 1;
    }
    for (size_t i = 0; i < bound.size(); ++i) {
      if (bound[i]) level[i] = 1;
    }
    Body ordered;
    ordered.reserve(body.size());
    std::vector<bool> done(body.size(), false);
    for (size_t count = 0; count < body.size(); ++count) {
      size_t pick = body.size();
      for (size_t i = 0; i < body.size(); ++i) {
        if (done[i]) continue;
        ExprNeeds n = Analyze(body[i], level);
        if (Ready(n, bound)) {
          pick = i;
          break;
        }
      }
      if (pick == body.size()) {
        // Report the first unsafe var of the first expression that cannot run.
        for (size_t i = 0; i < body.size(); ++i) {
          if (done[i]) continue;
          ExprNeeds n = Analyze(body[i], level);
          Slots missing = n.needs;
          if (n.is_eq) missing.insert(missing.end(), n.eq_left.begin(), n.eq_left.end());
          for (int s : missing) {
            if (!bound[s]) {
              Throw(PolicyErrorKind::kUnsafeVar, VarLocation(body[i], s),
                    "var " + DisplayName(s) + " is unsafe");
            }
          }
        }
        Throw(PolicyErrorKind::kUnsafeVar, body.front().loc, "expression is unsafe");
      }
      done[pick] = true;
      Expr& e = body[pick];
      ExprNeeds n = Analyze(e, level);
      // Nested bodies run with what is bound at this point.
      OrderNested(e, bound, level);
      if (!e.negated) {
        for (int s : n.outs) bound[s] = 1;
        for (int s : n.eq_left) bound[s] = 1;
        for (int s : n.eq_right) bound[s] = 1;
      }
      ordered.push_back(std::move(e));
    }
    body = std::move(ordered);
  }

  // A head term (rule key/value, comprehension head): its comprehensions are ordered with
  // what the body bound, and its own vars must all be bound.
  void CheckHead(Term* t, std::vector<char>& bound) {
    if (!t) return;
    Slots direct;
    CollectDirectTerm(t, direct);
    std::vector<char> level = bound;
    for (int s : direct) level[s] = 1;
    OrderNestedTerm(t, bound, level);
    for (int s : direct) {
      if (!bound[s]) {
        Throw(PolicyErrorKind::kUnsafeVar, FindVarLoc(t, s),
              "var " + DisplayName(s) + " is unsafe");
      }
    }
  }

  std::string DisplayName(int slot) const {
    const std::string& n = names_[slot];
    if (IsWildcardName(n)) return "_";
    return n;
  }

 private:
  static bool Ready(const ExprNeeds& n, const std::vector<char>& bound) {
    for (int s : n.needs) {
      if (!bound[s]) return false;
    }
    if (n.is_eq) {
      std::vector<char> simulated = bound;
      return EqReady(*n.eq_a, *n.eq_b, simulated);
    }
    return true;
  }

  // The vars a side binds by unification (refs and calls are evaluated, not matched).
  static void PatternVars(const Term& t, Slots& out) {
    if (t.kind == TermKind::kVar) {
      AddSlot(out, t.slot);
    } else if (t.kind == TermKind::kArray) {
      for (auto& i : t.items) PatternVars(*i, out);
    } else if (t.kind == TermKind::kObject) {
      for (auto& [k, v] : t.entries) PatternVars(*v, out);
    }
  }

  // Whether a = b can run: one side fully bound, or two arrays whose pairs can each run in
  // turn (binding as they go, as unification does).
  static bool EqReady(const Term& a, const Term& b, std::vector<char>& bound) {
    if (a.kind == TermKind::kArray && b.kind == TermKind::kArray &&
        a.items.size() == b.items.size()) {
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!EqReady(*a.items[i], *b.items[i], bound)) return false;
      }
      return true;
    }
    Slots left, right;
    PatternVars(a, left);
    PatternVars(b, right);
    auto all_bound = [&](const Slots& s) {
      return std::all_of(s.begin(), s.end(), [&](int x) { return bound[x] != 0; });
    };
    if (!all_bound(left) && !all_bound(right)) return false;
    for (int x : left) bound[x] = 1;
    for (int x : right) bound[x] = 1;
    return true;
  }

  Location VarLocation(const Expr& e, int slot) const {
    Location loc = FindVarLocExpr(e, slot);
    return loc.line ? loc : e.loc;
  }

  static Location FindVarLocExpr(const Expr& e, int slot) {
    for (const Term* t : {e.term.get(), e.domain.get()}) {
      Location l = FindVarLoc(t, slot);
      if (l.line) return l;
    }
    for (auto& v : e.vars) {
      Location l = FindVarLoc(v.get(), slot);
      if (l.line) return l;
    }
    return e.loc;
  }

  static Location FindVarLoc(const Term* t, int slot) {
    if (!t) return {};
    if (t->kind == TermKind::kVar && t->slot == slot) return t->loc;
    std::vector<const Term*> kids;
    if (t->head) kids.push_back(t->head.get());
    for (auto& p : t->path) kids.push_back(p.get());
    for (auto& p : t->items) kids.push_back(p.get());
    for (auto& [k, v] : t->entries) {
      kids.push_back(k.get());
      kids.push_back(v.get());
    }
    if (t->key) kids.push_back(t->key.get());
    if (t->compr_head) kids.push_back(t->compr_head.get());
    for (const Term* k : kids) {
      Location l = FindVarLoc(k, slot);
      if (l.line) return l;
    }
    if (t->body) {
      for (auto& e : *t->body) {
        Location l = FindVarLocExpr(e, slot);
        if (l.line) return l;
      }
    }
    return {};
  }

  // Vars of an expression outside its nested bodies.
  static void CollectDirect(const Expr& e, Slots& out) {
    CollectDirectTerm(e.term.get(), out);
    CollectDirectTerm(e.domain.get(), out);
    if (e.kind != ExprKind::kEvery) {
      for (auto& v : e.vars) CollectDirectTerm(v.get(), out);
    }
    for (auto& w : e.with) CollectDirectTerm(w.value.get(), out);
  }

  static void CollectDirectTerm(const Term* t, Slots& out) { CollectVars(t, out, false); }

  ExprNeeds Analyze(const Expr& e, const std::vector<char>& level) {
    ExprNeeds n;
    for (auto& w : e.with) AnalyzeTerm(w.value.get(), false, n, level);
    switch (e.kind) {
      case ExprKind::kSome:
        break;
      case ExprKind::kSomeIn:
        AnalyzeTerm(e.domain.get(), false, n, level);
        for (auto& v : e.vars) AnalyzeTerm(v.get(), true, n, level);
        break;
      case ExprKind::kEvery: {
        ExprNeeds domain;
        AnalyzeTerm(e.domain.get(), false, domain, level);
        n.needs.insert(n.needs.end(), domain.needs.begin(), domain.needs.end());
        Closure(*e.body, n, level);
        break;
      }
      case ExprKind::kTerm: {
        const Term* t = e.term.get();
        if (t->kind == TermKind::kCall && t->target_kind == kCallEq && t->items.size() == 2 &&
            !e.negated) {
          n.is_eq = true;
          ExprNeeds left, right;
          AnalyzeTerm(t->items[0].get(), true, left, level);
          AnalyzeTerm(t->items[1].get(), true, right, level);
          // A side's own needs (a ref's head, a call's args) must be bound either way.
          n.needs.insert(n.needs.end(), left.needs.begin(), left.needs.end());
          n.needs.insert(n.needs.end(), right.needs.begin(), right.needs.end());
          n.eq_left = left.outs;
          n.eq_right = right.outs;
          n.eq_a = t->items[0].get();
          n.eq_b = t->items[1].get();
        } else if (t->kind == TermKind::kCall && t->target_kind == kCallAssign &&
                   t->items.size() == 2) {
          AnalyzeTerm(t->items[0].get(), true, n, level);
          AnalyzeTerm(t->items[1].get(), false, n, level);
        } else {
          AnalyzeTerm(t, false, n, level);
        }
        break;
      }
    }
    if (e.negated) {
      // Everything a negated expression reads must be bound, except its wildcards.
      Slots all;
      CollectDirect(e, all);
      for (int s : all) {
        if (!IsWildcardName(names_[s])) n.needs.push_back(s);
      }
      n.outs.clear();
      n.eq_left.clear();
      n.eq_right.clear();
      n.is_eq = false;
    }
    return n;
  }

  void Closure(const Body& body, ExprNeeds& n, const std::vector<char>& level) {
    Slots inner;
    CollectAllBody(body, inner);
    for (int s : inner) {
      if (level[s]) n.needs.push_back(s);
    }
  }

  void AnalyzeTerm(const Term* t, bool pattern, ExprNeeds& n, const std::vector<char>& level) {
    if (!t) return;
    switch (t->kind) {
      case TermKind::kScalar:
        break;
      case TermKind::kVar:
        if (t->slot >= 0) (pattern ? n.outs : n.needs).push_back(t->slot);
        break;
      case TermKind::kRef:
        if (t->head->kind == TermKind::kVar) {
          if (t->head->slot >= 0) n.needs.push_back(t->head->slot);
        } else {
          AnalyzeTerm(t->head.get(), false, n, level);
        }
        for (auto& p : t->path) {
          if (p->kind == TermKind::kVar || p->kind == TermKind::kArray ||
              p->kind == TermKind::kObject) {
            AnalyzeTerm(p.get(), true, n, level);  // iteration binds them
          } else {
            AnalyzeTerm(p.get(), false, n, level);
          }
        }
        break;
      case TermKind::kArray:
        for (auto& i : t->items) AnalyzeTerm(i.get(), pattern, n, level);
        break;
      case TermKind::kSet:
        for (auto& i : t->items) AnalyzeTerm(i.get(), false, n, level);
        break;
      case TermKind::kObject:
        for (auto& [k, v] : t->entries) {
          AnalyzeTerm(k.get(), false, n, level);
          AnalyzeTerm(v.get(), pattern, n, level);
        }
        break;
      case TermKind::kArrayCompr:
      case TermKind::kSetCompr:
      case TermKind::kObjectCompr: {
        Slots inner;
        CollectAllTerm(t, inner);
        for (int s : inner) {
          if (level[s]) n.needs.push_back(s);
        }
        break;
      }
      case TermKind::kCall: {
        size_t argc = t->items.size();
        size_t arity = argc;
        if (t->target_kind == kCallBuiltin) {
          arity = static_cast<const Builtin*>(t->target)->arity;
        } else if (t->target_kind == kCallFunction) {
          arity = static_cast<const RuleSet*>(t->target)->arity;
        } else if (t->target_kind == kCallWalk) {
          arity = 1;
        }
        for (size_t i = 0; i < argc; ++i) {
          AnalyzeTerm(t->items[i].get(), i >= arity, n, level);
        }
        break;
      }
    }
  }

  void OrderNested(Expr& e, std::vector<char>& bound, const std::vector<char>& level) {
    for (auto& w : e.with) OrderNestedTerm(w.value.get(), bound, level);
    OrderNestedTerm(e.term.get(), bound, level);
    OrderNestedTerm(e.domain.get(), bound, level);
    if (e.kind == ExprKind::kEvery) {
      std::vector<char> inner = bound;
      for (auto& v : e.vars) {
        Slots s;
        CollectAllTerm(v.get(), s);
        for (int x : s) inner[x] = 1;
      }
      OrderBody(*e.body, inner, level);
    }
  }

  void OrderNestedTerm(Term* t, std::vector<char>& bound, const std::vector<char>& level) {
    if (!t) return;
    switch (t->kind) {
      case TermKind::kRef:
        OrderNestedTerm(t->head.get(), bound, level);
        for (auto& p : t->path) OrderNestedTerm(p.get(), bound, level);
        break;
      case TermKind::kArray:
      case TermKind::kSet:
      case TermKind::kCall:
        for (auto& i : t->items) OrderNestedTerm(i.get(), bound, level);
        break;
      case TermKind::kObject:
        for (auto& [k, v] : t->entries) {
          OrderNestedTerm(k.get(), bound, level);
          OrderNestedTerm(v.get(), bound, level);
        }
        break;
      case TermKind::kArrayCompr:
      case TermKind::kSetCompr:
      case TermKind::kObjectCompr: {
        std::vector<char> inner = bound;
        OrderBody(*t->body, inner, level);
        CheckHead(t->key.get(), inner);
        CheckHead(t->compr_head.get(), inner);
        break;
      }
      default:
        break;
    }
  }

  const std::vector<std::string>& names_;
};

void AddRuleToTree(Program& program, const Module& module, const Rule& rule) {
  std::vector<std::string> path = module.package;
  path.insert(path.end(), rule.path.begin(), rule.path.end());
  DataNode* node = &program.root;
  for (size_t i = 0; i < path.size(); ++i) {
    if (node->rules) {
      Throw(PolicyErrorKind::kCompile, rule.loc,
            "rule data." + Join(path) + " conflicts with rule " + node->rules->dotted);
    }
    auto& child = node->children[path[i]];
    if (!child) child = std::make_unique<DataNode>();
    node = child.get();
  }
  if (!node->children.empty()) {
    Throw(PolicyErrorKind::kCompile, rule.loc,
          "rule data." + Join(path) + " conflicts with rules or packages below it");
  }
  if (!node->rules) {
    auto rs = std::make_unique<RuleSet>();
    rs->path = path;
    rs->dotted = "data." + Join(path);
    rs->kind = rule.kind;
    rs->arity = static_cast<int>(rule.args.size());
    node->rules = rs.get();
    program.rule_sets.push_back(std::move(rs));
  }
  RuleSet* rs = node->rules;
  // default rules are complete; other kinds must agree.
  if (rule.is_default) {
    if (rs->default_rule) {
      Throw(PolicyErrorKind::kType, rule.loc, "multiple default rules " + rs->dotted + " found");
    }
    if (rs->kind == RuleKind::kFunction && rule.kind != RuleKind::kFunction) {
      Throw(PolicyErrorKind::kType, rule.loc, "conflicting rules " + rs->dotted + " found");
    }
    rs->default_rule = &rule;
    return;
  }
  if (rs->rules.empty() && rs->default_rule && rule.kind != RuleKind::kComplete &&
      rule.kind != RuleKind::kFunction) {
    Throw(PolicyErrorKind::kType, rule.loc, "conflicting rules " + rs->dotted + " found");
  }
  if (!rs->rules.empty() &&
      (rs->kind != rule.kind || rs->arity != static_cast<int>(rule.args.size()))) {
    Throw(PolicyErrorKind::kType, rule.loc, "conflicting rules " + rs->dotted + " found");
  }
  rs->kind = rule.kind;
  rs->arity = static_cast<int>(rule.args.size());
  rs->rules.push_back(&rule);
}

void MarkPackages(Program& program, const Module& module) {
  DataNode* node = &program.root;
  for (auto& part : module.package) {
    auto& child = node->children[part];
    if (!child) child = std::make_unique<DataNode>();
    node = child.get();
  }
  node->is_package = true;
}

Globals ModuleGlobals(const Module& module) {
  Globals globals;
  for (auto& rule : module.rules) {
    std::vector<std::string> path{"data"};
    path.insert(path.end(), module.package.begin(), module.package.end());
    path.push_back(rule.path.front());
    globals[rule.path.front()] = path;
  }
  for (auto& imp : module.imports) {
    if (imp.path.empty()) continue;
    const std::string& root = imp.path[0];
    if (root == "future" || root == "rego") continue;
    if (root != "data" && root != "input") {
      Throw(PolicyErrorKind::kCompile, imp.loc,
            "invalid import " + Join(imp.path) + ": path must begin with input or data");
    }
    std::string alias = imp.alias.empty() ? imp.path.back() : imp.alias;
    if (imp.path.size() == 1 && imp.alias.empty()) continue;  // `import input` / `import data`
    globals[alias] = imp.path;
  }
  return globals;
}

void CompileRule(const Program& program, const Globals& globals, Rule& rule) {
  BodyCompiler bc(program, globals);
  for (auto& arg : rule.args) bc.DeclarePattern(*arg, false);
  for (auto& arg : rule.args) bc.ResolveTermPtr(arg);
  bc.PushScope();
  bc.ResolveBody(rule.body);
  bc.ResolveTermPtr(rule.key);
  bc.ResolveTermPtr(rule.value);
  bc.PopScope();
  for (auto& e : rule.elses) {
    bc.PushScope();
    bc.ResolveBody(e.body);
    bc.ResolveTermPtr(e.value);
    bc.PopScope();
  }
  int slots = bc.num_slots();
  rule.num_slots = slots;

  Orderer orderer(bc.slot_names());
  std::vector<char> args_bound(slots, 0);
  for (auto& arg : rule.args) {
    Slots s;
    CollectAllTerm(arg.get(), s);
    for (int x : s) args_bound[x] = 1;
  }
  std::vector<char> context(slots, 0);
  {
    std::vector<char> bound = args_bound;
    orderer.OrderBody(rule.body, bound, context);
    orderer.CheckHead(rule.key.get(), bound);
    orderer.CheckHead(rule.value.get(), bound);
  }
  for (auto& e : rule.elses) {
    std::vector<char> bound = args_bound;
    orderer.OrderBody(e.body, bound, context);
    orderer.CheckHead(e.value.get(), bound);
  }
  if (rule.is_default) {
    Slots s;
    CollectAllTerm(rule.value.get(), s);
    if (!s.empty()) {
      Throw(PolicyErrorKind::kCompile, rule.loc, "illegal default rule (value cannot contain var)");
    }
  }
}

}  // namespace

const RuleSet* Program::FindRuleSet(const std::vector<std::string>& path) const {
  const DataNode* node = FindNode(path);
  return node ? node->rules : nullptr;
}

const DataNode* Program::FindNode(const std::vector<std::string>& path) const {
  const DataNode* node = &root;
  for (auto& part : path) {
    if (node->rules) return nullptr;
    auto it = node->children.find(part);
    if (it == node->children.end()) return nullptr;
    node = it->second.get();
  }
  return node;
}

std::unique_ptr<Program> CompileProgram(std::vector<std::unique_ptr<Module>> modules,
                                        const Value& data) {
  auto program = std::make_unique<Program>();
  program->modules = std::move(modules);
  program->base_data = data.IsObject() ? data : Value::EmptyObject();
  for (auto& m : program->modules) {
    MarkPackages(*program, *m);
    std::string pkg = Join(m->package);
    if (std::find(program->packages.begin(), program->packages.end(), pkg) ==
        program->packages.end()) {
      program->packages.push_back(pkg);
    }
  }
  for (auto& m : program->modules) {
    for (auto& rule : m->rules) AddRuleToTree(*program, *m, rule);
  }
  for (auto& m : program->modules) {
    Globals globals = ModuleGlobals(*m);
    for (auto& rule : m->rules) CompileRule(*program, globals, rule);
  }
  return program;
}

CompiledQuery CompileQuery(const Program& program, std::string_view text) {
  CompiledQuery q;
  q.body = ParseQuery(text, &q.texts);
  Globals none;
  BodyCompiler bc(program, none);
  bc.ResolveBody(q.body);
  q.num_slots = bc.num_slots();
  Orderer orderer(bc.slot_names());
  std::vector<char> bound(q.num_slots, 0);
  std::vector<char> context(q.num_slots, 0);
  // Keep each expression's text with it through the reordering (matched by location).
  Body original = q.body;
  orderer.OrderBody(q.body, bound, context);
  // Map reordered expressions back to their texts by location.
  std::vector<std::string> texts;
  for (auto& e : q.body) {
    std::string t;
    for (size_t i = 0; i < original.size(); ++i) {
      if (original[i].loc.line == e.loc.line && original[i].loc.column == e.loc.column &&
          i < q.texts.size()) {
        t = q.texts[i];
        break;
      }
    }
    texts.push_back(t);
  }
  q.texts = std::move(texts);
  // Capture the value of plain term and call expressions (not =, :=, not, some, every): a
  // query's `1 == 2` reports false where a rule body would fail.
  for (auto& e : q.body) {
    bool capture = e.kind == ExprKind::kTerm && !e.negated &&
                   !(e.term->kind == TermKind::kCall &&
                     (e.term->target_kind == kCallEq || e.term->target_kind == kCallAssign));
    q.capture.push_back(capture);
  }
  q.check_capture = q.body.size() > 1 || q.num_slots > 0;
  for (int s = 0; s < q.num_slots; ++s) {
    const std::string& name = bc.slot_names()[s];
    if (name.empty() || name[0] == '$' || name[0] == '_') continue;
    if (!bound[s]) continue;
    q.named_vars.emplace_back(name, s);
  }
  std::sort(q.named_vars.begin(), q.named_vars.end());
  return q;
}

}  // namespace statehouse::policy::internal
