// Regression tests for findings of the libFuzzer targets in fuzz/ (see fuzz/README.md). Each
// test holds the minimal input a fuzzer found and the property it broke; each fails until the
// codec is fixed.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "common/error.h"
#include "http/codec.h"

namespace statehouse::http {
namespace {
namespace json = boost::json;

// What an RFC 8259 client (strict UTF-8, no Infinity/NaN) accepts.
bool IsStrictJson(const std::string& text) {
  boost::system::error_code ec;
  json::parse(text, ec);  // Boost.JSON rejects invalid UTF-8 and Infinity by default
  return !ec;
}

// Either the codec refuses the body (kInvalidArgument) or the JSON reply it leads to is JSON.
void ExpectRejectedOrStrictJsonReply(const std::function<json::value()>& parse,
                                     const std::string& what) {
  json::value v;
  try {
    v = parse();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << what;
    return;
  }
  std::string reply = SerializeJson(v);
  EXPECT_TRUE(IsStrictJson(reply)) << what << " is accepted and answered as " << reply;
}

// F1 (fuzz_json): numbers beyond the double range parse to +-infinity, which SerializeJson
// writes as `Infinity` / `-Infinity`, so the JSON reply is not JSON.
TEST(CodecFuzzRegressionTest, JsonNumberOutOfDoubleRange) {
  // Zero with a large exponent is NaN in Boost.JSON 1.81: "[0e400]" is answered as "[NaN]".
  for (const char* body : {"[1E400]", "{\"budget\":-1e999}", "[0.1e310]", "[0e400]"})
    ExpectRejectedOrStrictJsonReply([&] { return ParseJson(body); }, body);
}

// F2 (fuzz_form, fuzz_yaml, fuzz_http_framing): only JSON bodies are checked for UTF-8. Form,
// multipart and YAML bodies carry invalid UTF-8 into the document, and every JSON reply that
// echoes it (stored names, descriptions, tags, error messages) is invalid JSON.
TEST(CodecFuzzRegressionTest, FormBodyWithInvalidUtf8) {
  ExpectRejectedOrStrictJsonReply([] { return ParseFormUrlEncoded("org.name=%FF%FE"); },
                                  "org.name=%FF%FE");
  ExpectRejectedOrStrictJsonReply([] { return ParseFormUrlEncoded("org.na%C0me=x"); },
                                  "a key with %C0");
}

TEST(CodecFuzzRegressionTest, MultipartBodyWithInvalidUtf8) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"modules\"\r\n\r\nKD\r\n"
      "\xad-XyZ\r\ncontent-dis\n\r\nKD\r\n--XyZ--";
  ExpectRejectedOrStrictJsonReply(
      [&] { return ParseMultipart(body, "multipart/form-data; boundary=XyZ"); }, "multipart");
}

TEST(CodecFuzzRegressionTest, YamlBodyWithInvalidUtf8) {
  ExpectRejectedOrStrictJsonReply([] { return ParseYaml("name: \"x\x8ay\"\n"); }, "quoted value");
  ExpectRejectedOrStrictJsonReply([] { return ParseYaml("\"\x8auoted key\": 1\n"); }, "key");
}

// F3 (fuzz_json, fuzz_yaml): SerializeYaml writes some numbers in a form ParseYaml reads back
// as strings: doubles whose shortest form has no '.' (1e+207), subnormal doubles (PlainScalar's
// std::stod throws out_of_range on them) and integers above INT64_MAX.
// A JSON document answered in YAML (Accept: application/yaml), or a YAML document answered in
// YAML, changes type on the way back.
TEST(CodecFuzzRegressionTest, YamlReplyKeepsNumbersNumbers) {
  for (const char* body : {"[1e207]", "[-5E29]", "[18446744073709551615]", "[18444744e-0320]"}) {
    json::value v = ParseJson(body);
    std::string yaml = SerializeYaml(v);
    json::value back = ParseYaml(yaml);
    ASSERT_TRUE(back.is_array()) << yaml;
    EXPECT_TRUE(back.get_array().at(0).is_number())
        << body << " -> YAML " << yaml << " -> " << json::serialize(back);
  }
  // YAML in, YAML out, YAML in again.
  json::value v = ParseYaml("limit: 1.0e+300\n");
  EXPECT_TRUE(ParseYaml("tiny: 1.5e-310\n").at("tiny").is_double());
  ASSERT_TRUE(v.at("limit").is_double());
  json::value back = ParseYaml(SerializeYaml(v));
  EXPECT_TRUE(back.at("limit").is_number()) << SerializeYaml(v);
}

// F4 (fuzz_yaml): a string that SerializeYaml double-quotes (here because of a control
// character) has its noncharacters (U+FFFF, U+FDE2, ...) written as U+FFFD by yaml-cpp's emitter.
TEST(CodecFuzzRegressionTest, YamlReplyKeepsNoncharacters) {
  // The fuzzer's input: UTF-16 (yaml-cpp detects it from the NUL byte) for "\x01\uEF48..\uFFFF..".
  json::value v = ParseYaml(std::string("\x01\x00H\xef-3\x7f,\xff\xff-3", 12));
  EXPECT_EQ(ParseYaml(SerializeYaml(v)), v) << SerializeYaml(v);
  json::value w = ParseJson(R"({"k":"\u0001a\uffffb\ufde2c"})");
  EXPECT_EQ(ParseYaml(SerializeYaml(w)), w) << SerializeYaml(w);
}

// F7 (fuzz_yaml): SerializeYaml writes a map key whose YAML form is longer than 1024 characters
// as an implicit key, which YAML forbids: ParseYaml (yaml-cpp) rejects the reply with "illegal
// map value". A JSON or YAML body with such a key, answered in YAML, cannot be read back.
TEST(CodecFuzzRegressionTest, YamlReplyWithLongKeyParses) {
  for (const std::string& key :
       {std::string(1100, 'k'), std::string(300, '\x02'), std::string(600, '"')}) {
    json::object doc;
    doc[key] = 1;
    std::string yaml = SerializeYaml(doc);
    json::value back;
    try {
      back = ParseYaml(yaml);
    } catch (const Error& e) {
      ADD_FAILURE() << "key of " << key.size() << " bytes: " << e.what();
      continue;
    }
    EXPECT_EQ(back, json::value(doc));
  }
}

}  // namespace
}  // namespace statehouse::http
