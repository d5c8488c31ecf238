#include "http/router.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "auth/auth.h"
#include "common/error.h"
#include "domain/credentials.h"
#include "http/codec.h"
#include "storage/sqlite/sqlite_store.h"

namespace statehouse::http {
namespace {

namespace json = boost::json;

constexpr const char* kSecretDetail = "SQLITE_CORRUPT at /var/lib/statehouse/secret.db: xyzzy";

Handler Echo(std::string tag) {
  return [tag](Context& ctx) {
    json::object o;
    o["route"] = tag;
    o["account"] = ctx.Account();
    json::object params;
    for (const auto& [k, v] : ctx.params) params[k] = v;
    o["params"] = std::move(params);
    o["has_body"] = ctx.has_body;
    o["body"] = ctx.body;
    return Reply::Of(200, std::move(o));
  };
}

// --- Router ---------------------------------------------------------------------------------

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add({"GET", "/v1/orgs", Access::kRead, Echo("list")});
    router_.Add({"POST", "/v1/orgs", Access::kWrite, Echo("create")});
    router_.Add({"GET", "/v1/orgs/{org}", Access::kRead, Echo("get")});
    router_.Add({"GET", "/v1/orgs/{org}/projects/{project}", Access::kRead, Echo("project")});
    router_.Add({"GET", "/ng/api/apikey/aggregate", Access::kRead, Echo("aggregate")});
    router_.Add({"GET", "/ng/api/apikey/{id}", Access::kRead, Echo("apikey")});
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralRoute) {
  NameValues params;
  bool known = false;
  const Route* r = router_.Match("GET", "/v1/orgs", params, known);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->pattern, "/v1/orgs");
  EXPECT_EQ(r->method, "GET");
  EXPECT_TRUE(known);
  EXPECT_TRUE(params.empty());
}

TEST_F(RouterTest, MatchesByMethod) {
  NameValues params;
  bool known = false;
  const Route* r = router_.Match("POST", "/v1/orgs", params, known);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->access, Access::kWrite);
}

TEST_F(RouterTest, ExtractsParameters) {
  NameValues params;
  bool known = false;
  const Route* r = router_.Match("GET", "/v1/orgs/platform/projects/network", params, known);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->pattern, "/v1/orgs/{org}/projects/{project}");
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0], (std::pair<std::string, std::string>{"org", "platform"}));
  EXPECT_EQ(params[1], (std::pair<std::string, std::string>{"project", "network"}));
}

TEST_F(RouterTest, RestParameterTakesTheRemainingSegments) {
  router_.Add({"GET", "/ui/{path...}", Access::kPublic, Echo("ui")});
  NameValues params;
  bool known = false;
  const Route* r = router_.Match("GET", "/ui/assets/abc/js/main.js", params, known);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->pattern, "/ui/{path...}");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0], (std::pair<std::string, std::string>{"path", "assets/abc/js/main.js"}));
  params.clear();
  EXPECT_NE(router_.Match("GET", "/ui/orgs", params, known), nullptr);
  EXPECT_EQ(params[0].second, "orgs");
  // At least one segment: "/ui" alone is another route.
  EXPECT_EQ(router_.Match("GET", "/ui", params, known), nullptr);
}

TEST_F(RouterTest, ParameterKeepsDecodedCharacters) {
  NameValues params;
  bool known = false;
  const Route* r = router_.Match("GET", "/v1/orgs/a b$c", params, known);
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].second, "a b$c");
}

TEST_F(RouterTest, LiteralBeforeParameterWhenRegisteredFirst) {
  NameValues params;
  bool known = false;
  const Route* r = router_.Match("GET", "/ng/api/apikey/aggregate", params, known);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->pattern, "/ng/api/apikey/aggregate");
  r = router_.Match("GET", "/ng/api/apikey/k1", params, known);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->pattern, "/ng/api/apikey/{id}");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].second, "k1");
}

TEST_F(RouterTest, MethodMismatchSetsPathKnown) {
  NameValues params;
  bool known = false;
  EXPECT_EQ(router_.Match("DELETE", "/v1/orgs/platform", params, known), nullptr);
  EXPECT_TRUE(known);
  known = false;
  EXPECT_EQ(router_.Match("PUT", "/v1/orgs", params, known), nullptr);
  EXPECT_TRUE(known);
}

TEST_F(RouterTest, MethodIsCaseSensitive) {
  NameValues params;
  bool known = false;
  EXPECT_EQ(router_.Match("get", "/v1/orgs", params, known), nullptr);
  EXPECT_TRUE(known);
}

TEST_F(RouterTest, NoMatchClearsPathKnown) {
  NameValues params;
  bool known = true;  // must be reset by Match
  EXPECT_EQ(router_.Match("GET", "/v2/orgs", params, known), nullptr);
  EXPECT_FALSE(known);
  known = true;
  EXPECT_EQ(router_.Match("GET", "/v1/orgs/a/b", params, known), nullptr);
  EXPECT_FALSE(known);
  known = true;
  EXPECT_EQ(router_.Match("GET", "/v1/orgs/a/projects/b/extra", params, known), nullptr);
  EXPECT_FALSE(known);
  known = true;
  EXPECT_EQ(router_.Match("GET", "/", params, known), nullptr);
  EXPECT_FALSE(known);
}

TEST_F(RouterTest, EmptyRouterMatchesNothing) {
  Router empty;
  NameValues params;
  bool known = true;
  EXPECT_EQ(empty.Match("GET", "/v1/orgs", params, known), nullptr);
  EXPECT_FALSE(known);
}

