// The storage contract: every backend must pass these unchanged. A backend joins by adding a
// factory to kBackends (PostgreSQL comes with its own issue).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/error.h"
#include "storage/sqlite/sqlite_store.h"
#include "storage/store.h"

namespace statehouse::storage {
namespace {

struct Backend {
  const char* name;
  std::function<std::unique_ptr<Database>(const std::string& dir)> open;
};

const Backend kBackends[] = {
    {"sqlite", [](const std::string& dir) { return OpenSqlite(dir + "/contract.db", 4); }},
};

ErrorCode CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInternal;
}

class StorageContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-contract-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = GetParam().open(dir_.string());
    ASSERT_TRUE(db_->CreateAccount({"acct", 1}));
    ASSERT_TRUE(db_->CreateAccount({"other", 1}));
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  OrgRecord Org(const std::string& id, const std::string& name, int64_t t = 10) {
    OrgRecord o;
    o.account = "acct";
    o.identifier = id;
    o.name = name;
    o.tags = {{"team", "infra"}, {"env", "prod"}};
    o.created = o.updated = t;
    return o;
  }
  ProjectRecord Project(const std::string& org, const std::string& id) {
    ProjectRecord p;
    p.account = "acct";
    p.org = org;
    p.identifier = id;
    p.name = "Project " + id;
    p.modules = {"CD", "CI"};
    p.created = p.updated = 20;
    return p;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Database> db_;
};

TEST_P(StorageContract, AccountsAreCreatedOnce) {
  EXPECT_FALSE(db_->CreateAccount({"acct", 2}));
  EXPECT_EQ(db_->CountAccounts(), 2);
  ASSERT_TRUE(db_->GetAccount("acct").has_value());
  EXPECT_FALSE(db_->GetAccount("nope").has_value());
  db_->Ping();
}

TEST_P(StorageContract, OrgRoundTripKeepsEveryField) {
  db_->CreateOrg(Org("o1", "Org One"));
  auto got = db_->GetOrg("acct", "o1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, "Org One");
  EXPECT_EQ(got->tags, (Tags{{"team", "infra"}, {"env", "prod"}}));
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->created, 10);
  EXPECT_FALSE(db_->GetOrg("other", "o1")) << "accounts must not see each other's orgs";
  EXPECT_EQ(CodeOf([&] { db_->CreateOrg(Org("o1", "Again")); }), ErrorCode::kConflict);
}

TEST_P(StorageContract, OrgUpdateBumpsVersionAndChecksIt) {
  db_->CreateOrg(Org("o1", "Org One"));
  OrgRecord changed = Org("o1", "Renamed", 99);
  changed.description = "d";
  OrgRecord after = db_->UpdateOrg(changed, 1);
  EXPECT_EQ(after.version, 2);
  EXPECT_EQ(after.name, "Renamed");
  EXPECT_EQ(after.updated, 99);
  EXPECT_EQ(after.created, 10) << "created never changes";
  EXPECT_EQ(CodeOf([&] { db_->UpdateOrg(changed, 1); }), ErrorCode::kPreconditionFailed);
  EXPECT_EQ(db_->UpdateOrg(changed, std::nullopt).version, 3);
  EXPECT_EQ(CodeOf([&] { db_->UpdateOrg(Org("zz", "x"), std::nullopt); }), ErrorCode::kNotFound);
}

TEST_P(StorageContract, OrgWithProjectsCannotBeDeleted) {
  db_->CreateOrg(Org("o1", "Org One"));
  db_->CreateProject(Project("o1", "p1"));
  db_->CreateProject(Project("o1", "p2"));
  try {
    db_->DeleteOrg("acct", "o1", std::nullopt);
    FAIL() << "delete should be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
    EXPECT_NE(std::string(e.what()).find("p1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("p2"), std::string::npos) << e.what();
  }
  db_->DeleteProject("acct", "o1", "p1", std::nullopt);
  db_->DeleteProject("acct", "o1", "p2", std::nullopt);
  EXPECT_EQ(db_->DeleteOrg("acct", "o1", std::nullopt).identifier, "o1");
  EXPECT_FALSE(db_->GetOrg("acct", "o1"));
  EXPECT_EQ(CodeOf([&] { db_->DeleteOrg("acct", "o1", std::nullopt); }), ErrorCode::kNotFound);
}

TEST_P(StorageContract, ProjectNeedsItsOrg) {
  EXPECT_EQ(CodeOf([&] { db_->CreateProject(Project("missing", "p1")); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { db_->ListProjects("acct", "missing", {}); }), ErrorCode::kNotFound);
  db_->CreateOrg(Org("o1", "Org One"));
  db_->CreateProject(Project("o1", "p1"));
  EXPECT_EQ(CodeOf([&] { db_->CreateProject(Project("o1", "p1")); }), ErrorCode::kConflict);
  auto got = db_->GetProject("acct", "o1", "p1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->modules, (std::vector<std::string>{"CD", "CI"}));
  EXPECT_FALSE(db_->GetProject("other", "o1", "p1"));
}

TEST_P(StorageContract, ListsPageSortSearchAndCount) {
  for (int i = 0; i < 25; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "o%02d", i);
    db_->CreateOrg(Org(id, std::string(i % 2 ? "Odd " : "Even ") + id, 100 + i));
  }
  ListQuery q;
  q.limit = 10;
  auto page = db_->ListOrgs("acct", q);
  EXPECT_EQ(page.total, 25);
  ASSERT_EQ(page.items.size(), 10u);
  EXPECT_EQ(page.items[0].name, "Even o00");
  q.offset = 20;
  page = db_->ListOrgs("acct", q);
  EXPECT_EQ(page.items.size(), 5u);

  q = {};
  q.sort = SortField::kCreated;
  q.descending = true;
  q.limit = 3;
  page = db_->ListOrgs("acct", q);
  EXPECT_EQ(page.items[0].identifier, "o24");

  q = {};
  q.search = "odd";
  page = db_->ListOrgs("acct", q);
  EXPECT_EQ(page.total, 12);
  q.search = "%";
  EXPECT_EQ(db_->ListOrgs("acct", q).total, 0) << "LIKE wildcards in search are literal";
  q = {};
  q.identifiers = {"o01", "o03", "nope"};
  EXPECT_EQ(db_->ListOrgs("acct", q).total, 2);
  EXPECT_EQ(db_->ListOrgs("other", {}).total, 0);
}

TEST_P(StorageContract, TokensBelongToApiKeysAndGoWithThem) {
  ApiKeyRecord k;
  k.account = "acct";
  k.identifier = "k1";
  k.name = "Key";
  k.api_key_type = "SERVICE_ACCOUNT";
  k.parent_identifier = "svc";
  db_->CreateApiKey(k);
  EXPECT_EQ(CodeOf([&] { db_->CreateApiKey(k); }), ErrorCode::kConflict);

  TokenRecord t;
  t.account = "acct";
  t.identifier = "t1";
  t.name = "Token";
  t.api_key_identifier = "k1";
  t.api_key_type = "SERVICE_ACCOUNT";
  t.parent_identifier = "svc";
  t.role = "editor";
  t.secret_salt = "aa";
  t.secret_hash = "bb";
  t.valid_to = 500;
  db_->CreateToken(t);
  EXPECT_EQ(CodeOf([&] { db_->CreateToken(t); }), ErrorCode::kConflict);
  TokenRecord orphan = t;
  orphan.identifier = "t2";
  orphan.api_key_identifier = "nokey";
  EXPECT_EQ(CodeOf([&] { db_->CreateToken(orphan); }), ErrorCode::kNotFound);

  auto got = db_->GetToken("acct", "t1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->role, "editor");
  EXPECT_EQ(got->valid_to, 500);
  EXPECT_FALSE(db_->GetToken("other", "t1"));
  EXPECT_EQ(db_->CountTokensOfApiKey("acct", "k1"), 1);
  EXPECT_EQ(db_->ListTokens("acct", {}, "k1", "", "", true, 400, {}).total, 1);
  EXPECT_EQ(db_->ListTokens("acct", {}, "k1", "", "", true, 600, {}).total, 0)
      << "only_active hides expired tokens";

  got->name = "Renamed";
  EXPECT_EQ(db_->UpdateToken(*got).name, "Renamed");
  db_->DeleteApiKey("acct", "k1");
  EXPECT_FALSE(db_->GetToken("acct", "t1")) << "tokens go with their API key";
  EXPECT_EQ(CodeOf([&] { db_->DeleteToken("acct", "t1"); }), ErrorCode::kNotFound);
}

TEST_P(StorageContract, ConcurrentCreatesOfOneOrgHaveOneWinner) {
  std::atomic<int> won{0}, conflicted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      try {
        db_->CreateOrg(Org("race", "Race"));
        ++won;
      } catch (const Error& e) {
        if (e.code() == ErrorCode::kConflict) ++conflicted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(conflicted.load(), 7);
  EXPECT_EQ(db_->ListOrgs("acct", {}).total, 1) << "the counter stays exact";
}

TEST_P(StorageContract, ReopenKeepsDataAndSchema) {
  db_->CreateOrg(Org("o1", "Org One"));
  db_.reset();
  db_ = GetParam().open(dir_.string());
  EXPECT_TRUE(db_->GetOrg("acct", "o1"));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, StorageContract, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace statehouse::storage
