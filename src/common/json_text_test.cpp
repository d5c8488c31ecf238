#include "common/json_text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace statehouse {
namespace {

std::string Quoted(std::string_view s) {
  std::string out = "prefix:";
  AppendJsonQuoted(out, s);
  return out.substr(7);
}

TEST(AppendJsonQuotedTest, WritesWhatBoostJsonWrites) {
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte += static_cast<char>(c);
  for (std::string_view s :
       {std::string_view(""), std::string_view("plain text"),
        std::string_view("a \"quoted\" \\ path"),
        std::string_view("line\nbreak\ttab\rreturn\bback\fform"), std::string_view("\x01\x1f\x7f"),
        std::string_view("caf\xc3\xa9 \xe2\x82\xac"), std::string_view(every_byte)})
    EXPECT_EQ(Quoted(s), boost::json::serialize(boost::json::string_view(s.data(), s.size()))) << s;
}

TEST(AppendJsonQuotedTest, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  AppendJsonQuoted(out, "v\"1");
  EXPECT_EQ(out, "{\"k\":\"v\\\"1\"");
  EXPECT_EQ(Quoted(std::string_view("\0", 1)), "\"\\u0000\"");
}

}  // namespace
}  // namespace statehouse