// --- Dispatcher over a real SQLite database ------------------------------------------------

std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

class DispatcherTest : public ::testing::Test {
 protected:
  static constexpr size_t kDefaultLimit = 4096;
  static constexpr size_t kBigLimit = 64 << 20;

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-router-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = storage::OpenSqlite((dir_ / "test.db").string(), 2);
    domain::CreateAccount(*db_, "acct");
    domain::CreateAccount(*db_, "other");
    admin_ = domain::CreateOperatorToken(*db_, "acct", auth::Role::kAdmin, "", "");
    editor_ = domain::CreateOperatorToken(*db_, "acct", auth::Role::kEditor, "", "");
    viewer_ = domain::CreateOperatorToken(*db_, "acct", auth::Role::kViewer, "", "");
    other_admin_ = domain::CreateOperatorToken(*db_, "other", auth::Role::kAdmin, "", "");

    router_.Add({"GET", "/healthz", Access::kPublic, Echo("health")});
    router_.Add({"GET", "/v1/orgs", Access::kRead, Echo("list")});
    router_.Add({"POST", "/v1/orgs", Access::kWrite, Echo("create")});
    router_.Add({"GET", "/v1/orgs/{org}", Access::kRead, Echo("get")});
    router_.Add({"POST", "/ng/api/apikey", Access::kAdmin, Echo("apikey")});
    router_.Add({"GET", "/boom", Access::kRead,
                 [](Context&) -> Reply { throw std::runtime_error(kSecretDetail); }});
    router_.Add({"GET", "/internal", Access::kRead,
                 [](Context&) -> Reply { Fail(ErrorCode::kInternal, kSecretDetail); }});
    router_.Add({"POST", "/invalid", Access::kRead,
                 [](Context&) -> Reply { Fail(ErrorCode::kInvalidArgument, "org.name: bad"); }});
    Route big{"POST", "/state", Access::kWrite, Echo("state")};
    big.body_limit = kBigLimit;
    router_.Add(big);
    Route text{"POST", "/ng/api/token/validate", Access::kRead, Echo("validate")};
    text.accepts_text = true;
    router_.Add(text);
    Route nobody{"DELETE", "/v1/orgs/{org}", Access::kWrite, [](Context&) {
                   Reply r;
                   r.status = 204;
                   r.no_body = true;
                   r.headers.emplace_back("ETag", "\"2\"");
                   return r;
                 }};
    router_.Add(nobody);
    router_.Add({"DELETE", "/v1/gone/{id}", Access::kWrite, [](Context& ctx) -> Reply {
                   Fail(ErrorCode::kNotFound,
                        "workspace '" + std::string(ctx.Param("id")) + "' not found");
                 }});
    router_.Add({"POST", "/v1/held", Access::kWrite, [](Context&) -> Reply {
                   throw Error(ErrorCode::kLocked, "locked", R"({"ID":"lock-1","Who":"ci"})");
                 }});
    router_.Add({"POST", "/v1/refused", Access::kWrite, [](Context&) -> Reply {
                   std::string deep = "\"caf\xc3\"";  // not UTF-8, as base64.decode can make
                   for (int i = 0; i < 40; ++i) deep = "{\"n\":" + deep + "}";
                   throw Error(ErrorCode::kInvalidArgument, "refused by policy",
                               "{\"policy_evaluation\":" + deep + "}");
                 }});
    router_.Add({"GET", "/v1/members", Access::kRead, [](Context&) {
                   Reply r = Reply::Of(200, json::object{{"name", "ws"}});
                   r.json_members.emplace_back("policy_evaluation", R"({"id":7,"details":[1.5]})");
                   r.json_members.emplace_back("with \"quote\"", "[]");
                   return r;
                 }});
    // Counts its runs, so tests can tell a kept answer from a fresh one.
    router_.Add(Cacheable({"GET", "/v1/kept/{id}", Access::kRead, [this](Context& ctx) {
                             ++kept_runs_;
                             json::object o;
                             o["id"] = std::string(ctx.Param("id"));
                             o["run"] = kept_runs_;
                             return Reply::Of(200, std::move(o));
                           }}));

