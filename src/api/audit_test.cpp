// The audit trail's action table against the routes really registered, and what the dispatcher
// records for each kind of request, over a real SQLite database.
#include "api/audit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "api/routes.h"
#include "domain/credentials.h"
#include "storage/sqlite/sqlite_store.h"

namespace statehouse::api {
namespace {

class AuditApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-audit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = storage::OpenSqlite((dir_ / "test.db").string(), 4);
    services_ = std::make_unique<Services>(*db_);
    RegisterAllRoutes(router_, *services_);
    domain::CreateAccount(*db_, "acct");
    admin_ = domain::CreateOperatorToken(*db_, "acct", auth::Role::kAdmin, "", "");
    viewer_ = domain::CreateOperatorToken(*db_, "acct", auth::Role::kViewer, "", "");
    http::DispatcherOptions options;
    options.audit = [this](const http::AuditedRequest& r) {
      records_.push_back(AuditRecordOf(r, 42));
    };
    dispatcher_ = std::make_unique<http::Dispatcher>(router_, *db_, options);
  }
  void TearDown() override {
    dispatcher_.reset();
    services_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  http::Request Req(std::string method, std::string target, const std::string& token,
                    std::string body = "") {
    http::Request r;
    r.method = std::move(method);
    r.target = target;
    EXPECT_TRUE(http::ParseTarget(target, r.path, r.query)) << target;
    r.request_id = "req-" + std::to_string(++requests_);
    r.remote_address = "192.0.2.7";
    if (!token.empty()) r.headers.emplace_back("x-api-key", token);
    if (!body.empty()) {
      r.headers.emplace_back("content-type", "application/json");
      r.body = std::move(body);
    }
    return r;
  }

  // The one record the request left, or a failure.
  storage::AuditRecord Recorded(const http::Request& r, int status) {
    size_t before = records_.size();
    EXPECT_EQ(dispatcher_->Handle(r).status, status) << r.method << " " << r.target;
    EXPECT_EQ(records_.size(), before + 1) << r.method << " " << r.target;
    if (records_.size() != before + 1) return {};
    EXPECT_EQ(records_.back().request_id, r.request_id);
    return records_.back();
  }

  void NotRecorded(const http::Request& r, int status) {
    size_t before = records_.size();
    EXPECT_EQ(dispatcher_->Handle(r).status, status) << r.method << " " << r.target;
    EXPECT_EQ(records_.size(), before) << r.method << " " << r.target;
  }

  static std::string IdOf(const std::string& token) {
    auto parsed = auth::ParseTokenString(token);
    return parsed ? parsed->token_id : "";
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<Services> services_;
  http::Router router_;
  std::unique_ptr<http::Dispatcher> dispatcher_;
  std::string admin_, viewer_;
  std::vector<storage::AuditRecord> records_;
  int requests_ = 0;
};

TEST_F(AuditApiTest, EveryRegisteredWriteRouteHasAnActionAndNoEntryIsStale) {
  std::set<std::string> writes;
  const std::regex name("[a-z_]+\\.[a-z_]+");
  for (const http::Route* r : router_.Routes()) {
    if (!http::IsWriteRoute(*r)) continue;
    writes.insert(r->method + " " + r->pattern);
    const AuditAction* a = FindAuditAction(r->method, r->pattern);
    EXPECT_NE(a, nullptr) << "no audit action for the write route " << r->method << " "
                          << r->pattern << ": add it to the table in api/audit_handlers.cpp";
    if (a) {
      EXPECT_TRUE(std::regex_match(a->action, name)) << a->action;
    }
  }
  EXPECT_GT(writes.size(), 60u);
  for (const AuditAction& a : AuditActions())
    EXPECT_TRUE(writes.count(a.method + " " + a.pattern))
        << "table entry for a route that is not a registered write route: " << a.method << " "
        << a.pattern;
  EXPECT_EQ(AuditActions().size(), writes.size()) << "one entry per route";
  // Reads, even those sent as POST, are not writes.
  for (const http::Route* r : router_.Routes()) {
    if (r->pattern == "/v1/audit" || r->pattern == "/ng/api/token/validate" ||
        r->pattern == "/pm/api/v1/evaluate" || r->pattern.ends_with("/resources/search")) {
      EXPECT_FALSE(http::IsWriteRoute(*r)) << r->method << " " << r->pattern;
    }
  }
}

TEST_F(AuditApiTest, RecordsWhoDidWhatToWhichAndHowItEnded) {
  auto r = Recorded(Req("POST", "/v1/orgs", admin_,
                        R"({"org":{"identifier":"o1","name":"secret-looking name"}})"),
                    201);
  EXPECT_EQ(r.account, "acct");
  EXPECT_EQ(r.time, 42);
  EXPECT_EQ(r.principal, IdOf(admin_));
  EXPECT_FALSE(r.principal_name.empty());
  EXPECT_EQ(r.action, "org.create");
  EXPECT_EQ(r.target, "o1");
  EXPECT_EQ(r.outcome, "success");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.remote_address, "192.0.2.7");
  for (const std::string& field : {r.principal, r.principal_name, r.api_key, r.action, r.target}) {
    EXPECT_EQ(field.find("secret-looking"), std::string::npos) << "no body in a record";
    EXPECT_EQ(field.find(admin_.substr(admin_.rfind('.') + 1)), std::string::npos);
  }

  // Denied: the caller is known.
  r = Recorded(Req("PUT", "/v1/orgs/o1", viewer_, R"({"org":{"identifier":"o1","name":"x"}})"),
               403);
  EXPECT_EQ(r.action, "org.update");
  EXPECT_EQ(r.target, "o1");
  EXPECT_EQ(r.principal, IdOf(viewer_));
  EXPECT_EQ(r.outcome, "denied");
  // Another account named: denied, in the token's own account.
  auto cross = Req("DELETE", "/v1/orgs/o1", admin_);
  cross.headers.emplace_back("harness-account", "elsewhere");
  r = Recorded(cross, 403);
  EXPECT_EQ(r.account, "acct");
  EXPECT_EQ(r.outcome, "denied");
  // Failed, with the status: a malformed body, a missing resource.
  r = Recorded(Req("PUT", "/v1/orgs/o1", admin_, "{not json"), 400);
  EXPECT_EQ(r.outcome, "failed");
  EXPECT_EQ(r.action, "org.update");
  r = Recorded(Req("DELETE", "/v1/orgs/nope", admin_), 404);
  EXPECT_EQ(r.target, "nope");
  EXPECT_EQ(r.status, 404);

  // Not recorded: reads, unknown callers, unknown routes.
  NotRecorded(Req("GET", "/v1/orgs/o1", admin_), 200);
  NotRecorded(Req("DELETE", "/v1/orgs/o1", ""), 401);
  NotRecorded(Req("DELETE", "/v1/orgs/o1", "pat.acct.nobody.secret"), 401);
  NotRecorded(Req("POST", "/v1/nowhere", admin_, "{}"), 404);
  NotRecorded(Req("POST", "/ng/api/token/validate", admin_, "\"" + admin_ + "\""), 200);
}

TEST_F(AuditApiTest, TargetsComeFromThePathTheQueryAndTheCreatedIdentifier) {
  const std::string ws = "/iacm/api/orgs/o1/projects/p1/workspaces/w1";
  EXPECT_EQ(Recorded(Req("POST", ws + "/runs/r-9/cancel", admin_), 404).target,
            "o1/p1/w1/runs/r-9");
  EXPECT_EQ(Recorded(Req("POST", ws + "/data?data_type=plan_json", admin_, "{}"), 404).target,
            "o1/p1/w1/data/plan_json");
  EXPECT_EQ(Recorded(Req("POST", "/pm/api/v1/policies?orgIdentifier=o1", admin_,
                         R"({"identifier":"pol","name":"P","rego":"package x"})"),
                     404)
                .target,
            "o1/policies/pol");
  EXPECT_EQ(Recorded(Req("DELETE", "/pm/api/v1/policies/pol", admin_), 404).target, "policies/pol");
  EXPECT_EQ(Recorded(Req("DELETE", "/iacm/api/variable-set?identifier=vs", admin_), 404).target,
            "variable-sets/vs");
  EXPECT_EQ(Recorded(Req("POST", "/iacm/api/orgs/o1/variable-set", admin_, R"({"name":"x"})"), 404)
                .target,
            "o1/variable-sets");
  // A long identifier is cut: a target names a resource, it does not carry what a client sent.
  std::string longer(5000, 'x');
  auto r = Recorded(
      Req("POST", "/v1/orgs", admin_, R"({"org":{"identifier":")" + longer + R"(","name":"n"}})"),
      400);
  EXPECT_EQ(r.target, std::string(128, 'x'));
}

TEST_F(AuditApiTest, AnUnlockWithoutLockInfoIsAForceUnlock) {
  const std::string lock = "/iacm/api/orgs/o1/projects/p1/workspaces/w1/terraform-backend/lock";
  EXPECT_EQ(Recorded(Req("LOCK", lock, admin_, R"({"ID":"a","Who":"me"})"), 404).action,
            "state.lock");
  EXPECT_EQ(Recorded(Req("UNLOCK", lock, admin_, R"({"ID":"a","Who":"me"})"), 404).action,
            "state.unlock");
  EXPECT_EQ(Recorded(Req("UNLOCK", lock, admin_), 404).action, "state.force_unlock");
  EXPECT_EQ(Recorded(Req("UNLOCK", lock, admin_, R"({"ID":"a"})"), 404).action,
            "state.force_unlock");
  EXPECT_EQ(Recorded(Req("DELETE", lock, admin_, "{}"), 404).action, "state.force_unlock");
  EXPECT_EQ(Recorded(Req("UNLOCK", lock, viewer_), 403).action, "state.force_unlock");
}

TEST_F(AuditApiTest, AnUploadRefusedBeforeItsBodyIsRecorded) {
  const std::string backend = "/iacm/api/orgs/o1/projects/p1/workspaces/w1/terraform-backend";
  http::Request r = Req("POST", backend, viewer_);
  r.headers.emplace_back("content-type", "application/json");
  size_t before = records_.size();
  auto refusal = dispatcher_->Preflight(r);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->status, 403);
  ASSERT_EQ(records_.size(), before + 1);
  EXPECT_EQ(records_.back().action, "state.write");
  EXPECT_EQ(records_.back().outcome, "denied");
  EXPECT_EQ(records_.back().principal, IdOf(viewer_));
  // Let through: nothing yet (Handle records the outcome).
  EXPECT_FALSE(dispatcher_->Preflight(Req("POST", backend, admin_)).has_value());
  EXPECT_EQ(records_.size(), before + 1);
  // Unknown callers are refused without a record.
  EXPECT_TRUE(dispatcher_->Preflight(Req("POST", backend, "")).has_value());
  EXPECT_EQ(records_.size(), before + 1);
}

}  // namespace
}  // namespace statehouse::api
