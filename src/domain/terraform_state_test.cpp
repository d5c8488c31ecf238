#include "domain/terraform_state.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"

namespace statehouse::domain::tfstate {
namespace {

namespace json = boost::json;

// A realistic state: root and nested modules, count and for_each instances, data sources,
// sensitive attributes (plain, nested map key, list element), legacy/odd bits, outputs, checks.
// Distinct secret values (kSecrets) appear only at sensitive paths and in sensitive outputs.
constexpr const char* kState = R"json({
  "version": 4,
  "terraform_version": "1.7.5",
  "serial": 42,
  "lineage": "3f2a6c1e-8b1d-4c4e-9a7e-2d9c0b7f1a11",
  "outputs": {
    "bucket_name": {"value": "logs-bucket", "type": "string"},
    "instance_count": {"value": 3, "type": "number"},
    "endpoints": {"value": {"serial": 7, "url": "https://db.internal"},
                  "type": ["object", {"serial": "number", "url": "string"}]},
    "db_password": {"value": "S3cr3t-Passw0rd", "type": "string", "sensitive": true},
    "api_tokens": {"value": ["tok-alpha-SECRET", "tok-beta-SECRET"],
                   "type": ["list", "string"], "sensitive": true}
  },
  "resources": [
    {
      "mode": "data",
      "type": "aws_ami",
      "name": "ubuntu",
      "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
      "instances": [
        {"schema_version": 0,
         "attributes": {"id": "ami-0abc", "name": "ubuntu-22.04", "most_recent": true},
         "sensitive_attributes": []}
      ]
    },
    {
      "mode": "managed",
      "type": "aws_db_instance",
      "name": "main",
      "provider": "provider[\"registry.terraform.io/hashicorp/aws\"].west",
      "instances": [
        {
          "schema_version": 2,
          "attributes": {
            "id": "db-ABCDEF",
            "engine": "postgres",
            "password": "S3cr3t-Passw0rd",
            "serial": 999,
            "tags": {"Name": "main-db", "secret": "tag-hidden-value"},
            "ingress": [{"cidr": "10.0.0.0/8", "token": "ingress-hidden-0"},
                        {"cidr": "10.1.0.0/16", "token": "ingress-visible-1"}]
          },
          "sensitive_attributes": [
            [{"type": "get_attr", "value": "password"}],
            [{"type": "get_attr", "value": "tags"},
             {"type": "index", "value": {"value": "secret", "type": "string"}}],
            [{"type": "get_attr", "value": "ingress"},
             {"type": "index", "value": {"value": 0, "type": "number"}},
             {"type": "get_attr", "value": "token"}],
            [{"type": "get_attr", "value": "does_not_exist"}],
            [{"type": "bogus_step", "value": "password"}],
            "not-a-path",
            [{"type": "get_attr"}],
            [{"type": "index", "value": {"value": 5, "type": "number"}}]
          ],
          "dependencies": ["module.vpc.aws_subnet.private"]
        }
      ]
    },
    {
      "mode": "managed",
      "type": "random_password",
      "name": "admin",
      "provider": "provider[\"registry.terraform.io/hashicorp/random\"]",
      "instances": [
        {"schema_version": 3,
         "attributes": {"id": "none", "length": 24, "result": "rand-result-xyz", "special": true},
         "sensitive_attributes": [[{"type": "get_attr", "value": "result"}]]}
      ]
    },
    {
      "module": "module.vpc",
      "mode": "managed",
      "type": "aws_subnet",
      "name": "private",
      "each": "list",
      "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
      "instances": [
        {"index_key": 0, "schema_version": 1,
         "attributes": {"id": "subnet-000", "cidr_block": "10.0.0.0/24", "serial": 1},
         "sensitive_attributes": [], "dependencies": []},
        {"index_key": 1, "schema_version": 1,
         "attributes": {"id": "subnet-111", "cidr_block": "10.0.1.0/24", "map_public_ip": false}}
      ]
    },
    {
      "module": "module.vpc",
      "mode": "data",
      "type": "aws_availability_zones",
      "name": "available",
      "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
      "instances": [
        {"schema_version": 0, "attributes": {"id": "us-east-1", "names": ["us-east-1a", "us-east-1b"]}}
      ]
    },
    {
      "module": "module.vpc",
      "mode": "managed",
      "type": "aws_vpc",
      "name": "this",
      "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
      "instances": [
        {"schema_version": 1, "attributes": {"id": "vpc-123", "cidr_block": "10.0.0.0/16"}}
      ]
    },
    {
      "module": "module.vpc.module.buckets",
      "mode": "managed",
      "type": "aws_s3_bucket",
      "name": "b",
      "each": "map",
      "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
      "instances": [
        {"index_key": "logs", "schema_version": 0,
         "attributes": {"id": "logs-bucket", "bucket": "logs-bucket", "acl": "private"},
         "sensitive_attributes": []},
        {"index_key": "we\"ird", "schema_version": 0,
         "attributes": {"id": 12345, "bucket": "weird-bucket", "versioning": [{"enabled": true}]}}
      ]
    },
    {
      "mode": "managed",
      "type": "null_resource",
      "name": "noid",
      "provider": "provider[\"registry.terraform.io/hashicorp/null\"]",
      "instances": [
        {"schema_version": 0, "attributes": {"triggers": null}}
      ]
    }
  ],
  "check_results": [
    {"object_kind": "resource", "config_addr": "aws_db_instance.main", "status": "pass",
     "objects": [{"object_addr": "aws_db_instance.main", "status": "pass"}]}
  ]
}
)json";

const std::vector<std::string> kSecrets = {"S3cr3t-Passw0rd",  "tag-hidden-value",
                                           "ingress-hidden-0", "rand-result-xyz",
                                           "tok-alpha-SECRET", "tok-beta-SECRET"};

json::value Parse(std::string_view text) {
  json::parse_options opt;
  opt.max_depth = 1000;
  return json::parse(text, {}, opt);
}

template <typename Fn>
std::string ExpectInvalid(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected kInvalidArgument";
  return "";
}

StateHeader ScanWhole(std::string_view text) {
  StateScanner s;
  s.Feed(text);
  s.Finish();
  return s.header();
}

StateHeader ScanBytes(std::string_view text) {
  StateScanner s;
  for (char c : text) s.Feed(std::string_view(&c, 1));
  s.Finish();
  return s.header();
}

StateHeader ScanRandomChunks(std::string_view text, unsigned seed, std::size_t max_chunk) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(0, max_chunk);  // 0: empty chunks too
  StateScanner s;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t n = std::min(size(rng), text.size() - pos);
    s.Feed(text.substr(pos, n));
    pos += n;
  }
  s.Finish();
  return s.header();
}

