// Language features of the Rego engine, as cases of (modules, data, input, query) -> expected
// result or error. Expected values are what OPA answers for the same case.
#include "policy/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace statehouse::policy {
namespace {

struct Outcome {
  std::string value;  // JSON of the first expression's value per row; "undefined" for no row
  std::string error;  // what() of the error, when one was thrown
};

// The value of the query's last expression (per row).
Outcome RunCase(const std::vector<std::string>& modules, const std::string& query,
                const std::string& input = "null", const std::string& data = "{}",
                EvalOptions options = {}) {
  Outcome out;
  try {
    std::vector<ModuleSource> sources;
    for (size_t i = 0; i < modules.size(); ++i) {
      sources.push_back({"p" + std::to_string(i) + ".rego", modules[i]});
    }
    auto compiled = Engine::Compile(sources, ParseJson(data));
    QueryResult r = compiled->Query(query, ParseJson(input), options);
    if (r.rows.empty()) {
      out.value = "undefined";
    } else if (r.rows.size() == 1) {
      out.value = r.rows[0].expressions.back().value.ToJson();
    } else {
      std::string all = "[";
      for (size_t i = 0; i < r.rows.size(); ++i) {
        if (i) all += ",";
        all += r.rows[i].expressions.back().value.ToJson();
      }
      out.value = all + "]";
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

std::string Value1(const std::vector<std::string>& modules, const std::string& query,
                   const std::string& input = "null", const std::string& data = "{}") {
  Outcome o = RunCase(modules, query, input, data);
  if (!o.error.empty()) return "ERROR: " + o.error;
  return o.value;
}

std::string Error1(const std::vector<std::string>& modules, const std::string& query,
                   const std::string& input = "null") {
  Outcome o = RunCase(modules, query, input);
  return o.error;
}

// ---- rules ----

TEST(RegoEngine, CompleteRuleV0AndV1) {
  EXPECT_EQ(Value1({"package a\nallow { input.x == 1 }"}, "data.a.allow", R"({"x":1})"), "true");
  EXPECT_EQ(Value1({"package a\nallow { input.x == 1 }"}, "data.a.allow", R"({"x":2})"),
            "undefined");
  EXPECT_EQ(
      Value1({"package a\nimport rego.v1\nallow if input.x == 1"}, "data.a.allow", R"({"x":1})"),
      "true");
  EXPECT_EQ(Value1({"package a\nx := 5"}, "data.a.x"), "5");
  EXPECT_EQ(Value1({"package a\nx = y { y := input.n * 2 }"}, "data.a.x", R"({"n":4})"), "8");
}

TEST(RegoEngine, DefaultRules) {
  const char* m = "package a\ndefault allow := false\nallow if input.ok";
  EXPECT_EQ(Value1({m}, "data.a.allow", R"({"ok":true})"), "true");
  EXPECT_EQ(Value1({m}, "data.a.allow", R"({})"), "false");
}

TEST(RegoEngine, UndefinedVersusFalse) {
  const char* m = "package a\np := false\nq if false";
  EXPECT_EQ(Value1({m}, "data.a.p"), "false");
  EXPECT_EQ(Value1({m}, "data.a.q"), "undefined");
  EXPECT_EQ(Value1({m}, "not data.a.q"), "true");
  EXPECT_EQ(Value1({m}, "not data.a.p"), "true");  // false fails, so `not` succeeds
}

TEST(RegoEngine, PartialSetV0AndV1) {
  const char* v0 = R"(package t
deny[msg] {
  r := input.resources[_]
  r.public
  msg := sprintf("%s is public", [r.name])
})";
  const char* v1 = R"(package t
import rego.v1
deny contains msg if {
  some r in input.resources
  r.public
  msg := sprintf("%s is public", [r.name])
})";
  std::string input = R"({"resources":[{"name":"a","public":true},{"name":"b","public":false},
    {"name":"c","public":true}]})";
  EXPECT_EQ(Value1({v0}, "data.t.deny", input), R"(["a is public","c is public"])");
  EXPECT_EQ(Value1({v1}, "data.t.deny", input), R"(["a is public","c is public"])");
  EXPECT_EQ(Value1({v0}, "count(data.t.deny)", input), "2");
}