    // Answers later (HandleLater), in the way its path says; Handle uses the plain handler.
    Route later{"POST", "/v1/later/{how}", Access::kWrite, Echo("handled now")};
    later.later = [this](Context& ctx, Finish finish) {
      std::string how(ctx.Param("how"));
      if (how == "throws") Fail(ErrorCode::kInvalidArgument, "refused before the write");
      auto reply = [how, body = ctx.body]() -> Reply {
        if (how == "fails") Fail(ErrorCode::kConflict, "the lock is held");
        return Reply::Of(200, json::object{{"how", how}, {"body", body}});
      };
      if (how == "inline") return finish(reply);
      if (how == "twice") {
        finish(reply);
        return finish([]() -> Reply { return Reply::Of(500, json::object{}); });
      }
      // Another thread, after the handler returned, as a commit led elsewhere would.
      later_threads_.emplace_back([finish, reply] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        finish(reply);
      });
    };
    router_.Add(later);
    // The same without a plain handler: Handle waits for the later answer.
    Route only_later{"POST", "/v1/only-later/{how}", Access::kWrite, nullptr};
    only_later.later = later.later;
    router_.Add(only_later);

    dispatcher_ = std::make_unique<Dispatcher>(
        router_, *db_, DispatcherOptions{kDefaultLimit, db_->CommitCounter(), {}});
  }

  // HandleLater's answers, in the order they came; waits for the threads that finish later.
  std::vector<Response> HandleLater(const Request& request, Dispatcher* dispatcher = nullptr) {
    std::vector<Response> answers;
    std::mutex m;
    (dispatcher ? dispatcher : dispatcher_.get())->HandleLater(request, [&](Response res) {
      std::lock_guard g(m);
      answers.push_back(std::move(res));
    });
    for (auto& t : later_threads_) t.join();
    later_threads_.clear();
    return answers;
  }
  std::vector<std::thread> later_threads_;

  void TearDown() override {
    dispatcher_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  Request Req(std::string method, std::string path, const std::string& token) {
    Request r;
    r.method = std::move(method);
    r.target = path;
    r.path = std::move(path);
    r.request_id = "req-1234";
    if (!token.empty()) r.headers.emplace_back("x-api-key", token);
    return r;
  }

  static Request WithBody(Request r, std::string content_type, std::string body) {
    r.headers.emplace_back("content-type", std::move(content_type));
    r.body = std::move(body);
    return r;
  }

  static json::object JsonBody(const Response& res) {
    EXPECT_EQ(res.content_type, "application/json");
    boost::system::error_code ec;
    json::value v = json::parse(res.body, ec);
    EXPECT_FALSE(ec) << "not JSON: " << res.body;
    if (ec || !v.is_object()) return {};
    return v.get_object();
  }

  static void ExpectError(const Response& res, int status, const char* name) {
    EXPECT_EQ(res.status, status) << res.body;
    json::object o = JsonBody(res);
    ASSERT_TRUE(o.contains("name")) << res.body;
    EXPECT_EQ(o["name"], name) << res.body;
    EXPECT_EQ(o["id"], "req-1234") << res.body;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::string admin_, editor_, viewer_, other_admin_;
  int kept_runs_ = 0;
  Router router_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, HandleLaterAnswersOnceFromTheThreadThatFinishes) {
  Request r =
      WithBody(Req("POST", "/v1/later/elsewhere", editor_), "application/json", R"({"ID":"l1"})");
  std::vector<Response> answers = HandleLater(r);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[0].route, "/v1/later/{how}");
  json::object o = JsonBody(answers[0]);
  EXPECT_EQ(o["how"], "elsewhere");
  EXPECT_EQ(o["body"].at("ID"), "l1");
  // Handle uses the route's plain handler.
  EXPECT_EQ(JsonBody(dispatcher_->Handle(r))["route"], "handled now");
}

TEST_F(DispatcherTest, HandleLaterMapsErrorsThrownBeforeOrHandedToFinish) {
  auto answers = HandleLater(Req("POST", "/v1/later/fails", editor_));
  ASSERT_EQ(answers.size(), 1u);
  ExpectError(answers[0], 409, "conflict");
  EXPECT_EQ(answers[0].route, "/v1/later/{how}");
  answers = HandleLater(Req("POST", "/v1/later/throws", editor_));
  ASSERT_EQ(answers.size(), 1u);
  ExpectError(answers[0], 400, "bad_request");
  // Refused before the handler: not authenticated, not allowed.
  answers = HandleLater(Req("POST", "/v1/later/inline", ""));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 401);
  answers = HandleLater(Req("POST", "/v1/later/inline", viewer_));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 403);
}

TEST_F(DispatcherTest, HandleLaterAnswersOnlyOnceAndPlainRoutesBeforeReturning) {
  auto answers = HandleLater(Req("POST", "/v1/later/twice", editor_));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 200);
  answers = HandleLater(Req("POST", "/v1/later/inline", editor_));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(JsonBody(answers[0])["how"], "inline");
  // A route without a later handler: its handler, and the answer before HandleLater returns.
  bool answered = false;
  dispatcher_->HandleLater(Req("GET", "/v1/orgs", viewer_), [&](Response res) {
    answered = true;
    EXPECT_EQ(JsonBody(res)["route"], "list");
  });
  EXPECT_TRUE(answered);
}

TEST_F(DispatcherTest, HandleWaitsForARouteThatOnlyAnswersLater) {
  // Finished on another thread after the handler returned: Handle waits for it.
  Request r = WithBody(Req("POST", "/v1/only-later/elsewhere", editor_), "application/json",
                       R"({"ID":"l2"})");
  Response res = dispatcher_->Handle(r);
  for (auto& t : later_threads_) t.join();
  later_threads_.clear();
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.route, "/v1/only-later/{how}");
  EXPECT_EQ(JsonBody(res)["body"].at("ID"), "l2");
  // Finished before the handler returned; the first of two answers; errors either way.
  EXPECT_EQ(JsonBody(dispatcher_->Handle(Req("POST", "/v1/only-later/inline", editor_)))["how"],
            "inline");
  EXPECT_EQ(dispatcher_->Handle(Req("POST", "/v1/only-later/twice", editor_)).status, 200);
  ExpectError(dispatcher_->Handle(Req("POST", "/v1/only-later/fails", editor_)), 409, "conflict");
  ExpectError(dispatcher_->Handle(Req("POST", "/v1/only-later/throws", editor_)), 400,
              "bad_request");
  EXPECT_EQ(dispatcher_->Handle(Req("POST", "/v1/only-later/inline", viewer_)).status, 403);
  for (auto& t : later_threads_) t.join();  // "fails" finished on a thread of its own
  later_threads_.clear();
}