void ExpectSameHeader(const StateHeader& a, const StateHeader& b) {
  EXPECT_EQ(a.is_object, b.is_object);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.serial, b.serial);
  EXPECT_EQ(a.lineage, b.lineage);
  EXPECT_EQ(a.terraform_version, b.terraform_version);
  EXPECT_EQ(a.encrypted, b.encrypted);
  EXPECT_EQ(a.IsV4(), b.IsV4());
}

// Scanning `text` fails with kInvalidArgument however it is chunked.
void ExpectScanFails(std::string_view text) {
  SCOPED_TRACE(std::string(text.substr(0, 80)));
  std::string msg = ExpectInvalid([&] { ScanWhole(text); });
  EXPECT_EQ(msg.rfind("state is not valid JSON: ", 0), 0u) << msg;
  ExpectInvalid([&] { ScanBytes(text); });
  ExpectInvalid([&] { ScanRandomChunks(text, 7, 5); });
}

const json::object* FindByPath(const json::array& items, std::string_view path_id) {
  for (const auto& v : items) {
    if (v.as_object().at("path_id").as_string() == path_id) return &v.as_object();
  }
  return nullptr;
}

const json::object* FindOutput(const json::array& outputs, std::string_view name) {
  for (const auto& v : outputs) {
    if (v.as_object().at("name").as_string() == name) return &v.as_object();
  }
  return nullptr;
}

std::string SerializeAnalysis(const StateAnalysis& a) {
  json::object o;
  o["resources"] = a.resources;
  o["data_sources"] = a.data_sources;
  o["outputs"] = a.outputs;
  o["modules"] = a.modules;
  json::object types;
  for (const auto& [type, names] : a.type_attributes) {
    json::array arr;
    for (const auto& n : names) arr.emplace_back(json::string(n));
    types[type] = std::move(arr);
  }
  o["type_attributes"] = std::move(types);
  o["total_resources"] = a.total_resources;
  return json::serialize(o);
}

// ==========================================================================================
// StateScanner

TEST(TerraformStateScannerTest, ReadsHeaderOfRealisticState) {
  StateHeader h = ScanWhole(kState);
  EXPECT_TRUE(h.is_object);
  EXPECT_EQ(h.version, 4);
  EXPECT_EQ(h.serial, 42);
  EXPECT_EQ(h.lineage, "3f2a6c1e-8b1d-4c4e-9a7e-2d9c0b7f1a11");
  EXPECT_EQ(h.terraform_version, "1.7.5");
  EXPECT_FALSE(h.encrypted);
  EXPECT_TRUE(h.IsV4());
}

TEST(TerraformStateScannerTest, ByteAtATimeGivesSameHeader) {
  ExpectSameHeader(ScanBytes(kState), ScanWhole(kState));
}

TEST(TerraformStateScannerTest, RandomChunksGiveSameHeader) {
  StateHeader whole = ScanWhole(kState);
  for (unsigned seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE(seed);
    ExpectSameHeader(ScanRandomChunks(kState, seed, 1 + seed * 7), whole);
  }
}

TEST(TerraformStateScannerTest, HeaderOfParsedDocumentAgrees) {
  ExpectSameHeader(HeaderOf(Parse(kState)), ScanWhole(kState));
}

TEST(TerraformStateScannerTest, NestedSerialIsNotTopLevel) {
  // Nested "serial", "version" and "lineage" come before the top-level ones, and after.
  const std::string doc = R"({
    "resources": [{"instances": [{"attributes": {"serial": 1000, "version": 9,
                                                  "lineage": "nested", "x": {"serial": 5}}}]}],
    "outputs": {"o": {"value": {"serial": 77}}},
    "version": 4, "serial": 3, "lineage": "top",
    "check_results": [{"serial": 12345, "lineage": "later"}]
  })";
  for (const StateHeader& h : {ScanWhole(doc), ScanBytes(doc), HeaderOf(Parse(doc))}) {
    EXPECT_EQ(h.serial, 3);
    EXPECT_EQ(h.version, 4);
    EXPECT_EQ(h.lineage, "top");
    EXPECT_TRUE(h.IsV4());
  }
  // Without a top-level serial, a nested one does not stand in for it.
  const std::string no_serial =
      R"({"version":4,"lineage":"l","resources":[{"serial":8,"instances":[{"serial":9}]}]})";
  StateHeader h = ScanWhole(no_serial);
  EXPECT_FALSE(h.serial.has_value());
  EXPECT_FALSE(h.IsV4());
  EXPECT_FALSE(HeaderOf(Parse(no_serial)).serial.has_value());
}

TEST(TerraformStateScannerTest, EncryptedOpenTofuState) {
  const std::string doc = R"({
    "meta": {"key_provider.pbkdf2.mykey": "eyJzYWx0IjoiLi4uIn0=", "serial": 4, "version": 4},
    "encrypted_data": "ZW5jcnlwdGVkLWJ5dGVzLWhlcmU=",
    "encryption_version": "v0"
  })";
  for (const StateHeader& h : {ScanWhole(doc), ScanBytes(doc), HeaderOf(Parse(doc))}) {
    EXPECT_TRUE(h.is_object);
    EXPECT_TRUE(h.encrypted);
    EXPECT_FALSE(h.version.has_value());  // the one in "meta" is nested
    EXPECT_FALSE(h.serial.has_value());
    EXPECT_FALSE(h.IsV4());
  }
  // Either key alone marks the document as encrypted, even next to a valid-looking header.
  for (const char* key : {"encrypted_data", "encryption_version"}) {
    std::string d = std::string(R"({"version":4,"serial":1,"lineage":"x",")") + key + R"(":"v0"})";
    StateHeader h = ScanWhole(d);
    EXPECT_TRUE(h.encrypted) << key;
    EXPECT_FALSE(h.IsV4()) << key;
    EXPECT_TRUE(HeaderOf(Parse(d)).encrypted) << key;
  }
}

TEST(TerraformStateScannerTest, NotAnObjectIsValidButNotV4) {
  for (const char* doc : {"[1,2,3]", "4", "\"state\"", "null", "true", "[{\"version\":4}]"}) {
    SCOPED_TRACE(doc);
    StateHeader h = ScanWhole(doc);
    EXPECT_FALSE(h.is_object);
    EXPECT_FALSE(h.version.has_value());
    EXPECT_FALSE(h.IsV4());
  }
}