TEST(RegoEngine, PartialObject) {
  const char* v0 = R"(package t
names[id] = n { some id; n := input.items[id].name })";
  const char* v1 = R"(package t
import rego.v1
sizes[k] := v if { some k, v in input.sizes; v > 1 })";
  EXPECT_EQ(Value1({v0}, "data.t.names", R"({"items":{"a":{"name":"A"},"b":{"name":"B"}}})"),
            R"({"a":"A","b":"B"})");
  EXPECT_EQ(Value1({v1}, "data.t.sizes", R"({"sizes":{"x":1,"y":2,"z":3}})"), R"({"y":2,"z":3})");
}

TEST(RegoEngine, PartialObjectConflict) {
  const char* m = "package t\np[k] = v { k := \"a\"; v := input.v[_] }";
  EXPECT_NE(Error1({m}, "data.t.p", R"({"v":[1,2]})").find("eval_conflict_error"),
            std::string::npos);
}

TEST(RegoEngine, CompleteRuleConflict) {
  const char* m = "package t\np := 1 if input.a\np := 2 if input.b";
  EXPECT_EQ(Value1({m}, "data.t.p", R"({"a":true})"), "1");
  std::string err = Error1({m}, "data.t.p", R"({"a":true,"b":true})");
  EXPECT_NE(err.find("eval_conflict_error: complete rules must not produce multiple outputs"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("p0.rego:3"), std::string::npos) << err;
}

TEST(RegoEngine, ElseChain) {
  const char* m = R"(package t
import rego.v1
level := "high" if input.score > 80
else := "medium" if input.score > 40
else := "low")";
  EXPECT_EQ(Value1({m}, "data.t.level", R"({"score":90})"), R"("high")");
  EXPECT_EQ(Value1({m}, "data.t.level", R"({"score":50})"), R"("medium")");
  EXPECT_EQ(Value1({m}, "data.t.level", R"({"score":5})"), R"("low")");
}

TEST(RegoEngine, FunctionsWithSeveralDefinitions) {
  const char* m = R"(package t
import rego.v1
kind(x) := "num" if is_number(x)
kind(x) := "str" if is_string(x)
double(x) := x * 2
f([a, b]) := a + b
is_big(x) if x > 10
out := [kind(1), kind("a"), double(4), f([1, 2])])";
  EXPECT_EQ(Value1({m}, "data.t.out"), R"(["num","str",8,3])");
  EXPECT_EQ(Value1({m}, "data.t.kind(true)"), "undefined");
  EXPECT_EQ(Value1({m}, "data.t.is_big(11)"), "true");
  EXPECT_EQ(Value1({m}, "data.t.is_big(1)"), "undefined");
}

TEST(RegoEngine, FunctionConflict) {
  const char* m = "package t\nf(x) := 1 if x > 0\nf(x) := 2 if x > 1";
  EXPECT_NE(Error1({m}, "data.t.f(5)").find("functions must not produce multiple outputs"),
            std::string::npos);
}

TEST(RegoEngine, FunctionElse) {
  const char* m = R"(package t
sign(x) := "pos" { x > 0 } else := "neg" { x < 0 } else := "zero")";
  EXPECT_EQ(Value1({m}, "[data.t.sign(3), data.t.sign(-1), data.t.sign(0)]"),
            R"(["pos","neg","zero"])");
}

// ---- expressions ----

