#include "policy/evaluator.h"

#include <algorithm>

#include "policy/errors.h"

namespace statehouse::policy::internal {

namespace {

// Stack a query may use before it is stopped (a body thousands of expressions long, or rules
// nested very deep); well below the 8 MiB threads get on Linux, sanitizers included.
constexpr size_t kStackBudget = size_t{3} << 20;

const Value& True() {
  static const Value t = Value::Bool(true);
  return t;
}

// Sets value at path inside doc, creating objects on the way (for `with input.a.b as v`).
Value Upsert(const Value& doc, const std::vector<std::string>& path, size_t index,
             const Value& value) {
  if (index == path.size()) return value;
  Value key = Value::String(path[index]);
  const Value* existing = doc.Find(key);
  Value child = existing && existing->IsObject() ? *existing : Value::EmptyObject();
  std::vector<ObjectEntry> entries;
  if (doc.IsObject()) entries = doc.AsObject().Entries();
  entries.emplace_back(key, Upsert(child, path, index + 1, value));
  return Value::MakeObject(std::move(entries));  // the later entry for key wins
}

bool StartsWith(const std::vector<std::string>& path, const std::vector<std::string>& prefix) {
  if (prefix.size() > path.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), path.begin());
}

}  // namespace

Evaluator::Evaluator(const Program& program, const Value& input, const EvalOptions& options)
    : program_(program), options_(options) {
  state_.input = input;
  state_.cache = &root_cache_;
  int64_t now = options.now_ns;
  if (now == 0) {
    now = std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  }
  builtin_context_.now_ns = now;
  builtin_context_.charge = [this](size_t bytes) { Charge(bytes); };
  if (options.timeout_ms > 0) {
    has_deadline_ = true;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  }
  stack_base_ = static_cast<const char*>(__builtin_frame_address(0));
}

void Evaluator::Fail(PolicyErrorKind kind, const Location& loc, const std::string& message) {
  throw PolicyError(kind, loc, message);
}

void Evaluator::Step() {
  ++steps_;
  if ((steps_ & 255) == 0 && has_deadline_ && std::chrono::steady_clock::now() > deadline_) {
    Fail(PolicyErrorKind::kBudget, {},
         "evaluation exceeded its time budget of " + std::to_string(options_.timeout_ms) + " ms");
  }
  const char* here = static_cast<const char*>(__builtin_frame_address(0));
  size_t used = stack_base_ > here ? static_cast<size_t>(stack_base_ - here) : 0;
  if (used > kStackBudget) {
    Fail(PolicyErrorKind::kBudget, {}, "evaluation nested too deep");
  }
}

void Evaluator::Charge(size_t bytes) {
  // Builtins charge as they build large values, so this is also where long builtin calls meet
  // the deadline.
  if (has_deadline_ && std::chrono::steady_clock::now() > deadline_) {
    Fail(PolicyErrorKind::kBudget, {},
         "evaluation exceeded its time budget of " + std::to_string(options_.timeout_ms) + " ms");
  }
  memory_ += bytes;
  if (options_.max_memory_bytes && memory_ > options_.max_memory_bytes) {
    Fail(PolicyErrorKind::kBudget, {},
         "evaluation exceeded its memory budget of " + std::to_string(options_.max_memory_bytes) +
             " bytes");
  }
}

// ---- bodies and expressions ----

bool Evaluator::EvalBody(const Body& body, size_t index, Frame& frame, Cont k) {
  if (index == body.size()) return k();
  return EvalExpr(body[index], frame, [&]() { return EvalBody(body, index + 1, frame, k); });
}

bool Evaluator::EvalExpr(const Expr& expr, Frame& frame, Cont k) {
  Step();
  if (!expr.with.empty()) {
    return WithOverrides(
        expr, frame,
        [&](Cont inner) {
          if (expr.negated) {
            if (EvalExprPlain(expr, frame, []() { return true; })) return false;
            return inner();
          }
          return EvalExprPlain(expr, frame, inner);
        },
        k);
  }
  if (expr.negated) {
    if (EvalExprPlain(expr, frame, []() { return true; })) return false;
    return k();
  }
  return EvalExprPlain(expr, frame, k);
}