TEST(TerraformStateScannerTest, FieldTypesAndDuplicates) {
  struct Case {
    const char* doc;
    bool v4;
  };
  const Case cases[] = {
      {R"({"version":4,"serial":1,"lineage":"l"})", true},
      {R"({"version":"4","serial":1,"lineage":"l"})", false},  // string version
      {R"({"version":4.0,"serial":1,"lineage":"l"})", false},  // not an integer
      {R"({"version":3,"serial":1,"lineage":"l"})", false},
      {R"({"version":4,"serial":"1","lineage":"l"})", false},
      {R"({"version":4,"serial":1.5,"lineage":"l"})", false},
      {R"({"version":4,"serial":null,"lineage":"l"})", false},
      {R"({"version":4,"serial":18446744073709551615,"lineage":"l"})", false},  // > int64
      {R"({"version":4,"serial":{"n":1},"lineage":"l"})", false},
      {R"({"version":4,"serial":1,"lineage":7})", false},
      {R"({"version":4,"serial":1,"lineage":["l"]})", false},
      {R"({"version":4,"serial":1})", false},
      {R"({"serial":1,"lineage":"l"})", false},
      // escaped key names are decoded
      {R"({"ver\u0073ion":4,"s\u0065rial":1,"lineage":"l"})", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.doc);
    EXPECT_EQ(ScanWhole(c.doc).IsV4(), c.v4);
    EXPECT_EQ(ScanBytes(c.doc).IsV4(), c.v4);
    EXPECT_EQ(HeaderOf(Parse(c.doc)).IsV4(), c.v4);
  }
  EXPECT_EQ(ScanWhole(R"({"serial":-3})").serial, -3);
  EXPECT_EQ(ScanWhole(R"({"serial":9223372036854775807})").serial, INT64_MAX);
  EXPECT_EQ(ScanBytes(R"({"lineage":"a\"b\u00e9"})").lineage, "a\"b\xc3\xa9");
}

// A repeated top-level key that a reader looks at refuses the state in both readers, whatever
// the values (Terraform would take the last; a reader taking the first would see another serial
// or lineage).
TEST(TerraformStateScannerTest, RepeatedTopLevelKeysAreRefusedByBothReaders) {
  struct Case {
    const char* doc;
    const char* key;
  };
  const Case cases[] = {
      {R"({"version":4,"serial":1,"serial":2,"lineage":"l"})", "serial"},
      {R"({"version":4,"serial":1,"serial":1,"lineage":"l"})", "serial"},  // same value
      {R"({"version":4,"serial":"x","serial":2,"lineage":"l"})", "serial"},
      {R"({"version":4,"serial":2,"serial":null,"lineage":"l"})", "serial"},
      {R"({"version":4,"serial":{"a":1},"serial":2,"lineage":"l"})", "serial"},
      {R"({"version":4,"serial":1,"lineage":"a","lineage":"b"})", "lineage"},
      {R"({"lineage":"a","version":4,"serial":1,"lineage":"a"})", "lineage"},
      {R"({"version":3,"version":4,"serial":1,"lineage":"l"})", "version"},
      {R"({"version":4,"serial":1,"lineage":"l","ver\u0073ion":4})", "version"},  // escaped
      {R"({"version":4,"serial":1,"lineage":"l","terraform_version":"1","terraform_version":"2"})",
       "terraform_version"},
      {R"({"encrypted_data":"a","encrypted_data":"b"})", "encrypted_data"},
      {R"({"encryption_version":"v0","encryption_version":"v0"})", "encryption_version"},
      {R"({"version":4,"serial":1,"lineage":"l","resources":[],"resources":[]})", "resources"},
      {R"({"version":4,"serial":1,"lineage":"l","outputs":{},"outputs":{}})", "outputs"},
      // not a v4 header otherwise: still refused
      {R"({"serial":1,"serial":2})", "serial"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.doc);
    const std::string expected = std::string("duplicate key ") + c.key + " in the state";
    EXPECT_EQ(ExpectInvalid([&] { ScanWhole(c.doc); }), expected);
    EXPECT_EQ(ExpectInvalid([&] { ScanBytes(c.doc); }), expected);
    EXPECT_EQ(ExpectInvalid([&] { ScanRandomChunks(c.doc, 11, 5); }), expected);
    EXPECT_EQ(ExpectInvalid([&] { ParseState(c.doc); }), expected);
  }
  // Repeats below the top level, and of top-level keys no reader looks at, are JSON as usual;
  // both readers accept them and agree on the header.
  for (const char* doc : {
           R"({"version":4,"serial":1,"lineage":"l","resources":[{"serial":1,"serial":2}]})",
           R"({"version":4,"serial":1,"lineage":"l","x":{"lineage":"a","lineage":"b"}})",
           R"({"version":4,"serial":1,"lineage":"l","check_results":null,"check_results":[]})",
           R"({"version":4,"serial":1,"lineage":"l","x":1,"x":2})",
       }) {
    SCOPED_TRACE(doc);
    StateHeader h = ScanBytes(doc);
    EXPECT_TRUE(h.IsV4());
    ExpectSameHeader(HeaderOf(ParseState(doc)), h);
  }
}

// A number out of range refuses the state in both readers, also where a DOM would drop it for a
// later duplicate key.
TEST(TerraformStateScannerTest, NumbersOutOfRangeAreRefusedByBothReaders) {
  for (const char* doc : {
           R"({"version":4,"serial":1,"lineage":"l","x":1e400})",
           R"({"version":4,"serial":1,"lineage":"l","x":1e400,"x":1})",
           R"({"version":4,"serial":1,"lineage":"l","resources":[{"a":-1e999,"a":0}]})",
           "0e900700778",
       }) {
    SCOPED_TRACE(doc);
    EXPECT_EQ(ExpectInvalid([&] { ScanWhole(doc); }), "state has a number out of range");
    EXPECT_EQ(ExpectInvalid([&] { ScanRandomChunks(doc, 5, 3); }),
              "state has a number out of range");
    EXPECT_EQ(ExpectInvalid([&] { ParseState(doc); }), "state has a number out of range");
  }
}

TEST(TerraformStateScannerTest, OversizedHeaderStringIsNotCaptured) {
  std::string long_lineage(StateScanner::kMaxCapturedString + 1, 'x');
  std::string doc =
      R"({"version":4,"serial":1,"lineage":")" + long_lineage + R"(","terraform_version":"1.6.0"})";
  StateHeader h = ScanRandomChunks(doc, 3, 100);
  EXPECT_FALSE(h.lineage.has_value());
  EXPECT_EQ(h.terraform_version, "1.6.0");
  EXPECT_FALSE(h.IsV4());
  EXPECT_FALSE(HeaderOf(Parse(doc)).lineage.has_value());
  // A very long key is skipped without being kept.
  std::string long_key =
      R"({")" + std::string(100000, 'k') + R"(":1,"version":4,"serial":1,"lineage":"l"})";
  EXPECT_TRUE(ScanRandomChunks(long_key, 4, 1000).IsV4());
}

TEST(TerraformStateScannerTest, TrailingWhitespaceIsFine) {
  StateHeader h = ScanBytes(std::string("\n\t ") + kState + "\n\r\n   ");
  EXPECT_TRUE(h.IsV4());
  StateScanner s;
  s.Feed(R"({"version":4,"serial":1,"lineage":"l"})");
  s.Feed("   ");
  s.Feed("\n");
  s.Finish();
  EXPECT_TRUE(s.header().IsV4());
}

