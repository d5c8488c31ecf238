// The storage contract: every backend must pass these unchanged.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/error.h"
#include "storage/postgres/pg_driver.h"
#include "storage/postgres/pg_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "storage/store.h"

namespace statehouse::storage {
namespace {

struct Backend {
  const char* name;
  std::function<std::unique_ptr<Database>(const std::string& dir)> open;
};

// PostgreSQL joins when STATEHOUSE_TEST_PG_URL names a server (make test starts one); each
// test gets a database of its own.
std::unique_ptr<Database> OpenPostgresForTest(const std::string& dir) {
  const char* base = std::getenv("STATEHOUSE_TEST_PG_URL");
  std::string name = "contract_" + std::to_string(std::hash<std::string>{}(dir) % 1000000000);
  {
    auto admin = postgres::Connect(std::string(base) + "/postgres");
    admin->Exec("SELECT 1");
    try {
      admin->Exec("CREATE DATABASE " + name);
    } catch (const Error&) {
      // Reopened by the same test (ReopenKeepsDataAndSchema): the database is already there.
    }
  }
  return OpenPostgres(std::string(base) + "/" + name, dir + "/cache", 4);
}

std::vector<Backend> Backends() {
  std::vector<Backend> out = {
      {"sqlite", [](const std::string& dir) { return OpenSqlite(dir + "/contract.db", 4); }}};
  if (std::getenv("STATEHOUSE_TEST_PG_URL")) out.push_back({"postgres", OpenPostgresForTest});
  return out;
}

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

// The workspace every state test uses.
class StateContract : public StorageContract {
 protected:
  void SetUp() override {
    StorageContract::SetUp();
    db_->CreateOrg(Org("o1", "Org One"));
    db_->CreateProject(Project("o1", "p1"));
    WorkspaceRecord w;
    w.account = "acct";
    w.org = "o1";
    w.project = "p1";
    w.identifier = "ws";
    w.name = "WS";
    w.status = "active";
    w.provisioner = "terraform";
    w.config_json = "{}";
    w.server_json = "{}";
    db_->Workspaces().CreateWorkspace(w, nullptr);
  }
  WorkspaceKey key_{"acct", "o1", "p1", "ws"};

