// Regression tests for findings of the libFuzzer targets in fuzz/ (see fuzz/README.md). Each
// test holds the minimal input a fuzzer found and the property it broke; each fails until the
// codec is fixed.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <string>
#include <string_view>

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

// fuzz_http_framing, finding http_framing-form-depth-34.bin: a urlencoded body whose one field
// name has 32 dots was accepted and nested 33 objects deep (the old limit was 64), so the JSON
// reply that echoed it was deeper than Boost.JSON's default max_depth of 32, with which the
// server reads its stored JSON back. Every decoder now refuses bodies nested deeper than
// kMaxNestingDepth (32), so whatever one accepts reads back. The input, byte for byte: two bytes
// of fuzzer settings, then a POST whose first 722 body bytes are the form (the rest is noise).
const char kFormDepth34[] =
    "\x00JPOST /v1/orgs/o1/projects HTTP/1.1\r\nTransfer-Encoding:creP/1.1\r\nHost: x\r\nx-ap"
    "i-key: pat.default.tok1.s3cret\r\nContent-Type: application/x-www-form-urlencoded\r\nCon"
    "tent-Length: 722\r\n\r\norg.n FALSEhcoding:creP/1.1\r\nHost: x\r\nx-api-key: pat.default"
    ".tok1.s3cret\r\nCansfer-Encoding:creP/1.1\r\nHost: x\r\nx-api-key: pat.default.tok1.s3cr"
    "et\r\nContent-Type: \r\nx-api-key: pat.default.tok1.s3cret\r\nCansfer-Encoding:creP/1.1"
    "\r\nHost: x\r\nx-api-key: pat.default.tok1.s3cret\r\nContent-Type: application/x-www-for"
    "m-urlencoded\r\nContent-Length: 722\r\n\r\norg.n FALSEhcoding:creP/1.1\r\nHost: x\r\nx-a"
    "pi-key: pat.default.tok1.s3creey: pat.default.tok1.s3cret\r\nContent-Type: application/x"
    "-www-form-urlencoded\r\nContent-Length: 722\r\n\r\norg.n FALSEhcoding:creP/1.1\r\nHost: "
    "x\r\nx-api-key: pat.default.tok1.s3cret\r\nContent-Type: application/x-www-form-urlencod"
    "ed\r\nContent-Length: 722\r\n\r\norg.n FALSEh:zzzzzzzzzz HTTP/1.1\r.\nHnt-Length: zzzzzz"
    "zzzz HTTP/1.1\r.\nHnt-Lengorontent-Type: application/x-wen&-T&ype: text/pgt: attent-Leng"
    "th: 394\r\n\r\norg.n/1.1\r.\nHnt-Length: 394\r\n\r\norg.name\xcf\x8b\x9a\xbbme1ten&-Type"
    ": text/HosTTP/1t: .1\rx\r\n\r\n\xf6\xf0\n\r\n1\r\nTr\n";

// The body of the input's first request (after its header, Content-Length bytes).
std::string FirstRequestBody(std::string_view connection) {
  size_t header_end = connection.find("\r\n\r\n");
  std::string_view header = connection.substr(0, header_end);
  size_t cl = header.find("Content-Length: ");
  size_t length = std::stoul(std::string(header.substr(cl + 16)));
  return std::string(connection.substr(header_end + 4, length));
}

void ExpectNestingLimit(const std::function<void()>& parse, const std::string& what) {
  try {
    parse();
    ADD_FAILURE() << what << " is accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << what;
    EXPECT_NE(std::string(e.what()).find("nesting limit of 32"), std::string::npos)
        << what << ": " << e.what();
  }
}

TEST(CodecFuzzRegressionTest, FormNestedDeeperThanTheJsonReaderIsRefused) {
  const std::string input(kFormDepth34, sizeof kFormDepth34 - 1);
  ASSERT_EQ(input.size(), 1085u);
  const std::string body = FirstRequestBody(std::string_view(input).substr(2));
  ASSERT_EQ(body.size(), 722u);
  ExpectNestingLimit([&] { ParseFormUrlEncoded(body); }, "the finding's form");
  ExpectNestingLimit(
      [&] {
        ParseBody(FormatOfContentType("application/x-www-form-urlencoded", false), body,
                  "application/x-www-form-urlencoded");
      },
      "the finding's form through ParseBody");
}

