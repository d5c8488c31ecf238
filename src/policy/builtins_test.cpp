// OPA builtins: the registry, operators, aggregates, numbers, strings, sprintf, regex, glob.
// Expected values are OPA's (from its documentation and its Go implementation).
#include "policy/builtins.h"

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <stdexcept>
#include <thread>

#include "policy/builtins_test_util.h"

namespace statehouse::policy {
namespace {

// --- registry ---

TEST(RegoBuiltins, RegistryFindsBuiltinsByName) {
  const Builtin* count = FindBuiltin("count");
  ASSERT_NE(count, nullptr);
  EXPECT_EQ(count->name, "count");
  EXPECT_EQ(count->arity, 1);
  EXPECT_EQ(FindBuiltin("strings.replace_n")->arity, 2);
  EXPECT_EQ(FindBuiltin("time.now_ns")->arity, 0);
  EXPECT_EQ(FindBuiltin("no.such.builtin"), nullptr);
  // Handled by the evaluator, not here.
  for (const char* name : {"print", "walk", "eq", "assign", "internal.member_2"}) {
    EXPECT_EQ(FindBuiltin(name), nullptr) << name;
  }
}

TEST(RegoBuiltins, ForbiddenBuiltinsAreNotRegistered) {
  for (const char* name :
       {"http.send", "opa.runtime", "net.lookup_ip_addr", "rego.parse_module",
        "rego.metadata.chain", "rego.metadata.rule", "rand.intn", "uuid.rfc4122"}) {
    EXPECT_TRUE(IsForbiddenBuiltin(name)) << name;
    EXPECT_EQ(FindBuiltin(name), nullptr) << name;
  }
  EXPECT_FALSE(IsForbiddenBuiltin("time.now_ns"));
  EXPECT_FALSE(IsForbiddenBuiltin("trace"));
  EXPECT_FALSE(IsForbiddenBuiltin("count"));
}

TEST(RegoBuiltins, BuiltinNamesAreSortedAndComplete) {
  auto names = BuiltinNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_GT(names.size(), 140u);
  for (const auto& name : names) {
    const Builtin* b = FindBuiltin(name);
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(b->name, name);
    EXPECT_FALSE(IsForbiddenBuiltin(name)) << name;
  }
}

TEST(RegoBuiltins, RegistryIsSafeFromManyThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 1000; ++k) found += FindBuiltin("sprintf") != nullptr;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(found.load(), 8000);
}

// --- operators ---

TEST(RegoBuiltins, Plus) {
  EXPECT_BUILTIN(I(3), "plus", I(1), I(2));
  EXPECT_BUILTIN(D(3.5), "plus", D(1.5), I(2));
  // Overflowing int64 moves to double.
  EXPECT_BUILTIN(D(9223372036854775808.0), "plus", I(INT64_MAX), I(1));
  EXPECT_EQ(Err("plus", {S("a"), I(1)}), "plus: operand 1 must be number but got string");
  EXPECT_EQ(Err("plus", {I(1), Value::Null()}), "plus: operand 2 must be number but got null");
}

TEST(RegoBuiltins, MinusOnNumbersAndSets) {
  EXPECT_BUILTIN(I(2), "minus", I(5), I(3));
  EXPECT_BUILTIN(D(-0.5), "minus", I(1), D(1.5));
  EXPECT_BUILTIN(SetOf({I(1), I(3)}), "minus", SetOf({I(1), I(2), I(3)}), SetOf({I(2), I(4)}));
  EXPECT_EQ(Err("minus", {S("a"), I(1)}),
            "minus: operand 1 must be one of {number, set} but got string");
  EXPECT_EQ(Err("minus", {SetOf({}), I(1)}), "minus: operand 2 must be set but got number");
  EXPECT_EQ(Err("minus", {I(1), SetOf({})}), "minus: operand 2 must be number but got set");
}

TEST(RegoBuiltins, MulAndDiv) {
  EXPECT_BUILTIN(I(12), "mul", I(3), I(4));
  EXPECT_BUILTIN(I(3), "mul", D(1.5), I(2));
  EXPECT_BUILTIN(D(1e301), "mul", D(1e300), I(10));
  EXPECT_EQ(Err("mul", {D(1e300), D(1e300)}), "mul: number out of range");
  EXPECT_BUILTIN(I(2), "div", I(6), I(3));
  EXPECT_BUILTIN(D(3.5), "div", I(7), I(2));
  EXPECT_BUILTIN(D(1.0 / 3), "div", I(1), I(3));
  EXPECT_BUILTIN(D(9223372036854775808.0), "div", I(INT64_MIN), I(-1));
  EXPECT_EQ(Err("div", {I(1), I(0)}), "div: divide by zero");
  EXPECT_EQ(Err("div", {I(1), D(0.0)}), "div: divide by zero");
}

TEST(RegoBuiltins, FractionsComputeAsOpaDecimalFloats) {
  // OPA reads numbers as decimal text into 64-bit big.Floats: 0.1 + 0.2 is 0.3 there.
  EXPECT_BUILTIN(D(0.3), "plus", D(0.1), D(0.2));
  EXPECT_BUILTIN(D(0.3), "mul", D(0.1), I(3));
  EXPECT_BUILTIN(D(0.2), "minus", D(0.3), D(0.1));
  EXPECT_BUILTIN(D(0.3), "sum", Arr({D(0.1), D(0.2)}));
  EXPECT_BUILTIN(D(0.7), "div", D(2.1), I(3));
  EXPECT_BUILTIN(I(3), "plus", D(1.5), D(1.5));
}

TEST(RegoBuiltins, Rem) {
  EXPECT_BUILTIN(I(1), "rem", I(7), I(3));
  EXPECT_BUILTIN(I(-1), "rem", I(-7), I(3));  // truncated, as Go's %
  EXPECT_BUILTIN(I(0), "rem", I(INT64_MIN), I(-1));
  EXPECT_EQ(Err("rem", {I(7), I(0)}), "rem: modulo by zero");
  EXPECT_EQ(Err("rem", {D(7.5), I(2)}), "rem: modulo on floating-point number");
  EXPECT_EQ(Err("rem", {I(7), S("2")}), "rem: operand 2 must be number but got string");
}

TEST(RegoBuiltins, Comparisons) {
  EXPECT_BUILTIN(B(true), "equal", I(1), D(1.0));
  EXPECT_BUILTIN(B(false), "equal", S("1"), I(1));
  EXPECT_BUILTIN(B(true), "equal", J(R"({"a":[1,2]})"), J(R"({"a":[1,2]})"));
  EXPECT_BUILTIN(B(true), "neq", S("a"), S("b"));
  EXPECT_BUILTIN(B(true), "lt", I(1), I(2));
  EXPECT_BUILTIN(B(true), "lt", I(100), S("1"));  // numbers sort before strings
  EXPECT_BUILTIN(B(true), "lt", Value::Null(), B(false));
  EXPECT_BUILTIN(B(true), "lt", Arr({I(1)}), Arr({I(1), I(0)}));
  EXPECT_BUILTIN(B(true), "lte", I(2), I(2));
  EXPECT_BUILTIN(B(false), "gt", S("a"), S("b"));
  EXPECT_BUILTIN(B(true), "gte", SetOf({I(1)}), J("{}"));  // sets sort after objects
}

TEST(RegoBuiltins, SetIntersectionAndUnionOperators) {
  EXPECT_BUILTIN(SetOf({I(2)}), "and", SetOf({I(1), I(2)}), SetOf({I(2), I(3)}));
  EXPECT_BUILTIN(SetOf({I(1), I(2), I(3)}), "or", SetOf({I(1), I(2)}), SetOf({I(2), I(3)}));
  EXPECT_EQ(Err("and", {I(1), SetOf({})}), "and: operand 1 must be set but got number");
  EXPECT_EQ(Err("or", {SetOf({}), Arr({})}), "or: operand 2 must be set but got array");
}

// --- aggregates ---

TEST(RegoBuiltins, Count) {
  EXPECT_BUILTIN(I(5), "count", S("héllo"));  // code points
  EXPECT_BUILTIN(I(1), "count", S("\xff"));
  EXPECT_BUILTIN(I(2), "count", Arr({I(1), I(2)}));
  EXPECT_BUILTIN(I(1), "count", J(R"({"a":1})"));
  EXPECT_BUILTIN(I(3), "count", SetOf({I(1), I(2), I(3)}));
  EXPECT_EQ(Err("count", {I(1)}),
            "count: operand 1 must be one of {array, object, set, string} but got number");
}

TEST(RegoBuiltins, SumAndProduct) {
  EXPECT_BUILTIN(D(6.5), "sum", Arr({I(1), I(2), D(3.5)}));
  EXPECT_BUILTIN(I(3), "sum", SetOf({I(1), I(2)}));
  EXPECT_BUILTIN(I(0), "sum", Arr({}));
  EXPECT_BUILTIN(I(24), "product", Arr({I(2), I(3), I(4)}));
  EXPECT_BUILTIN(I(1), "product", SetOf({}));
  EXPECT_EQ(Err("sum", {Arr({S("a")})}),
            "sum: operand 1 must be array of numbers but got array containing string");
  EXPECT_EQ(Err("sum", {I(1)}), "sum: operand 1 must be one of {set, array} but got number");
  EXPECT_EQ(Err("product", {SetOf({Value::Null()})}),
            "product: operand 1 must be set of numbers but got set containing null");
}

TEST(RegoBuiltins, MaxMinOfEmptyAreUndefined) {
  EXPECT_BUILTIN(I(3), "max", Arr({I(1), I(3), I(2)}));
  EXPECT_BUILTIN(S("a"), "max", Arr({I(1), S("a")}));
  EXPECT_BUILTIN(I(1), "min", SetOf({I(3), I(1)}));
  EXPECT_EQ(Call("max", {Arr({})}), std::nullopt);
  EXPECT_EQ(Call("min", {SetOf({})}), std::nullopt);
  EXPECT_EQ(Err("max", {S("x")}), "max: operand 1 must be one of {set, array} but got string");
}

TEST(RegoBuiltins, Sort) {
  EXPECT_BUILTIN(J("[1,2,3]"), "sort", J("[3,1,2]"));
  EXPECT_BUILTIN(J(R"(["a","b"])"), "sort", SetOf({S("b"), S("a")}));
  EXPECT_BUILTIN(Arr({Value::Null(), I(1), S("a"), Arr({})}), "sort",
                 Arr({Arr({}), S("a"), I(1), Value::Null()}));
  EXPECT_EQ(Err("sort", {J("{}")}), "sort: operand 1 must be one of {set, array} but got object");
}

TEST(RegoBuiltins, AllAndAny) {
  EXPECT_BUILTIN(B(true), "all", Arr({B(true), B(true)}));
  EXPECT_BUILTIN(B(true), "all", Arr({}));
  EXPECT_BUILTIN(B(false), "all", Arr({B(true), I(1)}));
  EXPECT_BUILTIN(B(true), "any", SetOf({B(false), B(true)}));
  EXPECT_BUILTIN(B(false), "any", SetOf({}));
  EXPECT_EQ(Err("any", {S("x")}), "any: operand 1 must be one of {array, set} but got string");
}

// --- numbers ---

TEST(RegoBuiltins, AbsCeilFloor) {
  EXPECT_BUILTIN(I(5), "abs", I(-5));
  EXPECT_BUILTIN(D(1.5), "abs", D(-1.5));
  EXPECT_BUILTIN(D(9223372036854775808.0), "abs", I(INT64_MIN));
  EXPECT_BUILTIN(I(2), "ceil", D(1.2));
  EXPECT_BUILTIN(I(-1), "ceil", D(-1.2));
  EXPECT_BUILTIN(I(-2), "floor", D(-1.2));
  EXPECT_BUILTIN(I(5), "floor", I(5));
  EXPECT_EQ(Err("abs", {S("1")}), "abs: operand 1 must be number but got string");
}

TEST(RegoBuiltins, RoundIsHalfAwayFromZero) {
  EXPECT_BUILTIN(I(2), "round", D(1.5));
  EXPECT_BUILTIN(I(3), "round", D(2.5));
  EXPECT_BUILTIN(I(-2), "round", D(-1.5));
  EXPECT_BUILTIN(I(1), "round", D(1.4));
  EXPECT_BUILTIN(I(0), "round", D(-0.4));
  EXPECT_BUILTIN(I(7), "round", I(7));
  EXPECT_BUILTIN(D(1e300), "round", D(1e300));
}

TEST(RegoBuiltins, NumbersRange) {
  EXPECT_BUILTIN(J("[1,2,3,4]"), "numbers.range", I(1), I(4));
  EXPECT_BUILTIN(J("[4,3,2,1]"), "numbers.range", I(4), I(1));
  EXPECT_BUILTIN(J("[2]"), "numbers.range", I(2), I(2));
  EXPECT_BUILTIN(J("[-1,0,1]"), "numbers.range", I(-1), I(1));
  EXPECT_BUILTIN(Arr({I(INT64_MAX - 1), I(INT64_MAX)}), "numbers.range", I(INT64_MAX - 1),
                 I(INT64_MAX));
  EXPECT_EQ(Err("numbers.range", {I(1), D(1.5)}),
            "numbers.range: operand 2 must be integer number but got floating-point number");
  EXPECT_EQ(Err("numbers.range", {S("a"), I(1)}),
            "numbers.range: operand 1 must be integer but got string");
  // Enormous ranges are refused instead of allocated.
  EXPECT_EQ(Err("numbers.range", {I(INT64_MIN), I(INT64_MAX)}), "numbers.range: range too large");
  EXPECT_EQ(Err("numbers.range", {I(0), D(1e15)}), "numbers.range: range too large");
}

TEST(RegoBuiltins, NumbersRangeStep) {
  EXPECT_BUILTIN(J("[0,3,6,9]"), "numbers.range_step", I(0), I(10), I(3));
  EXPECT_BUILTIN(J("[10,7,4,1]"), "numbers.range_step", I(10), I(0), I(3));
  EXPECT_BUILTIN(J("[0,5,10]"), "numbers.range_step", I(0), I(10), I(5));
  EXPECT_EQ(Err("numbers.range_step", {I(0), I(10), I(0)}),
            "numbers.range_step: step must be a positive number above zero");
  EXPECT_EQ(Err("numbers.range_step", {I(0), I(10), I(-2)}),
            "numbers.range_step: step must be a positive number above zero");
}

struct BudgetExceeded : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(RegoBuiltins, LargeResultsAreChargedToTheBudget) {
  BuiltinContext ctx;
  size_t charged = 0;
  ctx.charge = [&](size_t bytes) {
    charged += bytes;
    if (charged > 100000) throw BudgetExceeded("budget");
  };
  EXPECT_NO_THROW(CallWith(ctx, "numbers.range", {I(1), I(100)}));
  EXPECT_GT(charged, 100u);
  // The budget's own exception passes through, it is not a builtin error.
  EXPECT_THROW(CallWith(ctx, "numbers.range", {I(1), I(1000000)}), BudgetExceeded);
  charged = 0;
  std::string big(1000, 'a');
  EXPECT_THROW(CallWith(ctx, "replace", {S(big), S("a"), S(std::string(1000, 'b'))}),
               BudgetExceeded);
  charged = 0;
  EXPECT_THROW(CallWith(ctx, "sprintf", {S("%900000d"), Arr({I(1)})}), BudgetExceeded);
}

TEST(RegoBuiltins, ToNumber) {
  EXPECT_BUILTIN(I(0), "to_number", Value::Null());
  EXPECT_BUILTIN(I(1), "to_number", B(true));
  EXPECT_BUILTIN(I(0), "to_number", B(false));
  EXPECT_BUILTIN(D(2.5), "to_number", D(2.5));
  EXPECT_BUILTIN(I(10), "to_number", S("10"));
  EXPECT_BUILTIN(D(-1.5), "to_number", S("-1.5"));
  EXPECT_BUILTIN(I(1000), "to_number", S("1e3"));
  EXPECT_BUILTIN(D(0.5), "to_number", S(".5"));
  EXPECT_BUILTIN(I(5), "to_number", S("+5"));
  EXPECT_BUILTIN(D(1e19), "to_number", S("10000000000000000000"));
  EXPECT_EQ(Err("to_number", {S("x")}),
            "to_number: strconv.ParseFloat: parsing \"x\": invalid syntax");
  EXPECT_EQ(Err("to_number", {S(" 1")}),
            "to_number: strconv.ParseFloat: parsing \" 1\": invalid syntax");
  EXPECT_EQ(Err("to_number", {S("1e400")}),
            "to_number: strconv.ParseFloat: parsing \"1e400\": value out of range");
  EXPECT_EQ(Err("to_number", {S("-Inf")}),
            "to_number: operand 1 must be valid number string but got string");
  EXPECT_EQ(Err("to_number", {S("NaN")}),
            "to_number: operand 1 must be valid number string but got string");
  EXPECT_EQ(Err("to_number", {Arr({})}),
            "to_number: operand 1 must be one of {null, boolean, number, string} but got array");
}

TEST(RegoBuiltins, Bits) {
  EXPECT_BUILTIN(I(8), "bits.and", I(12), I(10));
  EXPECT_BUILTIN(I(14), "bits.or", I(12), I(10));
  EXPECT_BUILTIN(I(6), "bits.xor", I(12), I(10));
  EXPECT_BUILTIN(I(-6), "bits.negate", I(5));
  EXPECT_BUILTIN(I(8), "bits.lsh", I(1), I(3));
  EXPECT_BUILTIN(D(18446744073709551616.0), "bits.lsh", I(1), I(64));
  EXPECT_BUILTIN(I(-4), "bits.rsh", I(-8), I(1));
  EXPECT_BUILTIN(I(0), "bits.rsh", I(5), I(70));
  EXPECT_BUILTIN(I(-1), "bits.rsh", I(-5), I(70));
  EXPECT_EQ(Err("bits.lsh", {I(1), I(-1)}),
            "bits.lsh: operand 2 must be an unsigned integer number but got a negative integer");
  EXPECT_EQ(Err("bits.and", {D(1.5), I(1)}),
            "bits.and: operand 1 must be integer number but got floating-point number");
  EXPECT_EQ(Err("bits.lsh", {I(1), I(100000)}), "bits.lsh: number out of range");
}

// --- strings ---

TEST(RegoBuiltins, Concat) {
  EXPECT_BUILTIN(S("a,b"), "concat", S(","), J(R"(["a","b"])"));
  EXPECT_BUILTIN(S("a-b"), "concat", S("-"), SetOf({S("b"), S("a")}));
  EXPECT_BUILTIN(S(""), "concat", S(","), Arr({}));
  EXPECT_EQ(Err("concat", {S(","), Arr({I(1)})}),
            "concat: operand 2 must be array of strings but got array containing number");
  EXPECT_EQ(Err("concat", {S(","), S("a")}),
            "concat: operand 2 must be one of {set, array} but got string");
  EXPECT_EQ(Err("concat", {I(1), Arr({})}), "concat: operand 1 must be string but got number");
}

TEST(RegoBuiltins, ContainsStartsWithEndsWith) {
  EXPECT_BUILTIN(B(true), "contains", S("abc"), S("b"));
  EXPECT_BUILTIN(B(true), "contains", S("abc"), S(""));
  EXPECT_BUILTIN(B(false), "contains", S("abc"), S("d"));
  EXPECT_BUILTIN(B(true), "startswith", S("abc"), S("ab"));
  EXPECT_BUILTIN(B(false), "startswith", S("abc"), S("bc"));
  EXPECT_BUILTIN(B(true), "endswith", S("abc"), S("bc"));
  EXPECT_BUILTIN(B(false), "endswith", S("c"), S("bc"));
  EXPECT_EQ(Err("contains", {S("a"), I(1)}), "contains: operand 2 must be string but got number");
}

TEST(RegoBuiltins, FormatInt) {
  EXPECT_BUILTIN(S("ff"), "format_int", I(255), I(16));
  EXPECT_BUILTIN(S("-ff"), "format_int", I(-255), I(16));
  EXPECT_BUILTIN(S("1010"), "format_int", I(10), I(2));
  EXPECT_BUILTIN(S("10"), "format_int", I(8), I(8));
  EXPECT_BUILTIN(S("42"), "format_int", I(42), I(10));
  EXPECT_BUILTIN(S("f"), "format_int", D(15.9), I(16));  // truncated toward zero
  EXPECT_BUILTIN(S("-f"), "format_int", D(-15.9), I(16));
  EXPECT_BUILTIN(S("-9223372036854775808"), "format_int", I(INT64_MIN), I(10));
  EXPECT_EQ(Err("format_int", {I(5), I(3)}), "format_int: operand 2 must be one of {2, 8, 10, 16}");
  EXPECT_EQ(Err("format_int", {S("5"), I(10)}),
            "format_int: operand 1 must be number but got string");
}

TEST(RegoBuiltins, IndexOf) {
  EXPECT_BUILTIN(I(2), "indexof", S("héllo"), S("l"));  // code points, not bytes
  EXPECT_BUILTIN(I(-1), "indexof", S("abc"), S("z"));
  EXPECT_BUILTIN(I(0), "indexof", S("abc"), S("abc"));
  EXPECT_EQ(Err("indexof", {S("abc"), S("")}), "indexof: empty search character");
  EXPECT_BUILTIN(J("[0,1]"), "indexof_n", S("aaa"), S("aa"));
  EXPECT_BUILTIN(J("[1,3]"), "indexof_n", S("éaéa"), S("a"));
  EXPECT_BUILTIN(J("[]"), "indexof_n", S("abc"), S("x"));
  EXPECT_EQ(Err("indexof_n", {S("abc"), S("")}), "indexof_n: empty search character");
}

TEST(RegoBuiltins, LowerUpper) {
  EXPECT_BUILTIN(S("abc"), "lower", S("AbC"));
  EXPECT_BUILTIN(S("àéîõü"), "lower", S("ÀÉÎÕÜ"));
  EXPECT_BUILTIN(S("привет"), "lower", S("ПРИВЕТ"));
  EXPECT_BUILTIN(S("ABC"), "upper", S("abc"));
  EXPECT_BUILTIN(S("STRAßE"), "upper", S("straße"));
  EXPECT_BUILTIN(S("ΑΒΓ"), "upper", S("αβγ"));
  EXPECT_BUILTIN(S("\xEF\xBF\xBD"), "lower", S("\xff"));  // invalid UTF-8 becomes U+FFFD
}

TEST(RegoBuiltins, ReplaceAndReplaceN) {
  EXPECT_BUILTIN(S("bbb"), "replace", S("aaa"), S("a"), S("b"));
  EXPECT_BUILTIN(S("-a-b-c-"), "replace", S("abc"), S(""), S("-"));
  EXPECT_BUILTIN(S("abc"), "replace", S("abc"), S("x"), S("y"));
  EXPECT_BUILTIN(S("1bc"), "strings.replace_n", J(R"({"a":"1","ab":"2"})"), S("abc"));
  EXPECT_BUILTIN(S("dog cat"), "strings.replace_n", J(R"({"cat":"dog","dog":"cat"})"),
                 S("cat dog"));
  EXPECT_EQ(Err("strings.replace_n", {J(R"({"a":1})"), S("abc")}),
            "strings.replace_n: operand 1 non-string value found in pattern object");
}

TEST(RegoBuiltins, Split) {
  EXPECT_BUILTIN(J(R"(["a","b","c"])"), "split", S("a,b,c"), S(","));
  EXPECT_BUILTIN(J(R"(["a","é","c"])"), "split", S("aéc"), S(""));
  EXPECT_BUILTIN(J(R"([""])"), "split", S(""), S(","));
  EXPECT_BUILTIN(J(R"(["","",""])"), "split", S(",,"), S(","));
}

TEST(RegoBuiltins, Substring) {
  EXPECT_BUILTIN(S("bcd"), "substring", S("abcdef"), I(1), I(3));
  EXPECT_BUILTIN(S("bc"), "substring", S("abc"), I(1), I(-1));
  EXPECT_BUILTIN(S(""), "substring", S("abc"), I(5), I(1));
  EXPECT_BUILTIN(S("abc"), "substring", S("abc"), I(0), I(100));
  EXPECT_BUILTIN(S("él"), "substring", S("héllo"), I(1), I(2));
  EXPECT_EQ(Err("substring", {S("abc"), I(-1), I(1)}), "substring: negative offset");
  EXPECT_EQ(Err("substring", {S("abc"), D(1.5), I(1)}),
            "substring: operand 2 must be integer number but got floating-point number");
}

TEST(RegoBuiltins, Trims) {
  EXPECT_BUILTIN(S("abc"), "trim", S("  abc  "), S(" "));
  EXPECT_BUILTIN(S("a"), "trim", S("xyaxy"), S("xy"));
  EXPECT_BUILTIN(S("b"), "trim_left", S("aab"), S("a"));
  EXPECT_BUILTIN(S("b"), "trim_right", S("baa"), S("a"));
  EXPECT_BUILTIN(S("a"), "trim", S("éaé"), S("é"));  // cutset is code points
  EXPECT_BUILTIN(S(""), "trim", S("aaa"), S("a"));
  EXPECT_BUILTIN(S("bar"), "trim_prefix", S("foobar"), S("foo"));
  EXPECT_BUILTIN(S("foobar"), "trim_prefix", S("foobar"), S("bar"));
  EXPECT_BUILTIN(S("foo"), "trim_suffix", S("foobar"), S("bar"));
  EXPECT_BUILTIN(S("abc"), "trim_space", S(" \t\n abc \xC2\xA0"));
  EXPECT_BUILTIN(S("a b"), "trim_space", S("a b"));
}

TEST(RegoBuiltins, StringsReverseAndCount) {
  EXPECT_BUILTIN(S("olléh"), "strings.reverse", S("héllo"));
  EXPECT_BUILTIN(S(""), "strings.reverse", S(""));
  EXPECT_BUILTIN(I(3), "strings.count", S("cheese"), S("e"));
  EXPECT_BUILTIN(I(2), "strings.count", S("aaaa"), S("aa"));  // non-overlapping
  EXPECT_BUILTIN(I(5), "strings.count", S("five"), S(""));    // code points + 1
}

TEST(RegoBuiltins, AnyPrefixAndSuffixMatch) {
  EXPECT_BUILTIN(B(true), "strings.any_prefix_match", S("foobar"), S("foo"));
  EXPECT_BUILTIN(B(true), "strings.any_prefix_match", J(R"(["a1","b2"])"), J(R"(["x","b"])"));
  EXPECT_BUILTIN(B(false), "strings.any_prefix_match", SetOf({S("abc")}), SetOf({S("x")}));
  EXPECT_BUILTIN(B(false), "strings.any_prefix_match", Arr({}), S("a"));
  EXPECT_BUILTIN(B(true), "strings.any_suffix_match", S("foobar"), J(R"(["bar"])"));
  EXPECT_BUILTIN(B(false), "strings.any_suffix_match", S("foobar"), S("foo"));
  EXPECT_EQ(Err("strings.any_prefix_match", {I(1), S("a")}),
            "strings.any_prefix_match: operand 1 must be one of {string, set, array} but got "
            "number");
  EXPECT_EQ(Err("strings.any_suffix_match", {S("a"), Arr({I(1)})}),
            "strings.any_suffix_match: operand 2 must be array of strings but got array "
            "containing number");
}

// --- sprintf ---

std::string Sprintf(std::string format, std::vector<Value> args) {
  auto v = Call("sprintf", {S(std::move(format)), Arr(std::move(args))});
  return v && v->IsString() ? v->AsString() : "<not a string>";
}

TEST(RegoBuiltins, SprintfBasicVerbs) {
  EXPECT_EQ(Sprintf("%s", {S("hi")}), "hi");
  EXPECT_EQ(Sprintf("%d", {I(42)}), "42");
  EXPECT_EQ(Sprintf("%v", {I(-7)}), "-7");
  EXPECT_EQ(Sprintf("%v", {D(1.5)}), "1.5");
  EXPECT_EQ(Sprintf("%v", {D(0.1)}), "0.1");
  EXPECT_EQ(Sprintf("%v", {D(1e21)}), "1e+21");
  EXPECT_EQ(Sprintf("%v", {D(1234567.5)}), "1.2345675e+06");
  EXPECT_EQ(Sprintf("%.2f", {D(3.14159)}), "3.14");
  EXPECT_EQ(Sprintf("%f", {D(1.5)}), "1.500000");
  EXPECT_EQ(Sprintf("%f", {D(1e20)}), "100000000000000000000.000000");
  EXPECT_EQ(Sprintf("%e", {D(123456.789)}), "1.234568e+05");
  EXPECT_EQ(Sprintf("%g", {D(0.000012345)}), "1.2345e-05");
  EXPECT_EQ(Sprintf("%.3g", {D(1234.5678)}), "1.23e+03");
  EXPECT_EQ(Sprintf("%x", {I(255)}), "ff");
  EXPECT_EQ(Sprintf("%X", {I(255)}), "FF");
  EXPECT_EQ(Sprintf("%#x", {I(255)}), "0xff");
  EXPECT_EQ(Sprintf("%o", {I(8)}), "10");
  EXPECT_EQ(Sprintf("%b", {I(5)}), "101");
  EXPECT_EQ(Sprintf("%c", {I(65)}), "A");
  EXPECT_EQ(Sprintf("%U", {I(65)}), "U+0041");
  EXPECT_EQ(Sprintf("%q", {S("a\"b")}), "\"a\\\"b\"");
  EXPECT_EQ(Sprintf("%x", {S("hi")}), "6869");
  EXPECT_EQ(Sprintf("% x", {S("hi")}), "68 69");
  EXPECT_EQ(Sprintf("%T %T %T", {I(1), D(1.5), S("a")}), "int float64 string");
  EXPECT_EQ(Sprintf("%x|%q", {D(1.5), I(65)}), "0x1.8p+00|'A'");
  EXPECT_EQ(Sprintf("%#v", {S("a")}), "\"a\"");
  EXPECT_EQ(Sprintf("100%%", {}), "100%");
  EXPECT_EQ(Sprintf("no verbs", {}), "no verbs");
}

TEST(RegoBuiltins, SprintfFlagsWidthPrecision) {
  EXPECT_EQ(Sprintf("%5d|%-5d|%05d", {I(42), I(42), I(42)}), "   42|42   |00042");
  EXPECT_EQ(Sprintf("%+d %+d", {I(5), I(-5)}), "+5 -5");
  EXPECT_EQ(Sprintf("%05d", {I(-42)}), "-0042");
  EXPECT_EQ(Sprintf("%8.3f|", {D(3.14159)}), "   3.142|");
  EXPECT_EQ(Sprintf("%08.3f", {D(-3.14159)}), "-003.142");
  EXPECT_EQ(Sprintf("%+.1e", {D(12345.5)}), "+1.2e+04");
  EXPECT_EQ(Sprintf("%5s|%-5s|", {S("ab"), S("ab")}), "   ab|ab   |");
  EXPECT_EQ(Sprintf("%.2s", {S("abc")}), "ab");
  EXPECT_EQ(Sprintf("%3s|", {S("é")}), "  é|");  // width counts code points
  EXPECT_EQ(Sprintf("%*d", {I(5), I(42)}), "   42");
  EXPECT_EQ(Sprintf("%.*f", {I(1), D(2.25)}), "2.2");
  EXPECT_EQ(Sprintf("%[2]d %[1]d", {I(1), I(2)}), "2 1");
  EXPECT_EQ(Sprintf("%.3d", {I(7)}), "007");
}

TEST(RegoBuiltins, SprintfValuesAsOpaPassesThem) {
  // Collections print as Rego, with strings quoted inside them.
  EXPECT_EQ(Sprintf("%v", {J(R"([1,"a"])")}), "[1, \"a\"]");
  EXPECT_EQ(Sprintf("%v", {J(R"({"a":1})")}), "{\"a\": 1}");
  EXPECT_EQ(Sprintf("%v", {SetOf({I(2), I(1)})}), "{1, 2}");
  EXPECT_EQ(Sprintf("%v", {SetOf({})}), "set()");
  EXPECT_EQ(Sprintf("%s", {J(R"(["x"])")}), "[\"x\"]");
  EXPECT_EQ(Sprintf("%v %v", {B(true), Value::Null()}), "true null");
  // Booleans reach Go's fmt as strings, so %t does not apply to them (as in OPA).
  EXPECT_EQ(Sprintf("%t", {B(true)}), "%!t(string=true)");
  EXPECT_EQ(Sprintf("hello %s", {S("world")}), "hello world");
}

TEST(RegoBuiltins, SprintfGoErrorsInline) {
  EXPECT_EQ(Sprintf("%d", {D(1.5)}), "%!d(float64=1.5)");
  EXPECT_EQ(Sprintf("%s", {I(5)}), "%!s(int=5)");
  EXPECT_EQ(Sprintf("%d", {S("x")}), "%!d(string=x)");
  EXPECT_EQ(Sprintf("%d %d", {I(1)}), "1 %!d(MISSING)");
  EXPECT_EQ(Sprintf("%d", {I(1), S("a")}), "1%!(EXTRA string=a)");
  EXPECT_EQ(Sprintf("%", {}), "%!(NOVERB)");
  EXPECT_EQ(Sprintf("%z", {I(1)}), "%!z(int=1)");
  EXPECT_EQ(Sprintf("%[3]d", {I(1)}), "%!d(BADINDEX)");
  // A width beyond Go's limit ends the format, as in Go.
  EXPECT_EQ(Sprintf("%10000000d", {I(1)}), "%!(NOVERB)%!(EXTRA int=1)");
  EXPECT_EQ(Err("sprintf", {S("%s"), S("x")}), "sprintf: operand 2 must be array but got string");
  EXPECT_EQ(Err("sprintf", {I(1), Arr({})}), "sprintf: operand 1 must be string but got number");
}

// --- regex ---

TEST(RegoBuiltins, RegexMatch) {
  EXPECT_BUILTIN(B(true), "regex.match", S("^a+$"), S("aaa"));
  EXPECT_BUILTIN(B(false), "regex.match", S("^a+$"), S("aab"));
  EXPECT_BUILTIN(B(true), "regex.match", S("\\d{3}"), S("a123"));
  EXPECT_BUILTIN(B(true), "regex.match", S("(?i)ABC"), S("xabc"));
  EXPECT_BUILTIN(B(true), "regex.match", S("^.$"), S("é"));    // a code point, not a byte
  EXPECT_BUILTIN(B(false), "regex.match", S("a$"), S("a\n"));  // $ is the end of the text
  EXPECT_BUILTIN(B(true), "regex.match", S("(?m)a$"), S("a\nb"));
  EXPECT_BUILTIN(B(false), "regex.match", S("a.b"), S("a\nb"));
  EXPECT_BUILTIN(B(true), "regex.match", S("(?s)a.b"), S("a\nb"));
  EXPECT_BUILTIN(B(true), "regex.match", S("^a.b$"), S("a\rb"));
  EXPECT_BUILTIN(B(true), "regex.match", S("(?P<year>\\d{4})-\\d{2}"), S("2021-03"));
  EXPECT_BUILTIN(B(true), "regex.match", S("[[:alpha:]]+"), S("abc"));
  EXPECT_BUILTIN(B(true), "re_match", S("^x"), S("xy"));
  EXPECT_EQ(Err("regex.match", {S("["), S("x")}).rfind("regex.match: error parsing regexp:", 0),
            0u);
  EXPECT_EQ(Err("regex.match", {I(1), S("x")}),
            "regex.match: operand 1 must be string but got number");
}

TEST(RegoBuiltins, RegexIsValidFollowsRe2) {
  EXPECT_BUILTIN(B(true), "regex.is_valid", S("a+"));
  EXPECT_BUILTIN(B(true), "regex.is_valid", S("(?P<name>x)"));
  EXPECT_BUILTIN(B(true), "regex.is_valid", S("a{2,5}?"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("a(b"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", I(1));
  // Not RE2: backreferences, lookarounds, possessive and nested repetition, huge counts.
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("(a)\\1"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("(?=x)"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("(?<!x)y"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("a*+"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("a**"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("*a"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("x{1001}"));
  EXPECT_BUILTIN(B(false), "regex.is_valid", S("(a{100}){100}"));
}

TEST(RegoBuiltins, RegexFindN) {
  EXPECT_BUILTIN(J(R"(["1","22","333"])"), "regex.find_n", S("[0-9]+"), S("a1b22c333"), I(-1));
  EXPECT_BUILTIN(J(R"(["1","22"])"), "regex.find_n", S("[0-9]+"), S("a1b22c333"), I(2));
  EXPECT_BUILTIN(J("[]"), "regex.find_n", S("[0-9]+"), S("a1b22c333"), I(0));
  EXPECT_BUILTIN(J("[]"), "regex.find_n", S("x"), S("abc"), I(-1));
  // Go's rule: an empty match right after a match is skipped.
  EXPECT_BUILTIN(J(R"(["","aaa",""])"), "regex.find_n", S("a*"), S("baaab"), I(-1));
  EXPECT_BUILTIN(J(R"(["é","ü"])"), "regex.find_n", S("[éü]"), S("aébü"), I(-1));
}

TEST(RegoBuiltins, RegexFindAllStringSubmatch) {
  EXPECT_BUILTIN(J(R"([["a@b","a","b"],["c@d","c","d"]])"), "regex.find_all_string_submatch_n",
                 S("(\\w+)@(\\w+)"), S("a@b c@d"), I(-1));
  EXPECT_BUILTIN(J(R"([["a",""]])"), "regex.find_all_string_submatch_n", S("a(x)?"), S("a"), I(-1));
  EXPECT_BUILTIN(J(R"([["a1","1"]])"), "regex.find_all_string_submatch_n", S("a(\\d)"), S("a1a2"),
                 I(1));
}

TEST(RegoBuiltins, RegexSplit) {
  EXPECT_BUILTIN(J(R"(["a","b","c"])"), "regex.split", S(",\\s*"), S("a, b,c"));
  EXPECT_BUILTIN(J(R"([""])"), "regex.split", S("x"), S(""));
  EXPECT_BUILTIN(J(R"(["abc"])"), "regex.split", S("x"), S("abc"));
  EXPECT_BUILTIN(J(R"(["b","c"])"), "regex.split", S("a*"), S("baaac"));
}

TEST(RegoBuiltins, RegexReplace) {
  EXPECT_BUILTIN(S("axc"), "regex.replace", S("abc"), S("b"), S("x"));
  EXPECT_BUILTIN(S("a#b#"), "regex.replace", S("a1b2"), S("[0-9]"), S("#"));
  EXPECT_BUILTIN(S("Smith, John"), "regex.replace", S("John Smith"), S("(\\w+) (\\w+)"),
                 S("$2, $1"));
  EXPECT_BUILTIN(S("<Smith>"), "regex.replace", S("John Smith"),
                 S("(?P<first>\\w+) (?P<last>\\w+)"), S("<${last}>"));
  EXPECT_BUILTIN(S("$x"), "regex.replace", S("a"), S("a"), S("$$x"));
  EXPECT_BUILTIN(S(""), "regex.replace", S("a"), S("(a)"), S("$1x"));  // "$1x" names group 1x
  EXPECT_BUILTIN(S("-a-b-c-"), "regex.replace", S("abc"), S("x*"), S("-"));
}

TEST(RegoBuiltins, RegexTemplateMatch) {
  EXPECT_BUILTIN(B(true), "regex.template_match", S("urn:foo:{.*}"), S("urn:foo:bar:baz"), S("{"),
                 S("}"));
  EXPECT_BUILTIN(B(false), "regex.template_match", S("urn:foo.bar.com:{.*}"),
                 S("urn:foo.com:bar:baz"), S("{"), S("}"));
  EXPECT_BUILTIN(B(true), "regex.template_match", S("a<[0-9]+>b"), S("a123b"), S("<"), S(">"));
  EXPECT_EQ(Err("regex.template_match", {S("a{b"), S("ab"), S("{"), S("}")}),
            "regex.template_match: unbalanced braces in \"a{b\"");
}

TEST(RegoBuiltins, RegexSurvivesHostileInput) {
  // Catastrophic backtracking patterns end quickly, with an answer or an error.
  auto start = std::chrono::steady_clock::now();
  std::string as(40, 'a');
  try {
    Call("regex.match", {S("(a*)*b"), S(as)});
    Call("regex.match", {S("(a|aa)+$"), S(as + "!")});
  } catch (const BuiltinError&) {
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // Long inputs would need deep backtracking: refused.
  EXPECT_EQ(Err("regex.match", {S("(a|b)*c"), S(std::string(100000, 'a'))}),
            "regex.match: input too long for a regular expression");
  // Long inputs within the cap match without recursion; past Boost's own backtracking
  // memory limit a match is an error, never a crash.
  EXPECT_BUILTIN(B(true), "regex.match", S("(a|b)*c"), S(std::string(30000, 'a') + "c"));
  EXPECT_BUILTIN(B(true), "regex.match", S("[ab]*c"), S(std::string(60000, 'a') + "c"));
  std::string err = Err("regex.match", {S("(a|b)*c"), S(std::string(60000, 'a') + "c")});
  EXPECT_TRUE(err == "<no error: true>" || err.find("too complex") != std::string::npos) << err;
}

// --- glob ---

TEST(RegoBuiltins, GlobMatch) {
  Value dots = Arr({});  // [] means the default delimiter "."
  EXPECT_BUILTIN(B(true), "glob.match", S("*.github.com"), dots, S("api.github.com"));
  EXPECT_BUILTIN(B(false), "glob.match", S("*.github.com"), dots, S("api.cdn.github.com"));
  EXPECT_BUILTIN(B(true), "glob.match", S("**.github.com"), dots, S("api.cdn.github.com"));
  EXPECT_BUILTIN(B(true), "glob.match", S("*:github:com"), J(R"([":"])"), S("api:github:com"));
  EXPECT_BUILTIN(B(true), "glob.match", S("api.?ithub.com"), dots, S("api.github.com"));
  EXPECT_BUILTIN(B(false), "glob.match", S("a?c"), dots, S("a.c"));
  EXPECT_BUILTIN(B(true), "glob.match", S("api.[gh]ithub.com"), dots, S("api.github.com"));
  EXPECT_BUILTIN(B(false), "glob.match", S("api.[!gh]ithub.com"), dots, S("api.github.com"));
  EXPECT_BUILTIN(B(true), "glob.match", S("api.[a-z]ithub.com"), dots, S("api.github.com"));
  EXPECT_BUILTIN(B(true), "glob.match", S("{api,www}.github.com"), dots, S("www.github.com"));
  EXPECT_BUILTIN(B(false), "glob.match", S("{api,www}.github.com"), dots, S("foo.github.com"));
  EXPECT_BUILTIN(B(true), "glob.match", S("a\\*b"), dots, S("a*b"));
  EXPECT_BUILTIN(B(false), "glob.match", S("a\\*b"), dots, S("axb"));
  EXPECT_BUILTIN(B(true), "glob.match", S("*"), dots, S(""));
  EXPECT_BUILTIN(B(false), "glob.match", S("?"), dots, S(""));
  EXPECT_BUILTIN(B(true), "glob.match", S("a+b(c)"), dots, S("a+b(c)"));  // no regex leaks
}

TEST(RegoBuiltins, GlobMatchNullDelimitersCrossEverything) {
  EXPECT_BUILTIN(B(true), "glob.match", S("*.github.com"), Value::Null(), S("api.cdn.github.com"));
  EXPECT_BUILTIN(B(true), "glob.match", S("a?c"), Value::Null(), S("a.c"));
}

TEST(RegoBuiltins, GlobMatchErrors) {
  EXPECT_EQ(Err("glob.match", {S("["), Arr({}), S("x")}), "glob.match: unexpected end of input");
  EXPECT_EQ(Err("glob.match", {S("{a,b"), Arr({}), S("x")}), "glob.match: unexpected end of input");
  EXPECT_EQ(Err("glob.match", {S("*"), Arr({I(1)}), S("x")}),
            "glob.match: operand 2 must be array of strings but got array containing number");
  EXPECT_EQ(Err("glob.match", {S("*"), J(R"(["ab"])"), S("x")}),
            "glob.match: operand 2 must be array of runes but got array containing string");
  EXPECT_EQ(Err("glob.match", {S("*"), S("."), S("x")}),
            "glob.match: operand 2 must be one of {array, null} but got string");
}

TEST(RegoBuiltins, GlobQuoteMeta) {
  EXPECT_BUILTIN(S("\\*.github.com"), "glob.quote_meta", S("*.github.com"));
  EXPECT_BUILTIN(S("\\[a\\]\\{b\\}\\?\\\\"), "glob.quote_meta", S("[a]{b}?\\"));
  // A quoted pattern matches its text literally.
  EXPECT_BUILTIN(B(true), "glob.match", S("\\*.github.com"), Arr({}), S("*.github.com"));
}

}  // namespace
}  // namespace statehouse::policy

namespace statehouse::policy {
namespace {

// Fuzz finding R2: precisions past the old 64-byte buffer printed uninitialized stack bytes.
TEST(RegoBuiltins, SprintfLargePrecisionPrintsExactDigits) {
  EXPECT_EQ(Show(Call("sprintf", {S("%.70e"), Arr({D(1.5)})})),
            Show(S("1.5" + std::string(69, '0') + "e+00")));
  EXPECT_EQ(Show(Call("sprintf", {S("%.99g"), Arr({D(0.1)})})),
            Show(S("0.1000000000000000055511151231257827021181583404541015625")));
  EXPECT_EQ(Show(Call("sprintf", {S("%.62v"), Arr({D(1.5)})})), Show(S("1.5")));
}

}  // namespace
}  // namespace statehouse::policy
