// Operators (plus, minus, mul, div, rem, comparisons, set and/or), aggregates (count, sum,
// product, max, min, sort, all, any), numbers (abs, round, ceil, floor, numbers.range*,
// to_number) and bits.*.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;

// --- operators ---

Value SetIntersection(const Set& a, const Set& b) {
  Set out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out),
                        ValueLess());
  return Value::FromSortedSet(std::move(out));
}

Value SetUnion(const Set& a, const Set& b) {
  Set out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out), ValueLess());
  return Value::FromSortedSet(std::move(out));
}

Value SetDifference(const Set& a, const Set& b) {
  Set out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out), ValueLess());
  return Value::FromSortedSet(std::move(out));
}

void RequireNumbers(std::string_view fn, const Args& args) {
  if (!args[0].IsNumber()) FailType(fn, 1, args[0], {"number"});
  if (!args[1].IsNumber()) FailType(fn, 2, args[1], {"number"});
}

std::optional<Value> Plus(const Args& args, BuiltinContext&) {
  RequireNumbers("plus", args);
  return Value::Num(AddNumbers("plus", args[0].AsNumber(), args[1].AsNumber()));
}

std::optional<Value> Minus(const Args& args, BuiltinContext& ctx) {
  const Value& a = args[0];
  const Value& b = args[1];
  if (a.IsNumber() && b.IsNumber()) {
    return Value::Num(SubNumbers("minus", a.AsNumber(), b.AsNumber()));
  }
  if (a.IsSet() && b.IsSet()) return SetDifference(a.AsSet(), b.AsSet());
  // OPA's order of complaints.
  if (!a.IsNumber() && !a.IsSet()) FailType("minus", 1, a, {"number", "set"});
  if (b.IsNumber()) FailType("minus", 2, b, {"set"});
  FailType("minus", 2, b, {"number"});
}

std::optional<Value> Mul(const Args& args, BuiltinContext&) {
  RequireNumbers("mul", args);
  return Value::Num(MulNumbers("mul", args[0].AsNumber(), args[1].AsNumber()));
}

std::optional<Value> Div(const Args& args, BuiltinContext&) {
  RequireNumbers("div", args);
  const Number& a = args[0].AsNumber();
  const Number& b = args[1].AsNumber();
  if (b.AsDouble() == 0) Fail("div", "divide by zero");
  return Value::Num(DivNumbers("div", a, b));
}

std::optional<Value> Rem(const Args& args, BuiltinContext&) {
  RequireNumbers("rem", args);
  auto a = args[0].AsNumber().AsInt();
  auto b = args[1].AsNumber().AsInt();
  if (!a || !b) Fail("rem", "modulo on floating-point number");
  if (*b == 0) Fail("rem", "modulo by zero");
  if (*b == -1) return Value::Int(0);  // INT64_MIN % -1 would trap
  return Value::Int(*a % *b);
}

template <typename Pred>
BuiltinFn Comparison(Pred pred) {
  return [pred](const Args& args, BuiltinContext&) -> std::optional<Value> {
    return Value::Bool(pred(args[0].Compare(args[1])));
  };
}

std::optional<Value> And(const Args& args, BuiltinContext&) {
  const Set& a = SetArg("and", args, 1);
  const Set& b = SetArg("and", args, 2);
  return SetIntersection(a, b);
}

std::optional<Value> Or(const Args& args, BuiltinContext& ctx) {
  const Set& a = SetArg("or", args, 1);
  const Set& b = SetArg("or", args, 2);
  ChargeElements(ctx, "or", a.size() + b.size());
  return SetUnion(a, b);
}

// --- aggregates ---

std::optional<Value> Count(const Args& args, BuiltinContext&) {
  const Value& v = args[0];
  switch (v.kind()) {
    case Kind::kString:
    case Kind::kArray:
    case Kind::kObject:
    case Kind::kSet:
      return Value::Int(static_cast<int64_t>(v.Size()));
    default:
      FailType("count", 1, v, {"array", "object", "set", "string"});
  }
}

const std::vector<Value>& ArrayOrSet(std::string_view fn, const Value& v) {
  if (v.IsArray()) return v.AsArray();
  if (v.IsSet()) return v.AsSet();
  FailType(fn, 1, v, {"set", "array"});
}

std::optional<Value> Sum(const Args& args, BuiltinContext&) {
  Number total = Number::Int(0);
  for (const auto& item : ArrayOrSet("sum", args[0])) {
    if (!item.IsNumber()) FailElement("sum", 1, args[0], item, {"number"});
    total = AddNumbers("sum", total, item.AsNumber());
  }
  return Value::Num(total);
}

std::optional<Value> Product(const Args& args, BuiltinContext&) {
  Number total = Number::Int(1);
  for (const auto& item : ArrayOrSet("product", args[0])) {
    if (!item.IsNumber()) FailElement("product", 1, args[0], item, {"number"});
    total = MulNumbers("product", total, item.AsNumber());
  }
  return Value::Num(total);
}

