#include "policy/parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace statehouse::policy {
namespace {

std::string Render(const TermPtr& t);
std::string Render(const Body& body);

std::string RenderList(const std::vector<TermPtr>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += Render(items[i]);
  }
  return out;
}

// A compact, unambiguous rendering of a term: calls as name(args), refs as head[path...].
std::string Render(const TermPtr& t) {
  if (!t) return "<null>";
  switch (t->kind) {
    case TermKind::kScalar:
      return t->value.ToJson();
    case TermKind::kVar:
      return t->name;
    case TermKind::kRef: {
      std::string out = Render(t->head);
      for (const TermPtr& p : t->path) {
        out += '[';
        out += Render(p);
        out += ']';
      }
      return out;
    }
    case TermKind::kArray:
      return std::string("[").append(RenderList(t->items)).append("]");
    case TermKind::kSet:
      return std::string("set(").append(RenderList(t->items)).append(")");
    case TermKind::kObject: {
      std::string out = "{";
      for (size_t i = 0; i < t->entries.size(); ++i) {
        if (i) out += ", ";
        out += Render(t->entries[i].first) + ": " + Render(t->entries[i].second);
      }
      return out + "}";
    }
    case TermKind::kArrayCompr:
      return std::string("[")
          .append(Render(t->compr_head))
          .append(" | ")
          .append(Render(*t->body))
          .append("]");
    case TermKind::kSetCompr:
      return std::string("{")
          .append(Render(t->compr_head))
          .append(" | ")
          .append(Render(*t->body))
          .append("}");
    case TermKind::kObjectCompr:
      return std::string("{")
          .append(Render(t->key))
          .append(": ")
          .append(Render(t->compr_head))
          .append(" | ")
          .append(Render(*t->body))
          .append("}");
    case TermKind::kCall:
      return t->name + "(" + RenderList(t->items) + ")";
  }
  return "?";
}

std::string Render(const Expr& e) {
  std::string out = e.negated ? "not " : "";
  switch (e.kind) {
    case ExprKind::kTerm:
      out += Render(e.term);
      break;
    case ExprKind::kSome:
      out += "some " + RenderList(e.vars);
      break;
    case ExprKind::kSomeIn:
      out += "some " + RenderList(e.vars) + " in " + Render(e.domain);
      break;
    case ExprKind::kEvery:
      out += "every " + RenderList(e.vars) + " in " + Render(e.domain) + " { " + Render(*e.body) +
             " }";
      break;
  }
  for (const WithModifier& w : e.with)
    out += " with " + Render(w.target) + " as " + Render(w.value);
  return out;
}

std::string Render(const Body& body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (i) out += "; ";
    out += Render(body[i]);
  }
  return out;
}

// The single expression of a query, rendered.
std::string Q(const std::string& text) {
  Body body = ParseQuery(text);
  return Render(body);
}

Module M(const std::string& text) { return ParseModule("policy.rego", text); }

// The message of the parse error text raises (fails the test when it parses).
std::string Err(const std::string& text, bool module = true) {
  try {
    if (module) {
      ParseModule("policy.rego", text);
    } else {
      ParseQuery(text);
    }
  } catch (const PolicyError& e) {
    EXPECT_EQ(e.kind(), PolicyErrorKind::kParse);
    return e.what();
  }
  ADD_FAILURE() << "parsed without error: " << text;
  return "";
}

// A copy: callers pass temporaries.
Rule OnlyRule(const Module& m) {
  EXPECT_EQ(m.rules.size(), 1u);
  return m.rules.at(0);
}

// --- Errors.cpp --------------------------------------------------------------------------------

TEST(RegoParser, ErrorTextHasFileLineCode) {
  PolicyError e(PolicyErrorKind::kParse, Location{"policy.rego", 25, 3}, "unexpected ident token");
  EXPECT_STREQ(e.what(), "policy.rego:25: rego_parse_error: unexpected ident token");
  EXPECT_EQ(e.message(), "unexpected ident token");
  EXPECT_EQ(e.location().column, 3);
  PolicyError no_file(PolicyErrorKind::kType, Location{"", 1, 5}, "m");
  EXPECT_STREQ(no_file.what(), "1:5: rego_type_error: m");
  PolicyError no_loc(PolicyErrorKind::kConflict, Location{}, "m");
  EXPECT_STREQ(no_loc.what(), "eval_conflict_error: m");
}

TEST(RegoParser, ErrorCodes) {
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kParse), "rego_parse_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kCompile), "rego_compile_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kUnsafeVar), "rego_unsafe_var_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kRecursion), "rego_recursion_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kType), "rego_type_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kConflict), "eval_conflict_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kBuiltin), "eval_builtin_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kTypeEval), "eval_type_error");
  EXPECT_STREQ(PolicyErrorCode(PolicyErrorKind::kBudget), "eval_cancel_error");
}

// --- Package and imports -----------------------------------------------------------------------

TEST(RegoParser, PackageAndImports) {
  Module m =
      M("package terraform.deny\n"
        "import data.lib.tags\n"
        "import data.x as z\n"
        "import input.foo\n"
        "import future.keywords\n"
        "import future.keywords.in\n"
        "import future.keywords.every\n");
  EXPECT_EQ(m.file, "policy.rego");
  EXPECT_EQ(m.package, (std::vector<std::string>{"terraform", "deny"}));
  ASSERT_EQ(m.imports.size(), 6u);
  EXPECT_EQ(m.imports[0].path, (std::vector<std::string>{"data", "lib", "tags"}));
  EXPECT_EQ(m.imports[0].alias, "");
  EXPECT_EQ(m.imports[0].loc.line, 2);
  EXPECT_EQ(m.imports[1].alias, "z");
  EXPECT_EQ(m.imports[2].path, (std::vector<std::string>{"input", "foo"}));
  EXPECT_EQ(m.imports[4].path, (std::vector<std::string>{"future", "keywords", "in"}));
  EXPECT_FALSE(m.rego_v1);
  EXPECT_TRUE(m.rules.empty());
}

TEST(RegoParser, PackageWithBracketString) {
  EXPECT_EQ(M("package a[\"b-c\"].d").package, (std::vector<std::string>{"a", "b-c", "d"}));
}

TEST(RegoParser, ImportRegoV1SetsFlag) { EXPECT_TRUE(M("package p\nimport rego.v1\n").rego_v1); }

TEST(RegoParser, BadImports) {
  EXPECT_NE(Err("package p\nimport foo.bar")
                .find("policy.rego:2: rego_parse_error: unexpected "
                      "import path, must begin with one of"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport rego.v2").find("invalid import `rego.v2`, must be `rego.v1`"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport future.keywords.foo").find("unexpected keyword"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport future.keywords as k").find("cannot be aliased"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport data.x[y]").find("expecting string"), std::string::npos);
  EXPECT_NE(Err("package p\nimport data.x.in").find("must not end with a keyword, got: in"),
            std::string::npos);
  EXPECT_EQ(M("package p\nimport data.x.in as y").imports[0].alias, "y");
}

