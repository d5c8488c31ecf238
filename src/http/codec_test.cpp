#include "http/codec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/error.h"

namespace statehouse::http {
namespace {
namespace json = boost::json;

ErrorCode CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInternal;
}

TEST(CodecTest, ContentTypesMapToFormats) {
  EXPECT_EQ(FormatOfContentType("application/json; charset=utf-8", false), BodyFormat::kJson);
  EXPECT_EQ(FormatOfContentType("application/yaml", false), BodyFormat::kYaml);
  EXPECT_EQ(FormatOfContentType("text/yaml", false), BodyFormat::kYaml);
  EXPECT_EQ(FormatOfContentType("application/x-www-form-urlencoded", false),
            BodyFormat::kFormUrlEncoded);
  EXPECT_EQ(FormatOfContentType("multipart/form-data; boundary=x", false), BodyFormat::kMultipart);
  EXPECT_EQ(FormatOfContentType("text/plain", true), BodyFormat::kText);
  EXPECT_EQ(CodeOf([] { FormatOfContentType("text/plain", false); }),
            ErrorCode::kUnsupportedMediaType);
  EXPECT_EQ(CodeOf([] { FormatOfContentType("application/xml", true); }),
            ErrorCode::kUnsupportedMediaType);
}

TEST(CodecTest, ReplyFormatFollowsBodyThenAccept) {
  EXPECT_EQ(ChooseReplyFormat(true, BodyFormat::kYaml, "application/json"), ReplyFormat::kYaml);
  EXPECT_EQ(ChooseReplyFormat(true, BodyFormat::kFormUrlEncoded, ""), ReplyFormat::kJson);
  EXPECT_EQ(ChooseReplyFormat(false, BodyFormat::kJson, "application/yaml"), ReplyFormat::kYaml);
  EXPECT_EQ(ChooseReplyFormat(false, BodyFormat::kJson, "text/html, application/x-yaml;q=0.9"),
            ReplyFormat::kYaml);
  EXPECT_EQ(ChooseReplyFormat(false, BodyFormat::kJson, "*/*"), ReplyFormat::kJson);
}

TEST(CodecTest, ReplyFormatFollowsAcceptQValues) {
  auto f = [](const char* accept) { return ChooseReplyFormat(false, BodyFormat::kJson, accept); };
  EXPECT_EQ(f("application/json;q=0.5, application/yaml"), ReplyFormat::kYaml);
  EXPECT_EQ(f("application/yaml;q=0.9, application/json"), ReplyFormat::kJson);
  EXPECT_EQ(f("application/yaml;q=0.8, application/json;q=0.8"), ReplyFormat::kYaml);  // tie
  EXPECT_EQ(f("application/json, application/yaml"), ReplyFormat::kJson);
  EXPECT_EQ(f("application/yaml;q=0, */*"), ReplyFormat::kJson);  // refused
  EXPECT_EQ(f("application/yaml;q=2"), ReplyFormat::kJson);       // malformed: asks nothing
  EXPECT_EQ(f("application/yaml ; Q=0.001"), ReplyFormat::kYaml);
  EXPECT_EQ(f("text/html;x=\"a,application/yaml\", application/json"), ReplyFormat::kJson);
  EXPECT_EQ(f("application/yaml;level=1;q=0.7;ext=\"q=0\""), ReplyFormat::kYaml);
  EXPECT_EQ(f(""), ReplyFormat::kJson);
}

// Harness's Go SDK sends Accept: application/vnd.goa.error on DELETE; the specs type error
// replies with it.
TEST(CodecTest, GoaErrorMediaTypeWhenAcceptAsksForIt) {
  for (const char* accept : {
           "application/vnd.goa.error",
           "Application/VND.Goa.Error",
           "application/vnd.goa.error; charset=utf-8",
           "application/vnd.goa.error, application/json",
           "application/json, application/vnd.goa.error",  // a tie: the spec's error type
           "application/json;q=0.5, application/vnd.goa.error;q=0.9",
           "application/vnd.goa.error;q=0.1, */*",
           "text/html, application/vnd.goa.error;q=0.2",
       })
    EXPECT_TRUE(AcceptsGoaError(accept)) << accept;
  for (const char* accept : {
           "",
           "*/*",
           "application/*",
           "application/json",
           "application/yaml",
           "application/vnd.goa.error;q=0",
           "application/vnd.goa.error;q=0, */*",
           "application/json, application/vnd.goa.error;q=0.5",
           "application/yaml, application/vnd.goa.error;q=0.9",
           "application/vnd.goa.error;q=high",
           "application/vnd.goa.errors",
           "text/plain;x=\"application/vnd.goa.error\"",
       })
    EXPECT_FALSE(AcceptsGoaError(accept)) << accept;
}

TEST(CodecTest, YamlScalarsResolveLikeJson) {
  json::value v = ParseYaml("a: 5\nb: true\nc: \"5\"\nd: hello\ne: ~\nf: 1.5\ng: [x, 2]\n");
  const auto& o = v.as_object();
  EXPECT_TRUE(o.at("a").is_int64());
  EXPECT_EQ(o.at("a").as_int64(), 5);
  EXPECT_TRUE(o.at("b").as_bool());
  EXPECT_EQ(o.at("c").as_string(), "5");
  EXPECT_EQ(o.at("d").as_string(), "hello");
  EXPECT_TRUE(o.at("e").is_null());
  EXPECT_DOUBLE_EQ(o.at("f").as_double(), 1.5);
  EXPECT_EQ(o.at("g").as_array().size(), 2u);
}

TEST(CodecTest, MalformedDocumentsAreInvalidArgument) {
  EXPECT_EQ(CodeOf([] { ParseJson("{\"a\":"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { ParseYaml("a: [1, 2"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { ParseYaml("a: 1\na: 2\n"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { ParseJson(std::string(1000, '[') + std::string(1000, ']')); }),
            ErrorCode::kInvalidArgument);
}

TEST(CodecTest, YamlAliasBombIsRejected) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = c;
  }
  EXPECT_EQ(CodeOf([&] { ParseYaml(bomb); }), ErrorCode::kInvalidArgument);
}

TEST(CodecTest, FormFieldsNest) {
  json::value v =
      ParseFormUrlEncoded("org.identifier=a_b&org%5Bname%5D=My+Org&org.tags.k=v&m=1&m=2");
  const auto& org = v.at("org").as_object();
  EXPECT_EQ(org.at("identifier").as_string(), "a_b");
  EXPECT_EQ(org.at("name").as_string(), "My Org");
  EXPECT_EQ(org.at("tags").at("k").as_string(), "v");
  EXPECT_EQ(v.at("m").as_array().size(), 2u);
  EXPECT_EQ(CodeOf([] { ParseFormUrlEncoded("a=1&a.b=2"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { ParseFormUrlEncoded("a=%zz"); }), ErrorCode::kInvalidArgument);
}

TEST(CodecTest, MultipartFieldsNest) {
  std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"project.identifier\"\r\n\r\np1\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"project.name\"\r\n\r\nProject One\r\n"
      "--XyZ--\r\n";
  json::value v = ParseMultipart(body, "multipart/form-data; boundary=XyZ");
  EXPECT_EQ(v.at("project").at("identifier").as_string(), "p1");
  EXPECT_EQ(v.at("project").at("name").as_string(), "Project One");
  EXPECT_EQ(
      CodeOf([&] { ParseMultipart(body.substr(0, 40), "multipart/form-data; boundary=XyZ"); }),
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { ParseMultipart(body, "multipart/form-data"); }),
            ErrorCode::kInvalidArgument);
}

TEST(CodecTest, YamlRoundTripKeepsStringsStrings) {
  json::value in = json::parse(
      R"({"a":"true","b":"123","c":"","d":"x: y","e":"- z","f":"plain","g":7,"h":null,"i":["#x"]})");
  json::value out = ParseYaml(SerializeYaml(in));
  EXPECT_EQ(in, out);
}

}  // namespace
}  // namespace statehouse::http