bool Evaluator::WithOverrides(const Expr& expr, Frame& frame, FnRef<bool(Cont)> body, Cont k) {
  Overrides next = state_;
  Cache cache;
  next.cache = &cache;
  // Values are read in the outer state, then all modifiers apply together.
  for (const auto& w : expr.with) {
    const Term& target = *w.target;
    if (target.kind == TermKind::kCall) {
      FunctionOverride fo;
      if (w.value->kind == TermKind::kCall && w.value->slot == -2) {
        fo.replacement = w.value.get();
      } else {
        std::optional<Value> v;
        EvalTerm(*w.value, frame, [&](const Value& x) {
          v = x;
          return true;
        });
        if (!v) return false;
        fo.is_value = true;
        fo.value = *v;
      }
      next.functions[target.target] = fo;
      continue;
    }
    std::optional<Value> v;
    EvalTerm(*w.value, frame, [&](const Value& x) {
      v = x;
      return true;
    });
    if (!v) return false;
    std::vector<std::string> path;
    for (auto& p : target.path) path.push_back(p->value.AsString());
    if (target.head->name == "input") {
      next.input = Upsert(next.input, path, 0, *v);
    } else {
      next.data.push_back({path, *v});
    }
  }
  std::swap(state_, next);
  bool stop = body([&]() {
    std::swap(state_, next);
    bool r = k();
    std::swap(state_, next);
    return r;
  });
  std::swap(state_, next);
  return stop;
}

bool Evaluator::EvalExprPlain(const Expr& expr, Frame& frame, Cont k) {
  switch (expr.kind) {
    case ExprKind::kSome:
      return k();
    case ExprKind::kSomeIn:
      return EvalSomeIn(expr, frame, k);
    case ExprKind::kEvery:
      return EvalEvery(expr, frame, k);
    case ExprKind::kTerm:
      break;
  }
  const Term& term = *expr.term;
  if (term.kind == TermKind::kCall &&
      (term.target_kind == kCallEq || term.target_kind == kCallAssign)) {
    return Unify(*term.items[0], *term.items[1], frame, k);
  }
  return EvalTerm(term, frame, [&](const Value& v) {
    if (v.IsBool() && !v.AsBool()) return false;
    return k();
  });
}

// Calls k for each (key, value) of a collection.
template <typename F>
static bool ForEachMember(const Value& coll, F&& f) {
  switch (coll.kind()) {
    case Kind::kArray: {
      const Array& items = coll.AsArray();
      for (size_t i = 0; i < items.size(); ++i) {
        if (f(Value::Int(static_cast<int64_t>(i)), items[i])) return true;
      }
      return false;
    }
    case Kind::kObject:
      for (const auto& [key, value] : coll.AsObject()) {
        if (f(key, value)) return true;
      }
      return false;
    case Kind::kSet:
      for (const auto& item : coll.AsSet()) {
        if (f(item, item)) return true;
      }
      return false;
    default:
      return false;
  }
}

bool Evaluator::EvalSomeIn(const Expr& expr, Frame& frame, Cont k) {
  return EvalTerm(*expr.domain, frame, [&](const Value& coll) {
    return ForEachMember(coll, [&](const Value& key, const Value& value) {
      Step();
      if (expr.vars.size() == 1) return UnifyValue(*expr.vars[0], value, frame, k);
      return UnifyValue(*expr.vars[0], key, frame,
                        [&]() { return UnifyValue(*expr.vars[1], value, frame, k); });
    });
  });
}

bool Evaluator::EvalEvery(const Expr& expr, Frame& frame, Cont k) {
  bool all = true;
  // `every` over an undefined domain is true, as over an empty one.
  EvalTerm(*expr.domain, frame, [&](const Value& coll) {
    ForEachMember(coll, [&](const Value& key, const Value& value) {
      Step();
      bool ok;
      auto body = [&]() { return EvalBody(*expr.body, 0, frame, []() { return true; }); };
      if (expr.vars.size() == 1 || !expr.vars[0]) {
        ok = UnifyValue(*expr.vars.back(), value, frame, body);
      } else {
        ok = UnifyValue(*expr.vars[0], key, frame,
                        [&]() { return UnifyValue(*expr.vars[1], value, frame, body); });
      }
      if (!ok) all = false;
      return !ok;  // stop at the first member that fails
    });
    return true;
  });
  if (!all) return false;
  return k();
}

// ---- terms ----

bool Evaluator::Bind(Frame& frame, int slot, const Value& value, Cont k) {
  frame.values[slot] = &value;
  bool r = k();
  frame.values[slot] = nullptr;
  return r;
}

bool Evaluator::HasUnboundVars(const Term& t, const Frame& frame) const {
  switch (t.kind) {
    case TermKind::kVar:
      return t.slot >= 0 && !frame.Bound(t.slot);
    case TermKind::kArray:
      for (auto& i : t.items) {
        if (HasUnboundVars(*i, frame)) return true;
      }
      return false;
    case TermKind::kObject:
      for (auto& [key, value] : t.entries) {
        if (HasUnboundVars(*value, frame)) return true;
      }
      return false;
    default:
      return false;
  }
}