TEST_F(DispatcherTest, HandleLaterAuditsTheAnswerWithTheBody) {
  std::vector<std::pair<int, std::string>> audited;
  std::mutex m;
  DispatcherOptions options;
  options.default_body_limit = kDefaultLimit;
  options.commit_counter = db_->CommitCounter();
  options.audit = [&](const AuditedRequest& a) {
    std::lock_guard g(m);
    audited.emplace_back(a.status, a.body ? json::serialize(*a.body) : "");
  };
  Dispatcher audited_dispatcher(router_, *db_, options);
  HandleLater(
      WithBody(Req("POST", "/v1/later/elsewhere", editor_), "application/json", R"({"ID":"a1"})"),
      &audited_dispatcher);
  HandleLater(
      WithBody(Req("POST", "/v1/later/fails", editor_), "application/json", R"({"ID":"a2"})"),
      &audited_dispatcher);
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[0], (std::pair<int, std::string>{200, R"({"ID":"a1"})"}));
  EXPECT_EQ(audited[1], (std::pair<int, std::string>{409, R"({"ID":"a2"})"}));
}

TEST_F(DispatcherTest, CacheableAnswerIsKeptUntilAWrite) {
  Response first = dispatcher_->Handle(Req("GET", "/v1/kept/a", viewer_));
  ASSERT_EQ(first.status, 200) << first.body;
  Response again = dispatcher_->Handle(Req("GET", "/v1/kept/a", viewer_));
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(kept_runs_, 1);
  domain::CreateAccount(*db_, "third");  // any committed write
  Response fresh = dispatcher_->Handle(Req("GET", "/v1/kept/a", viewer_));
  EXPECT_NE(fresh.body, first.body);
  EXPECT_EQ(kept_runs_, 2);
}

TEST_F(DispatcherTest, FromMemoryAnswersOnlyWhatHandleKept) {
  EXPECT_FALSE(dispatcher_->FromMemory(Req("GET", "/v1/kept/a", viewer_)))
      << "nothing is kept before a handler ran";
  Response first = dispatcher_->Handle(Req("GET", "/v1/kept/a", viewer_));
  ASSERT_EQ(first.status, 200);
  auto kept = dispatcher_->FromMemory(Req("GET", "/v1/kept/a", viewer_));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->body, first.body);
  EXPECT_EQ(kept_runs_, 1);
  // Other targets, routes that are not cacheable, writes and other callers are not answered.
  EXPECT_FALSE(dispatcher_->FromMemory(Req("GET", "/v1/kept/b", viewer_)));
  EXPECT_FALSE(dispatcher_->FromMemory(Req("GET", "/v1/orgs/platform", viewer_)));
  EXPECT_FALSE(dispatcher_->FromMemory(Req("POST", "/v1/kept/a", viewer_)));
  EXPECT_FALSE(dispatcher_->FromMemory(Req("GET", "/v1/kept/a", other_admin_)));
  EXPECT_FALSE(dispatcher_->FromMemory(Req("GET", "/v1/kept/a", "")));
  EXPECT_FALSE(dispatcher_->FromMemory(Req("GET", "/v1/kept/a", viewer_ + "x")));
  Request yaml = Req("GET", "/v1/kept/a", viewer_);
  yaml.headers.emplace_back("accept", "application/yaml");
  EXPECT_FALSE(dispatcher_->FromMemory(yaml)) << "another format is another answer";
  Request wrong_account = Req("GET", "/v1/kept/a", viewer_);
  wrong_account.headers.emplace_back("harness-account", "other");
  EXPECT_FALSE(dispatcher_->FromMemory(wrong_account));
  // After a write nothing is answered from memory.
  domain::CreateAccount(*db_, "third");
  EXPECT_FALSE(dispatcher_->FromMemory(Req("GET", "/v1/kept/a", viewer_)));
}

TEST_F(DispatcherTest, WithoutACommitCounterNothingIsKept) {
  Dispatcher plain(router_, *db_, DispatcherOptions{kDefaultLimit, nullptr, {}});
  plain.Handle(Req("GET", "/v1/kept/a", viewer_));
  plain.Handle(Req("GET", "/v1/kept/a", viewer_));
  EXPECT_EQ(kept_runs_, 2);
  EXPECT_FALSE(plain.FromMemory(Req("GET", "/v1/kept/a", viewer_)));
}

TEST_F(DispatcherTest, AuthenticatedRequestReachesHandler) {
  Response res = dispatcher_->Handle(Req("GET", "/v1/orgs/platform", admin_));
  EXPECT_EQ(res.status, 200) << res.body;
  json::object o = JsonBody(res);
  EXPECT_EQ(o["route"], "get");
  EXPECT_EQ(o["account"], "acct");
  EXPECT_EQ(o["params"].as_object()["org"], "platform");
  EXPECT_EQ(o["has_body"], false);
}

TEST_F(DispatcherTest, PublicRouteNeedsNoToken) {
  Response res = dispatcher_->Handle(Req("GET", "/healthz", ""));
  EXPECT_EQ(res.status, 200) << res.body;
}

TEST_F(DispatcherTest, MissingTokenIs401) {
  Response res = dispatcher_->Handle(Req("GET", "/v1/orgs", ""));
  ExpectError(res, 401, "unauthorized");
}

TEST_F(DispatcherTest, EmptyTokenIs401) {
  Response res = dispatcher_->Handle(Req("GET", "/v1/orgs", "   "));
  ExpectError(res, 401, "unauthorized");
}

TEST_F(DispatcherTest, MalformedTokenIs401) {
  for (const char* bad :
       {"garbage", "pat.acct", "pat..x.y", "Bearer", "pat.acct.id.secret.extra"}) {
    SCOPED_TRACE(bad);
    Response res = dispatcher_->Handle(Req("GET", "/v1/orgs", bad));
    ExpectError(res, 401, "unauthorized");
  }
}