std::optional<Value> Max(const Args& args, BuiltinContext&) {
  const auto& items = ArrayOrSet("max", args[0]);
  if (items.empty()) return std::nullopt;
  return *std::max_element(items.begin(), items.end(), ValueLess());
}

std::optional<Value> Min(const Args& args, BuiltinContext&) {
  const auto& items = ArrayOrSet("min", args[0]);
  if (items.empty()) return std::nullopt;
  return *std::min_element(items.begin(), items.end(), ValueLess());
}

std::optional<Value> Sort(const Args& args, BuiltinContext& ctx) {
  const auto& items = ArrayOrSet("sort", args[0]);
  ChargeElements(ctx, "sort", items.size());
  Array out(items.begin(), items.end());
  if (args[0].IsArray()) std::stable_sort(out.begin(), out.end(), ValueLess());
  return Value::MakeArray(std::move(out));
}

std::optional<Value> All(const Args& args, BuiltinContext&) {
  const Value& v = args[0];
  if (!v.IsArray() && !v.IsSet()) FailType("all", 1, v, {"array", "set"});
  const auto& items = v.IsArray() ? v.AsArray() : v.AsSet();
  return Value::Bool(
      std::all_of(items.begin(), items.end(), [](const Value& x) { return x.IsTrue(); }));
}

std::optional<Value> Any(const Args& args, BuiltinContext&) {
  const Value& v = args[0];
  if (!v.IsArray() && !v.IsSet()) FailType("any", 1, v, {"array", "set"});
  const auto& items = v.IsArray() ? v.AsArray() : v.AsSet();
  return Value::Bool(
      std::any_of(items.begin(), items.end(), [](const Value& x) { return x.IsTrue(); }));
}

// --- numbers ---

template <typename IntOp, typename DoubleOp>
BuiltinFn Unary(std::string name, IntOp int_op, DoubleOp double_op) {
  return [name, int_op, double_op](const Args& args, BuiltinContext&) -> std::optional<Value> {
    const Number& n = NumberArg(name, args, 1);
    if (n.is_int) return Value::Num(int_op(n.i));
    return Value::Num(CheckedDouble(name, double_op(n.d)));
  };
}

Number AbsInt(int64_t i) {
  if (i == std::numeric_limits<int64_t>::min()) return Number::Double(-static_cast<double>(i));
  return Number::Int(i < 0 ? -i : i);
}

// OPA's BigIntOperand: "must be integer" for other types.
int64_t BigIntArg(std::string_view fn, const Args& args, int pos) {
  const Value& v = args[pos - 1];
  if (!v.IsNumber()) FailType(fn, pos, v, {"integer"});
  auto i = v.AsNumber().AsInt();
  if (!i) {
    Fail(fn, "operand " + std::to_string(pos) +
                 " must be integer number but got floating-point number");
  }
  return *i;
}

Value Range(BuiltinContext& ctx, std::string_view fn, int64_t from, int64_t to, uint64_t step) {
  uint64_t span = from <= to ? static_cast<uint64_t>(to) - static_cast<uint64_t>(from)
                             : static_cast<uint64_t>(from) - static_cast<uint64_t>(to);
  uint64_t steps = span / step;
  if (steps >= kMaxResultElements) Fail(fn, "range too large");
  size_t count = static_cast<size_t>(steps) + 1;
  ChargeElements(ctx, fn, count);
  Array out;
  out.reserve(count);
  // Offsets in unsigned arithmetic: from + k*step stays within [from, to].
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t offset = k * step;
    int64_t v = from <= to ? static_cast<int64_t>(static_cast<uint64_t>(from) + offset)
                           : static_cast<int64_t>(static_cast<uint64_t>(from) - offset);
    out.push_back(Value::Int(v));
  }
  return Value::MakeArray(std::move(out));
}

std::optional<Value> NumbersRange(const Args& args, BuiltinContext& ctx) {
  int64_t a = BigIntArg("numbers.range", args, 1);
  int64_t b = BigIntArg("numbers.range", args, 2);
  return Range(ctx, "numbers.range", a, b, 1);
}

std::optional<Value> NumbersRangeStep(const Args& args, BuiltinContext& ctx) {
  int64_t a = BigIntArg("numbers.range_step", args, 1);
  int64_t b = BigIntArg("numbers.range_step", args, 2);
  int64_t step = BigIntArg("numbers.range_step", args, 3);
  if (step <= 0) Fail("numbers.range_step", "step must be a positive number above zero");
  return Range(ctx, "numbers.range_step", a, b, static_cast<uint64_t>(step));
}