bool Evaluator::EvalTerm(const Term& term, Frame& frame, ValueCont k) {
  switch (term.kind) {
    case TermKind::kScalar:
      return k(term.value);
    case TermKind::kVar: {
      if (term.slot >= 0) {
        if (!frame.Bound(term.slot)) {
          Fail(PolicyErrorKind::kUnsafeVar, term.loc, "var " + term.name + " is unsafe");
        }
        return k(*frame.values[term.slot]);
      }
      if (term.name == "input") {
        Value input = state_.input;  // `with` may swap state_.input while k runs
        return k(input);
      }
      if (term.name == "data") {
        std::vector<std::string> prefix;
        return k(MaterializeNode(&program_.root, prefix));
      }
      Fail(PolicyErrorKind::kUnsafeVar, term.loc, "var " + term.name + " is unsafe");
    }
    case TermKind::kRef:
      return EvalRef(term, frame, k);
    case TermKind::kArray: {
      std::vector<Value> out;
      out.reserve(term.items.size());
      return EvalTerms(term.items, 0, out, frame, [&]() { return k(Value::MakeArray(out)); });
    }
    case TermKind::kSet: {
      std::vector<Value> out;
      out.reserve(term.items.size());
      return EvalTerms(term.items, 0, out, frame, [&]() { return k(Value::MakeSet(out)); });
    }
    case TermKind::kObject: {
      std::vector<TermPtr> flat;
      flat.reserve(term.entries.size() * 2);
      for (auto& [key, value] : term.entries) {
        flat.push_back(key);
        flat.push_back(value);
      }
      std::vector<Value> out;
      out.reserve(flat.size());
      return EvalTerms(flat, 0, out, frame, [&]() {
        std::vector<ObjectEntry> entries;
        entries.reserve(out.size() / 2);
        for (size_t i = 0; i + 1 < out.size(); i += 2) entries.emplace_back(out[i], out[i + 1]);
        return k(Value::MakeObject(std::move(entries)));
      });
    }
    case TermKind::kArrayCompr:
    case TermKind::kSetCompr:
    case TermKind::kObjectCompr:
      return EvalComprehension(term, frame, k);
    case TermKind::kCall:
      return EvalCall(term, frame, k);
  }
  return false;
}

bool Evaluator::EvalTerms(const std::vector<TermPtr>& terms, size_t index, std::vector<Value>& out,
                          Frame& frame, Cont k, size_t end) {
  if (index >= std::min(end, terms.size())) return k();
  return EvalTerm(*terms[index], frame, [&](const Value& v) {
    out.push_back(v);
    bool r = EvalTerms(terms, index + 1, out, frame, k, end);
    out.pop_back();
    return r;
  });
}

bool Evaluator::EvalComprehension(const Term& term, Frame& frame, ValueCont k) {
  std::vector<Value> items;
  std::vector<ObjectEntry> entries;
  EvalBody(*term.body, 0, frame, [&]() {
    if (term.kind == TermKind::kObjectCompr) {
      EvalTerm(*term.key, frame, [&](const Value& key) {
        return EvalTerm(*term.compr_head, frame, [&](const Value& value) {
          for (auto& e : entries) {
            if (e.first == key && e.second != value) {
              Fail(PolicyErrorKind::kConflict, term.loc, "object keys must be unique");
            }
          }
          Charge(key.Footprint() + value.Footprint());
          entries.emplace_back(key, value);
          return false;
        });
      });
    } else {
      EvalTerm(*term.compr_head, frame, [&](const Value& v) {
        Charge(v.Footprint());
        items.push_back(v);
        return false;
      });
    }
    return false;
  });
  switch (term.kind) {
    case TermKind::kArrayCompr:
      return k(Value::MakeArray(std::move(items)));
    case TermKind::kSetCompr:
      return k(Value::MakeSet(std::move(items)));
    default:
      return k(Value::MakeObject(std::move(entries)));
  }
}

bool Evaluator::EvalRef(const Term& ref, Frame& frame, ValueCont k) {
  const Term& head = *ref.head;
  if (head.kind == TermKind::kVar && head.slot < 0) {
    if (head.name == "input") {
      Value input = state_.input;  // `with` may swap state_.input while k runs
      return ApplyPath(input, ref, 0, frame, k);
    }
    if (head.name == "data") {
      std::vector<std::string> prefix;
      return EvalData(&program_.root, prefix, ref, 0, frame, k);
    }
  }
  return EvalTerm(head, frame, [&](const Value& v) { return ApplyPath(v, ref, 0, frame, k); });
}

