#include "http/conventions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"

namespace statehouse::http {
namespace {

using storage::SortField;

const std::vector<SortOption> kSorts = {
    {"name", SortField::kName},
    {"identifier", SortField::kIdentifier},
    {"created", SortField::kCreated},
    {"updated", SortField::kUpdated},
};

Request WithQuery(NameValues query) {
  Request r;
  r.method = "GET";
  r.path = "/v1/orgs";
  r.query = std::move(query);
  return r;
}

ListParams Parse(NameValues query, int page_base = 0) {
  return ParseListParams(WithQuery(std::move(query)), page_base, kSorts, SortField::kCreated);
}

// The ErrorCode of a failing call; fails the test when it does not throw an Error.
template <typename Fn>
ErrorCode CodeOf(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected an Error to be thrown";
  return ErrorCode::kInternal;
}

template <typename Fn>
std::string MessageOf(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an Error to be thrown";
  return "";
}

std::string HeaderValue(const Reply& reply, std::string_view name) {
  std::string out;
  int count = 0;
  for (const auto& [k, v] : reply.headers) {
    if (k == name) {
      out = v;
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << "header " << name << " should appear exactly once";
  return out;
}

Request WithIfMatch(std::string value) {
  Request r;
  r.headers = {{"if-match", std::move(value)}};
  return r;
}

// --- ParseListParams: limit ------------------------------------------------------------

TEST(ParseListParamsTest, Defaults) {
  ListParams p = Parse({});
  EXPECT_EQ(p.limit, 30);
  EXPECT_EQ(p.page, 0);
  EXPECT_EQ(p.query.limit, 30);
  EXPECT_EQ(p.query.offset, 0);
  EXPECT_EQ(p.query.sort, SortField::kCreated);  // the endpoint's default
  EXPECT_FALSE(p.query.descending);
  EXPECT_EQ(p.query.search, "");
}

TEST(ParseListParamsTest, LimitIsCappedAt100) {
  EXPECT_EQ(Parse({{"limit", "100"}}).limit, 100);
  ListParams p = Parse({{"limit", "101"}});
  EXPECT_EQ(p.limit, 100);
  EXPECT_EQ(p.query.limit, 100);
  EXPECT_EQ(Parse({{"limit", "1000000"}}).query.limit, 100);
}

TEST(ParseListParamsTest, ExplicitLimitIsUsed) {
  ListParams p = Parse({{"limit", "7"}});
  EXPECT_EQ(p.limit, 7);
  EXPECT_EQ(p.query.limit, 7);
  EXPECT_EQ(Parse({{"limit", "1"}}).limit, 1);
}

TEST(ParseListParamsTest, LimitZeroNegativeOrJunkIsInvalidArgument) {
  for (const char* bad :
       {"0", "-1", "-100", "abc", "", "5x", "1.5", "+5", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(CodeOf([&] { Parse({{"limit", bad}}); }), ErrorCode::kInvalidArgument);
  }
}

TEST(ParseListParamsTest, LimitErrorNamesTheParameter) {
  EXPECT_NE(MessageOf([] { Parse({{"limit", "0"}}); }).find("limit"), std::string::npos);
  EXPECT_NE(MessageOf([] { Parse({{"pageSize", "x"}}); }).find("pageSize"), std::string::npos);
}

TEST(ParseListParamsTest, LimitIsTrimmed) { EXPECT_EQ(Parse({{"limit", " 12 "}}).limit, 12); }

TEST(ParseListParamsTest, PageSizeSpelling) {
  EXPECT_EQ(Parse({{"pageSize", "15"}}).limit, 15);
  EXPECT_EQ(Parse({{"pageSize", "500"}}).limit, 100);
  EXPECT_EQ(CodeOf([] { Parse({{"pageSize", "0"}}); }), ErrorCode::kInvalidArgument);
}

TEST(ParseListParamsTest, LimitWinsOverPageSize) {
  EXPECT_EQ(Parse({{"pageSize", "15"}, {"limit", "20"}}).limit, 20);
}

// --- ParseListParams: page ---------------------------------------------------------------

TEST(ParseListParamsTest, ZeroBasedPages) {
  ListParams p = Parse({{"page", "0"}, {"limit", "10"}}, 0);
  EXPECT_EQ(p.page, 0);
  EXPECT_EQ(p.query.offset, 0);
  p = Parse({{"page", "3"}, {"limit", "10"}}, 0);
  EXPECT_EQ(p.page, 3);
  EXPECT_EQ(p.query.offset, 30);
}

TEST(ParseListParamsTest, OneBasedPages) {
  ListParams p = Parse({}, 1);
  EXPECT_EQ(p.page, 1);  // default is the first page, as the endpoint counts
  EXPECT_EQ(p.query.offset, 0);
  p = Parse({{"page", "1"}, {"limit", "10"}}, 1);
  EXPECT_EQ(p.page, 1);
  EXPECT_EQ(p.query.offset, 0);
  p = Parse({{"page", "4"}, {"limit", "25"}}, 1);
  EXPECT_EQ(p.page, 4);
  EXPECT_EQ(p.query.offset, 75);
}

TEST(ParseListParamsTest, PageBelowBaseIsInvalid) {
  EXPECT_EQ(CodeOf([] { Parse({{"page", "0"}}, 1); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { Parse({{"page", "-1"}}, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { Parse({{"page", "one"}}, 0); }), ErrorCode::kInvalidArgument);
}

TEST(ParseListParamsTest, OffsetUsesDefaultLimit) {
  EXPECT_EQ(Parse({{"page", "2"}}).query.offset, 60);
}

TEST(ParseListParamsTest, OffsetUsesCappedLimit) {
  ListParams p = Parse({{"page", "2"}, {"limit", "500"}});
  EXPECT_EQ(p.query.offset, 200);
}

TEST(ParseListParamsTest, PageIndexSpelling) {
  ListParams p = Parse({{"pageIndex", "2"}, {"pageSize", "10"}});
  EXPECT_EQ(p.page, 2);
  EXPECT_EQ(p.query.offset, 20);
  EXPECT_EQ(CodeOf([] { Parse({{"pageIndex", "-3"}}); }), ErrorCode::kInvalidArgument);
}

TEST(ParseListParamsTest, PageWinsOverPageIndex) {
  EXPECT_EQ(Parse({{"pageIndex", "5"}, {"page", "1"}}).page, 1);
}

TEST(ParseListParamsTest, HugePageIsRejectedNotWrapped) {
  // (page * limit) would overflow int64; the offset must never go negative or wrap.
  // 92233720368547759 * 100 and 2^62 * 100 (which wraps to exactly 0) both overflow.
  for (const char* page : {"9223372036854775807", "92233720368547759", "4611686018427387904"}) {
    SCOPED_TRACE(page);
    try {
      ListParams p = Parse({{"page", page}, {"limit", "100"}});
      ADD_FAILURE() << "expected kInvalidArgument, got offset " << p.query.offset;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(ParseListParamsTest, LargeButRepresentablePageIsAccepted) {
  ListParams p = Parse({{"page", "1000000"}, {"limit", "100"}});
  EXPECT_EQ(p.query.offset, 100000000);
  p = Parse({{"page", "92233720368547758"}, {"limit", "100"}});  // 9223372036854775800 fits
  EXPECT_EQ(p.query.offset, 9223372036854775800LL);
}

// --- ParseListParams: sort and order -----------------------------------------------------

TEST(ParseListParamsTest, SortAndOrder) {
  ListParams p = Parse({{"sort", "name"}, {"order", "DESC"}});
  EXPECT_EQ(p.query.sort, SortField::kName);
  EXPECT_TRUE(p.query.descending);
  p = Parse({{"sort", "identifier"}, {"order", "ASC"}});
  EXPECT_EQ(p.query.sort, SortField::kIdentifier);
  EXPECT_FALSE(p.query.descending);
}

TEST(ParseListParamsTest, SortWithoutOrderIsAscending) {
  ListParams p = Parse({{"sort", "updated"}});
  EXPECT_EQ(p.query.sort, SortField::kUpdated);
  EXPECT_FALSE(p.query.descending);
}

TEST(ParseListParamsTest, OrderWithoutSortKeepsDefaultField) {
  ListParams p = Parse({{"order", "desc"}});
  EXPECT_EQ(p.query.sort, SortField::kCreated);
  EXPECT_TRUE(p.query.descending);
}

TEST(ParseListParamsTest, SortCommaOrderForm) {
  ListParams p = Parse({{"sort", "name,DESC"}});
  EXPECT_EQ(p.query.sort, SortField::kName);
  EXPECT_TRUE(p.query.descending);
  p = Parse({{"sort", "created,ASC"}});
  EXPECT_EQ(p.query.sort, SortField::kCreated);
  EXPECT_FALSE(p.query.descending);
  p = Parse({{"sort", " identifier , desc "}});
  EXPECT_EQ(p.query.sort, SortField::kIdentifier);
  EXPECT_TRUE(p.query.descending);
}

TEST(ParseListParamsTest, SortAndOrderAreCaseInsensitive) {
  ListParams p = Parse({{"sort", "NAME"}, {"order", "Desc"}});
  EXPECT_EQ(p.query.sort, SortField::kName);
  EXPECT_TRUE(p.query.descending);
}

TEST(ParseListParamsTest, UnknownSortFieldIsInvalidAndListsChoices) {
  EXPECT_EQ(CodeOf([] { Parse({{"sort", "color"}}); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { Parse({{"sort", "color,DESC"}}); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { Parse({{"sort", ""}}); }), ErrorCode::kInvalidArgument);
  std::string msg = MessageOf([] { Parse({{"sort", "color"}}); });
  EXPECT_NE(msg.find("sort"), std::string::npos) << msg;
  EXPECT_NE(msg.find("identifier"), std::string::npos) << msg;
}

TEST(ParseListParamsTest, UnknownOrderIsInvalid) {
  EXPECT_EQ(CodeOf([] { Parse({{"order", "sideways"}}); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] { Parse({{"sort", "name,UP"}}); }), ErrorCode::kInvalidArgument);
  EXPECT_NE(MessageOf([] { Parse({{"order", "x"}}); }).find("order"), std::string::npos);
}

TEST(ParseListParamsTest, EmptySortListRejectsAnySort) {
  Request r = WithQuery({{"sort", "name"}});
  EXPECT_EQ(CodeOf([&] { ParseListParams(r, 0, {}, SortField::kName); }),
            ErrorCode::kInvalidArgument);
}

// --- ParseListParams: search -------------------------------------------------------------

TEST(ParseListParamsTest, SearchTermSpellings) {
  EXPECT_EQ(Parse({{"search_term", "net"}}).query.search, "net");
  EXPECT_EQ(Parse({{"searchTerm", "Plat"}}).query.search, "Plat");
  EXPECT_EQ(Parse({{"searchTerm", "  padded  "}}).query.search, "padded");
  EXPECT_EQ(Parse({{"search_term", "a"}, {"searchTerm", "b"}}).query.search, "a");
}

TEST(ParseListParamsTest, SearchTermTooLong) {
  EXPECT_EQ(Parse({{"searchTerm", std::string(256, 'a')}}).query.search.size(), 256u);
  EXPECT_EQ(CodeOf([] {
              Parse({{"searchTerm", std::string(257, 'a')}});
            }),
            ErrorCode::kInvalidArgument);
}

// --- AddPageHeaders ------------------------------------------------------------------------

TEST(AddPageHeadersTest, NamesAndValues) {
  ListParams p = Parse({{"page", "2"}, {"limit", "10"}});
  Reply reply;
  AddPageHeaders(reply, p, 45);
  EXPECT_EQ(HeaderValue(reply, "X-Total-Elements"), "45");
  EXPECT_EQ(HeaderValue(reply, "X-Page-Number"), "2");
  EXPECT_EQ(HeaderValue(reply, "X-Page-Size"), "10");
  EXPECT_EQ(HeaderValue(reply, "x-total-items"), "45");
  EXPECT_EQ(HeaderValue(reply, "x-total-pages"), "5");
  EXPECT_EQ(reply.headers.size(), 5u);  // x-page-size is X-Page-Size: not sent twice
}

TEST(AddPageHeadersTest, TotalPagesRoundsUp) {
  auto pages = [](int64_t limit, int64_t total) {
    ListParams p = Parse({{"limit", std::to_string(limit)}});
    Reply reply;
    AddPageHeaders(reply, p, total);
    return HeaderValue(reply, "x-total-pages");
  };
  EXPECT_EQ(pages(30, 1), "1");
  EXPECT_EQ(pages(30, 30), "1");
  EXPECT_EQ(pages(30, 31), "2");
  EXPECT_EQ(pages(30, 60), "2");
  EXPECT_EQ(pages(30, 61), "3");
  EXPECT_EQ(pages(1, 7), "7");
  EXPECT_EQ(pages(100, 1000001), "10001");
}

TEST(AddPageHeadersTest, ZeroTotal) {
  ListParams p = Parse({});
  Reply reply;
  AddPageHeaders(reply, p, 0);
  EXPECT_EQ(HeaderValue(reply, "X-Total-Elements"), "0");
  EXPECT_EQ(HeaderValue(reply, "x-total-items"), "0");
  EXPECT_EQ(HeaderValue(reply, "x-total-pages"), "0");
  EXPECT_EQ(HeaderValue(reply, "X-Page-Size"), "30");
  EXPECT_EQ(HeaderValue(reply, "X-Page-Number"), "0");
}

TEST(AddPageHeadersTest, PageNumberAsTheRequestCountedIt) {
  ListParams p = Parse({{"page", "3"}}, 1);
  Reply reply;
  AddPageHeaders(reply, p, 500);
  EXPECT_EQ(HeaderValue(reply, "X-Page-Number"), "3");
}

TEST(AddPageHeadersTest, KeepsExistingHeaders) {
  Reply reply;
  reply.headers.emplace_back("ETag", "\"1\"");
  AddPageHeaders(reply, Parse({}), 3);
  ASSERT_EQ(reply.headers.size(), 6u);
  EXPECT_EQ(reply.headers[0].first, "ETag");
}

// --- ETag / If-Match -----------------------------------------------------------------------

TEST(ETagTest, QuotedVersion) {
  EXPECT_EQ(ETagOf(1), "\"1\"");
  EXPECT_EQ(ETagOf(0), "\"0\"");
  EXPECT_EQ(ETagOf(1234567890123), "\"1234567890123\"");
}

TEST(IfMatchTest, AbsentIsNullopt) {
  Request r;
  EXPECT_FALSE(IfMatchVersion(r).has_value());
}

TEST(IfMatchTest, StarIsNullopt) {
  EXPECT_FALSE(IfMatchVersion(WithIfMatch("*")).has_value());
  EXPECT_FALSE(IfMatchVersion(WithIfMatch(" * ")).has_value());
}

TEST(IfMatchTest, QuotedTag) {
  EXPECT_EQ(IfMatchVersion(WithIfMatch("\"7\"")), 7);
  EXPECT_EQ(IfMatchVersion(WithIfMatch("  \"12\"  ")), 12);
}

TEST(IfMatchTest, RoundTripsETagOf) {
  for (int64_t v : {1, 2, 99, 1000000}) EXPECT_EQ(IfMatchVersion(WithIfMatch(ETagOf(v))), v);
}

TEST(IfMatchTest, WeakTag) { EXPECT_EQ(IfMatchVersion(WithIfMatch("W/\"3\"")), 3); }

TEST(IfMatchTest, UnquotedNumberAccepted) { EXPECT_EQ(IfMatchVersion(WithIfMatch("5")), 5); }

TEST(IfMatchTest, GarbageIsMinusOne) {
  for (const char* bad : {"\"abc\"", "abc", "\"\"", "\"5", "W/", "W/\"x\"", "\"1.0\"", "\"5x\""}) {
    SCOPED_TRACE(bad);
    auto v = IfMatchVersion(WithIfMatch(bad));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, -1);
  }
}

// --- QueryBool -------------------------------------------------------------------------------

TEST(QueryBoolTest, Values) {
  EXPECT_FALSE(QueryBool(WithQuery({}), "active").has_value());
  EXPECT_EQ(QueryBool(WithQuery({{"active", "true"}}), "active"), true);
  EXPECT_EQ(QueryBool(WithQuery({{"active", "false"}}), "active"), false);
  EXPECT_EQ(QueryBool(WithQuery({{"active", "TRUE"}}), "active"), true);
  EXPECT_EQ(QueryBool(WithQuery({{"active", "False"}}), "active"), false);
  EXPECT_FALSE(QueryBool(WithQuery({{"other", "true"}}), "active").has_value());
}

TEST(QueryBoolTest, JunkIsInvalidArgumentNamingTheParameter) {
  for (const char* bad : {"yes", "1", "0", "", "truee", "no"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(CodeOf([&] {
                QueryBool(WithQuery({{"active", bad}}), "active");
              }),
              ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(MessageOf([] {
              QueryBool(WithQuery({{"active", "x"}}), "active");
            }).find("active"),
            std::string::npos);
}

}  // namespace
}  // namespace statehouse::http
