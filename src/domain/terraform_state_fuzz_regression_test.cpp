// Regression tests for findings of fuzz/state_reader (see fuzz/README.md); they fail until fixed.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <string>
#include <string_view>

#include "common/error.h"
#include "domain/terraform_state.h"

namespace statehouse::domain::tfstate {
namespace {
namespace json = boost::json;

// F1 (fuzz_state_reader, fuzz_json): ParseState accepts numbers that Boost.JSON 1.81 turns into
// non-finite doubles (1e400 -> Infinity, 0e400 -> NaN). A download of such a state from a
// workspace with prune_sensitive_data (StateService::ContentOf: serialize(Redact(ParseState)))
// is then not JSON, and Terraform cannot read its own state back. The fuzzer's input was the
// bare document "0e900700778".
TEST(TerraformStateFuzzRegressionTest, RedactedDownloadStaysJson) {
  const std::string state = R"({"version":4,"serial":1,"lineage":"l","outputs":{},
    "resources":[{"mode":"managed","type":"t","name":"n","provider":"provider[\"p\"]",
      "instances":[{"attributes":{"id":"x","ratio":1e400,"zero":0e400,"secret":"s"},
                    "sensitive_attributes":[[{"type":"get_attr","value":"secret"}]]}]}]})";
  json::value parsed;
  try {
    parsed = ParseState(state);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return;  // refusing the upload is a fix too
  }
  std::string download = json::serialize(Redact(parsed));
  boost::system::error_code ec;
  json::parse(download, ec);
  EXPECT_FALSE(ec) << download;
}

// The fuzzer's input itself: a valid JSON number (zero) that parses to NaN, so even Redact's
// "non-v4 documents are returned unchanged" does not hold (NaN != NaN).
TEST(TerraformStateFuzzRegressionTest, ZeroWithHugeExponentIsZero) {
  json::value parsed;
  try {
    parsed = ParseState("0e900700778");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return;
  }
  ASSERT_TRUE(parsed.is_number()) << json::serialize(parsed);
  EXPECT_EQ(parsed.to_number<double>(), 0.0) << json::serialize(parsed);
  EXPECT_EQ(Redact(parsed), parsed) << json::serialize(parsed);
}

// F8 (fuzz_state_reader, after ParseState began refusing non-finite numbers): the upload path's
// StateScanner still accepts them, so a state the server stores (WriteState scans it) is then
// refused by ParseState (resources view, redacted download). The fuzzer's inputs:
// "0e900700778" and "5.0e500"; the scanner and ParseState must agree on every document.
TEST(TerraformStateFuzzRegressionTest, ScannerAndParseStateAgreeOnOutOfRangeNumbers) {
  for (const std::string text :
       {"0e900700778", "5.0e500", R"({"version":4,"serial":1,"lineage":"l","x":-1e400})"}) {
    bool scanned = true;
    try {
      StateScanner scanner;
      scanner.Feed(text);
      scanner.Finish();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      scanned = false;
    }
    bool parsed = true;
    try {
      ParseState(text);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      parsed = false;
    }
    EXPECT_EQ(scanned, parsed) << text << ": scanner " << (scanned ? "accepts" : "refuses")
                               << ", ParseState " << (parsed ? "accepts" : "refuses");
  }
}

// F10 (fuzz_state_reader, finding state_reader-duplicate-serial.bin): a state with two top-level
// "serial" keys, the first out of range. ParseState built a DOM, where the second replaces the
// first, and accepted it; StateScanner (the upload path) saw the first and refused it. Two
// readers that differ on which serial a state has step around the lineage/serial rules. The
// input, byte for byte (two bytes of fuzzer settings, then the state).
const char kDuplicateSerial[] =
    "\x02\x09{\"version\":4,\"serial\":3333333333333333e3333331,\"lineage\":\"a\",\"serial\":"
    "2,\"rsion\":null}";

// What both readers make of text: "" when accepted, else the message.
std::string ScannerVerdict(std::string_view text, size_t piece) {
  try {
    StateScanner scanner;
    for (size_t pos = 0; pos < text.size(); pos += piece) scanner.Feed(text.substr(pos, piece));
    scanner.Finish();
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
}

std::string ParseStateVerdict(std::string_view text) {
  try {
    ParseState(text);
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
}

TEST(TerraformStateFuzzRegressionTest, DuplicateSerialFinding) {
  const std::string input(kDuplicateSerial, sizeof kDuplicateSerial - 1);
  ASSERT_EQ(input.size(), 87u);
  const std::string_view state = std::string_view(input).substr(2);
  // The first serial is out of range: refused by both, for that reason, in any pieces.
  for (size_t piece : {state.size(), size_t{1}, size_t{2}, size_t{9}})
    EXPECT_EQ(ScannerVerdict(state, piece), "state has a number out of range") << piece;
  EXPECT_EQ(ParseStateVerdict(state), "state has a number out of range");
  // With a first serial in range, the repeated key is what refuses it.
  for (const std::string text : {
           R"({"version":4,"serial":1,"lineage":"a","serial":2,"rsion":null})",
           R"({"version":4,"serial":3,"lineage":"a","serial":2})",
           R"({"version":4,"serial":2,"lineage":"a","s\u0065rial":2})",
       }) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ScannerVerdict(text, text.size()), "duplicate key serial in the state");
    EXPECT_EQ(ScannerVerdict(text, 3), "duplicate key serial in the state");
    EXPECT_EQ(ParseStateVerdict(text), "duplicate key serial in the state");
  }
}

}  // namespace
}  // namespace statehouse::domain::tfstate