TEST(RegoEngine, SomeInAndMembership) {
  std::string in = R"({"xs":[1,2,3],"m":{"a":1,"b":2}})";
  EXPECT_EQ(Value1({}, "[x | some x in input.xs; x > 1]", in), "[2,3]");
  EXPECT_EQ(Value1({}, "[k | some k, v in input.m; v == 2]", in), R"(["b"])");
  EXPECT_EQ(Value1({}, "2 in input.xs", in), "true");
  EXPECT_EQ(Value1({}, "7 in input.xs", in), "false");
  EXPECT_EQ(Value1({}, R"("a", 1 in input.m)", in), "true");
}

TEST(RegoEngine, Every) {
  const char* m = R"(package t
import rego.v1
all_tagged if {
  every r in input.rs { r.tags.owner }
}
all_small if every k, v in input.sizes { v < 10; k != "" })";
  EXPECT_EQ(Value1({m}, "data.t.all_tagged", R"({"rs":[{"tags":{"owner":"a"}}]})"), "true");
  EXPECT_EQ(Value1({m}, "data.t.all_tagged", R"({"rs":[{"tags":{"owner":"a"}},{"tags":{}}]})"),
            "undefined");
  EXPECT_EQ(Value1({m}, "data.t.all_tagged", R"({"rs":[]})"), "true");
  EXPECT_EQ(Value1({m}, "data.t.all_small", R"({"sizes":{"a":1,"b":2}})"), "true");
  EXPECT_EQ(Value1({m}, "data.t.all_small", R"({"sizes":{"a":1,"b":20}})"), "undefined");
}

TEST(RegoEngine, NotAndNegation) {
  const char* m = R"(package t
missing_owner[name] { r := input.rs[name]; not r.tags.owner })";
  EXPECT_EQ(Value1({m}, "data.t.missing_owner", R"({"rs":{"a":{"tags":{"owner":"x"}},"b":{}}})"),
            R"(["b"])");
}

TEST(RegoEngine, Comprehensions) {
  std::string in = R"({"xs":[3,1,2,3]})";
  EXPECT_EQ(Value1({}, "[x * 2 | x := input.xs[_]]", in), "[6,2,4,6]");
  EXPECT_EQ(Value1({}, "{x | x := input.xs[_]}", in), "[1,2,3]");
  EXPECT_EQ(Value1({}, "{sprintf(\"%d\", [x]): x | x := input.xs[_]}", in),
            R"({"1":1,"2":2,"3":3})");
  // Closures see the outer var.
  EXPECT_EQ(Value1({}, "y := 2; [x | x := input.xs[_]; x > y]", in), "[3,3]");
}

TEST(RegoEngine, UnificationAndAssignment) {
  EXPECT_EQ(Value1({}, "[x, 2] = [1, y]; z := x + y"), "true");
  EXPECT_EQ(Value1({}, "x := [1, [2, 3]]; [a, [b, c]] := x; s := a + b + c; s == 6"), "true");
  EXPECT_EQ(Value1({}, "{\"a\": x} = {\"a\": 5}; x == 5"), "true");
  EXPECT_EQ(Value1({}, "1 == 1.0"), "true");
  EXPECT_EQ(Value1({}, "[1, 2] == [1, 2]"), "true");
  EXPECT_EQ(Value1({}, "1 == 2"), "false");
}

TEST(RegoEngine, RefIterationAndBindings) {
  std::vector<ModuleSource> none;
  auto compiled = Engine::Compile(none);
  QueryResult r = compiled->Query("input.a[i] > 1", ParseJson(R"({"a":[1,2,3]})"));
  ASSERT_EQ(r.rows.size(), 2u);
  ASSERT_EQ(r.rows[0].bindings.size(), 1u);
  EXPECT_EQ(r.rows[0].bindings[0].first, "i");
  EXPECT_EQ(r.rows[0].bindings[0].second.ToJson(), "1");
  EXPECT_EQ(r.rows[1].bindings[0].second.ToJson(), "2");
  EXPECT_EQ(r.rows[0].expressions[0].text, "input.a[i] > 1");
}