TEST(TerraformStateScannerTest, MalformedInputsThrow) {
  const char* bad[] = {
      "{",
      "{\"version\":4,",
      "{\"version\":}",
      "{\"version\" 4}",
      "{version:4}",
      "{'version':4}",
      "{\"a\":1,}",
      "[1,2,]",
      "[1 2]",
      "{\"a\":1}}",
      "{\"a\":[1}",
      "{\"a\":tru}",
      "{\"a\":nul}",
      "{\"a\":01}",
      "{\"a\":1.}",
      "{\"a\":-}",
      "{\"a\":\"unterminated}",
      "{\"a\":\"bad escape \\q\"}",
      "{\"a\":\"ctrl \x01 char\"}",
      "{\"a\":\"\xff\xfe\"}",  // invalid UTF-8
      "// comment\n{}",
      "{} x",
      "{}{}",
      "{} {\"version\":4}",
      "4 5",
      "\"",
      "nul",
  };
  for (const char* doc : bad) ExpectScanFails(doc);
}

TEST(TerraformStateScannerTest, EmptyAndWhitespaceOnlyThrow) {
  for (const char* doc : {"", " ", "\n\t\r "}) {
    SCOPED_TRACE(doc);
    std::string msg = ExpectInvalid([&] { ScanWhole(doc); });
    EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  }
  StateScanner s;
  ExpectInvalid([&] { s.Finish(); });
}

TEST(TerraformStateScannerTest, TruncatedStateThrowsAtEveryCut) {
  std::string state = kState;
  // Trim the trailing newline so that every proper prefix is incomplete.
  while (!state.empty() && state.back() == '\n') state.pop_back();
  for (std::size_t cut = 0; cut < state.size(); cut += (cut < 200 ? 1 : 37)) {
    SCOPED_TRACE(cut);
    ExpectInvalid([&] { ScanWhole(std::string_view(state).substr(0, cut)); });
  }
}

TEST(TerraformStateScannerTest, ErrorsAreSticky) {
  StateScanner s;
  s.Feed("{\"version\":");
  ExpectInvalid([&] { s.Feed("}"); });
  ExpectInvalid([&] { s.Feed("4}"); });  // does not resume
  ExpectInvalid([&] { s.Finish(); });
}

TEST(TerraformStateScannerTest, GarbageAfterDocumentInLaterChunk) {
  StateScanner s;
  s.Feed(R"({"version":4,"serial":1,"lineage":"l"})");
  s.Feed("  \n");
  std::string msg = ExpectInvalid([&] { s.Feed("  {\"serial\": 99}"); });
  EXPECT_NE(msg.find("after the document"), std::string::npos) << msg;
  ExpectInvalid([&] { s.Finish(); });
  EXPECT_EQ(s.header().serial, 1);
}

TEST(TerraformStateScannerTest, FeedAfterFinishIsALogicError) {
  StateScanner s;
  s.Feed("{}");
  s.Finish();
  EXPECT_NO_THROW(s.Finish());
  try {
    s.Feed(" ");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
  }
}

TEST(TerraformStateScannerTest, DeepNestingWithinLimitAndBeyond) {
  auto nested = [](std::size_t depth) {
    std::string d = R"({"version":4,"serial":1,"lineage":"l","deep":)";
    for (std::size_t i = 0; i < depth; ++i) d += "[";
    for (std::size_t i = 0; i < depth; ++i) d += "]";
    return d + "}";
  };
  EXPECT_TRUE(ScanRandomChunks(nested(StateScanner::kMaxDepth - 2), 9, 64).IsV4());
  ExpectInvalid([&] { ScanWhole(nested(StateScanner::kMaxDepth + 10)); });
}

// Streams a generated state of at least `target` bytes into the scanner without ever holding
// the whole document: the top-level serial comes after the resources.
long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // kilobytes on Linux
}

TEST(TerraformStateScannerTest, FiftyMegabyteStateStreamsWithBoundedMemory) {
  constexpr std::size_t kTarget = 50u * 1024 * 1024;
  const long peak_before_kb = PeakRssKb();
  StateScanner s;
  std::size_t total = 0;
  auto feed = [&](std::string_view chunk) {
    s.Feed(chunk);
    total += chunk.size();
  };
  feed(R"({"version": 4, "terraform_version": "1.8.0", "lineage": "big-lineage", "resources": [)");
  std::string chunk;
  int i = 0;
  while (total < kTarget) {
    chunk.clear();
    for (int k = 0; k < 100; ++k, ++i) {
      if (i > 0) chunk += ",";
      chunk +=
          R"({"mode":"managed","type":"aws_instance","name":"r)" + std::to_string(i) +
          R"(","provider":"provider[\"registry.terraform.io/hashicorp/aws\"]","instances":[{"schema_version":1,"attributes":{"id":"i-)" +
          std::to_string(i) + R"(","serial":)" + std::to_string(i) +
          R"(,"user_data":"#!/bin/bash\necho hello world \u00e9 padding padding padding padding padding padding padding","tags":{"Name":"node-)" +
          std::to_string(i) +
          R"(","lineage":"not-top"},"ebs":[{"size":100,"type":"gp3"},{"size":200,"type":"io2"}]},"sensitive_attributes":[]}]})";
    }
    // Feed in uneven pieces so values and keys straddle chunk boundaries.
    std::size_t pos = 0, step = 4093;
    while (pos < chunk.size()) {
      feed(std::string_view(chunk).substr(pos, step));
      pos += step;
      step = step == 4093 ? 8191 : 4093;
    }
  }
  feed(R"(], "serial": 123456, "outputs": {}})");
  s.Finish();
  EXPECT_GE(total, kTarget);
  const StateHeader& h = s.header();
  EXPECT_TRUE(h.IsV4());
  EXPECT_EQ(h.serial, 123456);
  EXPECT_EQ(h.lineage, "big-lineage");
  EXPECT_EQ(h.terraform_version, "1.8.0");
  // The process's peak memory did not grow with the document (generous bound: 16 MiB). Not
  // under AddressSanitizer, whose quarantine keeps freed temporaries resident.
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(PeakRssKb() - peak_before_kb, 16 * 1024);
#else
  (void)peak_before_kb;
#endif
}