bool Evaluator::ApplyPath(const Value& value, const Term& ref, size_t index, Frame& frame,
                          ValueCont k) {
  if (index == ref.path.size()) return k(value);
  const Term& p = *ref.path[index];
  if (p.kind == TermKind::kScalar) {
    const Value* next = value.Lookup(p.value);
    if (!next) return false;
    return ApplyPath(*next, ref, index + 1, frame, k);
  }
  if (p.kind == TermKind::kVar && p.slot >= 0 && !frame.Bound(p.slot)) {
    return ForEachMember(value, [&](const Value& key, const Value& member) {
      Step();
      return Bind(frame, p.slot, key,
                  [&]() { return ApplyPath(member, ref, index + 1, frame, k); });
    });
  }
  if ((p.kind == TermKind::kArray || p.kind == TermKind::kObject) && HasUnboundVars(p, frame)) {
    return ForEachMember(value, [&](const Value& key, const Value& member) {
      Step();
      return UnifyValue(p, key, frame,
                        [&]() { return ApplyPath(member, ref, index + 1, frame, k); });
    });
  }
  return EvalTerm(p, frame, [&](const Value& key) {
    const Value* next = value.Lookup(key);
    if (!next) return false;
    return ApplyPath(*next, ref, index + 1, frame, k);
  });
}

std::optional<Value> Evaluator::BaseDataAt(const std::vector<std::string>& prefix) const {
  const Value* v = &program_.base_data;
  for (auto& part : prefix) {
    v = v->Find(part);
    if (!v) return std::nullopt;
  }
  return *v;
}

const Value* Evaluator::DataOverrideAt(const std::vector<std::string>& prefix) const {
  // The innermost (last) `with` wins.
  for (auto it = state_.data.rbegin(); it != state_.data.rend(); ++it) {
    if (it->path == prefix) return &it->value;
  }
  return nullptr;
}

bool Evaluator::EvalData(const DataNode* node, std::vector<std::string>& prefix, const Term& ref,
                         size_t index, Frame& frame, ValueCont k) {
  if (!state_.data.empty()) {
    if (const Value* over = DataOverrideAt(prefix)) return ApplyPath(*over, ref, index, frame, k);
  }
  if (node && node->rules) {
    if (node->rules->kind == RuleKind::kFunction) return false;
    std::optional<Value> doc = RuleDocument(*node->rules);
    if (!doc) return false;
    // A `with` deeper inside a rule's document replaces that part of it.
    if (!state_.data.empty()) {
      Value patched = *doc;
      for (auto& o : state_.data) {
        if (o.path.size() > prefix.size() && StartsWith(o.path, prefix)) {
          std::vector<std::string> rest(o.path.begin() + static_cast<long>(prefix.size()),
                                        o.path.end());
          patched = Upsert(patched, rest, 0, o.value);
        }
      }
      return ApplyPath(patched, ref, index, frame, k);
    }
    return ApplyPath(*doc, ref, index, frame, k);
  }
  if (index == ref.path.size()) {
    Value v = MaterializeNode(node, prefix);
    if (!node && v.IsObject() && v.AsObject().empty()) {
      // Not a package, not base data: undefined, unless base data holds an empty object here.
      auto base = BaseDataAt(prefix);
      if (!base) return false;
      return k(*base);
    }
    return k(v);
  }
  const Term& p = *ref.path[index];
  auto step_into = [&](const Value& key) -> bool {
    if (!key.IsString()) {
      auto base = BaseDataAt(prefix);
      if (!base) return false;
      auto next = base->Index(key);
      if (!next) return false;
      return ApplyPath(*next, ref, index + 1, frame, k);
    }
    const DataNode* child = nullptr;
    if (node) {
      auto it = node->children.find(key.AsString());
      if (it != node->children.end()) child = it->second.get();
    }
    prefix.push_back(key.AsString());
    bool r;
    if (child || !state_.data.empty()) {
      r = EvalData(child, prefix, ref, index + 1, frame, k);
    } else {
      auto base = BaseDataAt(prefix);
      r = base ? ApplyPath(*base, ref, index + 1, frame, k) : false;
    }
    prefix.pop_back();
    return r;
  };
  if (p.kind == TermKind::kScalar) return step_into(p.value);
  if (p.kind == TermKind::kVar && p.slot >= 0 && !frame.Bound(p.slot)) {
    // Iterate over the rules and packages here and the base data's keys.
    std::vector<std::string> keys;
    if (node) {
      for (auto& [name, child] : node->children) {
        if (child->rules && child->rules->kind == RuleKind::kFunction) continue;
        keys.push_back(name);
      }
    }
    if (auto base = BaseDataAt(prefix); base && base->IsObject()) {
      for (auto& [key, value] : base->AsObject()) {
        if (key.IsString() && std::find(keys.begin(), keys.end(), key.AsString()) == keys.end()) {
          keys.push_back(key.AsString());
        }
      }
    }
    for (auto& key : keys) {
      Value kv = Value::String(key);
      if (Bind(frame, p.slot, kv, [&]() { return step_into(kv); })) return true;
    }
    return false;
  }
  return EvalTerm(p, frame, [&](const Value& key) { return step_into(key); });
}

