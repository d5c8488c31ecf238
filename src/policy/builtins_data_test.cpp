// OPA builtins: objects, arrays, sets, json.*, encodings, time, net, units, semver, types,
// crypto and the rest. Expected values are OPA's.
#include <gtest/gtest.h>

#include <chrono>

#include "policy/builtins.h"
#include "policy/builtins_test_util.h"

namespace statehouse::policy {
namespace {

// --- objects ---

TEST(RegoBuiltins, ObjectGet) {
  Value obj = J(R"({"a":{"b":1},"l":[10,20]})");
  EXPECT_BUILTIN(J(R"({"b":1})"), "object.get", obj, S("a"), I(0));
  EXPECT_BUILTIN(I(0), "object.get", obj, S("x"), I(0));
  EXPECT_BUILTIN(I(1), "object.get", obj, J(R"(["a","b"])"), I(0));
  EXPECT_BUILTIN(S("d"), "object.get", obj, J(R"(["a","x"])"), S("d"));
  EXPECT_BUILTIN(I(20), "object.get", obj, Arr({S("l"), I(1)}), I(0));
  EXPECT_BUILTIN(obj, "object.get", obj, Arr({}), I(0));  // the empty path is the object
  EXPECT_BUILTIN(S("v"), "object.get", Value::MakeObject({{I(1), S("v")}}), I(1), I(0));
  EXPECT_EQ(Err("object.get", {I(1), S("a"), I(0)}),
            "object.get: operand 1 must be object but got number");
}

TEST(RegoBuiltins, ObjectKeysRemoveFilter) {
  Value obj = J(R"({"a":1,"b":2,"c":3})");
  EXPECT_BUILTIN(SetOf({S("a"), S("b"), S("c")}), "object.keys", obj);
  EXPECT_BUILTIN(SetOf({}), "object.keys", J("{}"));
  EXPECT_BUILTIN(J(R"({"b":2,"c":3})"), "object.remove", obj, J(R"(["a"])"));
  EXPECT_BUILTIN(J(R"({"c":3})"), "object.remove", obj, SetOf({S("a"), S("b")}));
  EXPECT_BUILTIN(J(R"({"b":2})"), "object.remove", obj, J(R"({"a":0,"c":0})"));
  EXPECT_BUILTIN(J(R"({"a":1,"c":3})"), "object.filter", obj, J(R"(["a","c","z"])"));
  EXPECT_BUILTIN(J("{}"), "object.filter", obj, SetOf({}));
  EXPECT_EQ(Err("object.remove", {obj, I(1)}),
            "object.remove: operand 2 must be one of {object, set, array} but got number");
  EXPECT_EQ(Err("object.keys", {Arr({})}), "object.keys: operand 1 must be object but got array");
}

TEST(RegoBuiltins, ObjectUnionMergesRecursively) {
  EXPECT_BUILTIN(J(R"({"a":1,"b":{"c":1,"d":2},"e":3})"), "object.union",
                 J(R"({"a":1,"b":{"c":1}})"), J(R"({"b":{"d":2},"e":3})"));
  EXPECT_BUILTIN(J(R"({"a":2})"), "object.union", J(R"({"a":{"b":1}})"), J(R"({"a":2})"));
  EXPECT_BUILTIN(J(R"({"a":{"b":1}})"), "object.union", J(R"({"a":2})"), J(R"({"a":{"b":1}})"));
  EXPECT_BUILTIN(J(R"({"a":1})"), "object.union", J("{}"), J(R"({"a":1})"));
  EXPECT_BUILTIN(J(R"({"a":{"c":3}})"), "object.union_n",
                 J(R"([{"a":{"b":2}}, {"a":4}, {"a":{"c":3}}])"));
  EXPECT_BUILTIN(J(R"({"a":1,"b":2,"c":3})"), "object.union_n",
                 J(R"([{"a":1}, {"b":2}, {"c":3}])"));
  EXPECT_BUILTIN(J("{}"), "object.union_n", Arr({}));
  EXPECT_EQ(Err("object.union_n", {J("[1]")}),
            "object.union_n: operand 1 must be array of objects but got array containing number");
}

TEST(RegoBuiltins, ObjectSubset) {
  EXPECT_BUILTIN(B(true), "object.subset", J(R"({"a":1,"b":{"c":2,"d":3}})"),
                 J(R"({"b":{"c":2}})"));
  EXPECT_BUILTIN(B(false), "object.subset", J(R"({"a":1})"), J(R"({"a":2})"));
  EXPECT_BUILTIN(B(false), "object.subset", J(R"({"a":1})"), J(R"({"b":1})"));
  EXPECT_BUILTIN(B(true), "object.subset", J("[1,2,3,4]"), J("[2,3]"));
  EXPECT_BUILTIN(B(false), "object.subset", J("[1,2,3]"), J("[1,3]"));
  EXPECT_BUILTIN(B(true), "object.subset", SetOf({I(1), I(2), I(3)}), SetOf({I(1), I(3)}));
  EXPECT_BUILTIN(B(true), "object.subset", J("[1,2,3]"), SetOf({I(3), I(1)}));
  EXPECT_BUILTIN(B(true), "object.subset", J(R"({"a":[1,2,3]})"), J(R"({"a":[2]})"));
  EXPECT_EQ(Err("object.subset", {J(R"({"a":1})"), J("[1]")}),
            "object.subset: both arguments object.subset must be of the same type or array and "
            "set");
}

TEST(RegoBuiltins, JsonFilter) {
  Value doc = J(R"({"a":{"b":1,"c":2},"d":3,"e":[{"x":1,"y":2},{"x":3}]})");
  EXPECT_BUILTIN(J(R"({"a":{"b":1},"d":3})"), "json.filter", doc, J(R"(["a/b","d"])"));
  EXPECT_BUILTIN(J(R"({"a":{"c":2}})"), "json.filter", doc, J(R"([["a","c"]])"));
  EXPECT_BUILTIN(J(R"({"e":[{"x":1}]})"), "json.filter", doc, SetOf({S("e/0/x")}));
  EXPECT_BUILTIN(J(R"({"a":{"b":1,"c":2}})"), "json.filter", doc, J(R"(["a","a/b"])"));
  EXPECT_BUILTIN(J("{}"), "json.filter", doc, J(R"(["zzz"])"));
  EXPECT_EQ(Err("json.filter", {doc, S("a")}),
            "json.filter: operand 2 must be one of {set, array} but got string");
}

TEST(RegoBuiltins, JsonRemove) {
  Value doc = J(R"({"a":{"b":1,"c":2},"d":3,"l":[1,2,3]})");
  EXPECT_BUILTIN(J(R"({"a":{"c":2},"d":3,"l":[1,2,3]})"), "json.remove", doc, J(R"(["a/b"])"));
  EXPECT_BUILTIN(J(R"({"a":{"b":1,"c":2},"l":[1,3]})"), "json.remove", doc, J(R"(["d", "/l/1"])"));
  EXPECT_BUILTIN(J(R"({"d":3,"l":[1,2,3]})"), "json.remove", doc, J(R"([["a"]])"));
}

TEST(RegoBuiltins, JsonPatch) {
  Value doc = J(R"({"a":{"b":1},"l":[1,2]})");
  auto patch = [&](std::string_view ops) { return Call("json.patch", {doc, J(ops)}); };
  EXPECT_EQ(Show(patch(R"([{"op":"add","path":"/c","value":3}])")),
            Show(J(R"({"a":{"b":1},"c":3,"l":[1,2]})")));
  EXPECT_EQ(Show(patch(R"([{"op":"add","path":"/l/-","value":3}])")),
            Show(J(R"({"a":{"b":1},"l":[1,2,3]})")));
  EXPECT_EQ(Show(patch(R"([{"op":"add","path":"/l/0","value":0}])")),
            Show(J(R"({"a":{"b":1},"l":[0,1,2]})")));
  EXPECT_EQ(Show(patch(R"([{"op":"remove","path":"/a/b"}])")), Show(J(R"({"a":{},"l":[1,2]})")));
  EXPECT_EQ(Show(patch(R"([{"op":"replace","path":"/l/1","value":9}])")),
            Show(J(R"({"a":{"b":1},"l":[1,9]})")));
  EXPECT_EQ(Show(patch(R"([{"op":"move","from":"/a/b","path":"/m"}])")),
            Show(J(R"({"a":{},"l":[1,2],"m":1})")));
  EXPECT_EQ(Show(patch(R"([{"op":"copy","from":"/l","path":"/k"}])")),
            Show(J(R"({"a":{"b":1},"k":[1,2],"l":[1,2]})")));
  EXPECT_EQ(Show(patch(R"([{"op":"test","path":"/a/b","value":1},
                            {"op":"add","path":"/a~1b","value":true}])")),
            Show(J(R"({"a":{"b":1},"a/b":true,"l":[1,2]})")));
  EXPECT_EQ(Show(patch(R"([{"op":"replace","path":"","value":7}])")), "7");
  EXPECT_EQ(Show(patch(R"([{"op":"add","path":["a","z"],"value":2}])")),
            Show(J(R"({"a":{"b":1,"z":2},"l":[1,2]})")));
  EXPECT_EQ(Err("json.patch", {doc, J(R"([{"op":"test","path":"/a/b","value":2}])")}),
            "json.patch: test operation failed");
  EXPECT_EQ(Err("json.patch", {doc, J(R"([{"op":"remove","path":"/nope"}])")}),
            "json.patch: path not found");
  EXPECT_EQ(Err("json.patch", {doc, J(R"([{"op":"add","path":"/l/5","value":1}])")}),
            "json.patch: array index out of range");
  EXPECT_EQ(Err("json.patch", {doc, J(R"([{"op":"jump","path":"/a"}])")}),
            "json.patch: unknown operation \"jump\"");
}

// --- arrays and sets ---

TEST(RegoBuiltins, Arrays) {
  EXPECT_BUILTIN(J("[1,2,3]"), "array.concat", J("[1]"), J("[2,3]"));
  EXPECT_BUILTIN(J("[2,3]"), "array.concat", J("[]"), J("[2,3]"));
  EXPECT_BUILTIN(J("[2,3]"), "array.slice", J("[1,2,3,4]"), I(1), I(3));
  EXPECT_BUILTIN(J("[1,2,3,4]"), "array.slice", J("[1,2,3,4]"), I(-1), I(10));
  EXPECT_BUILTIN(J("[]"), "array.slice", J("[1,2,3,4]"), I(3), I(1));
  EXPECT_BUILTIN(J("[]"), "array.slice", J("[1,2,3,4]"), I(10), I(20));
  EXPECT_BUILTIN(J("[3,2,1]"), "array.reverse", J("[1,2,3]"));
  EXPECT_EQ(Err("array.slice", {J("[1]"), D(0.5), I(1)}),
            "array.slice: operand 2 must be integer number but got floating-point number");
  EXPECT_EQ(Err("array.concat", {J("[1]"), SetOf({})}),
            "array.concat: operand 2 must be array but got set");
}

TEST(RegoBuiltins, SetsOfSets) {
  Value sets = SetOf({SetOf({I(1), I(2)}), SetOf({I(2), I(3)})});
  EXPECT_BUILTIN(SetOf({I(2)}), "intersection", sets);
  EXPECT_BUILTIN(SetOf({I(1), I(2), I(3)}), "union", sets);
  EXPECT_BUILTIN(SetOf({}), "intersection", SetOf({}));
  EXPECT_BUILTIN(SetOf({}), "union", SetOf({}));
  EXPECT_EQ(Err("intersection", {SetOf({I(1)})}),
            "intersection: operand 1 must be set of sets but got set containing number");
  EXPECT_EQ(Err("union", {Arr({})}), "union: operand 1 must be set but got array");
}

// --- types ---

TEST(RegoBuiltins, TypeChecks) {
  EXPECT_BUILTIN(B(true), "is_number", D(1.5));
  EXPECT_BUILTIN(B(false), "is_number", S("1"));
  EXPECT_BUILTIN(B(true), "is_string", S(""));
  EXPECT_BUILTIN(B(true), "is_boolean", B(false));
  EXPECT_BUILTIN(B(true), "is_array", Arr({}));
  EXPECT_BUILTIN(B(false), "is_array", SetOf({}));
  EXPECT_BUILTIN(B(true), "is_set", SetOf({}));
  EXPECT_BUILTIN(B(true), "is_object", J("{}"));
  EXPECT_BUILTIN(B(true), "is_null", Value::Null());
  EXPECT_BUILTIN(B(false), "is_null", B(false));
  const std::pair<Value, const char*> kinds[] = {
      {Value::Null(), "null"}, {B(true), "boolean"}, {I(1), "number"},  {S("a"), "string"},
      {Arr({}), "array"},      {J("{}"), "object"},  {SetOf({}), "set"}};
  for (const auto& [v, name] : kinds) EXPECT_BUILTIN(S(name), "type_name", v);
}

// --- encodings ---

TEST(RegoBuiltins, JsonMarshal) {
  EXPECT_BUILTIN(S(R"({"a":null,"b":[1,"x",2.5]})"), "json.marshal",
                 J(R"({"b":[1,"x",2.5],"a":null})"));
  EXPECT_BUILTIN(S("[1,2]"), "json.marshal", SetOf({I(2), I(1)}));
  EXPECT_BUILTIN(S(R"("\u003ca\u003e \u0026 \"q\"\n")"), "json.marshal", S("<a> & \"q\"\n"));
  EXPECT_BUILTIN(S(R"({"1":"n","a":"s"})"), "json.marshal",
                 Value::MakeObject({{I(1), S("n")}, {S("a"), S("s")}}));
  EXPECT_BUILTIN(S("\"\\ufffd\""), "json.marshal", S("\xff"));
}

TEST(RegoBuiltins, JsonMarshalWithOptions) {
  Value v = J(R"({"a":[1],"b":{}})");
  EXPECT_BUILTIN(S("{\n\t\"a\": [\n\t\t1\n\t],\n\t\"b\": {}\n}"), "json.marshal_with_options", v,
                 J(R"({"pretty":true})"));
  EXPECT_BUILTIN(S("{\n>   \"a\": [\n>     1\n>   ],\n>   \"b\": {}\n> }"),
                 "json.marshal_with_options", v, J(R"({"indent":"  ","prefix":"> "})"));
  EXPECT_BUILTIN(S(R"({"a":[1],"b":{}})"), "json.marshal_with_options", v,
                 J(R"({"pretty":false,"indent":"  "})"));
  EXPECT_EQ(Err("json.marshal_with_options", {v, J(R"({"color":true})")}),
            "json.marshal_with_options: object contained unknown key \"color\"");
}

TEST(RegoBuiltins, SharedStructureCannotExplodeAsText) {
  // 40 doublings share memory but would be a terabyte of text.
  Value v = S("x");
  for (int k = 0; k < 40; ++k) v = Arr({v, v});
  EXPECT_EQ(Err("json.marshal", {v}), "json.marshal: result too large");
  EXPECT_EQ(Err("yaml.marshal", {v}), "yaml.marshal: result too large");
  EXPECT_EQ(Err("sprintf", {S("%v"), Arr({v})}), "sprintf: result too large");
}

TEST(RegoBuiltins, JsonUnmarshalAndIsValid) {
  EXPECT_BUILTIN(J(R"({"a":[1,2.5,"x",true,null]})"), "json.unmarshal",
                 S(R"({"a":[1,2.5,"x",true,null]})"));
  EXPECT_BUILTIN(S("x"), "json.unmarshal", S(R"("x")"));
  EXPECT_EQ(Err("json.unmarshal", {S("{")}).rfind("json.unmarshal: ", 0), 0u);
  EXPECT_BUILTIN(B(true), "json.is_valid", S("{}"));
  EXPECT_BUILTIN(B(false), "json.is_valid", S("{"));
  EXPECT_BUILTIN(B(false), "json.is_valid", I(1));
  // Deep nesting is refused, not recursed into.
  std::string deep(5000, '[');
  deep += std::string(5000, ']');
  EXPECT_NE(Err("json.unmarshal", {S(deep)}).find("json.unmarshal: "), std::string::npos);
  std::string ok(500, '[');
  ok += std::string(500, ']');
  EXPECT_TRUE(Call("json.unmarshal", {S(ok)}).has_value());
}

TEST(RegoBuiltins, YamlMarshal) {
  EXPECT_BUILTIN(S("a: 1\nb:\n- x\n- z\nc:\n  d: true\n"), "yaml.marshal",
                 J(R"({"a":1,"b":["x","z"],"c":{"d":true}})"));
  EXPECT_BUILTIN(S("- \"y\"\n- \"off\"\n"), "yaml.marshal", J(R"(["y","off"])"));
  EXPECT_BUILTIN(S("- a\n- b: 1\n  c: 2\n"), "yaml.marshal", J(R"(["a",{"b":1,"c":2}])"));
  EXPECT_BUILTIN(S("- - 1\n  - 2\n- - 3\n"), "yaml.marshal", J("[[1,2],[3]]"));
  EXPECT_BUILTIN(S("a: \"true\"\nb: \"1.5\"\nc: \"\"\nd: 'x: y'\ne: null\nf: []\ng: {}\n"),
                 "yaml.marshal",
                 J(R"({"a":"true","b":"1.5","c":"","d":"x: y","e":null,"f":[],"g":{}})"));
  EXPECT_BUILTIN(S("a: |-\n  l1\n  l2\n"), "yaml.marshal", J(R"({"a":"l1\nl2"})"));
  EXPECT_BUILTIN(S("- \"2001-12-14\"\n- 2001-12\n"), "yaml.marshal",
                 J(R"(["2001-12-14","2001-12"])"));
  EXPECT_BUILTIN(S("{}\n"), "yaml.marshal", J("{}"));
  EXPECT_BUILTIN(S("s\n"), "yaml.marshal", S("s"));
}

TEST(RegoBuiltins, YamlUnmarshal) {
  EXPECT_BUILTIN(J(R"({"a":1,"b":["x","z"],"c":true,"d":null,"e":"1","f":1.5,"g":"text"})"),
                 "yaml.unmarshal", S("a: 1\nb: [x, z]\nc: yes\nd: ~\ne: '1'\nf: 1.5\ng: text\n"));
  // YAML 1.1, as go-yaml v2 reads it: y, n, on, off are booleans, even as keys.
  EXPECT_BUILTIN(J(R"({"true":"y","false":false})"), "yaml.unmarshal", S("y: 'y'\noff: n\n"));
  EXPECT_BUILTIN(J(R"({"base":{"x":1},"derived":{"x":1,"z":2}})"), "yaml.unmarshal",
                 S("base: &b {x: 1}\nderived:\n  <<: *b\n  z: 2\n"));
  // Explicit keys win over merged ones.
  EXPECT_BUILTIN(J(R"({"b":{"x":1},"d":{"x":2}})"), "yaml.unmarshal",
                 S("b: &b {x: 1}\nd:\n  <<: *b\n  x: 2\n"));
  EXPECT_BUILTIN(J(R"({"1":"one","true":"t"})"), "yaml.unmarshal", S("1: one\ntrue: t\n"));
  EXPECT_BUILTIN(J(R"({"h":255,"o":8})"), "yaml.unmarshal", S("h: 0xff\no: 0o10\n"));
  EXPECT_BUILTIN(Value::Null(), "yaml.unmarshal", S(""));
  EXPECT_EQ(Err("yaml.unmarshal", {S("a: [")}).rfind("yaml.unmarshal: ", 0), 0u);
  EXPECT_BUILTIN(B(true), "yaml.is_valid", S("a: 1"));
  EXPECT_BUILTIN(B(false), "yaml.is_valid", S("a: ["));
  EXPECT_BUILTIN(B(false), "yaml.is_valid", I(1));
}

TEST(RegoBuiltins, YamlRoundTrips) {
  Value v = J(R"({"plain":"abc","num":"123","bool":"yes","colon":"a: b","hash":"a #b",
                 "lead":" x","dash":"- x","multi":"a\nb\n","quote":"it's","ctl":"a\tb",
                 "unicode":"héllo","list":[1,{"k":[]},null],"nested":{"deeper":{"x":-1.5}},
                 "empty":"","star":"*x","brace":"{x}"})");
  auto yaml = Call("yaml.marshal", {v});
  ASSERT_TRUE(yaml.has_value());
  EXPECT_BUILTIN(v, "yaml.unmarshal", *yaml);
}