TEST_F(DispatcherTest, UnknownTokenIs401) {
  Response res = dispatcher_->Handle(Req("GET", "/v1/orgs", "pat.acct.nosuchtoken.abcdef0123"));
  ExpectError(res, 401, "unauthorized");
}

TEST_F(DispatcherTest, WrongSecretIs401AndMessageDoesNotEchoToken) {
  std::string tampered = admin_;
  tampered.back() = tampered.back() == 'a' ? 'b' : 'a';
  Response res = dispatcher_->Handle(Req("GET", "/v1/orgs", tampered));
  ExpectError(res, 401, "unauthorized");
  EXPECT_EQ(res.body.find(tampered), std::string::npos) << res.body;
  // Not even the secret part.
  std::string secret = tampered.substr(tampered.rfind('.') + 1);
  EXPECT_EQ(res.body.find(secret), std::string::npos) << res.body;
}

TEST_F(DispatcherTest, MatchingAccountHeaderAndQueryAreAccepted) {
  Request r = Req("GET", "/v1/orgs", admin_);
  r.headers.emplace_back("harness-account", "acct");
  r.query = {{"accountIdentifier", "acct"}};
  Response res = dispatcher_->Handle(r);
  EXPECT_EQ(res.status, 200) << res.body;
}

TEST_F(DispatcherTest, HarnessAccountOfAnotherAccountIs403) {
  Request r = Req("GET", "/v1/orgs", admin_);
  r.headers.emplace_back("harness-account", "other");
  ExpectError(dispatcher_->Handle(r), 403, "forbidden");
}

TEST_F(DispatcherTest, AccountIdentifierOfAnotherAccountIs403) {
  Request r = Req("GET", "/v1/orgs", admin_);
  r.query = {{"accountIdentifier", "other"}};
  ExpectError(dispatcher_->Handle(r), 403, "forbidden");
}

TEST_F(DispatcherTest, HeaderRightQueryWrongIs403) {
  Request r = Req("GET", "/v1/orgs", admin_);
  r.headers.emplace_back("harness-account", "acct");
  r.query = {{"accountIdentifier", "other"}};
  ExpectError(dispatcher_->Handle(r), 403, "forbidden");
}

TEST_F(DispatcherTest, TokenOfAnotherAccountNamingThisAccountIs403) {
  Request r = Req("GET", "/v1/orgs", other_admin_);
  r.headers.emplace_back("harness-account", "acct");
  ExpectError(dispatcher_->Handle(r), 403, "forbidden");
}

TEST_F(DispatcherTest, ViewerOnWriteRouteIs403) {
  Request r = WithBody(Req("POST", "/v1/orgs", viewer_), "application/json", "{}");
  Response res = dispatcher_->Handle(r);
  ExpectError(res, 403, "forbidden");
  EXPECT_NE(res.body.find("editor"), std::string::npos) << res.body;
}

TEST_F(DispatcherTest, ViewerMayRead) {
  EXPECT_EQ(dispatcher_->Handle(Req("GET", "/v1/orgs", viewer_)).status, 200);
}

TEST_F(DispatcherTest, EditorMayWriteButNotAdmin) {
  EXPECT_EQ(
      dispatcher_->Handle(WithBody(Req("POST", "/v1/orgs", editor_), "application/json", "{}"))
          .status,
      200);
  ExpectError(dispatcher_->Handle(
                  WithBody(Req("POST", "/ng/api/apikey", editor_), "application/json", "{}")),
              403, "forbidden");
  EXPECT_EQ(
      dispatcher_->Handle(WithBody(Req("POST", "/ng/api/apikey", admin_), "application/json", "{}"))
          .status,
      200);
}

TEST_F(DispatcherTest, TextPlainOnNormalRouteIs415) {
  Request r = WithBody(Req("POST", "/v1/orgs", admin_), "text/plain", "hello");
  ExpectError(dispatcher_->Handle(r), 415, "unsupported_media_type");
}

TEST_F(DispatcherTest, UnknownMediaTypeIs415) {
  Request r = WithBody(Req("POST", "/v1/orgs", admin_), "application/xml", "<org/>");
  ExpectError(dispatcher_->Handle(r), 415, "unsupported_media_type");
}

TEST_F(DispatcherTest, TextPlainAcceptedWhereRouteAllowsIt) {
  Request r = WithBody(Req("POST", "/ng/api/token/validate", admin_), "text/plain", "pat.x.y.z");
  Response res = dispatcher_->Handle(r);
  EXPECT_EQ(res.status, 200) << res.body;
}

TEST_F(DispatcherTest, JsonBodyIsParsed) {
  Request r = WithBody(Req("POST", "/v1/orgs", admin_), "application/json; charset=utf-8",
                       R"({"org":{"identifier":"a"}})");
  Response res = dispatcher_->Handle(r);
  ASSERT_EQ(res.status, 200) << res.body;
  json::object o = JsonBody(res);
  EXPECT_EQ(o["has_body"], true);
  EXPECT_EQ(o["body"].at_pointer("/org/identifier"), "a");
}

TEST_F(DispatcherTest, MalformedJsonIs400) {
  Request r = WithBody(Req("POST", "/v1/orgs", admin_), "application/json", R"({"org": )");
  Response res = dispatcher_->Handle(r);
  ExpectError(res, 400, "bad_request");
}

