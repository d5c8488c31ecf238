#include "http/message.h"

#include <gtest/gtest.h>

namespace statehouse::http {
namespace {

TEST(MessageTest, ParsesTargetIntoPathAndQuery) {
  std::string path;
  NameValues query;
  ASSERT_TRUE(ParseTarget("/v1/orgs/a%20b?limit=5&search_term=x+y&org=a&org=b", path, query));
  EXPECT_EQ(path, "/v1/orgs/a b");
  ASSERT_EQ(query.size(), 4u);
  EXPECT_EQ(query[1].second, "x y");
  EXPECT_EQ(query[3].second, "b");
}

TEST(MessageTest, RejectsBadTargets) {
  std::string path;
  NameValues query;
  EXPECT_FALSE(ParseTarget("v1/orgs", path, query));
  EXPECT_FALSE(ParseTarget("/v1/%zz", path, query));
  EXPECT_FALSE(ParseTarget("/v1/%00", path, query));
  EXPECT_FALSE(ParseTarget("/v1?a=%4", path, query));
}

TEST(MessageTest, HeaderAndQueryLookups) {
  Request r;
  r.headers = {{"x-api-key", "k"}};
  r.query = {{"a", "1"}, {"a", "2"}};
  EXPECT_EQ(r.Header("x-api-key").value(), "k");
  EXPECT_FALSE(r.Header("harness-account").has_value());
  EXPECT_EQ(r.QueryAll("a").size(), 2u);
  EXPECT_EQ(r.Query("a").value(), "1");
}

}  // namespace
}  // namespace statehouse::http