Value Evaluator::MaterializeNode(const DataNode* node, std::vector<std::string>& prefix) {
  std::vector<ObjectEntry> entries;
  if (auto base = BaseDataAt(prefix); base && base->IsObject())
    entries = base->AsObject().Entries();
  if (node) {
    for (auto& [name, child] : node->children) {
      prefix.push_back(name);
      std::optional<Value> v;
      if (const Value* over = DataOverrideAt(prefix)) {
        v = *over;
      } else if (child->rules) {
        if (child->rules->kind != RuleKind::kFunction) v = RuleDocument(*child->rules);
      } else {
        v = MaterializeNode(child.get(), prefix);
      }
      prefix.pop_back();
      if (v) entries.emplace_back(Value::String(name), *v);
    }
  }
  Value out = Value::MakeObject(std::move(entries));
  for (auto& o : state_.data) {
    if (o.path.size() > prefix.size() && StartsWith(o.path, prefix)) {
      std::vector<std::string> rest(o.path.begin() + static_cast<long>(prefix.size()),
                                    o.path.end());
      out = Upsert(out, rest, 0, o.value);
    }
  }
  return out;
}

// ---- unification ----

bool Evaluator::Unify(const Term& a, const Term& b, Frame& frame, Cont k) {
  Step();
  if (a.kind == TermKind::kVar && a.slot >= 0 && !frame.Bound(a.slot)) {
    if (b.kind == TermKind::kVar && b.slot >= 0 && !frame.Bound(b.slot)) {
      Fail(PolicyErrorKind::kUnsafeVar, a.loc, "var " + a.name + " is unsafe");
    }
    return EvalTerm(b, frame, [&](const Value& v) { return Bind(frame, a.slot, v, k); });
  }
  if (b.kind == TermKind::kVar && b.slot >= 0 && !frame.Bound(b.slot)) {
    return EvalTerm(a, frame, [&](const Value& v) { return Bind(frame, b.slot, v, k); });
  }
  if (a.kind == TermKind::kArray && b.kind == TermKind::kArray) {
    if (a.items.size() != b.items.size()) return false;
    // Pairwise, left to right.
    std::function<bool(size_t)> pairwise = [&](size_t i) -> bool {
      if (i == a.items.size()) return k();
      return Unify(*a.items[i], *b.items[i], frame, [&]() { return pairwise(i + 1); });
    };
    return pairwise(0);
  }
  if (HasUnboundVars(a, frame)) {
    return EvalTerm(b, frame, [&](const Value& v) { return UnifyValue(a, v, frame, k); });
  }
  return EvalTerm(a, frame, [&](const Value& v) { return UnifyValue(b, v, frame, k); });
}

bool Evaluator::UnifyValue(const Term& pattern, const Value& value, Frame& frame, Cont k) {
  switch (pattern.kind) {
    case TermKind::kVar:
      if (pattern.slot >= 0) {
        if (!frame.Bound(pattern.slot)) return Bind(frame, pattern.slot, value, k);
        if (*frame.values[pattern.slot] != value) return false;
        return k();
      }
      break;
    case TermKind::kScalar:
      if (pattern.value != value) return false;
      return k();
    case TermKind::kArray:
      if (!HasUnboundVars(pattern, frame)) break;
      if (!value.IsArray() || value.AsArray().size() != pattern.items.size()) return false;
      return UnifyItems(pattern.items, value.AsArray(), 0, frame, k);
    case TermKind::kObject: {
      if (!HasUnboundVars(pattern, frame)) break;
      if (!value.IsObject() || value.AsObject().size() != pattern.entries.size()) return false;
      std::function<bool(size_t)> each = [&](size_t i) -> bool {
        if (i == pattern.entries.size()) return k();
        return EvalTerm(*pattern.entries[i].first, frame, [&](const Value& key) {
          const Value* member = value.Find(key);
          if (!member) return false;
          return UnifyValue(*pattern.entries[i].second, *member, frame,
                            [&]() { return each(i + 1); });
        });
      };
      return each(0);
    }
    default:
      break;
  }
  return EvalTerm(pattern, frame, [&](const Value& v) {
    if (v != value) return false;
    return k();
  });
}