TEST(RegoEngine, ArithmeticAndSets) {
  EXPECT_EQ(Value1({}, "7 / 2"), "3.5");
  EXPECT_EQ(Value1({}, "6 / 3"), "2");
  EXPECT_EQ(Value1({}, "7 % 3"), "1");
  EXPECT_EQ(Value1({}, "2 + 3 * 4"), "14");
  EXPECT_EQ(Value1({}, "(2 + 3) * 4"), "20");
  EXPECT_EQ(Value1({}, "{1, 2, 3} - {2}"), "[1,3]");
  EXPECT_EQ(Value1({}, "{1, 2} | {3}"), "[1,2,3]");
  EXPECT_EQ(Value1({}, "{1, 2} & {2, 3}"), "[2]");
}

TEST(RegoEngine, WithModifier) {
  const char* m = R"(package t
import rego.v1
allow if input.user == "admin"
limit := data.config.max
test_allow if allow with input as {"user": "admin"}
uses_now := time.now_ns()
mocked := x if { x := uses_now with time.now_ns as 42 })";
  EXPECT_EQ(Value1({m}, "data.t.test_allow"), "true");
  EXPECT_EQ(Value1({m}, "data.t.allow with input.user as \"admin\""), "true");
  EXPECT_EQ(Value1({m}, "data.t.limit with data.config.max as 3"), "3");
  EXPECT_EQ(Value1({m}, "data.t.limit", "null", R"({"config":{"max":7}})"), "7");
  EXPECT_EQ(Value1({m}, "data.t.mocked"), "42");
}

TEST(RegoEngine, DataDocumentsFromOtherPoliciesAndJson) {
  const char* lib = R"(package lib.tags
required := {"owner", "env"}
missing(tags) := required - {k | tags[k]})";
  const char* main = R"(package main
import data.lib.tags
deny[msg] {
  r := input.resources[_]
  m := tags.missing(r.tags)
  count(m) > 0
  msg := sprintf("%s lacks %v", [r.name, m])
}
regions := data.allowed.regions)";
  std::string in = R"({"resources":[{"name":"vm","tags":{"owner":"a"}}]})";
  EXPECT_EQ(Value1({lib, main}, "data.main.deny", in), R"(["vm lacks {\"env\"}"])");
  EXPECT_EQ(Value1({lib, main}, "data.main.regions", "null", R"({"allowed":{"regions":["eu"]}})"),
            R"(["eu"])");
  EXPECT_EQ(Value1({lib, main}, "data.lib.tags.required"), R"(["env","owner"])");
}

TEST(RegoEngine, IterateOverRulesInPackage) {
  const char* m = "package p\na := 1\nb := 2\nf(x) := x";
  EXPECT_EQ(Value1({m}, "data.p"), R"({"a":1,"b":2})");
  EXPECT_EQ(Value1({m}, "[k | data.p[k]]"), R"(["a","b"])");
}

TEST(RegoEngine, SafetyReordering) {
  // OPA reorders so y is bound before the comparison reads it.
  const char* m = "package p\nq if { x > y; y := 1; x := 2 }";
  EXPECT_EQ(Value1({m}, "data.p.q"), "true");
}

TEST(RegoEngine, UnsafeVarIsCompileError) {
  std::string err = Error1({"package p\ndeny[msg] { input.x }"}, "data.p.deny");
  EXPECT_NE(err.find("rego_unsafe_var_error: var msg is unsafe"), std::string::npos) << err;
  err = Error1({"package p\nq { not input.tags[k] }"}, "data.p.q");
  EXPECT_NE(err.find("var k is unsafe"), std::string::npos) << err;
}