TEST(TerraformStateScannerTest, ParseStateAcceptsDeepStatesAndRejectsBadText) {
  std::string deep = R"({"version":4,"serial":1,"lineage":"l","resources":[{"mode":"managed",
    "type":"kubernetes_manifest","name":"m","instances":[{"attributes":{"manifest":)";
  for (int i = 0; i < 60; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 60; ++i) deep += "}";
  deep += "}}]}]}";
  json::value v = ParseState(deep);
  EXPECT_TRUE(HeaderOf(v).IsV4());
  EXPECT_EQ(Analyze(v, true).total_resources, 1);
  for (const char* bad : {"", "{", "{} x", "[1,]", "// c\n{}"}) {
    std::string msg = ExpectInvalid([&] { ParseState(bad); });
    EXPECT_EQ(msg.rfind("state is not valid JSON: ", 0), 0u) << msg;
  }
}

// ==========================================================================================
// Analyze

TEST(TerraformStateAnalyzeTest, ResourcesWithoutPruning) {
  StateAnalysis a = Analyze(Parse(kState), /*prune_sensitive=*/false);

  // Managed: db, random_password, 2 subnets, vpc, 2 buckets, null_resource.
  EXPECT_EQ(a.total_resources, 8);
  ASSERT_EQ(a.resources.size(), 8u);
  ASSERT_EQ(a.data_sources.size(), 2u);

  const json::object* db = FindByPath(a.resources, "aws_db_instance.main");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->at("provider"), "registry.terraform.io/hashicorp/aws");
  EXPECT_EQ(db->at("type"), "aws_db_instance");
  EXPECT_EQ(db->at("name"), "main");
  EXPECT_EQ(db->at("module"), "");
  EXPECT_EQ(db->at("mode"), "resource");
  EXPECT_EQ(db->at("resource_id"), "db-ABCDEF");
  EXPECT_EQ(db->at("drift_status"), "unchanged");
  EXPECT_EQ(db->at("drift_attributes"), json::object());
  EXPECT_EQ(db->at("attributes").at("password"), "S3cr3t-Passw0rd");
  EXPECT_EQ(db->at("attributes").at("tags").at("secret"), "tag-hidden-value");
  // sensitive_attributes is the instance's list as given
  json::value original = Parse(kState);
  EXPECT_EQ(db->at("sensitive_attributes"),
            original.at("resources").at(1).at("instances").at(0).at("sensitive_attributes"));
  // Every spec-required field is present, and nothing else.
  const std::vector<std::string> fields = {"provider",
                                           "type",
                                           "name",
                                           "module",
                                           "mode",
                                           "path_id",
                                           "resource_id",
                                           "attributes",
                                           "drift_status",
                                           "drift_attributes",
                                           "sensitive_attributes"};
  for (const auto& item : a.resources) {
    EXPECT_EQ(item.as_object().size(), fields.size());
    for (const auto& f : fields) EXPECT_TRUE(item.as_object().contains(f)) << f;
    EXPECT_TRUE(item.at("attributes").is_object());
    EXPECT_TRUE(item.at("sensitive_attributes").is_array());
  }

  const json::object* subnet0 = FindByPath(a.resources, "module.vpc.aws_subnet.private[0]");
  const json::object* subnet1 = FindByPath(a.resources, "module.vpc.aws_subnet.private[1]");
  ASSERT_NE(subnet0, nullptr);
  ASSERT_NE(subnet1, nullptr);
  EXPECT_EQ(subnet0->at("module"), "module.vpc");
  EXPECT_EQ(subnet1->at("resource_id"), "subnet-111");
  EXPECT_EQ(subnet1->at("sensitive_attributes"), json::array());  // absent -> []

  const json::object* logs =
      FindByPath(a.resources, "module.vpc.module.buckets.aws_s3_bucket.b[\"logs\"]");
  ASSERT_NE(logs, nullptr);
  EXPECT_EQ(logs->at("module"), "module.vpc.module.buckets");
  const json::object* weird =
      FindByPath(a.resources, "module.vpc.module.buckets.aws_s3_bucket.b[\"we\\\"ird\"]");
  ASSERT_NE(weird, nullptr);
  EXPECT_EQ(weird->at("resource_id"), "12345");  // numeric id as a string

  const json::object* noid = FindByPath(a.resources, "null_resource.noid");
  ASSERT_NE(noid, nullptr);
  EXPECT_EQ(noid->at("resource_id"), "");
  EXPECT_EQ(noid->at("provider"), "registry.terraform.io/hashicorp/null");

  const json::object* random = FindByPath(a.resources, "random_password.admin");
  ASSERT_NE(random, nullptr);
  EXPECT_EQ(random->at("provider"), "registry.terraform.io/hashicorp/random");
  EXPECT_EQ(random->at("attributes").at("result"), "rand-result-xyz");

  // Data sources.
  const json::object* ami = FindByPath(a.data_sources, "data.aws_ami.ubuntu");
  ASSERT_NE(ami, nullptr);
  EXPECT_EQ(ami->at("mode"), "data");
  EXPECT_EQ(ami->at("module"), "");
  EXPECT_EQ(ami->at("resource_id"), "ami-0abc");
  const json::object* azs =
      FindByPath(a.data_sources, "module.vpc.data.aws_availability_zones.available");
  ASSERT_NE(azs, nullptr);
  EXPECT_EQ(azs->at("module"), "module.vpc");
  EXPECT_EQ(azs->at("mode"), "data");
}

TEST(TerraformStateAnalyzeTest, OutputsModulesAndTypes) {
  StateAnalysis a = Analyze(Parse(kState), false);
  ASSERT_EQ(a.outputs.size(), 5u);
  auto out = [&](std::string_view name) {
    const json::object* o = FindOutput(a.outputs, name);
    EXPECT_NE(o, nullptr) << name;
    return o ? *o : json::object();
  };
  EXPECT_EQ(out("bucket_name").at("value"), "logs-bucket");  // strings as they are
  EXPECT_EQ(out("bucket_name").at("sensitive"), false);
  EXPECT_EQ(out("instance_count").at("value"), "3");  // everything else serialized
  EXPECT_EQ(Parse(out("endpoints").at("value").as_string()),
            Parse(R"({"serial":7,"url":"https://db.internal"})"));
  EXPECT_EQ(out("db_password").at("value"), "S3cr3t-Passw0rd");
  EXPECT_EQ(out("db_password").at("sensitive"), true);
  EXPECT_EQ(Parse(out("api_tokens").at("value").as_string()),
            Parse(R"(["tok-alpha-SECRET","tok-beta-SECRET"])"));
  for (const auto& o : a.outputs) {
    EXPECT_EQ(o.as_object().size(), 3u);
    EXPECT_TRUE(o.at("value").is_string());
  }

  // Modules: root is not listed; invocations = resource blocks (managed and data).
  ASSERT_EQ(a.modules.size(), 2u);
  EXPECT_EQ(a.modules[0],
            Parse(R"({"key":"module.vpc","source":"","version":"","invocations":3})"));
  EXPECT_EQ(
      a.modules[1],
      Parse(R"({"key":"module.vpc.module.buckets","source":"","version":"","invocations":1})"));

  // Top-level attribute names per type, unioned across instances.
  EXPECT_EQ(a.type_attributes.at("aws_subnet"),
            (std::set<std::string>{"id", "cidr_block", "serial", "map_public_ip"}));
  EXPECT_EQ(a.type_attributes.at("aws_s3_bucket"),
            (std::set<std::string>{"id", "bucket", "acl", "versioning"}));
  EXPECT_EQ(a.type_attributes.at("aws_ami"), (std::set<std::string>{"id", "name", "most_recent"}));
  EXPECT_EQ(a.type_attributes.at("aws_db_instance"),
            (std::set<std::string>{"id", "engine", "password", "serial", "tags", "ingress"}));
  EXPECT_EQ(a.type_attributes.size(), 8u);
}

TEST(TerraformStateAnalyzeTest, PruningRedactsExactlyTheSensitivePaths) {
  StateAnalysis a = Analyze(Parse(kState), /*prune_sensitive=*/true);
  const json::object* db = FindByPath(a.resources, "aws_db_instance.main");
  ASSERT_NE(db, nullptr);
  const json::value& attrs = db->at("attributes");
  EXPECT_EQ(attrs.at("password"), "(sensitive)");
  EXPECT_EQ(attrs.at("tags").at("secret"), "(sensitive)");
  EXPECT_EQ(attrs.at("tags").at("Name"), "main-db");  // siblings untouched
  EXPECT_EQ(attrs.at("ingress").at(0).at("token"), "(sensitive)");
  EXPECT_EQ(attrs.at("ingress").at(0).at("cidr"), "10.0.0.0/8");
  EXPECT_EQ(attrs.at("ingress").at(1).at("token"), "ingress-visible-1");
  EXPECT_EQ(attrs.at("engine"), "postgres");
  EXPECT_EQ(attrs.at("serial"), 999);
  EXPECT_FALSE(attrs.as_object().contains("does_not_exist"));  // dangling path: no insertion
  EXPECT_EQ(db->at("resource_id"), "db-ABCDEF");

  const json::object* random = FindByPath(a.resources, "random_password.admin");
  ASSERT_NE(random, nullptr);
  EXPECT_EQ(random->at("attributes").at("result"), "(sensitive)");
  EXPECT_EQ(random->at("attributes").at("length"), 24);

  EXPECT_EQ(FindOutput(a.outputs, "db_password")->at("value"), "(sensitive)");
  EXPECT_EQ(FindOutput(a.outputs, "api_tokens")->at("value"), "(sensitive)");
  EXPECT_EQ(FindOutput(a.outputs, "api_tokens")->at("sensitive"), true);
  EXPECT_EQ(FindOutput(a.outputs, "bucket_name")->at("value"), "logs-bucket");

  // Counts and shapes do not change with pruning.
  StateAnalysis plain = Analyze(Parse(kState), false);
  EXPECT_EQ(a.total_resources, plain.total_resources);
  EXPECT_EQ(a.resources.size(), plain.resources.size());
  EXPECT_EQ(a.data_sources, plain.data_sources);
  EXPECT_EQ(a.modules, plain.modules);
  EXPECT_EQ(a.type_attributes, plain.type_attributes);

  // No sensitive value appears anywhere in the analysis.
  std::string text = SerializeAnalysis(a);
  for (const auto& secret : kSecrets) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
  // ...while without pruning they do (the test would be vacuous otherwise).
  std::string plain_text = SerializeAnalysis(plain);
  for (const auto& secret : kSecrets) {
    EXPECT_NE(plain_text.find(secret), std::string::npos) << secret;
  }
}

TEST(TerraformStateAnalyzeTest, SensitiveIdIsNotLeakedThroughResourceId) {
  const std::string doc = R"({"version":4,"serial":1,"lineage":"l","resources":[
    {"mode":"managed","type":"tls_private_key","name":"k","provider":"provider[\"registry.terraform.io/hashicorp/tls\"]",
     "instances":[{"schema_version":0,"attributes":{"id":"id-is-secret-123","pem":"-----BEGIN"},
                   "sensitive_attributes":[[{"type":"get_attr","value":"id"}],[{"type":"get_attr","value":"pem"}]]}]}]})";
  StateAnalysis a = Analyze(Parse(doc), true);
  ASSERT_EQ(a.resources.size(), 1u);
  EXPECT_EQ(a.resources[0].at("resource_id"), "(sensitive)");
  EXPECT_EQ(SerializeAnalysis(a).find("id-is-secret-123"), std::string::npos);
  EXPECT_EQ(SerializeAnalysis(a).find("-----BEGIN"), std::string::npos);
  EXPECT_EQ(Analyze(Parse(doc), false).resources[0].at("resource_id"), "id-is-secret-123");
}