TEST(RegoParser, PackageRequired) {
  EXPECT_EQ(Err("p := 1"), "policy.rego:1: rego_parse_error: package expected");
  EXPECT_NE(Err("").find("empty module"), std::string::npos);
  EXPECT_NE(Err("# only a comment\n").find("empty module"), std::string::npos);
  EXPECT_NE(Err("package p\npackage q").find("policy.rego:2: rego_parse_error: unexpected package"),
            std::string::npos);
  EXPECT_NE(Err("package 1").find("unexpected number token"), std::string::npos);
}

// --- Scalars and lexing ------------------------------------------------------------------------

TEST(RegoParser, Scalars) {
  EXPECT_EQ(Q("null"), "null");
  EXPECT_EQ(Q("true"), "true");
  EXPECT_EQ(Q("false"), "false");
  EXPECT_EQ(Q("\"s\""), "\"s\"");
  EXPECT_EQ(Q("x"), "x");
}

TEST(RegoParser, Numbers) {
  auto value = [](const std::string& text) { return ParseQuery(text)[0].term->value; };
  EXPECT_TRUE(value("42").AsNumber().is_int);
  EXPECT_EQ(value("42").AsNumber().i, 42);
  EXPECT_EQ(value("-7").AsNumber().i, -7);
  EXPECT_EQ(value("1e3").AsNumber().i, 1000);
  EXPECT_FALSE(value("1.5").AsNumber().is_int);
  EXPECT_DOUBLE_EQ(value("1.5").AsNumber().d, 1.5);
  EXPECT_DOUBLE_EQ(value("2.5E-1").AsNumber().d, 0.25);
  EXPECT_EQ(value("9223372036854775807").AsNumber().i, INT64_MAX);
  EXPECT_EQ(value("-9223372036854775808").AsNumber().i, INT64_MIN);
  // Past int64: a double.
  EXPECT_FALSE(value("18446744073709551616").AsNumber().is_int);
  EXPECT_DOUBLE_EQ(value("18446744073709551616").AsNumber().d, 18446744073709551616.0);
  EXPECT_DOUBLE_EQ(value(".5").AsNumber().d, 0.5);
  EXPECT_NE(Err("1e400", false).find("number too big"), std::string::npos);
  EXPECT_NE(Err("01", false).find("expected number without leading zero"), std::string::npos);
  EXPECT_NE(Err("x := 2w", false).find("illegal number format"), std::string::npos);
  EXPECT_NE(Err("x := 1.", false).find("expected fraction"), std::string::npos);
  EXPECT_NE(Err("x := 1.a", false).find("expected fraction"), std::string::npos);
  EXPECT_NE(Err("x := 1e+", false).find("expected exponent"), std::string::npos);
}

TEST(RegoParser, NegativeLiteralVersusMinus) {
  EXPECT_EQ(Q("x - 1"), "minus(x, 1)");
  EXPECT_EQ(Q("x -1"), "minus(x, 1)");
  EXPECT_EQ(Q("x-1"), "minus(x, 1)");
  EXPECT_EQ(Q("[-1]"), "[-1]");
  EXPECT_EQ(Q("f(-1, - 2)"), "f(-1, -2)");
  EXPECT_EQ(Q("x - -1"), "minus(x, -1)");
  EXPECT_EQ(Q("x := -1.5"), "assign(x, -1.5)");
  EXPECT_EQ(Q("{\"a\": -1}"), "{\"a\": -1}");
  EXPECT_NE(Err("-x", false).find("unexpected ident token: expected number"), std::string::npos);
}