TEST_F(DispatcherTest, JsonMembersAreAppendedAsTheyAreOrParsedForYaml) {
  Response res = dispatcher_->Handle(Req("GET", "/v1/members", viewer_));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.body,
            R"({"name":"ws","policy_evaluation":{"id":7,"details":[1.5]},"with \"quote\"":[]})");
  JsonBody(res);

  Request yaml = Req("GET", "/v1/members", viewer_);
  yaml.headers.emplace_back("accept", "application/yaml");
  Response y = dispatcher_->Handle(yaml);
  ASSERT_EQ(y.status, 200) << y.body;
  EXPECT_EQ(y.content_type, "application/yaml");
  json::value v = ParseYaml(y.body);
  EXPECT_EQ(v.at("name"), "ws");
  EXPECT_EQ(v.at("policy_evaluation").at("id"), 7);
  EXPECT_EQ(v.at("policy_evaluation").at("details").at(0), 1.5);
  EXPECT_TRUE(v.at("with \"quote\"").as_array().empty());
}

TEST_F(DispatcherTest, ErrorDetailsKeepDeepDocumentsAndTheirBytes) {
  Response res =
      dispatcher_->Handle(WithBody(Req("POST", "/v1/refused", admin_), "application/json", "{}"));
  EXPECT_EQ(res.status, 400);
  json::parse_options options;
  options.max_depth = 100;
  options.allow_invalid_utf8 = true;
  json::value body = json::parse(res.body, {}, options);
  EXPECT_EQ(body.at("name"), "bad_request");
  const json::value* v = &body.at("policy_evaluation");
  for (int i = 0; i < 40; ++i) v = &v->at("n");
  EXPECT_EQ(v->as_string(), "caf\xc3");
}

TEST_F(DispatcherTest, YamlRequestGetsYamlError) {
  Request r = WithBody(Req("POST", "/invalid", admin_), "application/yaml", "org:\n  name: x\n");
  Response res = dispatcher_->Handle(r);
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(res.content_type, "application/yaml");
  json::value v = ParseYaml(res.body);
  ASSERT_TRUE(v.is_object()) << res.body;
  EXPECT_EQ(v.at("name"), "bad_request");
  EXPECT_EQ(v.at("message"), "org.name: bad");
  EXPECT_EQ(v.at("id"), "req-1234");
}

TEST_F(DispatcherTest, MalformedYamlGetsYamlError) {
  Request r = WithBody(Req("POST", "/v1/orgs", admin_), "application/x-yaml", "org: [unclosed\n");
  Response res = dispatcher_->Handle(r);
  EXPECT_EQ(res.status, 400) << res.body;
  EXPECT_EQ(res.content_type, "application/yaml");
  json::value v = ParseYaml(res.body);
  ASSERT_TRUE(v.is_object()) << res.body;
  EXPECT_EQ(v.at("name"), "bad_request");
}

TEST_F(DispatcherTest, YamlRequestWithoutTokenGetsYaml401) {
  Request r = WithBody(Req("POST", "/v1/orgs", ""), "text/yaml", "org: {}\n");
  Response res = dispatcher_->Handle(r);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.content_type, "application/yaml");
}

TEST_F(DispatcherTest, YamlBodyGetsYamlSuccessReply) {
  Request r =
      WithBody(Req("POST", "/v1/orgs", admin_), "application/yaml", "org:\n  identifier: a\n");
  Response res = dispatcher_->Handle(r);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.content_type, "application/yaml");
  json::value v = ParseYaml(res.body);
  EXPECT_EQ(v.at("route"), "create");
}

TEST_F(DispatcherTest, AcceptYamlForBodylessRequest) {
  Request r = Req("GET", "/v1/orgs/x", admin_);
  r.headers.emplace_back("accept", "application/yaml");
  Response res = dispatcher_->Handle(r);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.content_type, "application/yaml");
  json::value v = ParseYaml(res.body);
  EXPECT_EQ(v.at("route"), "get");
}

TEST_F(DispatcherTest, AcceptYamlAlsoForErrors) {
  Request r = Req("GET", "/v1/orgs/x", "");
  r.headers.emplace_back("accept", "application/yaml");
  Response res = dispatcher_->Handle(r);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.content_type, "application/yaml");
  json::value v = ParseYaml(res.body);
  EXPECT_EQ(v.at("name"), "unauthorized");
}

TEST_F(DispatcherTest, AcceptJsonFirstWins) {
  Request r = Req("GET", "/v1/orgs/x", admin_);
  r.headers.emplace_back("accept", "application/json, application/yaml");
  EXPECT_EQ(dispatcher_->Handle(r).content_type, "application/json");
}

TEST_F(DispatcherTest, DefaultReplyIsJson) {
  Response res = dispatcher_->Handle(Req("GET", "/v1/orgs/x", admin_));
  EXPECT_EQ(res.content_type, "application/json");
}