TEST(TerraformStateAnalyzeTest, RejectsNonV4States) {
  const char* docs[] = {
      R"([])",
      R"("x")",
      R"({})",
      R"({"version":3,"serial":1,"lineage":"l","modules":[]})",
      R"({"version":4,"serial":1})",
      R"({"version":4,"lineage":"l"})",
      R"({"meta":{},"encrypted_data":"abc","encryption_version":"v0"})",
      R"({"version":4,"serial":1,"lineage":"l","encrypted_data":"abc"})",
  };
  for (const char* doc : docs) {
    SCOPED_TRACE(doc);
    ExpectInvalid([&] { Analyze(Parse(doc), false); });
    ExpectInvalid([&] { Analyze(Parse(doc), true); });
  }
}

TEST(TerraformStateAnalyzeTest, MinimalAndMalformedPartsAreSkipped) {
  StateAnalysis empty = Analyze(Parse(R"({"version":4,"serial":0,"lineage":"l"})"), true);
  EXPECT_TRUE(empty.resources.empty());
  EXPECT_TRUE(empty.data_sources.empty());
  EXPECT_TRUE(empty.outputs.empty());
  EXPECT_TRUE(empty.modules.empty());
  EXPECT_TRUE(empty.type_attributes.empty());
  EXPECT_EQ(empty.total_resources, 0);

  const std::string doc = R"({"version":4,"serial":1,"lineage":"l",
    "outputs": {"bad": 5, "no_value": {"type":"string"}, "null_value": {"value": null, "type":"string"}},
    "resources": [
      5, "x", null,
      {"mode":"weird","type":"t","name":"n","instances":[{"attributes":{"id":"a"}}]},
      {"mode":"managed","type":"t","name":"no_instances"},
      {"mode":"managed","type":"t","name":"bad_instances","instances":{"a":1}},
      {"mode":"managed","type":"t","name":"n","provider":"provider.aws",
       "instances":[7, {"index_key":2,"attributes":"oops","sensitive_attributes":"oops"},
                    {"index_key":3,"attributes":{"id":"i3","a":{"b":1}},"sensitive_attributes":{"x":1}},
                    {"index_key":4,"attributes_flat":{"id":"i4","tags.%":"0"}}]}
    ]})";
  for (bool prune : {false, true}) {
    StateAnalysis a = Analyze(Parse(doc), prune);
    ASSERT_EQ(a.resources.size(), 3u);
    EXPECT_EQ(a.total_resources, 3);
    const json::object* i2 = FindByPath(a.resources, "t.n[2]");
    ASSERT_NE(i2, nullptr);
    EXPECT_EQ(i2->at("attributes"), json::object());
    EXPECT_EQ(i2->at("sensitive_attributes"), json::array());
    EXPECT_EQ(i2->at("resource_id"), "");
    EXPECT_EQ(i2->at("provider"), "aws");  // legacy provider address
    const json::object* i3 = FindByPath(a.resources, "t.n[3]");
    ASSERT_NE(i3, nullptr);
    EXPECT_EQ(i3->at("attributes").at("a").at("b"), 1);
    const json::object* i4 = FindByPath(a.resources, "t.n[4]");
    ASSERT_NE(i4, nullptr);
    EXPECT_EQ(i4->at("resource_id"), "i4");  // legacy flatmap attributes
    EXPECT_EQ(a.type_attributes.at("t"), (std::set<std::string>{"id", "a"}));
    ASSERT_EQ(a.outputs.size(), 2u);
    EXPECT_EQ(FindOutput(a.outputs, "no_value")->at("value"), "null");
    EXPECT_EQ(FindOutput(a.outputs, "null_value")->at("value"), "null");
    EXPECT_EQ(FindOutput(a.outputs, "null_value")->at("sensitive"), false);
  }
}