bool Evaluator::UnifyItems(const std::vector<TermPtr>& patterns, const Array& values, size_t index,
                           Frame& frame, Cont k) {
  if (index == patterns.size()) return k();
  return UnifyValue(*patterns[index], values[index], frame,
                    [&]() { return UnifyItems(patterns, values, index + 1, frame, k); });
}

// ---- calls ----

static void WalkValue(const Value& v, std::vector<Value>& path, std::vector<Value>& out) {
  out.push_back(Value::MakeArray({Value::MakeArray(path), v}));
  ForEachMember(v, [&](const Value& key, const Value& member) {
    path.push_back(key);
    WalkValue(member, path, out);
    path.pop_back();
    return false;
  });
}

bool Evaluator::EvalCall(const Term& call, Frame& frame, ValueCont k) {
  switch (call.target_kind) {
    case kCallEq:
    case kCallAssign:
      return Unify(*call.items[0], *call.items[1], frame, [&]() { return k(True()); });
    case kCallMember2: {
      std::vector<Value> args;
      return EvalTerms(call.items, 0, args, frame, [&]() {
        bool found = false;
        if (args[1].IsSet()) {
          found = args[1].SetContains(args[0]);
        } else {
          ForEachMember(args[1], [&](const Value&, const Value& member) {
            found = member == args[0];
            return found;
          });
        }
        return k(Value::Bool(found));
      });
    }
    case kCallMember3: {
      std::vector<Value> args;
      return EvalTerms(call.items, 0, args, frame, [&]() {
        bool found = false;
        if (args[2].IsArray() || args[2].IsObject()) {
          auto member = args[2].Index(args[0]);
          found = member && *member == args[1];
        } else if (args[2].IsSet()) {
          found = args[0] == args[1] && args[2].SetContains(args[0]);
        }
        return k(Value::Bool(found));
      });
    }
    case kCallPrint: {
      std::string line;
      for (size_t i = 0; i < call.items.size(); ++i) {
        std::optional<Value> v;
        EvalTerm(*call.items[i], frame, [&](const Value& x) {
          v = x;
          return true;
        });
        if (i) line += ' ';
        if (!v) {
          line += "<undefined>";
        } else if (v->IsString()) {
          line += v->AsString();
        } else {
          line += v->ToRego();
        }
      }
      Charge(line.size());
      prints_.push_back(std::move(line));
      return k(True());
    }
    case kCallWalk:
      return EvalTerm(*call.items[0], frame, [&](const Value& root) {
        std::vector<Value> path, pairs;
        WalkValue(root, path, pairs);
        Charge(pairs.size() * sizeof(Value) * 4);
        for (auto& pair : pairs) {
          Step();
          bool stop = call.items.size() == 2
                          ? UnifyValue(*call.items[1], pair, frame, [&]() { return k(True()); })
                          : k(pair);
          if (stop) return true;
        }
        return false;
      });
    case kCallBuiltin:
    case kCallFunction:
      break;
    default:
      Fail(PolicyErrorKind::kType, call.loc, "undefined function " + call.name);
  }
  size_t arity = call.target_kind == kCallBuiltin
                     ? static_cast<size_t>(static_cast<const Builtin*>(call.target)->arity)
                     : static_cast<size_t>(static_cast<const RuleSet*>(call.target)->arity);
  std::vector<Value> args;
  args.reserve(arity);
  // The arguments; an item past the arity is the output, unified with the result below.
  return EvalTerms(
      call.items, 0, args, frame,
      [&]() {
        const void* target = call.target;
        int kind = call.target_kind;
        std::optional<Value> result;
        auto over = state_.functions.find(call.target);
        if (over != state_.functions.end()) {
          if (over->second.is_value) {
            result = over->second.value;
          } else {
            target = over->second.replacement->target;
            kind = over->second.replacement->target_kind;
            result = InvokeCall(call, target, kind, args);
          }
        } else {
          result = InvokeCall(call, target, kind, args);
        }
        if (!result) return false;
        if (call.items.size() > arity) {
          return UnifyValue(*call.items[arity], *result, frame, [&]() { return k(True()); });
        }
        return k(*result);
      },
      arity);
}