TEST(RegoBuiltins, YamlAliasBombIsRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string name(1, c);
    bomb += name + ": &" + name + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = name;
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Err("yaml.unmarshal", {S(bomb)}), "yaml.unmarshal: document too large");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(RegoBuiltins, Base64) {
  EXPECT_BUILTIN(S("aGVsbG8="), "base64.encode", S("hello"));
  EXPECT_BUILTIN(S(""), "base64.encode", S(""));
  EXPECT_BUILTIN(S("hello"), "base64.decode", S("aGVsbG8="));
  EXPECT_BUILTIN(S("hello"), "base64.decode", S("aGVs\nbG8="));  // newlines are skipped
  EXPECT_EQ(Err("base64.decode", {S("aGVsbG8")}),
            "base64.decode: illegal base64 data at input byte 4");
  EXPECT_EQ(Err("base64.decode", {S("a@==")}),
            "base64.decode: illegal base64 data at input byte 1");
  EXPECT_BUILTIN(B(true), "base64.is_valid", S("aGVsbG8="));
  EXPECT_BUILTIN(B(false), "base64.is_valid", S("@@"));
  EXPECT_BUILTIN(B(false), "base64.is_valid", I(1));
  EXPECT_BUILTIN(S("__4="), "base64url.encode", S("\xff\xfe"));
  EXPECT_BUILTIN(S("__4"), "base64url.encode_no_pad", S("\xff\xfe"));
  EXPECT_BUILTIN(S("\xff\xfe"), "base64url.decode", S("__4"));
  EXPECT_BUILTIN(S("\xff\xfe"), "base64url.decode", S("__4="));
  EXPECT_EQ(Err("base64url.decode", {S("a")}), "base64url.decode: illegal base64url string: a");
}