  DataRecord Version(int64_t serial, const std::string& sha, const std::string& lineage = "L") {
    DataRecord d;
    d.id = "id-" + std::to_string(serial) + "-" + sha;
    d.data_type = "state_raw";
    d.sha256 = sha;
    d.serial = serial;
    d.lineage = lineage;
    d.created = serial;
    return d;
  }
};

TEST_P(StateContract, LockRaceHasExactlyOneWinner) {
  for (int round = 0; round < 3; ++round) {
    std::atomic<int> won{0}, lost{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 12; ++i) {
      threads.emplace_back([&, i] {
        LockRecord l;
        l.lock_id = "lock-" + std::to_string(round) + "-" + std::to_string(i);
        l.created = 1;
        (db_->States().AcquireLock(key_, l) ? lost : won)++;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(won.load(), 1);
    EXPECT_EQ(lost.load(), 11);
    ASSERT_TRUE(db_->States().ForceUnlock(key_, "test").has_value());
  }
}

TEST_P(StateContract, LocksReleaseOnlyForTheirHolder) {
  LockRecord l;
  l.lock_id = "a";
  EXPECT_FALSE(db_->States().AcquireLock(key_, l)) << "free lock is taken";
  EXPECT_FALSE(db_->States().AcquireLock(key_, l)) << "the holder may lock again";
  bool released = true;
  auto holder = db_->States().ReleaseLock(key_, "b", released);
  EXPECT_FALSE(released);
  ASSERT_TRUE(holder);
  EXPECT_EQ(holder->lock_id, "a");
  db_->States().ReleaseLock(key_, "a", released);
  EXPECT_TRUE(released);
  EXPECT_FALSE(db_->States().GetLock(key_));
  EXPECT_EQ(CodeOf([&] { db_->Workspaces().DeleteWorkspace("acct", "o1", "p1", "nope", {}); }),
            ErrorCode::kNotFound);
}

TEST_P(StateContract, WritesFollowTerraformRules) {
  using Kind = StateWriteResult::Kind;
  auto& st = db_->States();
  EXPECT_EQ(st.WriteState(key_, Version(1, "aa"), std::nullopt, std::nullopt).kind, Kind::kStored);
  EXPECT_EQ(st.WriteState(key_, Version(1, "aa"), std::nullopt, std::nullopt).kind, Kind::kRetried);
  EXPECT_EQ(st.WriteState(key_, Version(1, "bb"), std::nullopt, std::nullopt).kind,
            Kind::kSerialConflict);
  EXPECT_EQ(st.WriteState(key_, Version(0, "cc"), std::nullopt, std::nullopt).kind,
            Kind::kStaleSerial);
  EXPECT_EQ(st.WriteState(key_, Version(2, "dd", "other"), std::nullopt, std::nullopt).kind,
            Kind::kLineageConflict);
  LockRecord l;
  l.lock_id = "held";
  st.AcquireLock(key_, l);
  auto locked = st.WriteState(key_, Version(2, "ee"), std::nullopt, std::nullopt);
  EXPECT_EQ(locked.kind, Kind::kLocked);
  ASSERT_TRUE(locked.holder);
  EXPECT_EQ(locked.holder->lock_id, "held");
  EXPECT_EQ(st.WriteState(key_, Version(2, "ee"), std::string("other"), std::nullopt).kind,
            Kind::kLocked);
  EXPECT_EQ(st.WriteState(key_, Version(2, "ee"), std::string("held"), std::string("failed")).kind,
            Kind::kStored);
  EXPECT_EQ(st.NewestState(key_)->sha256, "ee");
  EXPECT_EQ(db_->Workspaces().GetWorkspace("acct", "o1", "p1", "ws")->status, "failed");
  EXPECT_EQ(st.ListData(key_, {}).total, 2);
  EXPECT_EQ(CodeOf([&] { db_->Workspaces().DeleteWorkspace("acct", "o1", "p1", "ws", {}); }),
            ErrorCode::kLocked)
      << "a locked workspace cannot be destroyed";
}

// A data record's policy evaluation is stored and linked in one step.
TEST_P(StateContract, DataPolicyIsStoredWithItsLink) {
  auto& st = db_->States();
  DataRecord plan = Version(0, "pp");
  plan.data_type = "plan_json";
  plan.serial.reset();
  st.AddData(key_, plan);
  EvaluationRecord e;
  e.account = "acct";
  e.org = "o1";
  e.project = "p1";
  e.entity = "ws";
  e.entity_metadata = "{}";
  e.type = "terraformPlan";
  e.action = "afterTerraformPlan";
  e.status = "error";
  e.input_json = "{}";
  e.details_json = "[]";
  e.created = 5;
  EXPECT_TRUE(st.SetDataPolicy(key_, plan.id, e, "error", "- no"));
  ASSERT_GT(e.id, 0);
  auto stored = st.GetData(key_, plan.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->policy_evaluation_id, e.id);
  EXPECT_EQ(stored->policy_status, "error");
  EXPECT_EQ(stored->policy_message, "- no");
  ASSERT_TRUE(db_->Policies().GetEvaluation("acct", e.id));
  EvaluationRecord again = e;
  EXPECT_FALSE(st.SetDataPolicy(key_, "missing", again, "pass", ""));
  EXPECT_GT(again.id, e.id);
}

TEST_P(StateContract, BlobsRoundTripInPieces) {
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  std::string sha(64, 'a');
  db_->Blobs().PutBytes(sha, big);
  db_->Blobs().PutBytes(sha, big);  // content-addressed: storing twice is harmless
  EXPECT_EQ(db_->Blobs().Read(sha), big);
  auto path = db_->Blobs().LocalPath(sha);
  ASSERT_TRUE(path);
  std::FILE* f = std::fopen(path->c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string local(big.size() + 1, '\0');
  local.resize(std::fread(local.data(), 1, local.size(), f));
  std::fclose(f);
  EXPECT_EQ(local, big);
}

// ---- policies, policy sets and evaluations ----

class PolicyContract : public StorageContract {
 protected:
  void SetUp() override {
    StorageContract::SetUp();
    db_->CreateOrg(Org("o1", "Org One"));
    db_->CreateProject(Project("o1", "p1"));
    db_->CreateProject(Project("o1", "p2"));
  }
  static PolicyRecord Policy(const std::string& org, const std::string& project,
                             const std::string& id, const std::string& account = "acct") {
    PolicyRecord p;
    p.account = account;
    p.org = org;
    p.project = project;
    p.identifier = id;
    p.name = "Policy " + id;
    p.rego = "package workspace\n";
    p.package_name = "workspace";
    p.created = p.updated = 50;
    return p;
  }
  static PolicySetRecord Set(const std::string& org, const std::string& project,
                             const std::string& id, std::vector<PolicySetLink> links = {},
                             const std::string& type = "workspace",
                             const std::string& action = "onsave", bool enabled = true) {
    PolicySetRecord s;
    s.account = "acct";
    s.org = org;
    s.project = project;
    s.identifier = id;
    s.name = "Set " + id;
    s.type = type;
    s.action = action;
    s.enabled = enabled;
    s.policies = std::move(links);
    s.created = s.updated = 60;
    return s;
  }
  static PolicySetLink Link(const std::string& org, const std::string& project,
                            const std::string& id, const std::string& severity = "error") {
    PolicySetLink l;
    l.policy = {org, project, id};
    l.severity = severity;
    return l;
  }
  static EvaluationRecord Evaluation(const std::string& org, const std::string& project,
                                     const std::string& status, int64_t created,
                                     const std::string& entity = "ws") {
    EvaluationRecord e;
    e.account = "acct";
    e.org = org;
    e.project = project;
    e.entity = entity;
    e.entity_metadata = "{}";
    e.type = "workspace";
    e.action = "onsave";
    e.status = status;
    e.input_json = "{\"n\":" + std::to_string(created) + "}";
    e.details_json = "[]";
    e.duration_us = 7;
    e.created = created;
    return e;
  }
};

TEST_P(PolicyContract, PoliciesLiveAtTheirLevel) {
  auto& st = db_->Policies();
  st.CreatePolicy(Policy("", "", "a"));
  st.CreatePolicy(Policy("o1", "", "a"));
  st.CreatePolicy(Policy("o1", "p1", "a"));
  EXPECT_EQ(CodeOf([&] { st.CreatePolicy(Policy("o1", "p1", "a")); }), ErrorCode::kConflict);
  EXPECT_EQ(CodeOf([&] { st.CreatePolicy(Policy("o9", "", "a")); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { st.CreatePolicy(Policy("o1", "p9", "a")); }), ErrorCode::kNotFound);
  auto got = st.GetPolicy("acct", {"o1", "", "a"});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->org, "o1");
  EXPECT_EQ(got->project, "");
  EXPECT_EQ(got->rego, "package workspace\n");
  EXPECT_EQ(got->package_name, "workspace");
  EXPECT_EQ(got->version, 1);
  EXPECT_FALSE(st.GetPolicy("other", {"o1", "", "a"})) << "accounts must not see each other's";
  EXPECT_FALSE(st.GetPolicy("acct", {"o1", "p2", "a"}));
  EXPECT_EQ(st.ListPolicies("acct", "o1", "p1", {}, false).total, 1);
  EXPECT_EQ(st.ListPolicies("acct", "", "", {}, false).total, 1);
  EXPECT_EQ(st.ListPolicies("other", "", "", {}, false).total, 0);
  EXPECT_EQ(CodeOf([&] { st.ListPolicies("acct", "o9", "", {}, false); }), ErrorCode::kNotFound);

  PolicyRecord changed = *got;
  changed.name = "Renamed";
  changed.rego = "package other\n";
  changed.package_name = "other";
  changed.updated = 70;
  PolicyRecord after = st.UpdatePolicy(changed, 1);
  EXPECT_EQ(after.version, 2);
  EXPECT_EQ(after.package_name, "other");
  EXPECT_EQ(after.created, 50);
  EXPECT_EQ(after.updated, 70);
  EXPECT_EQ(CodeOf([&] { st.UpdatePolicy(changed, 1); }), ErrorCode::kPreconditionFailed);
  EXPECT_EQ(CodeOf([&] { st.UpdatePolicy(Policy("o1", "", "zz"), std::nullopt); }),
            ErrorCode::kNotFound);
  EXPECT_TRUE(st.DeletePolicy("acct", {"o1", "", "a"}, false).empty());
  EXPECT_FALSE(st.GetPolicy("acct", {"o1", "", "a"}));
  EXPECT_EQ(CodeOf([&] { st.DeletePolicy("acct", {"o1", "", "a"}, false); }), ErrorCode::kNotFound);
}

TEST_P(PolicyContract, SetsLinkPoliciesInOrderAndResolveThem) {
  auto& st = db_->Policies();
  st.CreatePolicy(Policy("", "", "acct_pol"));
  st.CreatePolicy(Policy("o1", "p1", "prj_pol"));
  EXPECT_EQ(
      CodeOf([&] { st.CreatePolicySet(Set("o1", "p1", "s", {Link("o1", "p1", "missing")})); }),
      ErrorCode::kNotFound);
  EXPECT_FALSE(st.GetPolicySet("acct", {"o1", "p1", "s"})) << "a refused create leaves nothing";
  st.CreatePolicySet(
      Set("o1", "p1", "s", {Link("o1", "p1", "prj_pol", "warning"), Link("", "", "acct_pol")}));
  EXPECT_EQ(CodeOf([&] { st.CreatePolicySet(Set("o1", "p1", "s")); }), ErrorCode::kConflict);
  auto got = st.GetPolicySet("acct", {"o1", "p1", "s"});
  ASSERT_TRUE(got);
  ASSERT_EQ(got->policies.size(), 2u);
  EXPECT_EQ(got->policies[0].policy.identifier, "prj_pol");
  EXPECT_EQ(got->policies[0].severity, "warning");
  ASSERT_TRUE(got->policies[1].resolved);
  EXPECT_EQ(got->policies[1].resolved->name, "Policy acct_pol");
  EXPECT_TRUE(got->enabled);
  EXPECT_EQ(got->entity_selector, "all_entities_in_scope");

  PolicySetRecord changed = *got;
  changed.policies = {Link("", "", "acct_pol", "warning")};
  changed.enabled = false;
  changed.updated = 80;
  PolicySetRecord after = st.UpdatePolicySet(changed, 1);
  EXPECT_EQ(after.version, 2);
  EXPECT_FALSE(after.enabled);
  ASSERT_EQ(after.policies.size(), 1u);
  EXPECT_EQ(after.policies[0].severity, "warning");
  EXPECT_EQ(CodeOf([&] { st.UpdatePolicySet(changed, 1); }), ErrorCode::kPreconditionFailed);
  changed.policies = {Link("o1", "p1", "nope")};
  EXPECT_EQ(CodeOf([&] { st.UpdatePolicySet(changed, std::nullopt); }), ErrorCode::kNotFound);
  EXPECT_EQ(st.GetPolicySet("acct", {"o1", "p1", "s"})->policies.size(), 1u)
      << "a refused update changes nothing";

  // A linked policy is deleted only when forced, which unlinks it.
  st.CreatePolicySet(Set("", "", "top", {Link("", "", "acct_pol")}));
  auto linking = st.DeletePolicy("acct", {"", "", "acct_pol"}, false);
  ASSERT_EQ(linking.size(), 2u);
  EXPECT_TRUE(st.GetPolicy("acct", {"", "", "acct_pol"}));
  EXPECT_EQ(st.ListPolicySetsOfPolicy("acct", {"", "", "acct_pol"}, {}).total, 2);
  auto counted = st.ListPolicies("acct", "", "", {}, true);
  ASSERT_EQ(counted.items.size(), 1u);
  EXPECT_EQ(counted.items[0].policy_set_count, 2);
  EXPECT_TRUE(st.DeletePolicy("acct", {"", "", "acct_pol"}, true).empty());
  EXPECT_FALSE(st.GetPolicy("acct", {"", "", "acct_pol"}));
  auto unlinked = st.GetPolicySet("acct", {"o1", "p1", "s"});
  EXPECT_TRUE(unlinked->policies.empty());
  EXPECT_EQ(unlinked->version, 3) << "unlinking changes the set's version";
  EXPECT_EQ(CodeOf([&] {
              st.ListPolicySetsOfPolicy("acct", {"", "", "acct_pol"}, {});
            }),
            ErrorCode::kNotFound);

  st.DeletePolicySet("acct", {"o1", "p1", "s"}, std::nullopt);
  EXPECT_FALSE(st.GetPolicySet("acct", {"o1", "p1", "s"}));
  EXPECT_EQ(CodeOf([&] {
              st.DeletePolicySet("acct", {"o1", "p1", "s"}, std::nullopt);
            }),
            ErrorCode::kNotFound);
}

TEST_P(PolicyContract, ListsAndApplicableSetsFollowLevels) {
  auto& st = db_->Policies();
  st.CreatePolicy(Policy("o1", "", "pol"));
  st.CreatePolicySet(Set("", "", "z_acct"));
  st.CreatePolicySet(Set("o1", "", "m_org", {Link("o1", "", "pol")}));
  st.CreatePolicySet(Set("o1", "p1", "a_prj"));
  st.CreatePolicySet(Set("o1", "p1", "off", {}, "workspace", "onsave", false));
  st.CreatePolicySet(Set("o1", "p1", "plan", {}, "terraformPlan", "afterTerraformPlan"));
  st.CreatePolicySet(Set("o1", "p2", "elsewhere"));

  auto applicable = st.ApplicablePolicySets("acct", "o1", "p1", "workspace", "onsave");
  std::vector<std::string> ids;
  for (const auto& s : applicable) ids.push_back(s.identifier);
  EXPECT_EQ(ids, (std::vector<std::string>{"z_acct", "m_org", "a_prj"}))
      << "enabled sets of the type/action, account level first";
  ASSERT_EQ(applicable[1].policies.size(), 1u);
  EXPECT_TRUE(applicable[1].policies[0].resolved);
  EXPECT_EQ(st.ApplicablePolicySets("other", "o1", "p1", "workspace", "onsave").size(), 0u);
  EXPECT_EQ(
      st.ApplicablePolicySets("acct", "o1", "p1", "terraformPlan", "afterTerraformPlan").size(),
      1u);
  EXPECT_EQ(st.ApplicablePolicySets("acct", "", "", "workspace", "onsave").size(), 1u);

  PolicySetListQuery q;
  q.levels = {{"o1", "p1"}};
  EXPECT_EQ(st.ListPolicySets("acct", q).total, 3);
  q.types = {"terraformPlan"};
  EXPECT_EQ(st.ListPolicySets("acct", q).total, 1);
  q.types = {};
  q.action = "onsave";
  EXPECT_EQ(st.ListPolicySets("acct", q).total, 2);
  q = {};
  q.levels = {{"", ""}, {"o1", ""}, {"o1", "p1"}};
  q.page.limit = 2;
  auto page = st.ListPolicySets("acct", q);
  EXPECT_EQ(page.total, 5);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].identifier, "a_prj") << "sorted by name across levels";
  q.levels = {{"o9", ""}};
  EXPECT_EQ(CodeOf([&] { st.ListPolicySets("acct", q); }), ErrorCode::kNotFound);

  // A project takes its own policies, sets and evaluations with it.
  st.CreatePolicy(Policy("o1", "p2", "gone"));
  st.AddEvaluation(Evaluation("o1", "p2", "pass", 1));
  db_->DeleteProject("acct", "o1", "p2", std::nullopt);
  db_->CreateProject(Project("o1", "p2"));
  EXPECT_FALSE(st.GetPolicy("acct", {"o1", "p2", "gone"}));
  EXPECT_FALSE(st.GetPolicySet("acct", {"o1", "p2", "elsewhere"}));
  EvaluationListQuery eq;
  eq.org = "o1";
  eq.project = "p2";
  EXPECT_EQ(st.ListEvaluations("acct", eq).total, 0);
}

// Applicable sets are asked for on every save; what a store remembers of them must follow
// every change (SQLite keeps them in memory between changes).
TEST_P(PolicyContract, ApplicableSetsFollowEveryChange) {
  auto& st = db_->Policies();
  auto ids = [&](const std::string& project) {
    std::vector<std::string> out;
    for (const auto& s : st.ApplicablePolicySets("acct", "o1", project, "workspace", "onsave"))
      out.push_back(s.identifier + (s.policies.empty() || !s.policies[0].resolved
                                        ? std::string()
                                        : ":" + s.policies[0].resolved->rego));
    return out;
  };
  st.CreatePolicy(Policy("o1", "p2", "pol"));
  EXPECT_TRUE(ids("p2").empty());
  st.CreatePolicySet(Set("o1", "p2", "s", {Link("o1", "p2", "pol")}));
  EXPECT_EQ(ids("p2"), (std::vector<std::string>{"s:package workspace\n"}));

  PolicyRecord changed = Policy("o1", "p2", "pol");
  changed.rego = "package workspace\n\ndeny[1]\n";
  st.UpdatePolicy(changed, std::nullopt);
  EXPECT_EQ(ids("p2"), (std::vector<std::string>{"s:package workspace\n\ndeny[1]\n"}));

  PolicySetRecord off = *st.GetPolicySet("acct", {"o1", "p2", "s"});
  off.enabled = false;
  st.UpdatePolicySet(off, std::nullopt);
  EXPECT_TRUE(ids("p2").empty());
  off.enabled = true;
  st.UpdatePolicySet(off, std::nullopt);
  EXPECT_EQ(ids("p2").size(), 1u);

  st.DeletePolicySet("acct", {"o1", "p2", "s"}, std::nullopt);
  EXPECT_TRUE(ids("p2").empty());
  st.CreatePolicySet(Set("o1", "p2", "s2", {Link("o1", "p2", "pol")}));
  EXPECT_EQ(ids("p2").size(), 1u);

  // Deleting the project takes its sets; a new project of the same name starts bare.
  db_->DeleteProject("acct", "o1", "p2", std::nullopt);
  db_->CreateProject(Project("o1", "p2"));
  EXPECT_TRUE(ids("p2").empty());
}

TEST_P(PolicyContract, EvaluationsAreNumberedCountedAndFiltered) {
  auto& st = db_->Policies();
  int64_t first = st.AddEvaluation(Evaluation("o1", "p1", "pass", 100, "a"));
  int64_t second = st.AddEvaluation(Evaluation("o1", "p1", "error", 200, "b"));
  int64_t third = st.AddEvaluation(Evaluation("o1", "p2", "warning", 300, "c"));
  int64_t org_level = st.AddEvaluation(Evaluation("o1", "", "pass", 400, "d"));
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_LT(third, org_level);
  EvaluationRecord other = Evaluation("", "", "pass", 500, "x");
  other.account = "other";
  int64_t foreign = st.AddEvaluation(other);

  auto got = st.GetEvaluation("acct", second);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->input_json, "{\"n\":200}");
  EXPECT_EQ(got->status, "error");
  EXPECT_EQ(got->duration_us, 7);
  EXPECT_FALSE(st.GetEvaluation("acct", foreign)) << "accounts must not see each other's";
  EXPECT_FALSE(st.GetEvaluation("acct", 1 << 30));

  EvaluationListQuery q;
  q.org = "o1";
  q.project = "p1";
  auto page = st.ListEvaluations("acct", q);
  EXPECT_EQ(page.total, 2);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].id, second) << "newest first";
  EXPECT_EQ(page.items[0].input_json, "null") << "lists leave inputs out";
  q.statuses = {"error"};
  EXPECT_EQ(st.ListEvaluations("acct", q).total, 1);
  q.statuses = {};
  q.last_seen = second;
  page = st.ListEvaluations("acct", q);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].id, first);
  q.last_seen.reset();
  q.created_from = 150;
  q.created_to = 250;
  EXPECT_EQ(st.ListEvaluations("acct", q).total, 1);

  EvaluationListQuery org;
  org.org = "o1";
  EXPECT_EQ(st.ListEvaluations("acct", org).total, 1) << "only the org level itself";
  org.include_child_scopes = true;
  EXPECT_EQ(st.ListEvaluations("acct", org).total, 4);
  org.entity = "c";
  EXPECT_EQ(st.ListEvaluations("acct", org).total, 1);
  EvaluationListQuery all;
  all.include_child_scopes = true;
  all.limit = 2;
  page = st.ListEvaluations("acct", all);
  EXPECT_EQ(page.total, 4);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].id, org_level);
  EXPECT_EQ(st.ListEvaluations("other", all).total, 1);
}