std::optional<Value> Evaluator::InvokeCall(const Term& call, const void* target, int kind,
                                           const std::vector<Value>& args) {
  if (kind == kCallBuiltin) return CallBuiltin(call, *static_cast<const Builtin*>(target), args);
  return CallFunction(call, *static_cast<const RuleSet*>(target), args);
}

std::optional<Value> Evaluator::CallBuiltin(const Term& call, const Builtin& builtin,
                                            const std::vector<Value>& args) {
  Step();
  if (args.size() != static_cast<size_t>(builtin.arity)) {
    Fail(PolicyErrorKind::kType, call.loc, builtin.name + ": arity mismatch");
  }
  try {
    return builtin.fn(args, builtin_context_);
  } catch (const PolicyError&) {
    throw;
  } catch (const BuiltinError& e) {
    if (options_.strict_builtin_errors) Fail(PolicyErrorKind::kBuiltin, call.loc, e.what());
    return std::nullopt;
  } catch (const std::exception& e) {
    if (options_.strict_builtin_errors) {
      Fail(PolicyErrorKind::kBuiltin, call.loc, builtin.name + ": " + e.what());
    }
    return std::nullopt;
  }
}

std::optional<Value> Evaluator::CallFunction(const Term& call, const RuleSet& rules,
                                             const std::vector<Value>& args) {
  // Calls with scalar arguments are remembered; keying on large documents would cost more
  // than it saves.
  bool memo = std::all_of(args.begin(), args.end(), [](const Value& a) {
    return !a.IsArray() && !a.IsObject() && !a.IsSet();
  });
  Value key;
  if (memo) {
    key = Value::MakeArray(args);
    auto cached = state_.cache->calls.find({&rules, key});
    if (cached != state_.cache->calls.end()) return cached->second;
  }
  if (std::find(active_.begin(), active_.end(), &rules) != active_.end()) {
    Fail(PolicyErrorKind::kRecursion, call.loc, "rule " + rules.dotted + " is recursive");
  }
  active_.push_back(&rules);
  std::optional<Value> result;
  for (const Rule* rule : rules.rules) {
    Frame frame(rule->num_slots);
    bool constant = !rule->value || rule->value->kind == TermKind::kScalar;
    UnifyItems(rule->args, args, 0, frame, [&]() {
      EvalDefinition(*rule, frame, constant, [&](const Value*, const Value& v) {
        if (result && *result != v) {
          Fail(PolicyErrorKind::kConflict, rule->loc,
               "functions must not produce multiple outputs for same inputs");
        }
        result = v;
      });
      return false;
    });
  }
  if (!result && rules.default_rule && rules.default_rule->value) {
    Frame frame(rules.default_rule->num_slots);
    EvalTerm(*rules.default_rule->value, frame, [&](const Value& v) {
      result = v;
      return true;
    });
  }
  active_.pop_back();
  if (memo) state_.cache->calls[{&rules, key}] = result;
  return result;
}

void Evaluator::EvalDefinition(const Rule& rule, Frame& frame, bool stop_at_first,
                               FnRef<void(const Value*, const Value&)> on_value) {
  bool any = false;
  EvalBody(rule.body, 0, frame, [&]() {
    any = true;
    auto emit_value = [&](const Value* key) {
      if (!rule.value) {
        on_value(key, True());
        return;
      }
      EvalTerm(*rule.value, frame, [&](const Value& v) {
        on_value(key, v);
        return false;
      });
    };
    if (rule.key) {
      EvalTerm(*rule.key, frame, [&](const Value& key) {
        emit_value(&key);
        return false;
      });
    } else {
      emit_value(nullptr);
    }
    return stop_at_first;
  });
  if (any) return;
  for (const auto& e : rule.elses) {
    bool got = false;
    EvalBody(e.body, 0, frame, [&]() {
      got = true;
      if (!e.value) {
        on_value(nullptr, True());
      } else {
        EvalTerm(*e.value, frame, [&](const Value& v) {
          on_value(nullptr, v);
          return false;
        });
      }
      return true;  // the first solution of an else decides
    });
    if (got) return;
  }
}