TEST(RegoBuiltins, Hex) {
  EXPECT_BUILTIN(S("6869ff"), "hex.encode", S("hi\xff"));
  EXPECT_BUILTIN(S("hi"), "hex.decode", S("6869"));
  EXPECT_BUILTIN(S("hi"), "hex.decode", S("6869"));
  EXPECT_EQ(Err("hex.decode", {S("zz")}), "hex.decode: encoding/hex: invalid byte: U+007A 'z'");
  EXPECT_EQ(Err("hex.decode", {S("abc")}), "hex.decode: encoding/hex: odd length hex string");
}

TEST(RegoBuiltins, UrlQuery) {
  EXPECT_BUILTIN(S("a+b%26c%3Dd%2F%C3%A9~"), "urlquery.encode", S("a b&c=d/é~"));
  EXPECT_BUILTIN(S("a b&é"), "urlquery.decode", S("a+b%26%C3%A9"));
  EXPECT_EQ(Err("urlquery.decode", {S("%zz")}), "urlquery.decode: invalid URL escape \"%zz\"");
  EXPECT_EQ(Err("urlquery.decode", {S("a%2")}), "urlquery.decode: invalid URL escape \"%2\"");
  EXPECT_BUILTIN(S("a=1&b=x&b=y&c=z"), "urlquery.encode_object",
                 Value::MakeObject(
                     {{S("b"), J(R"(["x","y"])")}, {S("a"), S("1")}, {S("c"), SetOf({S("z")})}}));
  EXPECT_BUILTIN(J(R"({"a":["1"],"b":["x","y"],"c":[""]})"), "urlquery.decode_object",
                 S("a=1&b=x&b=y&c"));
  EXPECT_BUILTIN(J(R"({"q":["a b"]})"), "urlquery.decode_object", S("q=a+b"));
}