// ==========================================================================================
// RedactAttributes, addresses

TEST(TerraformStateRedactAttributesTest, PathForms) {
  json::value attrs = Parse(R"({
    "password": "p", "tags": {"secret": "s", "keep": "k"}, "list": ["a", "b", "c"],
    "nested": {"m": {"deep": ["x", {"y": "z"}]}}, "n": 5, "obj": {"inner": 1}})");
  json::value paths = Parse(R"([
    [{"type":"get_attr","value":"password"}],
    [{"type":"get_attr","value":"tags"},{"type":"index","value":{"value":"secret","type":"string"}}],
    [{"type":"get_attr","value":"list"},{"type":"index","value":{"value":2,"type":"number"}}],
    [{"type":"get_attr","value":"nested"},{"type":"get_attr","value":"m"},
     {"type":"get_attr","value":"deep"},{"type":"index","value":1},{"type":"index","value":"y"}],
    [{"type":"get_attr","value":"n"}],
    [{"type":"get_attr","value":"obj"}],
    [{"type":"get_attr","value":"list"},{"type":"index","value":{"value":9,"type":"number"}}],
    [{"type":"get_attr","value":"list"},{"type":"index","value":{"value":-1,"type":"number"}}],
    [{"type":"get_attr","value":"list"},{"type":"get_attr","value":"x"}],
    [{"type":"get_attr","value":"password"},{"type":"get_attr","value":"x"}],
    [{"type":"get_attr","value":5}],
    [{"type":"index"}],
    [{"value":"password"}],
    [5],
    {"type":"get_attr","value":"keep"},
    null
  ])");
  RedactAttributes(attrs, paths);
  EXPECT_EQ(attrs, Parse(R"j({
    "password": "(sensitive)", "tags": {"secret": "(sensitive)", "keep": "k"},
    "list": ["a", "b", "(sensitive)"], "nested": {"m": {"deep": ["x", {"y": "(sensitive)"}]}},
    "n": "(sensitive)", "obj": "(sensitive)"})j"));
}

TEST(TerraformStateRedactAttributesTest, EmptyPathHidesEveryValueAndBadListsAreIgnored) {
  json::value attrs = Parse(R"({"a": 1, "b": {"c": "d"}})");
  RedactAttributes(attrs, Parse("[[]]"));
  EXPECT_EQ(attrs, Parse(R"j({"a": "(sensitive)", "b": "(sensitive)"})j"));
  json::value untouched = Parse(R"({"a": 1})");
  for (const char* bad : {"{}", "\"password\"", "null", "[]", "[{}]"}) {
    RedactAttributes(untouched, Parse(bad));
    EXPECT_EQ(untouched, Parse(R"({"a": 1})")) << bad;
  }
}

TEST(TerraformStateAddressTest, ProviderAddress) {
  EXPECT_EQ(ProviderAddress(R"(provider["registry.terraform.io/hashicorp/aws"])"),
            "registry.terraform.io/hashicorp/aws");
  EXPECT_EQ(ProviderAddress(R"(provider["registry.opentofu.org/hashicorp/aws"].west)"),
            "registry.opentofu.org/hashicorp/aws");
  EXPECT_EQ(ProviderAddress(R"(module.a.provider["registry.terraform.io/hashicorp/null"])"),
            "registry.terraform.io/hashicorp/null");
  EXPECT_EQ(ProviderAddress("provider.aws"), "aws");
  EXPECT_EQ(ProviderAddress("provider.aws.west"), "aws");
  EXPECT_EQ(ProviderAddress("module.x.provider.google"), "google");
  EXPECT_EQ(ProviderAddress("something-else"), "something-else");
  EXPECT_EQ(ProviderAddress(""), "");
}

TEST(TerraformStateAddressTest, InstanceAddress) {
  json::value zero = 0, str = "x", quoted = "a\"b\\c\n${x}%{y}", dbl = 2.0, nul = nullptr;
  json::value big = static_cast<uint64_t>(18446744073709551615ull);
  EXPECT_EQ(InstanceAddress("", false, "aws_s3_bucket", "b", nullptr), "aws_s3_bucket.b");
  EXPECT_EQ(InstanceAddress("", false, "aws_s3_bucket", "b", &nul), "aws_s3_bucket.b");
  EXPECT_EQ(InstanceAddress("module.vpc", false, "aws_subnet", "a", &zero),
            "module.vpc.aws_subnet.a[0]");
  EXPECT_EQ(InstanceAddress("", false, "aws_s3_bucket", "b", &str), "aws_s3_bucket.b[\"x\"]");
  EXPECT_EQ(InstanceAddress("module.a.module.b", true, "aws_ami", "u", &str),
            "module.a.module.b.data.aws_ami.u[\"x\"]");
  EXPECT_EQ(InstanceAddress("", false, "t", "n", &quoted), "t.n[\"a\\\"b\\\\c\\n$${x}%%{y}\"]");
  EXPECT_EQ(InstanceAddress("", false, "t", "n", &dbl), "t.n[2]");
  EXPECT_EQ(InstanceAddress("", false, "t", "n", &big), "t.n[18446744073709551615]");
}

// ==========================================================================================
// Redact