std::optional<Value> ToNumber(const Args& args, BuiltinContext&) {
  const Value& v = args[0];
  switch (v.kind()) {
    case Kind::kNull:
      return Value::Int(0);
    case Kind::kBoolean:
      return Value::Int(v.AsBool() ? 1 : 0);
    case Kind::kNumber:
      return v;
    case Kind::kString: {
      const std::string& s = v.AsString();
      std::string lower;
      for (char c : s) {
        if (c != '+' && c != '-') lower += static_cast<char>(std::tolower(c));
      }
      if (lower == "inf" || lower == "infinity" || lower == "nan") {
        FailType("to_number", 1, v, {"valid number string"});
      }
      auto n = ParseDecimal(s);
      if (!n) Fail("to_number", "strconv.ParseFloat: parsing " + GoQuote(s) + ": invalid syntax");
      if (!n->is_int && !std::isfinite(n->d)) {
        Fail("to_number", "strconv.ParseFloat: parsing " + GoQuote(s) + ": value out of range");
      }
      return Value::Num(*n);
    }
    default:
      FailType("to_number", 1, v, {"null", "boolean", "number", "string"});
  }
}

// --- bits ---

template <typename Op>
BuiltinFn Bitwise(std::string name, Op op) {
  return [name, op](const Args& args, BuiltinContext&) -> std::optional<Value> {
    int64_t a = BigIntArg(name, args, 1);
    int64_t b = BigIntArg(name, args, 2);
    return Value::Int(op(a, b));
  };
}

std::optional<Value> BitsNegate(const Args& args, BuiltinContext&) {
  return Value::Int(~BigIntArg("bits.negate", args, 1));
}

int64_t ShiftArg(std::string_view fn, const Args& args) {
  int64_t s = BigIntArg(fn, args, 2);
  if (s < 0) Fail(fn, "operand 2 must be an unsigned integer number but got a negative integer");
  return s;
}

std::optional<Value> BitsLsh(const Args& args, BuiltinContext&) {
  int64_t x = BigIntArg("bits.lsh", args, 1);
  int64_t s = ShiftArg("bits.lsh", args);
  if (x == 0) return Value::Int(0);
  if (s < 63) {
    __int128 r = static_cast<__int128>(x) * (static_cast<__int128>(1) << s);
    if (r >= std::numeric_limits<int64_t>::min() && r <= std::numeric_limits<int64_t>::max()) {
      return Value::Int(static_cast<int64_t>(r));
    }
  }
  // Beyond int64: OPA's big integers become doubles here.
  if (s > 2000) Fail("bits.lsh", "number out of range");
  return Value::Num(
      CheckedDouble("bits.lsh", std::ldexp(static_cast<double>(x), static_cast<int>(s))));
}

std::optional<Value> BitsRsh(const Args& args, BuiltinContext&) {
  int64_t x = BigIntArg("bits.rsh", args, 1);
  int64_t s = ShiftArg("bits.rsh", args);
  if (s >= 64) return Value::Int(x < 0 ? -1 : 0);
  return Value::Int(x >> s);  // arithmetic: rounds toward -inf, as big.Int.Rsh
}

}  // namespace

void RegisterOperatorBuiltins(BuiltinTable& t) {
  Add(t, "plus", 2, Plus);
  Add(t, "minus", 2, Minus);
  Add(t, "mul", 2, Mul);
  Add(t, "div", 2, Div);
  Add(t, "rem", 2, Rem);
  Add(t, "equal", 2, Comparison([](int c) { return c == 0; }));
  Add(t, "neq", 2, Comparison([](int c) { return c != 0; }));
  Add(t, "lt", 2, Comparison([](int c) { return c < 0; }));
  Add(t, "lte", 2, Comparison([](int c) { return c <= 0; }));
  Add(t, "gt", 2, Comparison([](int c) { return c > 0; }));
  Add(t, "gte", 2, Comparison([](int c) { return c >= 0; }));
  Add(t, "and", 2, And);
  Add(t, "or", 2, Or);
}

void RegisterNumberBuiltins(BuiltinTable& t) {
  Add(t, "count", 1, Count);
  Add(t, "sum", 1, Sum);
  Add(t, "product", 1, Product);
  Add(t, "max", 1, Max);
  Add(t, "min", 1, Min);
  Add(t, "sort", 1, Sort);
  Add(t, "all", 1, All);
  Add(t, "any", 1, Any);

  Add(t, "abs", 1, Unary("abs", AbsInt, [](double d) { return std::fabs(d); }));
  Add(t, "round", 1, Unary("round", Number::Int, [](double d) { return std::round(d); }));
  Add(t, "ceil", 1, Unary("ceil", Number::Int, [](double d) { return std::ceil(d); }));
  Add(t, "floor", 1, Unary("floor", Number::Int, [](double d) { return std::floor(d); }));
  Add(t, "numbers.range", 2, NumbersRange);
  Add(t, "numbers.range_step", 3, NumbersRangeStep);
  Add(t, "to_number", 1, ToNumber);

  Add(t, "bits.and", 2, Bitwise("bits.and", [](int64_t a, int64_t b) { return a & b; }));
  Add(t, "bits.or", 2, Bitwise("bits.or", [](int64_t a, int64_t b) { return a | b; }));
  Add(t, "bits.xor", 2, Bitwise("bits.xor", [](int64_t a, int64_t b) { return a ^ b; }));
  Add(t, "bits.negate", 1, BitsNegate);
  Add(t, "bits.lsh", 2, BitsLsh);
  Add(t, "bits.rsh", 2, BitsRsh);
}

}  // namespace statehouse::policy::internal