// --- time ---

constexpr int64_t kSec = 1000000000;
constexpr int64_t k20210102 = 1609556645 * kSec;  // 2021-01-02T03:04:05Z, a Saturday

TEST(RegoBuiltins, TimeNowComesFromTheContext) {
  BuiltinContext ctx;
  ctx.now_ns = 123456789;
  EXPECT_EQ(Show(CallWith(ctx, "time.now_ns", {})), "123456789");
}

TEST(RegoBuiltins, TimeParseRfc3339) {
  EXPECT_BUILTIN(I(k20210102), "time.parse_rfc3339_ns", S("2021-01-02T03:04:05Z"));
  EXPECT_BUILTIN(I(k20210102 - 3600 * kSec), "time.parse_rfc3339_ns",
                 S("2021-01-02T03:04:05+01:00"));
  EXPECT_BUILTIN(I(k20210102 + 500000000), "time.parse_rfc3339_ns", S("2021-01-02T03:04:05.5Z"));
  EXPECT_BUILTIN(I(-kSec), "time.parse_rfc3339_ns", S("1969-12-31T23:59:59Z"));
  EXPECT_EQ(Err("time.parse_rfc3339_ns", {S("x")}),
            "time.parse_rfc3339_ns: parsing time \"x\" as \"2006-01-02T15:04:05Z07:00\": cannot "
            "parse \"x\" as \"2006\"");
  EXPECT_EQ(Err("time.parse_rfc3339_ns", {S("2021-13-01T00:00:00Z")}),
            "time.parse_rfc3339_ns: parsing time \"2021-13-01T00:00:00Z\": month out of range");
  EXPECT_EQ(Err("time.parse_rfc3339_ns", {S("2021-02-30T00:00:00Z")}),
            "time.parse_rfc3339_ns: parsing time \"2021-02-30T00:00:00Z\": day out of range");
  EXPECT_EQ(Err("time.parse_rfc3339_ns", {S("3000-01-01T00:00:00Z")}),
            "time.parse_rfc3339_ns: time outside of valid range");
}