std::optional<Value> Evaluator::RuleDocument(const RuleSet& rules) {
  auto cached = state_.cache->docs.find(&rules);
  if (cached != state_.cache->docs.end()) return cached->second;
  if (std::find(active_.begin(), active_.end(), &rules) != active_.end()) {
    Fail(PolicyErrorKind::kRecursion, rules.rules.empty() ? Location{} : rules.rules[0]->loc,
         "rule " + rules.dotted + " is recursive");
  }
  active_.push_back(&rules);
  std::optional<Value> result;
  switch (rules.kind) {
    case RuleKind::kComplete: {
      for (const Rule* rule : rules.rules) {
        Frame frame(rule->num_slots);
        bool constant = !rule->value || rule->value->kind == TermKind::kScalar;
        EvalDefinition(*rule, frame, constant, [&](const Value*, const Value& v) {
          if (result && *result != v) {
            Fail(PolicyErrorKind::kConflict, rule->loc,
                 "complete rules must not produce multiple outputs");
          }
          result = v;
        });
      }
      if (!result && rules.default_rule) {
        Frame frame(rules.default_rule->num_slots);
        if (!rules.default_rule->value) {
          result = True();
        } else {
          EvalTerm(*rules.default_rule->value, frame, [&](const Value& v) {
            result = v;
            return true;
          });
        }
      }
      break;
    }
    case RuleKind::kPartialSet: {
      std::vector<Value> items;
      for (const Rule* rule : rules.rules) {
        Frame frame(rule->num_slots);
        EvalDefinition(*rule, frame, false, [&](const Value* key, const Value&) {
          if (!key) return;
          Charge(key->Footprint());
          items.push_back(*key);
        });
      }
      result = Value::MakeSet(std::move(items));
      break;
    }
    case RuleKind::kPartialObject: {
      std::map<Value, Value, ValueLess> entries;
      for (const Rule* rule : rules.rules) {
        Frame frame(rule->num_slots);
        EvalDefinition(*rule, frame, false, [&](const Value* key, const Value& v) {
          if (!key) return;
          auto [it, inserted] = entries.emplace(*key, v);
          if (!inserted && it->second != v) {
            Fail(PolicyErrorKind::kConflict, rule->loc, "object keys must be unique");
          }
          Charge(key->Footprint() + v.Footprint());
        });
      }
      std::vector<ObjectEntry> obj(entries.begin(), entries.end());
      result = Value::FromSortedObject(std::move(obj));
      break;
    }
    case RuleKind::kFunction:
      break;
  }
  active_.pop_back();
  state_.cache->docs[&rules] = result;
  return result;
}

// ---- entry points ----

QueryResult Evaluator::RunQuery(const CompiledQuery& query) {
  QueryResult result;
  Frame frame(query.num_slots);
  std::vector<Value> values(query.body.size(), True());
  std::function<bool(size_t)> run = [&](size_t i) -> bool {
    if (i == query.body.size()) {
      QueryRow row;
      for (size_t j = 0; j < query.body.size(); ++j) {
        row.expressions.push_back(
            {values[j], j < query.texts.size() ? query.texts[j] : "", query.body[j].loc});
      }
      for (auto& [name, slot] : query.named_vars) {
        if (frame.Bound(slot)) row.bindings.emplace_back(name, *frame.values[slot]);
      }
      result.rows.push_back(std::move(row));
      return false;
    }
    const Expr& e = query.body[i];
    if (query.capture[i]) {
      auto eval_value = [&](Cont inner) {
        return EvalTerm(*e.term, frame, [&](const Value& v) {
          if (query.check_capture && v.IsBool() && !v.AsBool()) return false;
          values[i] = v;
          return inner();
        });
      };
      if (!e.with.empty()) {
        return WithOverrides(
            e, frame, [&](Cont inner) { return eval_value(inner); }, [&]() { return run(i + 1); });
      }
      return eval_value([&]() { return run(i + 1); });
    }
    values[i] = True();
    return EvalExpr(e, frame, [&]() { return run(i + 1); });
  };
  run(0);
  result.prints = std::move(prints_);
  return result;
}

std::optional<Value> Evaluator::EvalPath(const std::vector<std::string>& path) {
  Term ref;
  ref.kind = TermKind::kRef;
  auto head = std::make_shared<Term>();
  head->kind = TermKind::kVar;
  head->name = "data";
  ref.head = head;
  for (auto& p : path) {
    auto t = std::make_shared<Term>();
    t->kind = TermKind::kScalar;
    t->value = Value::String(p);
    ref.path.push_back(t);
  }
  Frame frame(0);
  std::optional<Value> out;
  std::vector<std::string> prefix;
  EvalData(&program_.root, prefix, ref, 0, frame, [&](const Value& v) {
    out = v;
    return true;
  });
  return out;
}

}  // namespace statehouse::policy::internal