TEST(RegoEngine, UnknownAndForbiddenBuiltins) {
  std::string err = Error1({"package p\nq := nope.fn(1)"}, "data.p.q");
  EXPECT_NE(err.find("p0.rego:2"), std::string::npos) << err;
  EXPECT_NE(err.find("rego_type_error: undefined function nope.fn"), std::string::npos) << err;
  err = Error1({"package p\nq := http.send({\"url\": \"http://x\"})"}, "data.p.q");
  EXPECT_NE(err.find("rego_compile_error: http.send"), std::string::npos) << err;
  err = Error1({"package p\nq := opa.runtime()"}, "data.p.q");
  EXPECT_NE(err.find("opa.runtime"), std::string::npos) << err;
  err = Error1({"package p\nq := net.lookup_ip_addr(\"x\")"}, "data.p.q");
  EXPECT_NE(err.find("net.lookup_ip_addr"), std::string::npos) << err;
}

TEST(RegoEngine, ArityMismatchIsTypeError) {
  std::string err = Error1({"package p\nq := count(1, 2, 3)"}, "data.p.q");
  EXPECT_NE(err.find("rego_type_error: count: arity mismatch"), std::string::npos) << err;
}

TEST(RegoEngine, ParseErrorInOpaForm) {
  std::string err = Error1({"package p\n\nq { input.x == }"}, "data.p.q");
  EXPECT_NE(err.find("p0.rego:3: rego_parse_error"), std::string::npos) << err;
}

TEST(RegoEngine, BuiltinErrorsUndefinedUnlessStrict) {
  EXPECT_EQ(Value1({}, "x := to_number(\"abc\")"), "undefined");
  EvalOptions strict;
  strict.strict_builtin_errors = true;
  Outcome o = RunCase({}, "x := to_number(\"abc\")", "null", "{}", strict);
  EXPECT_NE(o.error.find("eval_builtin_error"), std::string::npos) << o.error;
}

TEST(RegoEngine, TimeBudgetStopsRunawayPolicies) {
  const char* m = R"(package p
big := [x | numbers.range(1, 2000)[a]; numbers.range(1, 2000)[b]; x := a * b])";
  EvalOptions options;
  options.timeout_ms = 50;
  options.max_memory_bytes = 0;
  Outcome o = RunCase({m}, "count(data.p.big)", "null", "{}", options);
  EXPECT_NE(o.error.find("eval_cancel_error"), std::string::npos) << o.error;
}

TEST(RegoEngine, MemoryBudgetStopsExplodingPolicies) {
  const char* m = R"(package p
big := [x | numbers.range(1, 5000)[a]; numbers.range(1, 5000)[b]; x := [a, b]])";
  EvalOptions options;
  options.timeout_ms = 0;
  options.max_memory_bytes = 1 << 20;
  Outcome o = RunCase({m}, "count(data.p.big)", "null", "{}", options);
  EXPECT_NE(o.error.find("memory budget"), std::string::npos) << o.error;
}

TEST(RegoEngine, RecursionIsAnError) {
  const char* m = "package p\na := b\nb := a";
  EXPECT_NE(Error1({m}, "data.p.a").find("recursi"), std::string::npos);
}

TEST(RegoEngine, PrintCollectsOutput) {
  std::vector<ModuleSource> sources{
      {"p.rego", "package p\nq if { print(\"hello\", input.n, input.missing) }"}};
  auto compiled = Engine::Compile(sources);
  QueryResult r = compiled->Query("data.p.q", ParseJson(R"({"n":[1]})"));
  ASSERT_EQ(r.prints.size(), 1u);
  EXPECT_EQ(r.prints[0], "hello [1] <undefined>");
}

TEST(RegoEngine, Walk) {
  EXPECT_EQ(Value1({}, "[p | walk({\"a\": {\"b\": 1}}, [p, v]); v == 1]"), R"([["a","b"]])");
}