TEST(RegoBuiltins, TimeParseWithGoLayouts) {
  EXPECT_BUILTIN(I(1614816000 * kSec), "time.parse_ns", S("2006-01-02"), S("2021-03-04"));
  EXPECT_BUILTIN(I(1612346400 * kSec), "time.parse_ns", S("02 Jan 06 15:04 MST"),
                 S("03 Feb 21 10:00 UTC"));
  EXPECT_BUILTIN(I(1359921240 * kSec), "time.parse_ns", S("Jan 2, 2006 at 3:04pm (MST)"),
                 S("Feb 3, 2013 at 7:54pm (PST)"));
  EXPECT_BUILTIN(I(1612346400 * kSec + 123000000), "time.parse_ns",
                 S("2006-01-02 15:04:05.000 -0700"), S("2021-02-03 03:00:00.123 -0700"));
  EXPECT_BUILTIN(I(1612346400 * kSec), "time.parse_ns", S("Monday, January 2 2006 15h04"),
                 S("Wednesday, February 3 2021 10h00"));
  EXPECT_EQ(Err("time.parse_ns", {S("2006-01-02"), S("2021-03-04x")}),
            "time.parse_ns: parsing time \"2021-03-04x\": extra text: \"x\"");
}

TEST(RegoBuiltins, TimeParseDuration) {
  EXPECT_BUILTIN(I(5400 * kSec), "time.parse_duration_ns", S("1h30m"));
  EXPECT_BUILTIN(I(5400 * kSec), "time.parse_duration_ns", S("1.5h"));
  EXPECT_BUILTIN(I(10 * kSec), "time.parse_duration_ns", S("10s"));
  EXPECT_BUILTIN(I(300000000), "time.parse_duration_ns", S("300ms"));
  EXPECT_BUILTIN(I(-9900 * kSec), "time.parse_duration_ns", S("-2h45m"));
  EXPECT_BUILTIN(I(1500), "time.parse_duration_ns", S("1.5us"));
  EXPECT_BUILTIN(I(2000), "time.parse_duration_ns", S("2µs"));
  EXPECT_BUILTIN(I(0), "time.parse_duration_ns", S("0"));
  EXPECT_EQ(Err("time.parse_duration_ns", {S("1d")}),
            "time.parse_duration_ns: time: unknown unit \"d\" in duration \"1d\"");
  EXPECT_EQ(Err("time.parse_duration_ns", {S("1")}),
            "time.parse_duration_ns: time: missing unit in duration \"1\"");
  EXPECT_EQ(Err("time.parse_duration_ns", {S("")}),
            "time.parse_duration_ns: time: invalid duration \"\"");
  EXPECT_EQ(Err("time.parse_duration_ns", {S("3000000h")}),
            "time.parse_duration_ns: time: invalid duration \"3000000h\"");
}

TEST(RegoBuiltins, TimeDateClockWeekday) {
  EXPECT_BUILTIN(J("[2021,1,2]"), "time.date", I(k20210102));
  EXPECT_BUILTIN(J("[2021,1,2]"), "time.date", Arr({I(k20210102), S("UTC")}));
  EXPECT_BUILTIN(J("[3,4,5]"), "time.clock", I(k20210102));
  EXPECT_BUILTIN(S("Saturday"), "time.weekday", I(k20210102));
  EXPECT_BUILTIN(J("[1969,12,31]"), "time.date", I(-1));
  EXPECT_BUILTIN(J("[23,59,59]"), "time.clock", I(-1));
  EXPECT_BUILTIN(S("Thursday"), "time.weekday", I(0));
  EXPECT_EQ(Err("time.date", {Arr({I(0), S("Mars/Olympus")})}),
            "time.date: unknown time zone Mars/Olympus");
  EXPECT_EQ(Err("time.date", {D(1.5)}), "time.date: timestamp too big");
  EXPECT_EQ(Err("time.clock", {S("x")}),
            "time.clock: operand 1 must be one of {number, array} but got string");
}

TEST(RegoBuiltins, TimeAddDateNormalizesAsGo) {
  int64_t jan31 = 1612051200 * kSec;                                                  // 2021-01-31
  EXPECT_BUILTIN(I(1614729600 * kSec), "time.add_date", I(jan31), I(0), I(1), I(0));  // Mar 3
  int64_t leap = 1582934400 * kSec;                                                   // 2020-02-29
  EXPECT_BUILTIN(I(1614556800 * kSec), "time.add_date", I(leap), I(1), I(0), I(0));   // 2021-03-01
  EXPECT_BUILTIN(I(k20210102 - 86400 * kSec), "time.add_date", I(k20210102), I(0), I(0), I(-1));
  EXPECT_BUILTIN(I(k20210102 - 366 * 86400 * kSec), "time.add_date", I(k20210102), I(0), I(-12),
                 I(0));
  EXPECT_EQ(Err("time.add_date", {I(0), I(1000), I(0), I(0)}),
            "time.add_date: time outside of valid range");
  EXPECT_EQ(Err("time.add_date", {I(0), I(INT64_MAX), I(0), I(0)}),
            "time.add_date: time outside of valid range");
}