// One limit for every decoder: a body kMaxNestingDepth deep is accepted and its JSON reply reads
// back with Boost.JSON's defaults (as stored columns are read) and with ParseJson; one level
// more is refused with the same message.
TEST(CodecFuzzRegressionTest, EveryDecoderHasTheSameNestingLimit) {
  ASSERT_EQ(kMaxNestingDepth, 32);
  auto nested_json = [](int depth) {  // `depth` objects, innermost {"a":"v"}
    std::string s;
    for (int i = 1; i < depth; ++i) s += "{\"a\":";
    s += "{\"a\":\"v\"}";
    s += std::string(static_cast<size_t>(depth - 1), '}');
    return s;
  };
  auto nested_yaml = [](int depth) {  // block mappings, `depth` deep
    std::string s;
    for (int i = 0; i < depth; ++i) s += std::string(static_cast<size_t>(2 * i), ' ') + "a:\n";
    s.pop_back();
    return s + " v\n";
  };
  auto nested_yaml_flow = [](int depth) {  // flow sequences
    return std::string(static_cast<size_t>(depth), '[') + "1" +
           std::string(static_cast<size_t>(depth), ']');
  };
  auto field = [](int depth) {  // a name of `depth` parts: `depth` objects
    std::string name = "a";
    for (int i = 1; i < depth; ++i) name += (i % 2 ? ".a" : "[a]");
    return name;
  };
  auto nested_form = [&](int depth) { return field(depth) + "=v"; };
  auto repeated_form = [&](int depth) {  // a repeated field becomes a list: one level more
    return field(depth - 1) + "=v&" + field(depth - 1) + "=w";
  };
  auto nested_multipart = [&](int depth) {
    return "--XyZ\r\nContent-Disposition: form-data; name=\"" + field(depth) +
           "\"\r\n\r\nv\r\n--XyZ--";
  };
  const std::string mp = "multipart/form-data; boundary=XyZ";
  struct Decoder {
    const char* name;
    std::function<json::value(int)> parse;
  };
  const Decoder decoders[] = {
      {"json", [&](int d) { return ParseJson(nested_json(d)); }},
      {"json array",
       [&](int d) {
         return ParseJson(std::string(static_cast<size_t>(d), '[') +
                          std::string(static_cast<size_t>(d), ']'));
       }},
      {"yaml block", [&](int d) { return ParseYaml(nested_yaml(d)); }},
      {"yaml flow", [&](int d) { return ParseYaml(nested_yaml_flow(d)); }},
      {"form", [&](int d) { return ParseFormUrlEncoded(nested_form(d)); }},
      {"form list", [&](int d) { return ParseFormUrlEncoded(repeated_form(d)); }},
      {"multipart", [&](int d) { return ParseMultipart(nested_multipart(d), mp); }},
  };
  for (const Decoder& dec : decoders) {
    SCOPED_TRACE(dec.name);
    json::value v = dec.parse(kMaxNestingDepth);
    const std::string reply = SerializeJson(v);
    boost::system::error_code ec;
    json::parse(reply, ec);  // Boost.JSON's default max_depth
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(ParseJson(reply), v);
    EXPECT_EQ(ParseYaml(SerializeYaml(v)), v);
    ExpectNestingLimit([&] { dec.parse(kMaxNestingDepth + 1); }, dec.name);
  }
  // YAML aliases count as deep as they expand: an anchored 20-deep map used under 20 more.
  std::string anchored = "x: &deep\n";
  for (int i = 0; i < 19; ++i)
    anchored += std::string(static_cast<size_t>(2 * i + 2), ' ') + "a:\n";
  anchored.pop_back();
  anchored += " v\ny:\n";
  std::string under;
  for (int i = 0; i < 20; ++i) under += std::string(static_cast<size_t>(2 * i + 2), ' ') + "b:\n";
  under.pop_back();
  anchored += under + " *deep\n";
  ExpectNestingLimit([&] { ParseYaml(anchored); }, "aliased YAML");
}

}  // namespace
}  // namespace statehouse::http