TEST(RegoEngine, EvaluatePathAndTests) {
  std::vector<ModuleSource> sources{{"p.rego",
                                     "package p\nimport rego.v1\nallow if input.x\ntest_allow if "
                                     "allow with input as {\"x\": true}"}};
  auto compiled = Engine::Compile(sources);
  auto v = compiled->Evaluate({"p", "allow"}, ParseJson(R"({"x":true})"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->ToJson(), "true");
  EXPECT_FALSE(compiled->Evaluate({"p", "allow"}, ParseJson("{}")));
  auto tests = compiled->Tests();
  ASSERT_EQ(tests.size(), 1u);
  EXPECT_EQ(tests[0].name, "test_allow");
  EXPECT_EQ(compiled->Packages(), std::vector<std::string>{"p"});
}

TEST(RegoEngine, HarnessStyleWorkspacePolicy) {
  const char* m = R"(package workspace
import future.keywords.in
allowed_provisioners := {"terraform", "opentofu"}
deny[sprintf("provisioner '%s' is not allowed", [input.workspace.provisioner])] {
  not input.workspace.provisioner in allowed_provisioners
})";
  EXPECT_EQ(Value1({m}, "data.workspace.deny", R"({"workspace":{"provisioner":"ansible"}})"),
            R"(["provisioner 'ansible' is not allowed"])");
  EXPECT_EQ(Value1({m}, "data.workspace.deny", R"({"workspace":{"provisioner":"terraform"}})"),
            "[]");
}

TEST(RegoEngine, DottedRuleHeads) {
  const char* m = "package p\nimport rego.v1\na.b.c := 1\na.b.d := 2";
  EXPECT_EQ(Value1({m}, "data.p.a"), R"({"b":{"c":1,"d":2}})");
  EXPECT_EQ(Value1({m}, "data.p.a.b.d"), "2");
}

TEST(RegoEngine, SomeDeclarationsAndSetIteration) {
  const char* m = R"(package p
users := {"alice", "bob"}
greet[msg] { some u; users[u]; msg := concat_names(u) }
concat_names(u) := sprintf("hi %s", [u]))";
  EXPECT_EQ(Value1({m}, "data.p.greet"), R"(["hi alice","hi bob"])");
  EXPECT_EQ(Value1({m}, "data.p.users[\"alice\"]"), R"("alice")");
  EXPECT_EQ(Value1({m}, "data.p.users[\"carol\"]"), "undefined");
}

TEST(RegoEngine, IterateOverPackagesWithVariables) {
  const char* a = "package checks.a\ndeny[\"a1\"] { true }";
  const char* b = "package checks.b\ndeny[\"b1\"] { input.x }";
  EXPECT_EQ(Value1({a, b}, "[m | data.checks[name].deny[m]]", R"({"x":true})"), R"(["a1","b1"])");
  EXPECT_EQ(Value1({a, b}, "[m | data.checks[name].deny[m]]", R"({})"), R"(["a1"])");
}

TEST(RegoEngine, ImportsWithAliasesAndInput) {
  const char* lib = "package lib.net\nopen(cidr) := cidr == \"0.0.0.0/0\"";
  const char* m = R"(package main
import data.lib.net as n
import input.rules
open_rules := [r | r := rules[_]; n.open(r)])";
  EXPECT_EQ(Value1({lib, m}, "data.main.open_rules", R"({"rules":["10.0.0.0/8","0.0.0.0/0"]})"),
            R"(["0.0.0.0/0"])");
}

TEST(RegoEngine, WithReplacesUserFunctions) {
  const char* m = R"(package p
import rego.v1
real(x) := x * 10
mock(x) := x
uses := real(2)
mocked := v if v := uses with real as mock
constant := v if v := uses with real as 7)";
  EXPECT_EQ(Value1({m}, "data.p.uses"), "20");
  EXPECT_EQ(Value1({m}, "data.p.mocked"), "2");
  EXPECT_EQ(Value1({m}, "data.p.constant"), "7");
}

TEST(RegoEngine, DefaultFunction) {
  const char* m = R"(package p
import rego.v1
default size(_) := "unknown"
size(x) := "big" if x > 10)";
  EXPECT_EQ(Value1({m}, "[data.p.size(20), data.p.size(1)]"), R"(["big","unknown"])");
}