TEST(RegoBuiltins, TimeDiff) {
  int64_t jan31 = 1612051200 * kSec;
  int64_t mar3 = 1614729600 * kSec;
  EXPECT_BUILTIN(J("[0,1,3,0,0,0]"), "time.diff", I(mar3), I(jan31));
  EXPECT_BUILTIN(J("[0,1,3,0,0,0]"), "time.diff", I(jan31), I(mar3));
  EXPECT_BUILTIN(J("[51,0,1,3,4,5]"), "time.diff", I(k20210102), I(0));
}

TEST(RegoBuiltins, TimeFormat) {
  EXPECT_BUILTIN(S("2021-01-02T03:04:05Z"), "time.format", I(k20210102));
  EXPECT_BUILTIN(S("2021-01-02T03:04:05.123Z"), "time.format", I(k20210102 + 123000000));
  EXPECT_BUILTIN(S("2021-01-02"), "time.format", Arr({I(k20210102), S("UTC"), S("2006-01-02")}));
  EXPECT_BUILTIN(S("Sat Jan  2 03:04:05 2021"), "time.format",
                 Arr({I(k20210102), S("UTC"), S("Mon Jan _2 15:04:05 2006")}));
  EXPECT_BUILTIN(S("Sat, 02 Jan 2021 03:04:05 UTC"), "time.format",
                 Arr({I(k20210102), S(""), S("RFC1123")}));
  EXPECT_BUILTIN(S("3:04AM +0000 002"), "time.format",
                 Arr({I(k20210102), S("Local"), S("3:04PM -0700 002")}));
  EXPECT_BUILTIN(S("1969-12-31T23:59:59.999999999Z"), "time.format", I(-1));
}

// --- net ---

TEST(RegoBuiltins, NetCidrContains) {
  EXPECT_BUILTIN(B(true), "net.cidr_contains", S("10.0.0.0/8"), S("10.1.2.3"));
  EXPECT_BUILTIN(B(false), "net.cidr_contains", S("10.0.0.0/8"), S("11.0.0.1"));
  EXPECT_BUILTIN(B(true), "net.cidr_contains", S("10.0.0.0/8"), S("10.1.0.0/16"));
  EXPECT_BUILTIN(B(false), "net.cidr_contains", S("10.0.0.0/16"), S("10.0.0.0/8"));
  EXPECT_BUILTIN(B(true), "net.cidr_contains", S("10.0.0.1/8"), S("10.200.0.0/24"));
  EXPECT_BUILTIN(B(true), "net.cidr_contains", S("2001:db8::/32"), S("2001:db8:1::1"));
  EXPECT_BUILTIN(B(false), "net.cidr_contains", S("2001:db8::/32"), S("2001:db9::1"));
  EXPECT_BUILTIN(B(false), "net.cidr_contains", S("::/0"), S("1.2.3.4"));  // families differ
  EXPECT_BUILTIN(B(true), "net.cidr_contains", S("10.0.0.0/8"), S("::ffff:10.1.1.1"));
  EXPECT_BUILTIN(B(true), "net.cidr_contains", S("0.0.0.0/0"), S("255.255.255.255"));
  EXPECT_BUILTIN(B(true), "net.cidr_overlap", S("10.0.0.0/8"), S("10.1.2.3"));
  EXPECT_EQ(Err("net.cidr_contains", {S("x"), S("1.2.3.4")}),
            "net.cidr_contains: invalid CIDR address: x");
  EXPECT_EQ(Err("net.cidr_contains", {S("10.0.0.0/8"), S("y")}),
            "net.cidr_contains: not a valid textual representation of an IP address or CIDR: y");
}

TEST(RegoBuiltins, NetCidrIntersectsAndIsValid) {
  EXPECT_BUILTIN(B(true), "net.cidr_intersects", S("10.0.0.0/8"), S("10.1.0.0/16"));
  EXPECT_BUILTIN(B(true), "net.cidr_intersects", S("10.1.0.0/16"), S("10.0.0.0/8"));
  EXPECT_BUILTIN(B(false), "net.cidr_intersects", S("10.0.0.0/16"), S("10.1.0.0/16"));
  EXPECT_BUILTIN(B(true), "net.cidr_is_valid", S("10.0.0.0/8"));
  EXPECT_BUILTIN(B(true), "net.cidr_is_valid", S("2001:db8::/48"));
  EXPECT_BUILTIN(B(false), "net.cidr_is_valid", S("10.0.0.0/33"));
  EXPECT_BUILTIN(B(false), "net.cidr_is_valid", S("10.0.0.1"));
  EXPECT_BUILTIN(B(false), "net.cidr_is_valid", S("2001:db8::/129"));
  EXPECT_BUILTIN(B(false), "net.cidr_is_valid", S("01.2.3.4/8"));
  EXPECT_BUILTIN(B(false), "net.cidr_is_valid", S("1.2.3/8"));
  EXPECT_BUILTIN(B(false), "net.cidr_is_valid", S("1:2:3:4:5:6:7:8:9/64"));
  EXPECT_BUILTIN(B(false), "net.cidr_is_valid", I(1));
}

TEST(RegoBuiltins, NetCidrExpand) {
  EXPECT_BUILTIN(SetOf({S("192.168.1.0"), S("192.168.1.1"), S("192.168.1.2"), S("192.168.1.3")}),
                 "net.cidr_expand", S("192.168.1.1/30"));
  EXPECT_BUILTIN(SetOf({S("2001:db8::"), S("2001:db8::1")}), "net.cidr_expand",
                 S("2001:db8::/127"));
  EXPECT_BUILTIN(SetOf({S("2001:db8::1:0:0:1")}), "net.cidr_expand", S("2001:db8:0:0:1:0:0:1/128"));
  EXPECT_BUILTIN(SetOf({S("::1")}), "net.cidr_expand", S("::1/128"));
  EXPECT_EQ(Call("net.cidr_expand", {S("10.0.0.0/16")})->AsSet().size(), 65536u);
  EXPECT_EQ(Err("net.cidr_expand", {S("10.0.0.0/8")}),
            "net.cidr_expand: CIDR too large to expand (more than 65536 addresses)");
}