TEST(RegoParser, StringEscapes) {
  auto str = [](const std::string& text) { return ParseQuery(text)[0].term->value.AsString(); };
  EXPECT_EQ(str(R"("a\nb\tc\rd\be\ff\"g\\h\/i")"), "a\nb\tc\rd\be\ff\"g\\h/i");
  EXPECT_EQ(str(R"("\u00e9")"), "\xC3\xA9");
  EXPECT_EQ(str(R"("\u20AC")"), "\xE2\x82\xAC");
  EXPECT_EQ(str(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");  // a surrogate pair
  EXPECT_EQ(str(R"("\ud83d")"), "\xEF\xBF\xBD");            // a lone surrogate: U+FFFD
  EXPECT_EQ(str("\"h\xC3\xA9llo\""), "h\xC3\xA9llo");
  EXPECT_EQ(str("\"\""), "");
}

TEST(RegoParser, RawStrings) {
  auto str = [](const std::string& text) { return ParseQuery(text)[0].term->value.AsString(); };
  EXPECT_EQ(str("`a\\nb`"), "a\\nb");
  EXPECT_EQ(str("`line1\nline2`"), "line1\nline2");
  // Lines inside a raw string still count for later locations.
  Body body = ParseQuery("x := `a\nb`\ny");
  ASSERT_EQ(body.size(), 2u);
  EXPECT_EQ(body[1].loc.line, 3);
}

TEST(RegoParser, StringErrors) {
  EXPECT_NE(Err("x := \"abc", false).find("non-terminated string"), std::string::npos);
  EXPECT_NE(Err("x := \"a\nb\"", false).find("non-terminated string"), std::string::npos);
  EXPECT_NE(Err("x := `abc", false).find("non-terminated raw string"), std::string::npos);
  EXPECT_NE(Err(R"(x := "\q")", false).find("illegal escape sequence"), std::string::npos);
  EXPECT_NE(Err(R"(x := "\u12")", false).find("illegal escape sequence"), std::string::npos);
  EXPECT_NE(Err("x := \"\xFF\"", false).find("illegal utf-8 character"), std::string::npos);
  EXPECT_NE(Err("x := \"\xC0\xAF\"", false).find("illegal utf-8 character"), std::string::npos);
  EXPECT_NE(Err("x := \"\xED\xA0\x80\"", false).find("illegal utf-8 character"), std::string::npos);
}

TEST(RegoParser, CommentsAreSkipped) {
  Module m =
      M("# leading\n"
        "package p # trailing\n"
        "\n"
        "allow if { # open\n"
        "  # inside\n"
        "  input.x == 1 # after\n"
        "}\n");
  ASSERT_EQ(m.rules.size(), 1u);
  EXPECT_EQ(Render(m.rules[0].body), "equal(input[\"x\"], 1)");
}

TEST(RegoParser, IllegalCharacters) {
  EXPECT_NE(Err("x ~ y", false).find("query:1: rego_parse_error: illegal token: '~'"),
            std::string::npos);
  EXPECT_NE(Err("x ! y", false).find("illegal ! character"), std::string::npos);
  EXPECT_NE(Err(std::string("x\0y", 3), false).find("illegal token: byte 0x00"), std::string::npos);
  EXPECT_NE(Err("package p\nx := \xFF").find("policy.rego:2: rego_parse_error: illegal utf-8"),
            std::string::npos);
}

TEST(RegoParser, ByteOrderMarkIsSkipped) {
  EXPECT_EQ(M("\xEF\xBB\xBFpackage p\n").package, (std::vector<std::string>{"p"}));
}

// --- Terms ---------------------------------------------------------------------------------------

TEST(RegoParser, Refs) {
  EXPECT_EQ(Q("input.a.b"), "input[\"a\"][\"b\"]");
  EXPECT_EQ(Q("a.b[c][\"d\"][0]"), "a[\"b\"][c][\"d\"][0]");
  EXPECT_EQ(Q("data.x[_]"), "data[\"x\"][$_0]");
  // Keywords are plain names after a dot.
  EXPECT_EQ(Q("input.in.if.contains.package"), "input[\"in\"][\"if\"][\"contains\"][\"package\"]");
  Body body = ParseQuery("a.b[c]");
  const TermPtr& ref = body[0].term;
  ASSERT_EQ(ref->kind, TermKind::kRef);
  EXPECT_EQ(ref->head->kind, TermKind::kVar);
  EXPECT_EQ(ref->head->name, "a");
  ASSERT_EQ(ref->path.size(), 2u);
  EXPECT_EQ(ref->path[0]->kind, TermKind::kScalar);
  EXPECT_EQ(ref->path[1]->kind, TermKind::kVar);
}

TEST(RegoParser, RefsNeedNoWhitespace) {
  // `x [0]` is not a ref: in a body it is two expressions' worth of tokens.
  EXPECT_NE(Err("x [0]", false).find("unexpected [ token: expected \\n or ;"), std::string::npos);
  EXPECT_NE(Err("input. a", false).find("unexpected ident token: expected ident"),
            std::string::npos);
}

TEST(RegoParser, RefsOnCallsAndLiterals) {
  EXPECT_EQ(Q("f(x).y"), "f(x)[\"y\"]");
  EXPECT_EQ(Q("f(x)[0]"), "f(x)[0]");
  EXPECT_EQ(Q("[1, 2][0]"), "[1, 2][0]");
  EXPECT_EQ(Q("{\"a\": 1}.a"), "{\"a\": 1}[\"a\"]");
  EXPECT_EQ(Q("[x | x := 1][0]"), "[x | assign(x, 1)][0]");
  Body body = ParseQuery("f(x).y");
  EXPECT_EQ(body[0].term->kind, TermKind::kRef);
  EXPECT_EQ(body[0].term->head->kind, TermKind::kCall);
  EXPECT_NE(Err("\"abc\".x", false).find("illegal ref (head cannot be string)"), std::string::npos);
}

TEST(RegoParser, Calls) {
  EXPECT_EQ(Q("count(x)"), "count(x)");
  EXPECT_EQ(Q("time.now_ns()"), "time.now_ns()");
  EXPECT_EQ(Q("data.lib.f(1, \"a\")"), "data.lib.f(1, \"a\")");
  EXPECT_EQ(Q("f(\n  1,\n  2,\n)"), "f(1, 2)");  // trailing comma, newlines inside
  EXPECT_EQ(Q("f(g(h(x)))"), "f(g(h(x)))");
  EXPECT_EQ(Q("contains(s, \"x\")"), "contains(s, \"x\")");  // the builtin, not the keyword
  EXPECT_NE(Err("x[0](1)", false).find("illegal call"), std::string::npos);
}

TEST(RegoParser, Collections) {
  EXPECT_EQ(Q("[]"), "[]");
  EXPECT_EQ(Q("[1, \"a\", x,]"), "[1, \"a\", x]");
  EXPECT_EQ(Q("{}"), "{}");
  EXPECT_EQ(Q("{\"a\": 1, b: [2], 3: x,}"), "{\"a\": 1, b: [2], 3: x}");
  EXPECT_EQ(Q("{1, 2, x}"), "set(1, 2, x)");
  EXPECT_EQ(Q("{1}"), "set(1)");
  EXPECT_EQ(Q("[\n  1,\n  2\n]"), "[1, 2]");
  EXPECT_EQ(Q("{\n  \"a\": 1,\n  \"b\": 2\n}"), "{\"a\": 1, \"b\": 2}");
  EXPECT_EQ(Q("{x + 1: y * 2}"), "{plus(x, 1): mul(y, 2)}");
  EXPECT_EQ(Q("[x + 1, y]"), "[plus(x, 1), y]");
  // `{a | b, ...}` is always a comprehension (OPA would fall back to a set with a union).
  EXPECT_EQ(Q("{(a | b), c}"), "set(or(a, b), c)");
  EXPECT_NE(Err("{a | b, c}", false).find("unexpected , token"), std::string::npos);
}

TEST(RegoParser, EmptySet) {
  Body body = ParseQuery("set()");
  EXPECT_EQ(body[0].term->kind, TermKind::kSet);
  EXPECT_TRUE(body[0].term->items.empty());
  EXPECT_EQ(Q("x := set()"), "assign(x, set())");
}

TEST(RegoParser, CollectionErrors) {
  EXPECT_NE(Err("[1 2]", false).find("unexpected number token: expected \",\" or \"]\""),
            std::string::npos);
  EXPECT_NE(Err("{\"a\": 1 \"b\": 2}", false).find("expected \",\" or \"}\""), std::string::npos);
  EXPECT_NE(Err("{\"a\": 1, \"b\"}", false).find("expected \":\""), std::string::npos);
  EXPECT_NE(Err("[1, 2", false).find("unexpected eof token"), std::string::npos);
  EXPECT_NE(Err("f(1", false).find("unexpected eof token"), std::string::npos);
  EXPECT_NE(Err("(1 + 2", false).find("non-terminated expression"), std::string::npos);
}

TEST(RegoParser, Comprehensions) {
  EXPECT_EQ(Q("[x | x := xs[_]]"), "[x | assign(x, xs[$_0])]");
  EXPECT_EQ(Q("{x | some x in xs; x > 1}"), "{x | some x in xs; gt(x, 1)}");
  EXPECT_EQ(Q("{k: v | v := o[k]}"), "{k: v | assign(v, o[k])}");
  // Bodies are full bodies: newline separated too.
  EXPECT_EQ(Q("[x |\n  x := 1\n  x > 0\n]"), "[x | assign(x, 1); gt(x, 0)]");
  Body body = ParseQuery("{k: v | v := o[k]}");
  EXPECT_EQ(body[0].term->kind, TermKind::kObjectCompr);
  EXPECT_EQ(ParseQuery("{x | x := 1}")[0].term->kind, TermKind::kSetCompr);
  EXPECT_EQ(ParseQuery("[x | x := 1]")[0].term->kind, TermKind::kArrayCompr);
  EXPECT_NE(Err("[x | ]", false).find("found empty body"), std::string::npos);
}

TEST(RegoParser, WildcardsAreUnique) {
  Body body = ParseQuery("x[_] = y[_]");
  EXPECT_EQ(Render(body), "eq(x[$_0], y[$_1])");
}

// --- Operators ---------------------------------------------------------------------------------

TEST(RegoParser, OperatorNames) {
  EXPECT_EQ(Q("x := 1"), "assign(x, 1)");
  EXPECT_EQ(Q("x = 1"), "eq(x, 1)");
  EXPECT_EQ(Q("x == 1"), "equal(x, 1)");
  EXPECT_EQ(Q("x != 1"), "neq(x, 1)");
  EXPECT_EQ(Q("x < 1"), "lt(x, 1)");
  EXPECT_EQ(Q("x <= 1"), "lte(x, 1)");
  EXPECT_EQ(Q("x > 1"), "gt(x, 1)");
  EXPECT_EQ(Q("x >= 1"), "gte(x, 1)");
  EXPECT_EQ(Q("x + 1"), "plus(x, 1)");
  EXPECT_EQ(Q("x - 1"), "minus(x, 1)");
  EXPECT_EQ(Q("x * 1"), "mul(x, 1)");
  EXPECT_EQ(Q("x / 1"), "div(x, 1)");
  EXPECT_EQ(Q("x % 1"), "rem(x, 1)");
  EXPECT_EQ(Q("x & y"), "and(x, y)");
  EXPECT_EQ(Q("x | y"), "or(x, y)");
  EXPECT_EQ(Q("x in y"), "internal.member_2(x, y)");
  EXPECT_EQ(Q("k, v in y"), "internal.member_3(k, v, y)");
}

TEST(RegoParser, Precedence) {
  EXPECT_EQ(Q("1 + 2 * 3"), "plus(1, mul(2, 3))");
  EXPECT_EQ(Q("1 * 2 + 3"), "plus(mul(1, 2), 3)");
  EXPECT_EQ(Q("x := 1 + 2 == 3"), "assign(x, equal(plus(1, 2), 3))");
  EXPECT_EQ(Q("a | b & c"), "or(a, and(b, c))");
  EXPECT_EQ(Q("a & b + c"), "and(a, plus(b, c))");
  EXPECT_EQ(Q("a == b | c"), "equal(a, or(b, c))");
  EXPECT_EQ(Q("x in a | b"), "internal.member_2(x, or(a, b))");
  EXPECT_EQ(Q("x in xs == true"), "internal.member_2(x, equal(xs, true))");
  EXPECT_EQ(Q("y := x in xs"), "assign(y, internal.member_2(x, xs))");
  EXPECT_EQ(Q("count(x) > 1"), "gt(count(x), 1)");
}

TEST(RegoParser, LeftAssociativity) {
  EXPECT_EQ(Q("1 - 2 - 3"), "minus(minus(1, 2), 3)");
  EXPECT_EQ(Q("8 / 4 / 2"), "div(div(8, 4), 2)");
  EXPECT_EQ(Q("1 - 2 + 3"), "plus(minus(1, 2), 3)");
  EXPECT_EQ(Q("a < b == c"), "equal(lt(a, b), c)");
  EXPECT_EQ(Q("a | b | c"), "or(or(a, b), c)");
}

TEST(RegoParser, Parentheses) {
  EXPECT_EQ(Q("(1 + 2) * 3"), "mul(plus(1, 2), 3)");
  EXPECT_EQ(Q("x := (\n  1 +\n  2\n)"), "assign(x, plus(1, 2))");
  EXPECT_EQ(Q("(a.b).c"), "a[\"b\"][\"c\"]");
}

TEST(RegoParser, NewlineEndsExpression) {
  Body body = ParseQuery("x := 1\ny := 2");
  ASSERT_EQ(body.size(), 2u);
  // An operator at the start of the next line does not continue the previous expression.
  EXPECT_NE(Err("x := 1\n+ 2", false).find("query:2: rego_parse_error: unexpected + token"),
            std::string::npos);
  // After an infix operator the expression continues on the next line.
  EXPECT_EQ(Q("x := 1 +\n  2"), "assign(x, plus(1, 2))");
  EXPECT_EQ(Q("x :=\n  2"), "assign(x, 2)");
}

TEST(RegoParser, NewlineThenNegativeLiteralStartsNewExpression) {
  EXPECT_EQ(Q("x := 1\n-1 == y"), "assign(x, 1); equal(-1, y)");
}

TEST(RegoParser, CrlfAndTabs) {
  Module m = M("package p\r\n\r\nallow if {\r\n\tinput.x\r\n\tinput.y\r\n}\r\n");
  ASSERT_EQ(m.rules.size(), 1u);
  EXPECT_EQ(m.rules[0].loc.line, 3);
  ASSERT_EQ(m.rules[0].body.size(), 2u);
  EXPECT_EQ(m.rules[0].body[1].loc.line, 5);
  EXPECT_EQ(m.rules[0].body[1].loc.column, 2);
}

TEST(RegoParser, MemberOutsideAndInsideCollections) {
  // In collections and call arguments `k, v in xs` is two items.
  EXPECT_EQ(Q("[k, v in xs]"), "[k, internal.member_2(v, xs)]");
  EXPECT_EQ(Q("f(k, v in xs)"), "f(k, internal.member_2(v, xs))");
  EXPECT_EQ(Q("not k, v in xs"), "not internal.member_3(k, v, xs)");
}

// --- Expressions ---------------------------------------------------------------------------------

TEST(RegoParser, NotExpression) {
  Body body = ParseQuery("not input.x");
  ASSERT_EQ(body.size(), 1u);
  EXPECT_TRUE(body[0].negated);
  EXPECT_EQ(Render(body[0].term), "input[\"x\"]");
  EXPECT_EQ(Q("not x == 1"), "not equal(x, 1)");
  EXPECT_NE(Err("not some x", false).find("illegal negation of 'some'"), std::string::npos);
  EXPECT_NE(Err("not every x in xs { x }", false).find("illegal negation of 'every'"),
            std::string::npos);
}

TEST(RegoParser, SomeDeclarations) {
  Body body = ParseQuery("some x, y; x := 1");
  ASSERT_EQ(body.size(), 2u);
  EXPECT_EQ(body[0].kind, ExprKind::kSome);
  ASSERT_EQ(body[0].vars.size(), 2u);
  EXPECT_EQ(body[0].vars[0]->name, "x");
  EXPECT_EQ(body[0].vars[1]->name, "y");
  EXPECT_EQ(Q("some x\nx := 1"), "some x; assign(x, 1)");
  EXPECT_NE(Err("some 1", false).find("unexpected number token: expected var"), std::string::npos);
}

TEST(RegoParser, SomeIn) {
  Body body = ParseQuery("some x in input.xs");
  ASSERT_EQ(body.size(), 1u);
  EXPECT_EQ(body[0].kind, ExprKind::kSomeIn);
  ASSERT_EQ(body[0].vars.size(), 1u);
  EXPECT_EQ(body[0].vars[0]->name, "x");
  EXPECT_EQ(Render(body[0].domain), "input[\"xs\"]");
  EXPECT_EQ(Render(body[0].term), "internal.member_2(x, input[\"xs\"])");

  body = ParseQuery("some k, v in {\"a\": 1}");
  EXPECT_EQ(body[0].kind, ExprKind::kSomeIn);
  ASSERT_EQ(body[0].vars.size(), 2u);
  EXPECT_EQ(body[0].vars[0]->name, "k");
  EXPECT_EQ(body[0].vars[1]->name, "v");

  // Patterns are allowed.
  EXPECT_EQ(Q("some [a, b] in pairs"), "some [a, b] in pairs");
  EXPECT_EQ(Q("some _, v in xs"), "some $_0, v in xs");
  EXPECT_NE(Err("some x == y", false).find("expected `x in xs` or `x, y in xs` expression"),
            std::string::npos);
}

TEST(RegoParser, Every) {
  Body body = ParseQuery("every x in xs { x > 0; x < 10 }");
  ASSERT_EQ(body.size(), 1u);
  EXPECT_EQ(body[0].kind, ExprKind::kEvery);
  ASSERT_EQ(body[0].vars.size(), 1u);
  EXPECT_EQ(Render(body[0].domain), "xs");
  ASSERT_TRUE(body[0].body);
  EXPECT_EQ(Render(*body[0].body), "gt(x, 0); lt(x, 10)");

  EXPECT_EQ(Q("every k, v in o {\n  k != v\n}"), "every k, v in o { neq(k, v) }");
  EXPECT_NE(Err("every x in xs", false).find("missing body"), std::string::npos);
  EXPECT_NE(Err("every [a] in xs { true }", false).find("expected value to be a variable"),
            std::string::npos);
  EXPECT_NE(Err("every x { true }", false).find("expected `x[, y] in xs { ... }` expression"),
            std::string::npos);
}

TEST(RegoParser, WithModifiers) {
  Body body = ParseQuery("allow with input.x as 1 with data.y as z with count as mock_count");
  ASSERT_EQ(body.size(), 1u);
  ASSERT_EQ(body[0].with.size(), 3u);
  EXPECT_EQ(Render(body[0].with[0].target), "input[\"x\"]");
  EXPECT_EQ(Render(body[0].with[0].value), "1");
  EXPECT_EQ(Render(body[0].with[1].target), "data[\"y\"]");
  EXPECT_EQ(body[0].with[2].target->kind, TermKind::kVar);
  EXPECT_EQ(body[0].with[2].target->name, "count");
  EXPECT_EQ(body[0].with[0].loc.column, 7);
  // A with on the next line still belongs to the expression.
  EXPECT_EQ(Q("not deny\n  with input as {\"a\": 1}"), "not deny with input as {\"a\": 1}");
  EXPECT_EQ(Q("every x in xs { x } with input as 1"), "every x in xs { x } with input as 1");
  EXPECT_NE(Err("x with 1 as 2", false).find("unexpected number token: expected ident"),
            std::string::npos);
  EXPECT_NE(Err("x with input.x 2", false).find("expected as keyword"), std::string::npos);
  EXPECT_NE(Err("x with f(1) as 2", false).find("expected with target path"), std::string::npos);
}

TEST(RegoParser, BodySeparators) {
  Body body = ParseQuery("a; b\nc;d");
  EXPECT_EQ(Render(body), "a; b; c; d");
  EXPECT_NE(Err("a b", false).find("query:1: rego_parse_error: unexpected ident token"),
            std::string::npos);
  EXPECT_NE(Err("a;", false).find("unexpected eof token"), std::string::npos);
}

TEST(RegoParser, QueryTexts) {
  std::vector<std::string> texts;
  Body body = ParseQuery("x := data.a.b;  x > 1\ny with input as 1", &texts);
  ASSERT_EQ(body.size(), 3u);
  EXPECT_EQ(texts, (std::vector<std::string>{"x := data.a.b", "x > 1", "y with input as 1"}));
  EXPECT_EQ(body[1].loc.line, 1);
  EXPECT_EQ(body[1].loc.column, 17);
  EXPECT_EQ(body[2].loc.line, 2);
  EXPECT_EQ(body[0].loc.file, "query");
}

TEST(RegoParser, QueryFileName) {
  try {
    ParseQuery("x +", nullptr, "");
    FAIL();
  } catch (const PolicyError& e) {
    EXPECT_STREQ(e.what(), "1:4: rego_parse_error: unexpected eof token");
  }
  EXPECT_NE(Err("", false).find("empty query"), std::string::npos);
}

// --- Rules ---------------------------------------------------------------------------------------

TEST(RegoParser, DefaultRules) {
  Module m = M("package p\ndefault allow := false\ndefault x = {\"a\": [1]}\n");
  ASSERT_EQ(m.rules.size(), 2u);
  EXPECT_TRUE(m.rules[0].is_default);
  EXPECT_EQ(m.rules[0].kind, RuleKind::kComplete);
  EXPECT_EQ(m.rules[0].name, "allow");
  EXPECT_TRUE(m.rules[0].assign);
  EXPECT_EQ(Render(m.rules[0].value), "false");
  EXPECT_TRUE(m.rules[0].body.empty());
  EXPECT_EQ(m.rules[0].loc.line, 2);
  EXPECT_EQ(m.rules[0].loc.column, 1);
  EXPECT_FALSE(m.rules[1].assign);
  EXPECT_EQ(Render(m.rules[1].value), "{\"a\": [1]}");
}

TEST(RegoParser, DefaultRuleErrors) {
  EXPECT_EQ(Err("package p\ndefault allow := x"),
            "policy.rego:2: rego_parse_error: illegal default rule (value cannot contain var)");
  EXPECT_NE(Err("package p\ndefault allow := input.x").find("value cannot contain ref"),
            std::string::npos);
  EXPECT_NE(Err("package p\ndefault allow := count([])").find("value cannot contain call"),
            std::string::npos);
  EXPECT_NE(Err("package p\ndefault allow").find("illegal default rule (must have a value)"),
            std::string::npos);
  // Comprehensions may use vars.
  EXPECT_EQ(M("package p\ndefault xs := [x | x := 1]").rules.size(), 1u);
}

TEST(RegoParser, DefaultFunction) {
  Rule r = OnlyRule(M("package p\ndefault f(_) := 1"));
  EXPECT_TRUE(r.is_default);
  EXPECT_EQ(r.kind, RuleKind::kFunction);
  ASSERT_EQ(r.args.size(), 1u);
  EXPECT_NE(Err("package p\ndefault f(1) := 1").find("arguments cannot contain number"),
            std::string::npos);
}

TEST(RegoParser, CompleteRuleForms) {
  Module m =
      M("package p\n"
        "a { true }\n"
        "b if { true }\n"
        "c if input.x\n"
        "d = 5 { true }\n"
        "e := 6 if { true }\n"
        "f := 7\n"
        "g = 8\n"
        "h := 9 if input.y\n");
  ASSERT_EQ(m.rules.size(), 8u);
  for (const Rule& r : m.rules) EXPECT_EQ(r.kind, RuleKind::kComplete) << r.name;
  EXPECT_EQ(m.rules[0].name, "a");
  EXPECT_EQ(m.rules[0].path, (std::vector<std::string>{"a"}));
  EXPECT_EQ(m.rules[0].value, nullptr);
  EXPECT_EQ(Render(m.rules[0].body), "true");
  EXPECT_EQ(Render(m.rules[1].body), "true");
  EXPECT_EQ(Render(m.rules[2].body), "input[\"x\"]");
  EXPECT_EQ(Render(m.rules[3].value), "5");
  EXPECT_FALSE(m.rules[3].assign);
  EXPECT_EQ(Render(m.rules[4].value), "6");
  EXPECT_TRUE(m.rules[4].assign);
  EXPECT_EQ(Render(m.rules[5].value), "7");
  EXPECT_TRUE(m.rules[5].body.empty());
  EXPECT_EQ(Render(m.rules[6].value), "8");
  EXPECT_FALSE(m.rules[6].assign);
  EXPECT_EQ(Render(m.rules[7].value), "9");
  EXPECT_EQ(Render(m.rules[7].body), "input[\"y\"]");
}

TEST(RegoParser, RuleBodyMultiline) {
  Rule r =
      OnlyRule(M("package p\n"
                 "allow if {\n"
                 "  input.user == \"admin\"\n"
                 "  count(input.roles) > 0; input.ok\n"
                 "}\n"));
  EXPECT_EQ(Render(r.body),
            "equal(input[\"user\"], \"admin\"); gt(count(input[\"roles\"]), 0); input[\"ok\"]");
  ASSERT_EQ(r.body.size(), 3u);
  EXPECT_EQ(r.body[0].loc.line, 3);
  EXPECT_EQ(r.body[0].loc.column, 3);
  EXPECT_EQ(r.body[2].loc.line, 4);
}

TEST(RegoParser, RuleValueWithObjectAndBody) {
  Rule r = OnlyRule(M("package p\nx := {\"a\": 1} if { true }"));
  EXPECT_EQ(Render(r.value), "{\"a\": 1}");
  EXPECT_EQ(Render(r.body), "true");
  Rule r2 = OnlyRule(M("package p\nx = y {\n  y := 1\n}"));
  EXPECT_EQ(Render(r2.value), "y");
  EXPECT_EQ(Render(r2.body), "assign(y, 1)");
}

TEST(RegoParser, SingleExpressionBodyEndsAtNewline) {
  Module m = M("package p\nallow if input.x == 1\ndeny if not allow\n");
  ASSERT_EQ(m.rules.size(), 2u);
  EXPECT_EQ(Render(m.rules[0].body), "equal(input[\"x\"], 1)");
  EXPECT_EQ(Render(m.rules[1].body), "not allow");
  EXPECT_EQ(m.rules[1].loc.line, 3);
}

TEST(RegoParser, PartialSetV0) {
  Rule r = OnlyRule(M("package p\ndeny[msg] {\n  msg := \"no\"\n}"));
  EXPECT_EQ(r.kind, RuleKind::kPartialSet);
  EXPECT_EQ(r.name, "deny");
  EXPECT_EQ(r.path, (std::vector<std::string>{"deny"}));
  EXPECT_EQ(Render(r.key), "msg");
  EXPECT_EQ(r.value, nullptr);
  // v0 with `if` is still a partial set.
  Rule r2 = OnlyRule(M("package p\nimport future.keywords.if\ndeny[msg] if msg := 1"));
  EXPECT_EQ(r2.kind, RuleKind::kPartialSet);
  // A string key is a partial set element too in v0.
  Rule r3 = OnlyRule(M("package p\ndeny[\"msg\"] { true }"));
  EXPECT_EQ(r3.kind, RuleKind::kPartialSet);
  EXPECT_EQ(Render(r3.key), "\"msg\"");
  // Without a body.
  Rule r4 = OnlyRule(M("package p\nq[1]"));
  EXPECT_EQ(r4.kind, RuleKind::kPartialSet);
  EXPECT_TRUE(r4.body.empty());
}

TEST(RegoParser, PartialSetContains) {
  Module m =
      M("package p\n"
        "import rego.v1\n"
        "deny contains msg if {\n"
        "  msg := \"x\"\n"
        "}\n"
        "deny contains \"y\" if input.y\n"
        "deny contains \"z\"\n");
  ASSERT_EQ(m.rules.size(), 3u);
  for (const Rule& r : m.rules) {
    EXPECT_EQ(r.kind, RuleKind::kPartialSet);
    EXPECT_EQ(r.name, "deny");
    EXPECT_EQ(r.value, nullptr);
  }
  EXPECT_EQ(Render(m.rules[0].key), "msg");
  EXPECT_EQ(Render(m.rules[1].key), "\"y\"");
  EXPECT_EQ(Render(m.rules[1].body), "input[\"y\"]");
  EXPECT_TRUE(m.rules[2].body.empty());
  EXPECT_EQ(Render(m.rules[2].key), "\"z\"");
}

TEST(RegoParser, ContainsWithObjectKey) {
  Rule r = OnlyRule(M("package p\nviolation contains {\"msg\": m} if m := \"x\""));
  EXPECT_EQ(r.kind, RuleKind::kPartialSet);
  EXPECT_EQ(Render(r.key), "{\"msg\": m}");
}

TEST(RegoParser, PartialObject) {
  Module m =
      M("package p\n"
        "a[k] = v { v := input[k] }\n"
        "b[k] := v if { v := input[k] }\n"
        "c[k] := 1 if k := \"x\"\n");
  ASSERT_EQ(m.rules.size(), 3u);
  for (const Rule& r : m.rules) EXPECT_EQ(r.kind, RuleKind::kPartialObject) << r.name;
  EXPECT_EQ(Render(m.rules[0].key), "k");
  EXPECT_EQ(Render(m.rules[0].value), "v");
  EXPECT_FALSE(m.rules[0].assign);
  EXPECT_TRUE(m.rules[1].assign);
  EXPECT_EQ(m.rules[2].path, (std::vector<std::string>{"c"}));
}

TEST(RegoParser, V1BracketIfIsPartialObject) {
  Rule r = OnlyRule(M("package p\nimport rego.v1\np[x] if { x := 1 }"));
  EXPECT_EQ(r.kind, RuleKind::kPartialObject);
  EXPECT_EQ(Render(r.key), "x");
  EXPECT_EQ(Render(r.value), "true");
}

TEST(RegoParser, V1RequiresIf) {
  EXPECT_EQ(Err("package p\nimport rego.v1\nallow { true }"),
            "policy.rego:3: rego_parse_error: `if` keyword is required before rule body");
  EXPECT_NE(Err("package p\nimport rego.v1\np[x] { x := 1 }")
                .find("`if` keyword is required before rule body"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport rego.v1\nf(x) { x }")
                .find("`if` keyword is required before function body"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport rego.v1\np contains x { x := 1 }")
                .find("`if` keyword is required before rule body"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport rego.v1\np := 1 if { false } else { true }")
                .find("policy.rego:3: rego_parse_error: `if` keyword is required"),
            std::string::npos);
  EXPECT_NE(Err("package p\nimport rego.v1\np[x]").find("`contains` keyword is required"),
            std::string::npos);
}

TEST(RegoParser, V1ImportAfterRulesStillApplies) {
  // OPA checks v1 syntax over the whole module.
  EXPECT_NE(Err("package p\nallow { true }\nimport rego.v1").find("`if` keyword is required"),
            std::string::npos);
}

TEST(RegoParser, DottedRefHeads) {
  Module m =
      M("package p\n"
        "a.b.c := 1 if input.x\n"
        "a.b contains x if x := 1\n"
        "a.b[k] := v if { k := \"a\"; v := 1 }\n"
        "x[\"y\"].z := 2\n");
  ASSERT_EQ(m.rules.size(), 4u);
  EXPECT_EQ(m.rules[0].kind, RuleKind::kComplete);
  EXPECT_EQ(m.rules[0].path, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(m.rules[0].name, "c");
  EXPECT_EQ(m.rules[1].kind, RuleKind::kPartialSet);
  EXPECT_EQ(m.rules[1].path, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.rules[1].name, "b");
  EXPECT_EQ(m.rules[2].kind, RuleKind::kPartialObject);
  EXPECT_EQ(m.rules[2].path, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.rules[2].name, "b");
  EXPECT_EQ(Render(m.rules[2].key), "k");
  EXPECT_EQ(m.rules[3].path, (std::vector<std::string>{"x", "y", "z"}));
}

TEST(RegoParser, DottedHeadWithKeyAndNoValueMapsToTrue) {
  Rule r = OnlyRule(M("package p\na.b[x] if x := 1"));
  EXPECT_EQ(r.kind, RuleKind::kPartialObject);
  EXPECT_EQ(Render(r.value), "true");
}

TEST(RegoParser, GroundBracketHeadIsPath) {
  Rule r = OnlyRule(M("package p\nimport rego.v1\nq[\"a\"] := 1"));
  EXPECT_EQ(r.kind, RuleKind::kComplete);
  EXPECT_EQ(r.path, (std::vector<std::string>{"q", "a"}));
  EXPECT_NE(Err("package p\na[x].b := 1").find("illegal rule head ref"), std::string::npos);
}

TEST(RegoParser, Functions) {
  Module m =
      M("package p\n"
        "f(x) = y { y := x + 1 }\n"
        "g(x) := y if { y := x }\n"
        "h(x, [a, b]) if a == x\n"
        "k(x) { x }\n"
        "lib.util.m(_) := 1\n");
  ASSERT_EQ(m.rules.size(), 5u);
  for (const Rule& r : m.rules) EXPECT_EQ(r.kind, RuleKind::kFunction) << r.name;
  EXPECT_EQ(m.rules[0].name, "f");
  ASSERT_EQ(m.rules[0].args.size(), 1u);
  EXPECT_EQ(Render(m.rules[0].args[0]), "x");
  EXPECT_EQ(Render(m.rules[0].value), "y");
  EXPECT_FALSE(m.rules[0].assign);
  EXPECT_TRUE(m.rules[1].assign);
  ASSERT_EQ(m.rules[2].args.size(), 2u);
  EXPECT_EQ(Render(m.rules[2].args[1]), "[a, b]");
  EXPECT_EQ(m.rules[2].value, nullptr);
  EXPECT_EQ(m.rules[3].value, nullptr);
  EXPECT_EQ(m.rules[4].path, (std::vector<std::string>{"lib", "util", "m"}));
  EXPECT_EQ(m.rules[4].name, "m");
  EXPECT_EQ(Render(m.rules[4].args[0]), "$_0");
}

TEST(RegoParser, FunctionWithScalarArgs) {
  Rule r = OnlyRule(M("package p\nf(1, \"a\", {\"k\": v}) := v"));
  EXPECT_EQ(Render(r.args[0]), "1");
  EXPECT_EQ(Render(r.args[1]), "\"a\"");
  EXPECT_EQ(Render(r.args[2]), "{\"k\": v}");
  EXPECT_NE(Err("package p\nf(x) contains y").find("contains keyword can only be used"),
            std::string::npos);
}

TEST(RegoParser, ElseChains) {
  Rule r =
      OnlyRule(M("package p\n"
                 "x := 1 if {\n"
                 "  input.a\n"
                 "} else := 2 if {\n"
                 "  input.b\n"
                 "} else = 3 {\n"
                 "  input.c\n"
                 "} else if {\n"
                 "  input.d\n"
                 "} else {\n"
                 "  input.e\n"
                 "} else := 4 if input.f\n"
                 "else := 5\n"));
  EXPECT_EQ(r.kind, RuleKind::kComplete);
  ASSERT_EQ(r.elses.size(), 6u);
  EXPECT_EQ(Render(r.elses[0].value), "2");
  EXPECT_EQ(Render(r.elses[0].body), "input[\"b\"]");
  EXPECT_EQ(r.elses[0].loc.line, 4);
  EXPECT_EQ(r.elses[0].loc.column, 3);
  EXPECT_EQ(Render(r.elses[1].value), "3");
  EXPECT_EQ(r.elses[2].value, nullptr);
  EXPECT_EQ(Render(r.elses[2].body), "input[\"d\"]");
  EXPECT_EQ(r.elses[3].value, nullptr);
  EXPECT_EQ(Render(r.elses[3].body), "input[\"e\"]");
  EXPECT_EQ(Render(r.elses[4].value), "4");
  EXPECT_EQ(Render(r.elses[4].body), "input[\"f\"]");
  EXPECT_EQ(Render(r.elses[5].value), "5");
  EXPECT_TRUE(r.elses[5].body.empty());
}

TEST(RegoParser, FunctionElse) {
  Rule r = OnlyRule(M("package p\nf(x) := 1 if x > 0 else := 0"));
  EXPECT_EQ(r.kind, RuleKind::kFunction);
  ASSERT_EQ(r.elses.size(), 1u);
  EXPECT_EQ(Render(r.elses[0].value), "0");
}

TEST(RegoParser, ElseErrors) {
  EXPECT_NE(Err("package p\np contains x if { x := 1 } else { true }")
                .find("else keyword cannot be used on multi-value rules"),
            std::string::npos);
  EXPECT_NE(Err("package p\np := 1 if { true } else")
                .find("unexpected eof token: expected else "
                      "value term or rule body"),
            std::string::npos);
}

TEST(RegoParser, ChainedBodiesV0) {
  Module m = M("package p\np[x] { x := 1 } { x := 2 }");
  ASSERT_EQ(m.rules.size(), 2u);
  EXPECT_EQ(m.rules[1].kind, RuleKind::kPartialSet);
  EXPECT_EQ(Render(m.rules[1].body), "assign(x, 2)");
  // The copy shares no nodes with the first rule (the compiler annotates them in place).
  EXPECT_NE(m.rules[0].key.get(), m.rules[1].key.get());
}

TEST(RegoParser, MultipleRulesSameName) {
  Module m = M("package p\nallow if input.a\nallow if input.b\nallow := true if input.c\n");
  ASSERT_EQ(m.rules.size(), 3u);
  for (const Rule& r : m.rules) EXPECT_EQ(r.name, "allow");
  EXPECT_EQ(m.rules[0].loc.line, 2);
  EXPECT_EQ(m.rules[1].loc.line, 3);
  EXPECT_EQ(m.rules[2].loc.line, 4);
}

TEST(RegoParser, RuleErrors) {
  EXPECT_EQ(Err("package p\nallow"),
            "policy.rego:2: rego_parse_error: var cannot be used for rule name");
  EXPECT_NE(Err("package p\nallow if {").find("policy.rego:2: rego_parse_error: unexpected eof"),
            std::string::npos);
  EXPECT_NE(Err("package p\nallow if {}").find("found empty body"), std::string::npos);
  EXPECT_NE(Err("package p\n}").find("policy.rego:2: rego_parse_error: unexpected } token"),
            std::string::npos);
  EXPECT_NE(Err("package p\nallow if { x y }")
                .find("policy.rego:2: rego_parse_error: unexpected ident token: expected \\n or "
                      "; or }"),
            std::string::npos);
  EXPECT_NE(Err("package p\np := 1 +").find("unexpected eof token"), std::string::npos);
  EXPECT_NE(Err("package p\nif := 1").find("unexpected if keyword"), std::string::npos);
}

TEST(RegoParser, ErrorLocationsPointAtToken) {
  try {
    M("package p\n\nallow if {\n  x := [1, 2\n  y := 3\n}\n");
    FAIL();
  } catch (const PolicyError& e) {
    EXPECT_EQ(e.location().line, 5);
    EXPECT_EQ(e.location().column, 3);
    EXPECT_EQ(e.location().file, "policy.rego");
    EXPECT_NE(std::string(e.what()).find("unexpected ident token"), std::string::npos);
  }
}

// --- Locations ---------------------------------------------------------------------------------

TEST(RegoParser, TermLocations) {
  Module m = M("package p\n\nallow if {\n  x := input.a[\"b\"] + f(1)\n}\n");
  Rule r = OnlyRule(m);
  EXPECT_EQ(r.loc.line, 3);
  EXPECT_EQ(r.loc.column, 1);
  EXPECT_EQ(r.loc.file, "policy.rego");
  const Expr& e = r.body.at(0);
  EXPECT_EQ(e.loc.line, 4);
  EXPECT_EQ(e.loc.column, 3);
  const TermPtr& assign = e.term;
  EXPECT_EQ(assign->loc.column, 3);  // an operator call sits at its left operand
  const TermPtr& plus = assign->items[1];
  EXPECT_EQ(plus->name, "plus");
  const TermPtr& ref = plus->items[0];
  EXPECT_EQ(ref->loc.column, 8);
  EXPECT_EQ(ref->head->loc.column, 8);
  EXPECT_EQ(ref->path[0]->loc.column, 14);  // `a`
  EXPECT_EQ(ref->path[1]->loc.column, 16);  // `"b"`
  const TermPtr& call = plus->items[1];
  EXPECT_EQ(call->loc.column, 23);
  EXPECT_EQ(call->items[0]->loc.column, 25);
  EXPECT_EQ(call->items[0]->loc.file, "policy.rego");
}

TEST(RegoParser, ColumnsCountCharacters) {
  Body body = ParseQuery("\"\xC3\xA9\xC3\xA9\" == x");
  EXPECT_EQ(body[0].term->items[1]->loc.column, 9);
}

// --- Robustness --------------------------------------------------------------------------------

TEST(RegoParser, DeepNestingIsAnError) {
  std::string deep(100000, '[');
  EXPECT_NE(Err(deep, false).find("nesting too deep"), std::string::npos);
  std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(Err(parens, false).find("nesting too deep"), std::string::npos);
  std::string calls;
  for (int i = 0; i < 3000; ++i) calls += "f(";
  EXPECT_NE(Err(calls, false).find("nesting too deep"), std::string::npos);
  std::string comprehensions;
  for (int i = 0; i < 3000; ++i) comprehensions += "[x | ";
  EXPECT_NE(Err(comprehensions, false).find("nesting too deep"), std::string::npos);
  // Moderate nesting is fine.
  std::string ok = std::string(50, '[') + "1" + std::string(50, ']');
  EXPECT_EQ(ParseQuery(ok).size(), 1u);
}

TEST(RegoParser, LongFlatInputIsFine) {
  std::string sum = "x := 0";
  for (int i = 0; i < 20000; ++i) sum += " + 1";
  EXPECT_EQ(ParseQuery(sum).size(), 1u);
  std::string module = "package p\n";
  for (int i = 0; i < 2000; ++i)
    module.append("r").append(std::to_string(i)).append(" if input.x\n");
  EXPECT_EQ(M(module).rules.size(), 2000u);
}

TEST(RegoParser, HostileInputsDoNotCrash) {
  const char* inputs[] = {
      "package",
      "package p\ndefault",
      "package p\np[",
      "package p\np(",
      "package p\np.",
      "package p\np contains",
      "package p\np if",
      "package p\np := ",
      "package p\np else",
      "package p\nf(x) := y else",
      "package p\np { some }",
      "package p\np { every }",
      "package p\np { x with }",
      "package p\np { not }",
      "package p\np { [x | }",
      "package p\np { {k: v | } }",
      "package p\np { {1: } }",
      "package p\np { - }",
      "package p\np { . }",
      "package p\np { x.1 }",
      "package p\np { `",
      "package p\np { \"\\u",
      "package p\np { \"\\ud800\\u",
      "package p\nimport",
      "package p\nimport data.x as",
      "package p\np[x][y] := 1",
      "\xFF\xFE",
      "package p\n\x01",
  };
  for (const char* text : inputs) {
    try {
      ParseModule("f.rego", text);
      ADD_FAILURE() << "parsed: " << text;
    } catch (const PolicyError& e) {
      EXPECT_EQ(e.kind(), PolicyErrorKind::kParse) << text;
      EXPECT_NE(std::string(e.what()).find("rego_parse_error"), std::string::npos) << text;
    }
  }
}

// A realistic policy in v1 syntax, parsed end to end.
TEST(RegoParser, RealisticPolicy) {
  Module m = M(R"(package terraform.deny

import rego.v1

default allow := false

tags := {"owner", "env"}

# Every resource must carry the required tags.
deny contains msg if {
	some rc in input.resource_changes
	rc.change.actions[_] in {"create", "update"}
	missing := tags - {k | some k, _ in rc.change.after.tags}
	count(missing) > 0
	msg := sprintf("%s: missing tags %v", [rc.address, missing])
}

allow if {
	count(deny) == 0
	every rc in input.resource_changes {
		not startswith(rc.type, "aws_iam_")
	}
}

region(rc) := r if {
	r := rc.change.after.region
} else := "us-east-1"

test_allow if {
	allow with input as {"resource_changes": []}
}
)");
  EXPECT_TRUE(m.rego_v1);
  ASSERT_EQ(m.rules.size(), 6u);
  EXPECT_EQ(m.rules[0].name, "allow");
  EXPECT_TRUE(m.rules[0].is_default);
  EXPECT_EQ(m.rules[1].name, "tags");
  EXPECT_EQ(Render(m.rules[1].value), "set(\"owner\", \"env\")");
  EXPECT_EQ(m.rules[2].kind, RuleKind::kPartialSet);
  EXPECT_EQ(m.rules[2].body.size(), 5u);
  EXPECT_EQ(Render(m.rules[2].body[1]),
            "internal.member_2(rc[\"change\"][\"actions\"][$_0], set(\"create\", \"update\"))");
  EXPECT_EQ(
      Render(m.rules[2].body[2]),
      "assign(missing, minus(tags, {k | some k, $_1 in rc[\"change\"][\"after\"][\"tags\"]}))");
  EXPECT_EQ(m.rules[3].body.at(1).kind, ExprKind::kEvery);
  EXPECT_EQ(m.rules[4].kind, RuleKind::kFunction);
  EXPECT_EQ(m.rules[4].elses.size(), 1u);
  EXPECT_EQ(m.rules[5].body.at(0).with.size(), 1u);
}

// A v0 policy as older Terraform guides write it.
TEST(RegoParser, RealisticV0Policy) {
  Module m = M(R"(package terraform

deny[msg] {
    r := input.resource_changes[_]
    r.type == "aws_s3_bucket"
    not r.change.after.versioning
    msg = sprintf("%v: versioning off", [r.address])
}

warn[msg] {
    some i
    input.resource_changes[i].change.actions[0] == "delete"
    msg := "deleting"
}

names = [n | n := input.resource_changes[_].name]
)");
  EXPECT_FALSE(m.rego_v1);
  ASSERT_EQ(m.rules.size(), 3u);
  EXPECT_EQ(m.rules[0].kind, RuleKind::kPartialSet);
  EXPECT_EQ(m.rules[1].kind, RuleKind::kPartialSet);
  EXPECT_EQ(m.rules[1].body[0].kind, ExprKind::kSome);
  EXPECT_EQ(m.rules[2].kind, RuleKind::kComplete);
  EXPECT_EQ(m.rules[2].value->kind, TermKind::kArrayCompr);
}

}  // namespace
}  // namespace statehouse::policy