TEST(RegoEngine, ObjectPatternsAndMembership) {
  EXPECT_EQ(Value1({}, "{\"a\": 1, \"b\": x} = {\"a\": 1, \"b\": 2}; x == 2"), "true");
  EXPECT_EQ(Value1({}, "{\"a\": 1} = {\"a\": 1, \"b\": 2}"), "undefined");
  EXPECT_EQ(Value1({}, "\"b\" in {\"a\": \"b\"}"), "true");  // `in` looks at values
  EXPECT_EQ(Value1({}, "\"a\" in {\"a\": \"b\"}"), "false");
  EXPECT_EQ(Value1({}, "2 in {1, 2}"), "true");
}

TEST(RegoEngine, EveryNeedsNoOuterBindings) {
  const char* m = R"(package p
import rego.v1
ok if every x in [1, 2, 3] { y := x * 2; y > 1 })";
  EXPECT_EQ(Value1({m}, "data.p.ok"), "true");
}

TEST(RegoEngine, NegationOfFunctionAndRule) {
  const char* m = R"(package p
import rego.v1
is_admin(u) if u == "root"
deny contains u if { some u in input.users; not is_admin(u) }
safe if not deny["mallory"])";
  EXPECT_EQ(Value1({m}, "data.p.deny", R"({"users":["root","mallory"]})"), R"(["mallory"])");
  EXPECT_EQ(Value1({m}, "data.p.safe", R"({"users":["root","mallory"]})"), "undefined");
  EXPECT_EQ(Value1({m}, "data.p.safe", R"({"users":["root"]})"), "true");
}

TEST(RegoEngine, NestedRefsWithRuleValues) {
  const char* m = R"(package p
limits := {"small": 1, "large": 4}
cpu[name] := limits[size] { some name; size := input.vms[name] })";
  EXPECT_EQ(Value1({m}, "data.p.cpu", R"({"vms":{"a":"small","b":"large","c":"huge"}})"),
            R"({"a":1,"b":4})");
}

TEST(RegoEngine, StringsAndNumbersOrderAsOpa) {
  EXPECT_EQ(Value1({}, "sort([\"b\", 2, null, true, \"a\", 1.5])"), R"([null,true,1.5,2,"a","b"])");
  EXPECT_EQ(Value1({}, "[1, 2] < [1, 3]"), "true");
  EXPECT_EQ(Value1({}, "{\"a\": 1} == {\"a\": 1.0}"), "true");
}

TEST(RegoEngine, UndefinedInputIsUndefined) {
  EXPECT_EQ(Value1({}, "input.missing.deeper"), "undefined");
  EXPECT_EQ(Value1({}, "input.list[5]", R"({"list":[1]})"), "undefined");
  EXPECT_EQ(Value1({}, "input.list[\"x\"]", R"({"list":[1]})"), "undefined");
}

TEST(RegoEngine, QueryWithSeveralExpressionsKeepsTruthyRows) {
  std::vector<ModuleSource> none;
  auto compiled = Engine::Compile(none);
  QueryResult r = compiled->Query("x := input.a[_]; x > 1", ParseJson(R"({"a":[1,2,3]})"));
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].bindings[0].second.ToJson(), "2");
  // A single plain expression reports false as its value.
  r = compiled->Query("1 > 2", Value());
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].expressions[0].value.ToJson(), "false");
}

TEST(RegoEngine, ConcurrentQueriesOnOneCompiledPolicy) {
  std::vector<ModuleSource> sources{{"p.rego", R"(package p
import rego.v1
deny contains msg if { some r in input.rs; r.bad; msg := sprintf("%v", [r.id]) })"}};
  auto compiled = Engine::Compile(sources);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        Value input = ParseJson(R"({"rs":[{"id":)" + std::to_string(t) + R"(,"bad":true}]})");
        auto v = compiled->Evaluate({"p", "deny"}, input);
        if (v && v->ToJson() == "[\"" + std::to_string(t) + "\"]") ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 800);
}

}  // namespace
}  // namespace statehouse::policy