TEST(RegoBuiltins, NetCidrContainsMatches) {
  EXPECT_BUILTIN(SetOf({Arr({I(0), S("1.1.1.128")})}), "net.cidr_contains_matches",
                 J(R"(["1.1.1.0/24","1.1.2.0/24"])"), S("1.1.1.128"));
  EXPECT_BUILTIN(SetOf({Arr({S("k"), I(0)})}), "net.cidr_contains_matches",
                 J(R"({"k":"1.1.1.0/24","j":["2.2.2.0/24","tag"]})"), J(R"(["1.1.1.1"])"));
  EXPECT_BUILTIN(
      SetOf({Arr({S("10.0.0.0/8"), S("10.1.1.1")}), Arr({S("10.0.0.0/8"), S("10.2.0.0/16")})}),
      "net.cidr_contains_matches", S("10.0.0.0/8"),
      SetOf({S("10.1.1.1"), S("10.2.0.0/16"), S("11.0.0.1")}));
}

TEST(RegoBuiltins, NetCidrMerge) {
  EXPECT_BUILTIN(SetOf({S("192.0.128.0/23")}), "net.cidr_merge",
                 J(R"(["192.0.128.0/24","192.0.129.0/24"])"));
  EXPECT_BUILTIN(SetOf({S("10.0.0.0/8")}), "net.cidr_merge", J(R"(["10.0.0.0/8","10.1.0.0/16"])"));
  EXPECT_BUILTIN(SetOf({S("1.2.3.4/31")}), "net.cidr_merge", J(R"(["1.2.3.4/32","1.2.3.5/32"])"));
  EXPECT_BUILTIN(SetOf({S("1.2.3.4/32"), S("1.2.3.6/32")}), "net.cidr_merge",
                 J(R"(["1.2.3.4/32","1.2.3.6/32"])"));
  EXPECT_BUILTIN(SetOf({S("2001:db8::/32")}), "net.cidr_merge",
                 J(R"(["2001:db8::/33","2001:db8:8000::/33"])"));
  EXPECT_BUILTIN(SetOf({S("10.0.0.0/30"), S("10.0.0.4/32")}), "net.cidr_merge",
                 J(R"(["10.0.0.0/31","10.0.0.2/31","10.0.0.4/32"])"));
  EXPECT_BUILTIN(SetOf({}), "net.cidr_merge", Arr({}));
  EXPECT_EQ(Err("net.cidr_merge", {J(R"(["::1"])")}),
            "net.cidr_merge: IPv6 invalid: needs prefix length");
}

// --- units, semver, graph, trace ---

TEST(RegoBuiltins, UnitsParseBytes) {
  EXPECT_BUILTIN(I(10000), "units.parse_bytes", S("10KB"));
  EXPECT_BUILTIN(I(10240), "units.parse_bytes", S("10KiB"));
  EXPECT_BUILTIN(I(10240), "units.parse_bytes", S("10ki"));
  EXPECT_BUILTIN(I(1610612736), "units.parse_bytes", S("1.5Gi"));
  EXPECT_BUILTIN(I(100), "units.parse_bytes", S("100"));
  EXPECT_BUILTIN(I(1000), "units.parse_bytes", S("1e3"));
  EXPECT_BUILTIN(I(500), "units.parse_bytes", S("0.5k"));
  EXPECT_BUILTIN(I(10000000), "units.parse_bytes", S("\"10mb\""));
  EXPECT_BUILTIN(I(1), "units.parse_bytes", S("1.9"));  // truncated
  EXPECT_BUILTIN(I(1152921504606846976), "units.parse_bytes", S("1EiB"));
  EXPECT_EQ(Err("units.parse_bytes", {S("10 KB")}),
            "units.parse_bytes: spaces not allowed in resource strings");
  EXPECT_EQ(Err("units.parse_bytes", {S("KB")}), "units.parse_bytes: no byte amount provided");
  EXPECT_EQ(Err("units.parse_bytes", {S("10XB")}),
            "units.parse_bytes: byte unit xb not recognized");
  EXPECT_EQ(Err("units.parse_bytes", {S("1.2.3kb")}),
            "units.parse_bytes: could not parse byte amount to a number");
  EXPECT_EQ(Err("units.parse_bytes", {S("1e1234567")}), "units.parse_bytes: exponent too large");
}

TEST(RegoBuiltins, UnitsParse) {
  EXPECT_BUILTIN(I(10000), "units.parse", S("10k"));
  EXPECT_BUILTIN(I(10000), "units.parse", S("10K"));
  EXPECT_BUILTIN(D(0.005), "units.parse", S("5m"));  // milli
  EXPECT_BUILTIN(D(0.1), "units.parse", S("100m"));
  EXPECT_BUILTIN(I(5000000), "units.parse", S("5M"));  // mega
  EXPECT_BUILTIN(I(1024), "units.parse", S("1Ki"));
  EXPECT_BUILTIN(I(2097152), "units.parse", S("2mi"));
  EXPECT_BUILTIN(I(1073741824), "units.parse", S("1Gi"));
  EXPECT_BUILTIN(D(1.5), "units.parse", S("1.5"));
  EXPECT_BUILTIN(I(1100), "units.parse", S("1.1k"));
  EXPECT_EQ(Err("units.parse", {S("1x")}), "units.parse: unit x not recognized");
  EXPECT_EQ(Err("units.parse", {S("k")}), "units.parse: no amount provided");
}