// A workspace save stores its policy evaluation in its own transaction: both or neither.
TEST_P(PolicyContract, WorkspaceSaveStoresItsEvaluationAtomically) {
  auto& st = db_->Policies();
  WorkspaceRecord w;
  w.account = "acct";
  w.org = "o1";
  w.project = "p1";
  w.identifier = "ws";
  w.name = "WS";
  w.status = "active";
  w.provisioner = "terraform";
  w.config_json = "{}";
  w.server_json = "{}";
  EvaluationRecord created = Evaluation("o1", "p1", "warning", 10);
  db_->Workspaces().CreateWorkspace(w, &created);
  ASSERT_GT(created.id, 0);
  ASSERT_TRUE(st.GetEvaluation("acct", created.id));
  EXPECT_EQ(st.GetEvaluation("acct", created.id)->status, "warning");

  // A duplicate fails, and so records nothing.
  EvaluationRecord duplicate = Evaluation("o1", "p1", "pass", 20);
  EXPECT_EQ(CodeOf([&] { db_->Workspaces().CreateWorkspace(w, &duplicate); }),
            ErrorCode::kConflict);
  EvaluationListQuery q;
  q.org = "o1";
  q.project = "p1";
  EXPECT_EQ(st.ListEvaluations("acct", q).total, 1);

  w.name = "Renamed";
  EvaluationRecord updated = Evaluation("o1", "p1", "pass", 30);
  EXPECT_EQ(db_->Workspaces().UpdateWorkspace(w, std::nullopt, &updated).name, "Renamed");
  EXPECT_GT(updated.id, created.id);
  EvaluationRecord stale = Evaluation("o1", "p1", "pass", 40);
  EXPECT_EQ(CodeOf([&] { db_->Workspaces().UpdateWorkspace(w, 1, &stale); }),
            ErrorCode::kPreconditionFailed);
  EXPECT_EQ(st.ListEvaluations("acct", q).total, 2);
  auto page = st.ListEvaluations("acct", q);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].id, updated.id);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, PolicyContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(AllBackends, StateContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(AllBackends, StorageContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace statehouse::storage