TEST_F(DispatcherTest, HandlerExceptionIs500WithoutDetails) {
  Response res = dispatcher_->Handle(Req("GET", "/boom", admin_));
  ExpectError(res, 500, "internal_error");
  EXPECT_EQ(res.body.find("xyzzy"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find("SQLITE"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find("/var/lib"), std::string::npos) << res.body;
  json::object o = JsonBody(res);
  EXPECT_EQ(o["fault"], true);
  EXPECT_EQ(o["temporary"], false);
}

TEST_F(DispatcherTest, InternalErrorIs500WithoutDetails) {
  Response res = dispatcher_->Handle(Req("GET", "/internal", admin_));
  ExpectError(res, 500, "internal_error");
  EXPECT_EQ(res.body.find("xyzzy"), std::string::npos) << res.body;
  EXPECT_EQ(res.body.find("/var/lib"), std::string::npos) << res.body;
}

TEST_F(DispatcherTest, ErrorBodyHasAllIaCMErrorFields) {
  Response res = dispatcher_->Handle(Req("GET", "/v1/orgs", ""));
  json::object o = JsonBody(res);
  for (const char* field : {"name", "id", "message", "temporary", "timeout", "fault"})
    EXPECT_TRUE(o.contains(field)) << field << " missing in " << res.body;
  EXPECT_TRUE(o["name"].is_string());
  EXPECT_TRUE(o["id"].is_string());
  EXPECT_TRUE(o["message"].is_string());
  EXPECT_FALSE(o["message"].as_string().empty());
  EXPECT_TRUE(o["temporary"].is_bool());
  EXPECT_TRUE(o["timeout"].is_bool());
  EXPECT_TRUE(o["fault"].is_bool());
  EXPECT_EQ(o["fault"], false);  // the caller's fault
  EXPECT_EQ(o["id"], "req-1234");
}

TEST_F(DispatcherTest, UnknownPathIs404) {
  ExpectError(dispatcher_->Handle(Req("GET", "/v9/nothing", admin_)), 404, "not_found");
}

TEST_F(DispatcherTest, KnownPathWrongMethodIsError) {
  Response res = dispatcher_->Handle(Req("PATCH", "/v1/orgs", admin_));
  EXPECT_GE(res.status, 400);
  EXPECT_LT(res.status, 500);
  EXPECT_NE(res.body.find("PATCH"), std::string::npos) << res.body;
}

TEST_F(DispatcherTest, BasicAuthWithTokenAsPassword) {
  Request r = Req("GET", "/v1/orgs", "");
  r.headers.emplace_back("authorization", "Basic " + Base64("anyuser:" + admin_));
  Response res = dispatcher_->Handle(r);
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(JsonBody(res)["account"], "acct");
}

TEST_F(DispatcherTest, BasicAuthWithEmptyUser) {
  Request r = Req("GET", "/v1/orgs", "");
  r.headers.emplace_back("authorization", "basic " + Base64(":" + viewer_));
  EXPECT_EQ(dispatcher_->Handle(r).status, 200);
}

TEST_F(DispatcherTest, BasicAuthWithWrongPasswordIs401) {
  Request r = Req("GET", "/v1/orgs", "");
  r.headers.emplace_back("authorization", "Basic " + Base64("user:not-a-token"));
  ExpectError(dispatcher_->Handle(r), 401, "unauthorized");
}

TEST_F(DispatcherTest, BasicAuthWithBadBase64Is401) {
  Request r = Req("GET", "/v1/orgs", "");
  r.headers.emplace_back("authorization", "Basic !!!not-base64");
  ExpectError(dispatcher_->Handle(r), 401, "unauthorized");
}

TEST_F(DispatcherTest, BearerToken) {
  Request r = Req("GET", "/v1/orgs", "");
  r.headers.emplace_back("authorization", "Bearer " + admin_);
  EXPECT_EQ(dispatcher_->Handle(r).status, 200);
}

TEST_F(DispatcherTest, NoBodyReplyKeepsHeaders) {
  Response res = dispatcher_->Handle(Req("DELETE", "/v1/orgs/x", admin_));
  EXPECT_EQ(res.status, 204);
  EXPECT_TRUE(res.body.empty());
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].first, "ETag");
}

TEST_F(DispatcherTest, BodyLimitForRouteOwnLimit) {
  EXPECT_EQ(dispatcher_->PolicyFor("POST", "/state").limit, kBigLimit);
  EXPECT_EQ(dispatcher_->PolicyFor("POST", "/state?ID=abc").limit, kBigLimit);
}

TEST_F(DispatcherTest, BodyLimitForDefault) {
  EXPECT_EQ(dispatcher_->PolicyFor("POST", "/v1/orgs").limit, kDefaultLimit);
  EXPECT_EQ(dispatcher_->PolicyFor("GET", "/state").limit, kDefaultLimit);  // other method
  EXPECT_EQ(dispatcher_->PolicyFor("POST", "/nowhere").limit, kDefaultLimit);
  EXPECT_EQ(dispatcher_->PolicyFor("POST", "not-origin-form").limit, kDefaultLimit);
}