TEST(TerraformStateRedactTest, NoSecretSurvivesAndResultIsStillV4) {
  json::value original = Parse(kState);
  json::value before = original;
  json::value redacted = Redact(original);
  EXPECT_EQ(original, before);  // the input is not modified

  std::string text = json::serialize(redacted);
  for (const auto& secret : kSecrets) EXPECT_EQ(text.find(secret), std::string::npos) << secret;

  // Still a v4 state, with the same header, readable by the scanner.
  StateHeader h = ScanWhole(text);
  EXPECT_TRUE(h.IsV4());
  ExpectSameHeader(h, HeaderOf(original));

  // Exactly the sensitive places changed.
  const json::value& db = redacted.at("resources").at(1).at("instances").at(0);
  EXPECT_EQ(db.at("attributes").at("password"), "(sensitive)");
  EXPECT_EQ(db.at("attributes").at("tags"),
            Parse(R"j({"Name":"main-db","secret":"(sensitive)"})j"));
  EXPECT_EQ(db.at("attributes").at("ingress").at(1).at("token"), "ingress-visible-1");
  EXPECT_EQ(db.at("sensitive_attributes"),
            original.at("resources").at(1).at("instances").at(0).at("sensitive_attributes"));
  const json::value& outputs = redacted.at("outputs");
  EXPECT_EQ(outputs.at("db_password"),
            Parse(R"j({"value":"(sensitive)","type":"string","sensitive":true})j"));
  EXPECT_EQ(outputs.at("api_tokens"),
            Parse(R"j({"value":"(sensitive)","type":"string","sensitive":true})j"));
  EXPECT_EQ(outputs.at("bucket_name"), original.at("outputs").at("bucket_name"));
  EXPECT_EQ(outputs.at("endpoints"), original.at("outputs").at("endpoints"));

  // Everything outside the sensitive paths is identical.
  json::value expected = original;
  auto& edb = expected.at("resources").at(1).at("instances").at(0).at("attributes");
  edb.at("password") = "(sensitive)";
  edb.at("tags").at("secret") = "(sensitive)";
  edb.at("ingress").at(0).at("token") = "(sensitive)";
  expected.at("resources").at(2).at("instances").at(0).at("attributes").at("result") =
      "(sensitive)";
  expected.at("outputs").at("db_password") = outputs.at("db_password");
  expected.at("outputs").at("api_tokens") = outputs.at("api_tokens");
  EXPECT_EQ(redacted, expected);

  // Analysing the redacted state gives the pruned analysis.
  EXPECT_EQ(SerializeAnalysis(Analyze(redacted, false)),
            SerializeAnalysis(Analyze(original, true)));
  // Idempotent.
  EXPECT_EQ(Redact(redacted), redacted);
}

TEST(TerraformStateRedactTest, NonV4DocumentsAreReturnedUnchanged) {
  for (const char* doc :
       {R"({"meta":{"k":"v"},"encrypted_data":"c2VjcmV0","encryption_version":"v0"})",
        R"({"version":3,"serial":1,"lineage":"l","outputs":{"o":{"value":"pw","sensitive":true}}})",
        R"([1,2])", R"("text")", R"({})"}) {
    json::value v = Parse(doc);
    EXPECT_EQ(Redact(v), v) << doc;
  }
}

// ==========================================================================================
// WithSerial

json::value WithoutSerial(json::value v) {
  v.as_object().erase("serial");
  return v;
}

TEST(TerraformStateWithSerialTest, ReplacesOnlyTheTopLevelSerial) {
  std::string out = WithSerial(kState, 43);
  json::value before = Parse(kState);
  json::value after = Parse(out);
  EXPECT_EQ(after.at("serial"), 43);
  EXPECT_EQ(WithoutSerial(after), WithoutSerial(before));
  // Nested "serial" members are untouched.
  EXPECT_EQ(after.at("resources").at(1).at("instances").at(0).at("attributes").at("serial"), 999);
  EXPECT_EQ(after.at("outputs").at("endpoints").at("value").at("serial"), 7);
  // The text is kept byte for byte apart from the number.
  std::string expected = kState;
  auto pos = expected.find("\"serial\": 42");
  ASSERT_NE(pos, std::string::npos);
  expected.replace(pos, std::string("\"serial\": 42").size(), "\"serial\": 43");
  EXPECT_EQ(out, expected);
  // And the scanner agrees.
  StateHeader h = ScanWhole(out);
  EXPECT_EQ(h.serial, 43);
  EXPECT_TRUE(h.IsV4());
}

TEST(TerraformStateWithSerialTest, SerialPositionsAndSpellings) {
  struct Case {
    const char* in;
    int64_t serial;
    const char* out;
  };
  const Case cases[] = {
      // serial last, after nested serials and strings that look like keys
      {R"({"version":4,"lineage":"l","a":{"serial":1},"b":"\"serial\": 2","serial":3})", 10,
       R"({"version":4,"lineage":"l","a":{"serial":1},"b":"\"serial\": 2","serial":10})"},
      // serial first, compact, whitespace kept
      {"{\"serial\" :\n  5 ,\"version\":4,\"lineage\":\"l\"}", 123456789012,
       "{\"serial\" :\n  123456789012 ,\"version\":4,\"lineage\":\"l\"}"},
      // escaped key
      {R"({"version":4,"lineage":"l","s\u0065rial":5})", 6,
       R"({"version":4,"lineage":"l","s\u0065rial":6})"},
      // keys with escaped quotes and braces inside strings do not confuse the walk
      {R"({"version":4,"x\"{[":"}]\\","lineage":"l","serial":-1})", 0,
       R"({"version":4,"x\"{[":"}]\\","lineage":"l","serial":0})"},
      // arrays of objects at top level members
      {R"({"resources":[{"serial":1},[{"serial":2}]],"version":4,"serial":8,"lineage":"l"})", 4,
       R"({"resources":[{"serial":1},[{"serial":2}]],"version":4,"serial":4,"lineage":"l"})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    std::string out = WithSerial(c.in, c.serial);
    EXPECT_EQ(out, c.out);
    EXPECT_EQ(WithoutSerial(Parse(out)), WithoutSerial(Parse(c.in)));
    EXPECT_EQ(Parse(out).at("serial"), c.serial);
  }
}

// A state with two serials is no state to roll back to: refused, not rewritten.
TEST(TerraformStateWithSerialTest, RefusesRepeatedSerial) {
  for (const char* doc : {R"({"version":4,"lineage":"l","serial":1,"serial":2})",
                          R"({"version":4,"serial":9e0,"serial":8,"lineage":"l"})"}) {
    SCOPED_TRACE(doc);
    EXPECT_EQ(ExpectInvalid([&] { WithSerial(doc, 3); }), "duplicate key serial in the state");
  }
}

TEST(TerraformStateWithSerialTest, RejectsNonV4AndInvalidText) {
  const char* docs[] = {
      "",
      "{",
      "not json",
      R"({"version":4,"serial":1,"lineage":"l"} trailing)",
      R"([{"version":4,"serial":1,"lineage":"l"}])",
      R"({"version":3,"serial":1,"lineage":"l"})",
      R"({"version":4,"lineage":"l"})",
      R"({"version":4,"serial":"1","lineage":"l"})",
      R"({"meta":{},"encrypted_data":"abc","encryption_version":"v0"})",
  };
  for (const char* doc : docs) {
    SCOPED_TRACE(doc);
    ExpectInvalid([&] { WithSerial(doc, 5); });
  }
}

}  // namespace
}  // namespace statehouse::domain::tfstate
