#include "api/fields.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "common/error.h"
#include "http/codec.h"

namespace statehouse::api {
namespace {

namespace json = boost::json;

// Owns the request and context a Fields reader points into.
struct Doc {
  http::Request request;
  http::Context ctx{request, {}, {}, false, http::BodyFormat::kJson, nullptr};

  Doc(std::string_view json_text, http::BodyFormat format = http::BodyFormat::kJson) {
    ctx.has_body = true;
    ctx.body_format = format;
    ctx.body = json::parse(json_text);
  }
  Fields Body() const { return Fields::Body(ctx); }
};

Doc Form(std::string_view json_text) { return Doc(json_text, http::BodyFormat::kFormUrlEncoded); }

template <typename Fn>
std::string InvalidMessage(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected kInvalidArgument";
  return "";
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- Body ------------------------------------------------------------------------------------

TEST(FieldsTest, BodyRequired) {
  http::Request request;
  http::Context ctx{request, {}, {}, false, http::BodyFormat::kJson, nullptr};
  std::string msg = InvalidMessage([&] { Fields::Body(ctx); });
  EXPECT_TRUE(Contains(msg, "body")) << msg;
}

TEST(FieldsTest, BodyMustBeObject) {
  Doc array("[1,2]");
  InvalidMessage([&] { array.Body(); });
  Doc str("\"x\"");
  InvalidMessage([&] { str.Body(); });
  Doc null("null");
  InvalidMessage([&] { null.Body(); });
}

// --- String ----------------------------------------------------------------------------------

TEST(FieldsTest, RequiredAndOptionalStrings) {
  Doc d(R"({"identifier":"a","name":"N"})");
  Fields f = d.Body();
  EXPECT_EQ(f.String("identifier", true), "a");
  EXPECT_EQ(f.String("name"), "N");
  EXPECT_FALSE(f.String("description").has_value());
  std::string msg = InvalidMessage([&] { f.String("description", true); });
  EXPECT_TRUE(Contains(msg, "description")) << msg;
  EXPECT_TRUE(Contains(msg, "required")) << msg;
}

TEST(FieldsTest, EmptyStringIsPresent) {
  Doc d(R"({"description":""})");
  EXPECT_EQ(d.Body().String("description", true), "");
  EXPECT_TRUE(d.Body().Has("description"));
}

TEST(FieldsTest, NullIsAbsent) {
  Doc d(R"({"name":null,"org":null,"tags":null,"n":null,"b":null,"l":null})");
  Fields f = d.Body();
  EXPECT_FALSE(f.Has("name"));
  EXPECT_FALSE(f.String("name").has_value());
  EXPECT_FALSE(f.Int("n").has_value());
  EXPECT_FALSE(f.Bool("b").has_value());
  EXPECT_FALSE(f.StringMap("tags").has_value());
  EXPECT_FALSE(f.StringList("l").has_value());
  EXPECT_FALSE(f.Object("org", false).Has("name"));
  InvalidMessage([&] { f.String("name", true); });
  InvalidMessage([&] { f.Int("n", true); });
  std::string msg = InvalidMessage([&] { f.Object("org", true); });
  EXPECT_TRUE(Contains(msg, "org")) << msg;
}

TEST(FieldsTest, WrongTypeNamesTheField) {
  Doc d(R"({"name":5,"identifier":true,"x":[],"y":{}})");
  Fields f = d.Body();
  for (const char* field : {"name", "identifier", "x", "y"}) {
    SCOPED_TRACE(field);
    std::string msg = InvalidMessage([&] { f.String(field); });
    EXPECT_TRUE(msg.rfind(field, 0) == 0) << msg;  // starts with the field path
    EXPECT_TRUE(Contains(msg, "string")) << msg;
  }
}

// --- Object and paths --------------------------------------------------------------------------

TEST(FieldsTest, NestedPathsInMessages) {
  Doc d(R"({"org":{"name":7,"identifier":"x","meta":{"deep":false}}})");
  Fields org = d.Body().Object("org", true);
  EXPECT_EQ(org.String("identifier", true), "x");
  std::string msg = InvalidMessage([&] { org.String("name"); });
  EXPECT_TRUE(msg.rfind("org.name:", 0) == 0) << msg;
  msg = InvalidMessage([&] { org.String("description", true); });
  EXPECT_TRUE(msg.rfind("org.description:", 0) == 0) << msg;
  msg = InvalidMessage([&] { org.Object("meta", true).String("deep"); });
  EXPECT_TRUE(msg.rfind("org.meta.deep:", 0) == 0) << msg;
  msg = InvalidMessage([&] { org.Object("missing", true); });
  EXPECT_TRUE(msg.rfind("org.missing:", 0) == 0) << msg;
}

TEST(FieldsTest, ObjectMustBeObject) {
  Doc d(R"({"org":"platform"})");
  std::string msg = InvalidMessage([&] { d.Body().Object("org", true); });
  EXPECT_TRUE(msg.rfind("org:", 0) == 0) << msg;
  EXPECT_TRUE(Contains(msg, "object")) << msg;
  InvalidMessage([&] { d.Body().Object("org", false); });
}

TEST(FieldsTest, AbsentOptionalObjectReadsAsEmpty) {
  Doc d(R"({})");
  Fields org = d.Body().Object("org", false);
  EXPECT_FALSE(org.Has("name"));
  EXPECT_FALSE(org.String("name").has_value());
  EXPECT_FALSE(org.Int("n").has_value());
  EXPECT_FALSE(org.StringMap("tags").has_value());
  // Requiring a field of an absent object still names the full path.
  std::string msg = InvalidMessage([&] { org.String("name", true); });
  EXPECT_TRUE(msg.rfind("org.name:", 0) == 0) << msg;
}

// --- Int -------------------------------------------------------------------------------------

TEST(FieldsTest, Ints) {
  Doc d(R"({"a":5,"b":-3,"c":9007199254740993,"d":2.0,"e":18446744073709551615,"f":1.5,"g":"5"})");
  Fields f = d.Body();
  EXPECT_EQ(f.Int("a"), 5);
  EXPECT_EQ(f.Int("b"), -3);
  EXPECT_EQ(f.Int("c"), 9007199254740993LL);
  EXPECT_EQ(f.Int("d"), 2);
  EXPECT_FALSE(f.Int("missing").has_value());
  for (const char* bad : {"e", "f", "g"}) {
    SCOPED_TRACE(bad);
    std::string msg = InvalidMessage([&] { f.Int(bad); });
    EXPECT_TRUE(msg.rfind(std::string(bad) + ":", 0) == 0) << msg;
    EXPECT_TRUE(Contains(msg, "integer")) << msg;
  }
  std::string msg = InvalidMessage([&] { f.Int("missing", true); });
  EXPECT_TRUE(Contains(msg, "missing")) << msg;
}

TEST(FieldsTest, IntsOutOfRangeDoublesRejected) {
  Doc d(R"({"big":1e19,"neg":-1e19})");
  InvalidMessage([&] { d.Body().Int("big"); });
  InvalidMessage([&] { d.Body().Int("neg"); });
}

// --- Bool ------------------------------------------------------------------------------------

TEST(FieldsTest, Bools) {
  Doc d(R"({"t":true,"f":false,"s":"true","n":1})");
  Fields f = d.Body();
  EXPECT_EQ(f.Bool("t"), true);
  EXPECT_EQ(f.Bool("f"), false);
  EXPECT_FALSE(f.Bool("missing").has_value());
  std::string msg = InvalidMessage([&] { f.Bool("s"); });  // strict in JSON
  EXPECT_TRUE(msg.rfind("s:", 0) == 0) << msg;
  EXPECT_TRUE(Contains(msg, "boolean")) << msg;
  InvalidMessage([&] { f.Bool("n"); });
}

// --- Lenient (form) mode ----------------------------------------------------------------------

TEST(FieldsTest, FormModeCoercesNumbersAndBooleans) {
  Doc d = Form(R"({"org":{"n":"5","neg":"-12","padded":" 7 ","t":"true","f":"false"}})");
  Fields org = d.Body().Object("org", true);
  EXPECT_EQ(org.Int("n"), 5);
  EXPECT_EQ(org.Int("neg"), -12);
  EXPECT_EQ(org.Int("padded"), 7);
  EXPECT_EQ(org.Bool("t"), true);
  EXPECT_EQ(org.Bool("f"), false);
}

TEST(FieldsTest, MultipartIsLenientToo) {
  Doc d(R"({"n":"42","b":"true"})", http::BodyFormat::kMultipart);
  EXPECT_EQ(d.Body().Int("n"), 42);
  EXPECT_EQ(d.Body().Bool("b"), true);
}

TEST(FieldsTest, YamlIsNotLenient) {
  Doc d(R"({"n":"42"})", http::BodyFormat::kYaml);
  InvalidMessage([&] { d.Body().Int("n"); });
}

TEST(FieldsTest, FormModeStillRejectsJunk) {
  Doc d = Form(R"({"org":{"n":"5x","e":"","t":"yes","big":"99999999999999999999"}})");
  Fields org = d.Body().Object("org", true);
  std::string msg = InvalidMessage([&] { org.Int("n"); });
  EXPECT_TRUE(msg.rfind("org.n:", 0) == 0) << msg;
  InvalidMessage([&] { org.Int("e"); });
  InvalidMessage([&] { org.Int("big"); });
  msg = InvalidMessage([&] { org.Bool("t"); });
  EXPECT_TRUE(msg.rfind("org.t:", 0) == 0) << msg;
}

TEST(FieldsTest, FormModeSingleStringIsAList) {
  Doc d = Form(R"({"ids":"a"})");
  auto l = d.Body().StringList("ids");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(*l, (std::vector<std::string>{"a"}));
}

// --- StringMap -------------------------------------------------------------------------------

TEST(FieldsTest, StringMapKeepsOrder) {
  Doc d(R"({"tags":{"team":"infra","env":"prod","empty":""}})");
  auto tags = d.Body().StringMap("tags");
  ASSERT_TRUE(tags.has_value());
  storage::Tags want = {{"team", "infra"}, {"env", "prod"}, {"empty", ""}};
  EXPECT_EQ(*tags, want);
}

TEST(FieldsTest, StringMapNullValueIsEmptyString) {
  Doc d(R"({"tags":{"team":null}})");
  auto tags = d.Body().StringMap("tags");
  ASSERT_TRUE(tags.has_value());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].second, "");
}

TEST(FieldsTest, StringMapRejectsNonStringValuesNamingTheKey) {
  for (const char* v : {"5", "true", "[]", "{}", "1.5"}) {
    SCOPED_TRACE(v);
    Doc d(std::string(R"({"tags":{"ok":"x","key":)") + v + "}}");
    std::string msg = InvalidMessage([&] { d.Body().StringMap("tags"); });
    EXPECT_TRUE(msg.rfind("tags.key:", 0) == 0) << msg;
  }
}

TEST(FieldsTest, NestedStringMapPath) {
  Doc d(R"({"org":{"tags":{"key":1}}})");
  std::string msg = InvalidMessage([&] { d.Body().Object("org", true).StringMap("tags"); });
  EXPECT_TRUE(msg.rfind("org.tags.key:", 0) == 0) << msg;
}

TEST(FieldsTest, StringMapMustBeObject) {
  Doc d(R"({"tags":["a","b"],"t2":"x"})");
  std::string msg = InvalidMessage([&] { d.Body().StringMap("tags"); });
  EXPECT_TRUE(msg.rfind("tags:", 0) == 0) << msg;
  InvalidMessage([&] { d.Body().StringMap("t2"); });
}

TEST(FieldsTest, EmptyStringMap) {
  Doc d(R"({"tags":{}})");
  auto tags = d.Body().StringMap("tags");
  ASSERT_TRUE(tags.has_value());
  EXPECT_TRUE(tags->empty());
}

// --- StringList ------------------------------------------------------------------------------

TEST(FieldsTest, StringList) {
  Doc d(R"({"ids":["a","b","a"],"empty":[]})");
  auto ids = d.Body().StringList("ids");
  ASSERT_TRUE(ids.has_value());
  EXPECT_EQ(*ids, (std::vector<std::string>{"a", "b", "a"}));
  auto empty = d.Body().StringList("empty");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(d.Body().StringList("missing").has_value());
}

TEST(FieldsTest, StringListRejectsNonStrings) {
  Doc d(R"({"ids":["a",1],"s":"a","o":{}})");
  std::string msg = InvalidMessage([&] { d.Body().StringList("ids"); });
  EXPECT_TRUE(msg.rfind("ids:", 0) == 0) << msg;
  msg = InvalidMessage([&] { d.Body().StringList("s"); });  // strict outside forms
  EXPECT_TRUE(msg.rfind("s:", 0) == 0) << msg;
  InvalidMessage([&] { d.Body().StringList("o"); });
}

}  // namespace
}  // namespace statehouse::api