// The specs type error replies as application/vnd.goa.error (Harness's Go SDK asks for it on
// DELETE): the same IaCMError JSON under that media type when Accept asks for it.
TEST_F(DispatcherTest, GoaErrorMediaTypeWhenAccepted) {
  auto goa_body = [](const Response& res) {
    EXPECT_EQ(res.content_type, "application/vnd.goa.error") << res.body;
    return json::parse(res.body).as_object();
  };
  Request del = Req("DELETE", "/v1/gone/ws1", admin_);
  del.headers.emplace_back("accept", "application/vnd.goa.error");
  Response res = dispatcher_->Handle(del);
  EXPECT_EQ(res.status, 404);
  json::object o = goa_body(res);
  EXPECT_EQ(o["name"], "not_found");
  EXPECT_EQ(o["id"], "req-1234");
  EXPECT_EQ(o["message"], "workspace 'ws1' not found");
  for (const char* k : {"temporary", "timeout", "fault"}) EXPECT_TRUE(o[k].is_bool()) << k;

  // Among other types, and for errors before the handler (401, unknown route) and 500s.
  Request listed = Req("DELETE", "/v1/gone/ws1", admin_);
  listed.headers.emplace_back("accept", "application/json, application/vnd.goa.error");
  EXPECT_EQ(goa_body(dispatcher_->Handle(listed))["name"], "not_found");
  Request anonymous = Req("DELETE", "/v1/gone/ws1", "");
  anonymous.headers.emplace_back("accept", "application/vnd.goa.error");
  EXPECT_EQ(goa_body(dispatcher_->Handle(anonymous))["name"], "unauthorized");
  Request nowhere = Req("DELETE", "/v1/nowhere", admin_);
  nowhere.headers.emplace_back("accept", "application/vnd.goa.error");
  EXPECT_EQ(goa_body(dispatcher_->Handle(nowhere))["name"], "not_found");
  Request boom = Req("GET", "/boom", admin_);
  boom.headers.emplace_back("accept", "application/vnd.goa.error");
  json::object internal = goa_body(dispatcher_->Handle(boom));
  EXPECT_EQ(internal["name"], "internal_error");
  EXPECT_EQ(std::string(internal["message"].as_string()).find("xyzzy"), std::string::npos);
  // A YAML request that asks for it gets it too (the body is JSON); details stay beside.
  Request held = WithBody(Req("POST", "/v1/held", admin_), "application/yaml", "x: 1\n");
  held.headers.emplace_back("accept", "application/vnd.goa.error");
  json::object lock = goa_body(dispatcher_->Handle(held));
  EXPECT_EQ(lock["name"], "locked");
  EXPECT_EQ(lock["ID"], "lock-1");
  // ErrorFor (framing errors, 413 before the body) follows the same rule.
  Request big = WithBody(Req("POST", "/v1/orgs", admin_), "application/json", "{}");
  big.headers.emplace_back("accept", "application/vnd.goa.error");
  Response too_big = dispatcher_->ErrorFor(big, ErrorCode::kPayloadTooLarge, "too big");
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(goa_body(too_big)["name"], "payload_too_large");
}

TEST_F(DispatcherTest, GoaErrorMediaTypeOnlyWhenAsked) {
  for (const char* accept :
       {"", "*/*", "application/json", "application/json, application/vnd.goa.error;q=0.5",
        "application/vnd.goa.error;q=0"}) {
    SCOPED_TRACE(accept);
    Request del = Req("DELETE", "/v1/gone/ws1", admin_);
    if (*accept) del.headers.emplace_back("accept", accept);
    ExpectError(dispatcher_->Handle(del), 404, "not_found");
  }
  // YAML when the request was YAML, as before.
  Request yaml = WithBody(Req("POST", "/v1/held", admin_), "application/yaml", "x: 1\n");
  Response res = dispatcher_->Handle(yaml);
  EXPECT_EQ(res.status, 423);
  EXPECT_EQ(res.content_type, "application/yaml");
  // Success replies keep their format: the media type is for errors.
  Request ok = Req("GET", "/v1/orgs/platform", admin_);
  ok.headers.emplace_back("accept", "application/vnd.goa.error");
  Response fine = dispatcher_->Handle(ok);
  EXPECT_EQ(fine.status, 200);
  EXPECT_EQ(fine.content_type, "application/json");
}

// One nesting limit for every body format, answered as a 400 IaCMError naming the limit.
TEST_F(DispatcherTest, BodiesNestedBeyondTheLimitAre400) {
  auto deep_json = [](int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += "{\"a\":";
    return s + "1" + std::string(static_cast<size_t>(depth), '}');
  };
  auto deep_yaml = [](int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += std::string(static_cast<size_t>(2 * i), ' ') + "a:\n";
    s.pop_back();
    return s + " 1\n";
  };
  auto deep_name = [](int depth) {
    std::string name = "org";
    for (int i = 1; i < depth; ++i) name += ".a";
    return name;
  };
  struct Case {
    const char* content_type;
    std::function<std::string(int)> body;
  };
  const Case cases[] = {
      {"application/json", deep_json},
      {"application/yaml", deep_yaml},
      {"application/x-www-form-urlencoded", [&](int d) { return deep_name(d) + "=x"; }},
      {"multipart/form-data; boundary=XyZ",
       [&](int d) {
         return "--XyZ\r\nContent-Disposition: form-data; name=\"" + deep_name(d) +
                "\"\r\n\r\nx\r\n--XyZ--";
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.content_type);
    Response ok = dispatcher_->Handle(
        WithBody(Req("POST", "/v1/orgs", admin_), c.content_type, c.body(kMaxNestingDepth)));
    EXPECT_EQ(ok.status, 200) << ok.body;
    Response res = dispatcher_->Handle(
        WithBody(Req("POST", "/v1/orgs", admin_), c.content_type, c.body(kMaxNestingDepth + 1)));
    EXPECT_EQ(res.status, 400) << res.body;
    json::value v =
        res.content_type == "application/yaml" ? ParseYaml(res.body) : json::parse(res.body);
    EXPECT_EQ(v.at("name"), "bad_request");
    EXPECT_NE(std::string(v.at("message").as_string()).find("nesting limit of 32"),
              std::string::npos)
        << res.body;
  }
}

TEST_F(DispatcherTest, ErrorForUsesRequestFormat) {
  Request r = WithBody(Req("POST", "/v1/orgs", admin_), "application/yaml", "x: 1\n");
  Response res = dispatcher_->ErrorFor(r, ErrorCode::kPayloadTooLarge, "too big");
  EXPECT_EQ(res.status, 413);
  EXPECT_EQ(res.content_type, "application/yaml");
  json::value v = ParseYaml(res.body);
  EXPECT_EQ(v.at("name"), "payload_too_large");
  EXPECT_EQ(v.at("message"), "too big");
  EXPECT_EQ(v.at("id"), "req-1234");
}

}  // namespace
}  // namespace statehouse::http