TEST(RegoBuiltins, SemVer) {
  EXPECT_BUILTIN(B(true), "semver.is_valid", S("1.2.3"));
  EXPECT_BUILTIN(B(true), "semver.is_valid", S("1.2.3-beta.1+build.5"));
  EXPECT_BUILTIN(B(false), "semver.is_valid", S("1.2"));
  EXPECT_BUILTIN(B(false), "semver.is_valid", S("v1.2.3"));
  EXPECT_BUILTIN(B(true), "semver.is_valid", S("01.2.3-"));  // OPA's parser is lenient
  EXPECT_BUILTIN(B(false), "semver.is_valid", S("1.2.3-a..b"));
  EXPECT_BUILTIN(B(false), "semver.is_valid", I(1));
  struct Case {
    const char* a;
    const char* b;
    int want;
  };
  const Case cases[] = {
      {"1.2.3", "1.2.4", -1},
      {"1.2.3", "1.2.3", 0},
      {"2.0.0", "10.0.0", -1},
      {"1.10.0", "1.9.0", 1},
      {"1.0.0", "1.0.0-alpha", 1},
      {"1.0.0-alpha", "1.0.0-alpha.1", -1},
      {"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
      {"1.0.0-alpha.beta", "1.0.0-beta", -1},
      {"1.0.0-beta.2", "1.0.0-beta.11", -1},
      {"1.0.0-beta.11", "1.0.0-rc.1", -1},
      {"1.0.0-rc.1", "1.0.0", -1},
      {"1.0.0+build.1", "1.0.0+build.2", 0},
  };
  for (const auto& c : cases) {
    EXPECT_BUILTIN(I(c.want), "semver.compare", S(c.a), S(c.b)) << c.a << " vs " << c.b;
  }
  EXPECT_EQ(Err("semver.compare", {S("x"), S("1.0.0")}),
            "semver.compare: operand 1: string \"x\" is not a valid SemVer");
  EXPECT_EQ(Err("semver.compare", {S("1.0.0"), S("1.0")}),
            "semver.compare: operand 2: string \"1.0\" is not a valid SemVer");
}

TEST(RegoBuiltins, GraphReachable) {
  Value g = J(R"({"a":["b"],"b":["c"],"c":[],"d":["a"]})");
  EXPECT_BUILTIN(SetOf({S("a"), S("b"), S("c")}), "graph.reachable", g, J(R"(["a"])"));
  EXPECT_BUILTIN(SetOf({S("a"), S("b"), S("c"), S("d")}), "graph.reachable", g, SetOf({S("d")}));
  EXPECT_BUILTIN(SetOf({S("a"), S("b")}), "graph.reachable", J(R"({"a":["b"],"b":["a"]})"),
                 J(R"(["a"])"));
  EXPECT_BUILTIN(SetOf({}), "graph.reachable", g, J(R"(["zzz"])"));
  EXPECT_BUILTIN(SetOf({S("a"), S("b")}), "graph.reachable",
                 Value::MakeObject({{S("a"), SetOf({S("b")})}, {S("b"), SetOf({})}}),
                 J(R"(["a"])"));
}

TEST(RegoBuiltins, Trace) {
  EXPECT_BUILTIN(B(true), "trace", S("note"));
  EXPECT_EQ(Err("trace", {I(1)}), "trace: operand 1 must be string but got number");
}

// --- crypto, tokens ---

TEST(RegoBuiltins, CryptoHashes) {
  EXPECT_BUILTIN(S("5d41402abc4b2a76b9719d911017c592"), "crypto.md5", S("hello"));
  EXPECT_BUILTIN(S("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"), "crypto.sha1", S("hello"));
  EXPECT_BUILTIN(S("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
                 "crypto.sha256", S("hello"));
  EXPECT_BUILTIN(S("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2"
                   "b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
                 "crypto.sha512", S(""));
}

TEST(RegoBuiltins, CryptoHmac) {
  Value msg = S("The quick brown fox jumps over the lazy dog");
  EXPECT_BUILTIN(S("80070713463e7749b90c2dc24911e275"), "crypto.hmac.md5", msg, S("key"));
  EXPECT_BUILTIN(S("de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"), "crypto.hmac.sha1", msg, S("key"));
  EXPECT_BUILTIN(S("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"),
                 "crypto.hmac.sha256", msg, S("key"));
  EXPECT_BUILTIN(S("b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb82f948a549f7b7"
                   "91a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a"),
                 "crypto.hmac.sha512", msg, S("key"));
  EXPECT_BUILTIN(B(true), "crypto.hmac.equal", S("abc"), S("abc"));
  EXPECT_BUILTIN(B(false), "crypto.hmac.equal", S("abc"), S("abd"));
  EXPECT_BUILTIN(B(false), "crypto.hmac.equal", S("abc"), S("ab"));
}

TEST(RegoBuiltins, JwtDecode) {
  const char* token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiw"
      "iaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  EXPECT_BUILTIN(Arr({J(R"({"alg":"HS256","typ":"JWT"})"),
                      J(R"({"sub":"1234567890","name":"John Doe","iat":1516239022})"),
                      S("49f94ac7044948c78a285d904f87f0a4c7897f7e8f3a4eb2255fda750b2cc397")}),
                 "io.jwt.decode", S(token));
  EXPECT_EQ(Err("io.jwt.decode", {S("abc")}), "io.jwt.decode: encoded JWT must have 3 sections");
}

// --- hostile arguments never crash ---

TEST(RegoBuiltins, HostileArgumentsFailCleanly) {
  // Every builtin, called with every combination of odd values, either answers or throws a
  // BuiltinError: no other exception, no crash (the sanitizer builds check the rest).
  const std::vector<Value> odd = {Value::Null(),
                                  B(true),
                                  I(INT64_MIN),
                                  I(-1),
                                  I(3),
                                  D(1e308),
                                  D(-1e-300),
                                  S("\xff\xfe\xc3"),
                                  S(""),
                                  S("a/b"),
                                  S("10.0.0.0/30"),
                                  S("%v%d"),
                                  S("(a*)*$"),
                                  Arr({}),
                                  J(R"([1,["x"]])"),
                                  J("{}"),
                                  J(R"({"a":[1],"b":{"c":"d"}})"),
                                  SetOf({S("x")})};
  size_t calls = 0;
  for (const auto& name : BuiltinNames()) {
    const Builtin* b = FindBuiltin(name);
    ASSERT_NE(b, nullptr);
    const size_t arity = static_cast<size_t>(b->arity);
    std::vector<size_t> pick(arity, 0);
    for (;;) {
      std::vector<Value> args;
      for (size_t k : pick) args.push_back(odd[k]);
      BuiltinContext ctx;
      ++calls;
      try {
        b->fn(args, ctx);
      } catch (const BuiltinError&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << Value::MakeArray(args).ToRego() << ": unexpected " << e.what();
      }
      size_t pos = 0;
      while (pos < arity && ++pick[pos] == odd.size()) pick[pos++] = 0;
      if (pos == arity) break;
    }
  }
  EXPECT_GT(calls, 10000u);
}

}  // namespace
}  // namespace statehouse::policy
