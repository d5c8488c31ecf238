// The storage contract: every backend must pass these unchanged.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "storage/postgres/pg_driver.h"
#include "storage/postgres/pg_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "storage/store.h"

namespace statehouse::storage {
namespace {

struct Backend {
  const char* name;
  std::function<std::unique_ptr<Database>(const std::string& dir)> open;
  // Runs SQL on the database open() opened, beside the store (rows as an older version wrote
  // them).
  std::function<void(const std::string& dir, const std::string& sql)> exec;
};

void ExecSqlite(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/contract.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

// PostgreSQL joins when STATEHOUSE_TEST_PG_URL names a server (make test starts one); each
// test gets a database of its own.
std::string PostgresUrlForTest(const std::string& dir) {
  return std::string(std::getenv("STATEHOUSE_TEST_PG_URL")) + "/contract_" +
         std::to_string(std::hash<std::string>{}(dir) % 1000000000);
}

void ExecPostgres(const std::string& dir, const std::string& sql) {
  postgres::Connect(PostgresUrlForTest(dir))->Exec(sql);
}

std::unique_ptr<Database> OpenPostgresForTest(const std::string& dir) {
  const char* base = std::getenv("STATEHOUSE_TEST_PG_URL");
  std::string url = PostgresUrlForTest(dir);
  std::string name = url.substr(url.rfind('/') + 1);
  {
    auto admin = postgres::Connect(std::string(base) + "/postgres");
    admin->Exec("SELECT 1");
    try {
      admin->Exec("CREATE DATABASE " + name);
    } catch (const Error&) {
      // Reopened by the same test (ReopenKeepsDataAndSchema): the database is already there.
    }
  }
  return OpenPostgres(url, dir + "/cache", 4);
}

std::vector<Backend> Backends() {
  std::vector<Backend> out = {
      {"sqlite", [](const std::string& dir) { return OpenSqlite(dir + "/contract.db", 4); },
       ExecSqlite}};
  if (std::getenv("STATEHOUSE_TEST_PG_URL"))
    out.push_back({"postgres", OpenPostgresForTest, ExecPostgres});
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
  // Releasing a lock nobody holds: nothing released, no holder (a repeated UNLOCK).
  released = true;
  EXPECT_FALSE(db_->States().ReleaseLock(key_, "a", released));
  EXPECT_FALSE(released);
  EXPECT_EQ(CodeOf([&] { db_->Workspaces().DeleteWorkspace("acct", "o1", "p1", "nope", {}); }),
            ErrorCode::kNotFound);
}

TEST_P(StateContract, LocksKeepEveryFieldAndNeedTheirWorkspace) {
  LockRecord l;
  l.lock_id = "id-1";
  l.info_json = R"({"ID":"id-1","Operation":"OperationTypeApply","Who":"ci@runner"})";
  l.manual = true;
  l.reason = "maintenance window";
  l.locked_by = "tok-9";
  l.created = 1796000000123;
  ASSERT_FALSE(db_->States().AcquireLock(key_, l));
  auto check = [&](const std::optional<LockRecord>& got) {
    ASSERT_TRUE(got);
    EXPECT_EQ(got->lock_id, l.lock_id);
    EXPECT_EQ(got->info_json, l.info_json);
    EXPECT_EQ(got->manual, l.manual);
    EXPECT_EQ(got->reason, l.reason);
    EXPECT_EQ(got->locked_by, l.locked_by);
    EXPECT_EQ(got->created, l.created);
  };
  check(db_->States().GetLock(key_));
  LockRecord other;
  other.lock_id = "id-2";
  check(db_->States().AcquireLock(key_, other));  // refused: the holder comes back whole

  WorkspaceKey missing = key_;
  missing.workspace = "no_such_workspace";
  EXPECT_EQ(CodeOf([&] { db_->States().AcquireLock(missing, other); }), ErrorCode::kNotFound);
  bool released = true;
  EXPECT_EQ(CodeOf([&] { db_->States().ReleaseLock(missing, "id-2", released); }),
            ErrorCode::kNotFound);
  EXPECT_FALSE(db_->States().GetLock(missing));
  check(db_->States().GetLock(key_));  // nothing else changed
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

// GET's one statement: the workspace with its lock and its newest state version (not a newer
// plan), each absent while there is none.
TEST_P(StateContract, WorkspaceViewReadsLockAndNewestStateInOneStatement) {
  auto& st = db_->States();
  auto view = [&] { return db_->Workspaces().GetWorkspaceView("acct", "o1", "p1", "ws"); };
  ASSERT_TRUE(view());
  EXPECT_EQ(view()->workspace.name, "WS");
  EXPECT_EQ(view()->workspace.version,
            db_->Workspaces().GetWorkspace("acct", "o1", "p1", "ws")->version);
  EXPECT_FALSE(view()->lock);
  EXPECT_FALSE(view()->newest_state);
  EXPECT_FALSE(db_->Workspaces().GetWorkspaceView("acct", "o1", "p1", "nope"));
  EXPECT_FALSE(db_->Workspaces().GetWorkspaceView("other", "o1", "p1", "ws"));

  LockRecord l;
  l.lock_id = "held";
  l.info_json = R"({"ID":"held"})";
  l.locked_by = "tok";
  l.created = 7;
  st.AcquireLock(key_, l);
  ASSERT_TRUE(view()->lock);
  EXPECT_EQ(view()->lock->lock_id, "held");
  EXPECT_EQ(view()->lock->info_json, l.info_json);
  EXPECT_EQ(view()->lock->locked_by, "tok");
  EXPECT_EQ(view()->lock->created, 7);

  st.WriteState(key_, Version(1, "aa"), std::string("held"), std::nullopt);
  st.WriteState(key_, Version(2, "bb"), std::string("held"), std::nullopt);
  DataRecord plan = Version(0, "pp");
  plan.data_type = "plan_json";
  plan.serial.reset();
  st.AddData(key_, plan);  // newer than the states, but not a state
  ASSERT_TRUE(view()->newest_state);
  EXPECT_EQ(view()->newest_state->sha256, "bb");
  EXPECT_EQ(view()->newest_state->serial, 2);
  EXPECT_EQ(view()->newest_state->id, st.NewestState(key_)->id);
  bool released = false;
  st.ReleaseLock(key_, "held", released);
  EXPECT_FALSE(view()->lock);
  EXPECT_TRUE(view()->newest_state);
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

// ---- retention of state versions and garbage collection of blobs ----

// Stores content as a state version (opaque: no serial) and returns its record.
DataRecord StoreVersion(Database& db, const WorkspaceKey& key, const std::string& content,
                        int64_t created, const std::string& rollback_source = "",
                        std::optional<int64_t> serial = std::nullopt) {
  DataRecord d;
  d.id = RandomUuid();
  d.data_type = "state_raw";
  d.sha256 = Sha256Hex({content});
  d.size = static_cast<int64_t>(content.size());
  d.serial = serial;
  if (serial) d.lineage = "L";
  d.rollback_source_id = rollback_source;
  d.created = created;
  db.Blobs().PutBytes(d.sha256, content);
  auto r = db.States().WriteState(key, d, std::nullopt, std::nullopt);
  EXPECT_EQ(r.kind, StateWriteResult::Kind::kStored);
  return d;
}

std::vector<std::string> StateIds(Database& db, const WorkspaceKey& key) {
  DataListQuery q;
  q.data_type = "state_raw";
  q.page.limit = 100;
  std::vector<std::string> ids;
  for (const auto& d : db.States().ListData(key, q).items) ids.push_back(d.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST_P(StateContract, RetentionKeepsNewestRollbackSourcesAndTheLimit) {
  auto& m = db_->Maintenance();
  std::vector<DataRecord> v;
  for (int i = 0; i < 8; ++i)
    v.push_back(
        StoreVersion(*db_, key_, "content " + std::to_string(i), 1000 + i, "", int64_t{i + 1}));
  // A rollback to version 1 (index 1): the new version names it.
  v.push_back(StoreVersion(*db_, key_, "content 1 again", 2000, v[1].id, int64_t{9}));
  EXPECT_TRUE(m.ExpireStateVersions(key_, 0, 0).empty()) << "no limit: nothing expires";
  auto expired = m.ExpireStateVersions(key_, 3, 0);
  std::vector<std::string> gone;
  for (const auto& d : expired) gone.push_back(d.id);
  std::sort(gone.begin(), gone.end());
  // Kept: the 3 newest (v8, v7, v6) and v1 (rollback source); gone: v0, v2, v3, v4, v5.
  std::vector<std::string> want_gone = {v[0].id, v[2].id, v[3].id, v[4].id, v[5].id};
  std::sort(want_gone.begin(), want_gone.end());
  EXPECT_EQ(gone, want_gone);
  std::vector<std::string> want_kept = {v[1].id, v[6].id, v[7].id, v[8].id};
  std::sort(want_kept.begin(), want_kept.end());
  EXPECT_EQ(StateIds(*db_, key_), want_kept);
  EXPECT_TRUE(m.ExpireStateVersions(key_, 3, 0).empty()) << "expiry is idempotent";
  // By age: everything created before 1007 (v6), but never the newest nor a rollback source.
  expired = m.ExpireStateVersions(key_, 0, 1007);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, v[6].id);
  // Even keep 1 with an age limit in the future keeps the newest and the rollback source.
  m.ExpireStateVersions(key_, 1, 1000000);
  want_kept = {v[1].id, v[8].id};
  std::sort(want_kept.begin(), want_kept.end());
  EXPECT_EQ(StateIds(*db_, key_), want_kept);
  EXPECT_EQ(db_->States().NewestState(key_)->id, v[8].id);
  EXPECT_TRUE(m.ExpireStateVersions({"acct", "o1", "p1", "nope"}, 1, 0).empty());
}

TEST_P(StateContract, RetentionKeepsTheNewestV4VersionBehindOpaqueOnes) {
  auto v4 = StoreVersion(*db_, key_, "v4 state", 1, "", int64_t{1});
  StoreVersion(*db_, key_, "opaque 1", 2);
  StoreVersion(*db_, key_, "opaque 2", 3);
  db_->Maintenance().ExpireStateVersions(key_, 1, 0);
  auto ids = StateIds(*db_, key_);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_TRUE(std::find(ids.begin(), ids.end(), v4.id) != ids.end());
}

TEST_P(StateContract, SweepRemovesExactlyTheUnreferencedBlobs) {
  auto& m = db_->Maintenance();
  auto old1 = StoreVersion(*db_, key_, "old one", 1);
  auto old2 = StoreVersion(*db_, key_, "old two", 2);
  auto cur = StoreVersion(*db_, key_, "current", 3);
  std::string orphan = "never referenced";
  std::string orphan_sha = Sha256Hex({orphan});
  db_->Blobs().PutBytes(orphan_sha, orphan);
  std::string recent = "stored just now";
  std::string recent_sha = Sha256Hex({recent});
  db_->Blobs().PutBytes(recent_sha, recent);
  ASSERT_EQ(m.ExpireStateVersions(key_, 1, 0).size(), 2u);
  EXPECT_FALSE(m.BlobReferenced(old1.sha256));
  EXPECT_TRUE(m.BlobReferenced(cur.sha256));
  for (const auto& sha : {old1.sha256, old2.sha256, cur.sha256, orphan_sha})
    db_->Blobs().Backdate(sha, 7200);
  auto referenced = [&m](std::string_view sha) { return m.BlobReferenced(sha); };
  auto r = db_->Blobs().Sweep(referenced, 3600, 86400);
  EXPECT_EQ(r.removed_blobs, 3);  // old1, old2, orphan; not current, not the recent one
  EXPECT_EQ(r.removed_bytes, old1.size + old2.size + static_cast<int64_t>(orphan.size()));
  EXPECT_EQ(db_->Blobs().Read(cur.sha256), "current");
  EXPECT_EQ(db_->Blobs().Read(recent_sha), recent) << "inside the grace period";
  EXPECT_EQ(CodeOf([&] { db_->Blobs().Read(old1.sha256); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { db_->Blobs().Read(orphan_sha); }), ErrorCode::kNotFound);
  EXPECT_EQ(db_->Blobs().Sweep(referenced, 3600, 86400).removed_blobs, 0);
  // A deleted workspace's blobs go too.
  db_->Workspaces().DeleteWorkspace("acct", "o1", "p1", "ws", {});
  db_->Blobs().Backdate(recent_sha, 7200);
  r = db_->Blobs().Sweep(referenced, 3600, 86400);
  EXPECT_EQ(r.removed_blobs, 2);  // current, recent
  // Stored again after the sweep: readable (a new blob).
  db_->Blobs().PutBytes(old1.sha256, "old one");
  EXPECT_EQ(db_->Blobs().Read(old1.sha256), "old one");
}

// An upload of content X whose old version just expired (so X's blob is unreferenced and
// older than the grace period) races the sweep: the new version's blob must stay readable.
TEST_P(StateContract, SweepNeverLosesABlobToARacingUpload) {
  auto& m = db_->Maintenance();
  auto referenced = [&m](std::string_view sha) { return m.BlobReferenced(sha); };
  int removed_before_upload = 0;
  for (int i = 0; i < 60; ++i) {
    std::string x = "racing content " + std::to_string(i);
    auto old = StoreVersion(*db_, key_, x, 10 * i);
    StoreVersion(*db_, key_, "filler " + std::to_string(i), 10 * i + 1);
    ASSERT_GE(m.ExpireStateVersions(key_, 1, 0).size(), 1u);
    db_->Blobs().Backdate(old.sha256, 7200);
    std::atomic<bool> go{false};
    DataRecord uploaded;
    std::thread upload([&] {
      while (!go.load()) {
      }
      uploaded = StoreVersion(*db_, key_, x, 10 * i + 2);
    });
    std::thread sweep([&] {
      while (!go.load()) {
      }
      removed_before_upload += db_->Blobs().Sweep(referenced, 3600, 86400).removed_blobs > 0;
    });
    go = true;
    upload.join();
    sweep.join();
    ASSERT_EQ(uploaded.sha256, old.sha256);
    ASSERT_EQ(db_->Blobs().Read(uploaded.sha256), x) << "iteration " << i;
    ASSERT_TRUE(m.BlobReferenced(uploaded.sha256));
  }
  // Both orders happen; neither loses the blob (the count is informative only).
  std::printf("sweeps that removed the old blob before the upload stored it: %d of 60\n",
              removed_before_upload);
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
  // The workspace/onsave sets that apply in o1/project, each as "<id>:<first policy's rego>".
  static std::vector<std::string> OnSaveSets(PolicyStore& st, const std::string& project) {
    std::vector<std::string> out;
    auto sets = st.ApplicablePolicySets("acct", "o1", project, "workspace", "onsave");
    for (const auto& s : *sets)
      out.push_back(s.identifier + (s.policies.empty() || !s.policies[0].resolved
                                        ? std::string()
                                        : ":" + s.policies[0].resolved->rego));
    return out;
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
  EXPECT_EQ(CodeOf([&] {
              st.DeletePolicy("acct", {"o1", "", "a"}, false, 1);
            }),
            ErrorCode::kPreconditionFailed)
      << "a stale version deletes nothing";
  EXPECT_TRUE(st.GetPolicy("acct", {"o1", "", "a"}));
  EXPECT_TRUE(st.DeletePolicy("acct", {"o1", "", "a"}, false, 2).empty());
  EXPECT_FALSE(st.GetPolicy("acct", {"o1", "", "a"}));
  EXPECT_EQ(CodeOf([&] {
              st.DeletePolicy("acct", {"o1", "", "a"}, false, std::nullopt);
            }),
            ErrorCode::kNotFound);
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
  auto linking = st.DeletePolicy("acct", {"", "", "acct_pol"}, false, std::nullopt);
  ASSERT_EQ(linking.size(), 2u);
  EXPECT_TRUE(st.GetPolicy("acct", {"", "", "acct_pol"}));
  EXPECT_EQ(st.ListPolicySetsOfPolicy("acct", {"", "", "acct_pol"}, {}).total, 2);
  auto counted = st.ListPolicies("acct", "", "", {}, true);
  ASSERT_EQ(counted.items.size(), 1u);
  EXPECT_EQ(counted.items[0].policy_set_count, 2);
  EXPECT_TRUE(st.DeletePolicy("acct", {"", "", "acct_pol"}, true, std::nullopt).empty());
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
  st.CreatePolicy(Policy("o1", "p1", "b_pol"));
  st.CreatePolicy(Policy("o1", "p1", "a_pol"));
  st.CreatePolicySet(Set("", "", "z_acct"));
  st.CreatePolicySet(Set("o1", "", "m_org", {Link("o1", "", "pol")}));
  st.CreatePolicySet(Set(
      "o1", "p1", "a_prj",
      {Link("o1", "p1", "b_pol"), Link("o1", "", "pol", "warning"), Link("o1", "p1", "a_pol")}));
  st.CreatePolicySet(Set("o1", "p1", "off", {}, "workspace", "onsave", false));
  st.CreatePolicySet(Set("o1", "p1", "plan", {}, "terraformPlan", "afterTerraformPlan"));
  st.CreatePolicySet(Set("o1", "p2", "elsewhere"));

  auto applicable_list = st.ApplicablePolicySets("acct", "o1", "p1", "workspace", "onsave");
  const auto& applicable = *applicable_list;
  std::vector<std::string> ids;
  for (const auto& s : applicable) ids.push_back(s.identifier);
  EXPECT_EQ(ids, (std::vector<std::string>{"z_acct", "m_org", "a_prj"}))
      << "enabled sets of the type/action, account level first";
  EXPECT_TRUE(applicable[0].policies.empty());
  ASSERT_EQ(applicable[1].policies.size(), 1u);
  EXPECT_TRUE(applicable[1].policies[0].resolved);
  std::vector<std::string> links;
  for (const auto& l : applicable[2].policies)
    links.push_back(l.policy.identifier + "/" + l.severity + "/" +
                    (l.resolved ? l.resolved->identifier : std::string("?")));
  EXPECT_EQ(links,
            (std::vector<std::string>{"b_pol/error/b_pol", "pol/warning/pol", "a_pol/error/a_pol"}))
      << "each set's links in their order, resolved";
  EXPECT_EQ(st.ApplicablePolicySets("other", "o1", "p1", "workspace", "onsave")->size(), 0u);
  EXPECT_EQ(
      st.ApplicablePolicySets("acct", "o1", "p1", "terraformPlan", "afterTerraformPlan")->size(),
      1u);
  EXPECT_EQ(st.ApplicablePolicySets("acct", "", "", "workspace", "onsave")->size(), 1u);

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
  auto ids = [&](const std::string& project) { return OnSaveSets(st, project); };
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

// PostgreSQL replicas remember applicable sets too, checked against a counter row that every
// change moves in its transaction: a change made through another replica is seen by the very
// next read, and reading again (remembered) gives the same.
TEST_P(PolicyContract, ApplicableSetsFollowChangesMadeThroughAnotherReplica) {
  if (std::string(GetParam().name) != "postgres")
    GTEST_SKIP() << "one writing process per SQLite file";
  auto other = GetParam().open(dir_.string());
  auto& mine = db_->Policies();
  auto& theirs = other->Policies();
  auto ids = [&](const std::string& project) { return OnSaveSets(mine, project); };
  theirs.CreatePolicy(Policy("o1", "p2", "pol"));
  EXPECT_TRUE(ids("p2").empty());
  std::vector<std::string> expected;
  for (int i = 0; i < 12; ++i) {
    std::string id = "s" + std::to_string(10 + i);
    theirs.CreatePolicySet(Set("o1", "p2", id, {Link("o1", "p2", "pol")}));
    expected.push_back(id + ":package workspace\n");
    EXPECT_EQ(ids("p2"), expected) << "after set " << id;
    EXPECT_EQ(ids("p2"), expected) << "read again, after set " << id;
  }
  PolicyRecord changed = Policy("o1", "p2", "pol");
  changed.rego = "package workspace\n\ndeny[1]\n";
  theirs.UpdatePolicy(changed, std::nullopt);
  EXPECT_EQ(ids("p2").front(), "s10:package workspace\n\ndeny[1]\n");
  PolicySetRecord off = *theirs.GetPolicySet("acct", {"o1", "p2", "s10"});
  off.enabled = false;
  theirs.UpdatePolicySet(off, std::nullopt);
  EXPECT_EQ(ids("p2").size(), 11u);
  theirs.DeletePolicySet("acct", {"o1", "p2", "s11"}, std::nullopt);
  EXPECT_EQ(ids("p2").size(), 10u);
  other->DeleteProject("acct", "o1", "p2", std::nullopt);
  other->CreateProject(Project("o1", "p2"));
  EXPECT_TRUE(ids("p2").empty());
}

TEST_P(PolicyContract, EvaluationsFilterByEntityPrefixExactly) {
  auto& st = db_->Policies();
  const std::string ws = "account:acct/org:o1/project:p1/workspaceIdentifier:Net_1";
  int64_t on_save = st.AddEvaluation(Evaluation("o1", "p1", "pass", 100, ws));
  int64_t on_data =
      st.AddEvaluation(Evaluation("o1", "p1", "error", 200, ws + "/dataIdentifier:d1"));
  st.AddEvaluation(Evaluation("o1", "p1", "pass", 300, ws + "_2"));      // another workspace
  st.AddEvaluation(Evaluation("o1", "p1", "pass", 400, ws + "x/data"));  // not below it
  st.AddEvaluation(Evaluation("o1", "p1", "pass", 500,
                              "account:acct/org:o1/project:p1/"
                              "workspaceIdentifier:net_1"));  // case
  st.AddEvaluation(Evaluation("o1", "p1", "pass", 600,
                              "account:acct/org:o1/project:p1/"
                              "workspaceIdentifier:Net%1"));  // LIKE
  EvaluationListQuery q;
  q.org = "o1";
  q.project = "p1";
  q.entity_prefix = ws;
  auto page = st.ListEvaluations("acct", q);
  EXPECT_EQ(page.total, 2);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].id, on_data);
  EXPECT_EQ(page.items[1].id, on_save);
  q.statuses = {"error"};
  EXPECT_EQ(st.ListEvaluations("acct", q).total, 1) << "with the other filters";
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

// Inputs and details are stored packed (storage/packed_text.h); large ones come back exact.
TEST_P(PolicyContract, LargeEvaluationsRoundTripExactly) {
  auto& st = db_->Policies();
  EvaluationRecord e = Evaluation("o1", "p1", "error", 100);
  e.input_json = "{\"workspace\":{\"tags\":{";
  for (int i = 0; i < 3000; ++i)
    e.input_json += (i ? ",\"" : "\"") + std::to_string(i * 7919 % 10007) + "\":\"v\"";
  e.input_json += "}}}";
  e.details_json = "[";
  for (int i = 0; i < 500; ++i)
    e.details_json += std::string(i ? "," : "") + "{\"policy\":{\"identifier\":\"p" +
                      std::to_string(i) + "\",\"rego\":\"package x\\n\\u00e9\"}}";
  e.details_json += "]";
  int64_t id = st.AddEvaluation(e);
  auto got = st.GetEvaluation("acct", id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->input_json, e.input_json);
  EXPECT_EQ(got->details_json, e.details_json);
  EvaluationListQuery q;
  q.org = "o1";
  q.project = "p1";
  auto page = st.ListEvaluations("acct", q);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].details_json, e.details_json);
}

// Rows written before the columns were packed (text input and details, no packed values) read
// as they did, beside packed ones.
TEST_P(PolicyContract, EvaluationsStoredAsTextStillRead) {
  auto& st = db_->Policies();
  int64_t packed = st.AddEvaluation(Evaluation("o1", "p1", "pass", 100));
  GetParam().exec(dir_.string(),
                  "INSERT INTO policy_evaluations(account, org, project, entity, entity_metadata, "
                  "type, action, status, execution_id, input, details, duration_us, created) "
                  "VALUES('acct', 'o1', 'p1', 'old', '{}', 'workspace', 'onsave', 'warning', '', "
                  "'{\"n\":1}', '[{\"status\":\"warning\"}]', 3, 50)");
  EvaluationListQuery q;
  q.org = "o1";
  q.project = "p1";
  auto page = st.ListEvaluations("acct", q);
  ASSERT_EQ(page.items.size(), 2u);
  const EvaluationRecord& old = page.items[0].id == packed ? page.items[1] : page.items[0];
  EXPECT_EQ(old.entity, "old");
  EXPECT_EQ(old.details_json, "[{\"status\":\"warning\"}]");
  auto got = st.GetEvaluation("acct", old.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->input_json, "{\"n\":1}");
  EXPECT_EQ(got->details_json, "[{\"status\":\"warning\"}]");
  EXPECT_EQ(st.GetEvaluation("acct", packed)->input_json, "{\"n\":100}");
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

// ---- runs, remote executions, events and drift configuration ----

// Two workspaces in acct/o1/p1 ("ws", "ws2") and one in other/o1/p1 ("ws").
class RunContract : public StorageContract {
 protected:
  void SetUp() override {
    StorageContract::SetUp();
    for (const char* account : {"acct", "other"}) {
      OrgRecord o = Org("o1", "Org One");
      o.account = account;
      db_->CreateOrg(o);
      ProjectRecord p = Project("o1", "p1");
      p.account = account;
      db_->CreateProject(p);
    }
    CreateWs("acct", "ws");
    CreateWs("acct", "ws2");
    CreateWs("other", "ws");
  }
  void CreateWs(const std::string& account, const std::string& id) {
    WorkspaceRecord w;
    w.account = account;
    w.org = "o1";
    w.project = "p1";
    w.identifier = id;
    w.name = "WS " + id;
    w.status = "active";
    w.provisioner = "terraform";
    w.config_json = "{}";
    w.server_json = "{}";
    db_->Workspaces().CreateWorkspace(w, nullptr);
  }
  static RunRecord Run(const WorkspaceKey& k, const std::string& id, int64_t created,
                       const std::string& status = "queued", const std::string& kind = "plan") {
    RunRecord r;
    r.account = k.account;
    r.org = k.org;
    r.project = k.project;
    r.workspace = k.workspace;
    r.id = id;
    r.kind = kind;
    r.status = status;
    r.message = "run " + id;
    r.created_by = "tok";
    r.created = r.updated = created;
    return r;
  }
  static RemoteExecutionRecord Execution(const WorkspaceKey& k, const std::string& id) {
    RemoteExecutionRecord e;
    e.account = k.account;
    e.org = k.org;
    e.project = k.project;
    e.workspace = k.workspace;
    e.id = id;
    e.custom_arguments_json = R"({"-target":["a"]})";
    e.pipeline_execution_id = "pe";
    e.pipeline_execution_url = "https://ci/pe";
    e.created = e.updated = 5;
    return e;
  }
  static EventRecord Event(const WorkspaceKey& k, const std::string& type,
                           const std::string& run_id = "", const std::string& pipeline = "") {
    EventRecord e;
    e.account = k.account;
    e.org = k.org;
    e.project = k.project;
    e.workspace = k.workspace;
    e.event_type = type;
    e.run_id = run_id;
    e.pipeline_execution_id = pipeline;
    e.pipeline_stage_id = "stage";
    e.data_json = R"({"k":1})";
    e.created = 7;
    return e;
  }
  static DriftConfigRecord Drift(const WorkspaceKey& k, int64_t next_run, bool enabled = true) {
    DriftConfigRecord d;
    d.account = k.account;
    d.org = k.org;
    d.project = k.project;
    d.workspace = k.workspace;
    d.enabled = enabled;
    d.provisioner = "terraform";
    d.pipeline_id = "pipe";
    d.run_every = 6;
    d.run_every_unit = "hours";
    d.trigger_id = "trig";
    d.next_run = next_run;
    d.created = d.updated = 3;
    return d;
  }
  static std::vector<std::string> Ids(const std::vector<RunRecord>& runs) {
    std::vector<std::string> out;
    for (const auto& r : runs) out.push_back(r.id);
    return out;
  }
  WorkspaceKey ws_{"acct", "o1", "p1", "ws"};
  WorkspaceKey ws2_{"acct", "o1", "p1", "ws2"};
  WorkspaceKey other_{"other", "o1", "p1", "ws"};
  WorkspaceKey missing_{"acct", "o1", "p1", "nope"};
};

TEST_P(RunContract, RemoteExecutionsRoundTripAndRunOnce) {
  auto& st = db_->Runs();
  st.CreateRemoteExecution(Execution(ws_, "e1"));
  EXPECT_EQ(CodeOf([&] { st.CreateRemoteExecution(Execution(ws_, "e1")); }), ErrorCode::kConflict);
  EXPECT_EQ(CodeOf([&] { st.CreateRemoteExecution(Execution(missing_, "e1")); }),
            ErrorCode::kNotFound);
  auto got = st.GetRemoteExecution(ws_, "e1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->custom_arguments_json, R"({"-target":["a"]})");
  EXPECT_EQ(got->pipeline_execution_id, "pe");
  EXPECT_EQ(got->pipeline_execution_url, "https://ci/pe");
  EXPECT_EQ(got->sha256, "");
  EXPECT_FALSE(got->executed);
  EXPECT_FALSE(st.GetRemoteExecution(ws2_, "e1"));
  EXPECT_FALSE(st.GetRemoteExecution(other_, "e1"));

  got->sha256 = std::string(64, 'a');
  got->size = 1234;
  got->updated = 6;
  st.UpdateRemoteExecution(*got, /*expect_unexecuted=*/true);
  auto uploaded = st.GetRemoteExecution(ws_, "e1");
  EXPECT_EQ(uploaded->sha256, std::string(64, 'a'));
  EXPECT_EQ(uploaded->size, 1234);
  EXPECT_EQ(uploaded->updated, 6);
  EXPECT_EQ(uploaded->created, 5);

  uploaded->executed = true;
  uploaded->run_id = "r-x";
  st.UpdateRemoteExecution(*uploaded, true);
  EXPECT_EQ(CodeOf([&] { st.UpdateRemoteExecution(*uploaded, true); }), ErrorCode::kConflict);
  st.UpdateRemoteExecution(*uploaded, false);  // without the expectation it goes
  EXPECT_TRUE(st.GetRemoteExecution(ws_, "e1")->executed);
  EXPECT_EQ(st.GetRemoteExecution(ws_, "e1")->run_id, "r-x");
  EXPECT_EQ(CodeOf([&] { st.UpdateRemoteExecution(Execution(ws_, "nope"), false); }),
            ErrorCode::kNotFound);

  // A run started from an upload marks it executed, once.
  st.CreateRemoteExecution(Execution(ws_, "e2"));
  std::string e2 = "e2";
  RunRecord first = Run(ws_, "r1", 10);
  st.CreateRun(first, &e2);
  EXPECT_EQ(first.number, 1);
  EXPECT_EQ(first.remote_execution_id, "e2");
  auto executed = st.GetRemoteExecution(ws_, "e2");
  EXPECT_TRUE(executed->executed);
  EXPECT_EQ(executed->run_id, "r1");
  EXPECT_EQ(st.GetRun(ws_, "r1")->remote_execution_id, "e2");
  RunRecord second = Run(ws_, "r2", 11);
  EXPECT_EQ(CodeOf([&] { st.CreateRun(second, &e2); }), ErrorCode::kConflict);
  EXPECT_FALSE(st.GetRun(ws_, "r2"));
  EXPECT_EQ(st.ListRuns(ws_, {}).total, 1);
  EXPECT_EQ(st.GetRemoteExecution(ws_, "e2")->run_id, "r1");
  std::string unknown = "nope";
  EXPECT_EQ(CodeOf([&] { st.CreateRun(second, &unknown); }), ErrorCode::kNotFound);
  st.CreateRun(second, nullptr);
  EXPECT_EQ(second.number, 2) << "failed creates take no number";
}

TEST_P(RunContract, RunsAreNumberedPerWorkspace) {
  auto& st = db_->Runs();
  for (int i = 1; i <= 3; ++i) {
    RunRecord a = Run(ws_, "a" + std::to_string(i), 10 * i);
    st.CreateRun(a, nullptr);
    EXPECT_EQ(a.number, i);
    RunRecord b = Run(ws2_, "b" + std::to_string(i), 10 * i + 1);
    st.CreateRun(b, nullptr);
    EXPECT_EQ(b.number, i);
  }
  RunRecord o = Run(other_, "a1", 5);  // the same id in another account
  st.CreateRun(o, nullptr);
  EXPECT_EQ(o.number, 1);
  RunRecord dup = Run(ws_, "a1", 99);
  EXPECT_EQ(CodeOf([&] { st.CreateRun(dup, nullptr); }), ErrorCode::kConflict);
  RunRecord lost = Run(missing_, "x", 1);
  EXPECT_EQ(CodeOf([&] { st.CreateRun(lost, nullptr); }), ErrorCode::kNotFound);

  RunRecord full = Run(ws_, "full", 40, "queued", "apply");
  full.auto_apply = true;
  full.pipeline_execution_id = "pe";
  full.approved_by = "ap";
  full.summary_json = R"({"commit":"abc"})";
  full.log_size = 9;
  full.started = 41;
  full.finished = 42;
  st.CreateRun(full, nullptr);
  auto got = st.GetRun(ws_, "full");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->number, 4);
  EXPECT_EQ(got->kind, "apply");
  EXPECT_EQ(got->status, "queued");
  EXPECT_TRUE(got->auto_apply);
  EXPECT_EQ(got->pipeline_execution_id, "pe");
  EXPECT_EQ(got->message, "run full");
  EXPECT_EQ(got->created_by, "tok");
  EXPECT_EQ(got->approved_by, "ap");
  EXPECT_EQ(got->summary_json, R"({"commit":"abc"})");
  EXPECT_EQ(got->log_size, 9);
  EXPECT_EQ(got->created, 40);
  EXPECT_EQ(got->updated, 40);
  EXPECT_EQ(got->started, 41);
  EXPECT_EQ(got->finished, 42);
  EXPECT_EQ(got->remote_execution_id, "");

  EXPECT_FALSE(st.GetRun(ws2_, "full"));
  EXPECT_FALSE(st.GetRun(WorkspaceKey{"other", "o1", "p1", "ws"}, "full"));
  EXPECT_EQ(st.GetRun(other_, "a1")->created, 5);
}

TEST_P(RunContract, ConcurrentCreatesTakeDistinctNumbers) {
  auto& st = db_->Runs();
  std::vector<std::thread> threads;
  std::vector<int64_t> numbers(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      RunRecord r = Run(ws_, "c" + std::to_string(i), i);
      st.CreateRun(r, nullptr);
      numbers[i] = r.number;
    });
  }
  for (auto& t : threads) t.join();
  std::sort(numbers.begin(), numbers.end());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(numbers[i], i + 1);
}

TEST_P(RunContract, UpdateRunComparesStatusAndSets) {
  auto& st = db_->Runs();
  RunRecord r = Run(ws_, "r1", 10);
  st.CreateRun(r, nullptr);

  RunRecord change = r;
  change.status = "planning";
  change.started = 11;
  change.updated = 11;
  change.summary_json = R"({"step":1})";
  change.log_size = 100;
  change.approved_by = "boss";
  // Immutable fields are not replaced.
  change.kind = "destroy";
  change.message = "changed";
  change.number = 77;
  RunRecord stored = st.UpdateRun(change, {"queued"});
  EXPECT_EQ(stored.status, "planning");
  EXPECT_EQ(stored.started, 11);
  EXPECT_EQ(stored.updated, 11);
  EXPECT_EQ(stored.summary_json, R"({"step":1})");
  EXPECT_EQ(stored.log_size, 100);
  EXPECT_EQ(stored.approved_by, "boss");
  EXPECT_EQ(stored.kind, "plan");
  EXPECT_EQ(stored.message, "run r1");
  EXPECT_EQ(stored.number, 1);
  EXPECT_EQ(stored.created, 10);

  // A stale expectation changes nothing.
  RunRecord stale = stored;
  stale.status = "cancelled";
  stale.finished = 20;
  try {
    st.UpdateRun(stale, {"queued", "planned"});
    ADD_FAILURE() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
    EXPECT_NE(std::string(e.what()).find("planning"), std::string::npos) << e.what();
  }
  auto unchanged = st.GetRun(ws_, "r1");
  EXPECT_EQ(unchanged->status, "planning");
  EXPECT_EQ(unchanged->finished, 0);

  // Any of several; or any at all.
  EXPECT_EQ(st.UpdateRun(stale, {"queued", "planning"}).status, "cancelled");
  stale.status = "failed";
  EXPECT_EQ(st.UpdateRun(stale, {}).status, "failed");
  EXPECT_EQ(st.GetRun(ws_, "r1")->finished, 20);

  RunRecord absent = Run(ws_, "nope", 1);
  EXPECT_EQ(CodeOf([&] { st.UpdateRun(absent, {}); }), ErrorCode::kNotFound);
  RunRecord elsewhere = stale;
  elsewhere.workspace = "ws2";
  EXPECT_EQ(CodeOf([&] { st.UpdateRun(elsewhere, {}); }), ErrorCode::kNotFound);
}

TEST_P(RunContract, ListRunsPagesAndFiltersNewestFirst) {
  auto& st = db_->Runs();
  const char* statuses[] = {"queued", "planned", "applied", "queued", "failed", "queued"};
  for (int i = 0; i < 6; ++i) {
    RunRecord r = Run(ws_, "r" + std::to_string(i + 1), i, statuses[i], i % 2 ? "apply" : "plan");
    st.CreateRun(r, nullptr);
  }
  RunRecord elsewhere = Run(ws2_, "x", 1);
  st.CreateRun(elsewhere, nullptr);

  RunListQuery q;
  auto all = st.ListRuns(ws_, q);
  EXPECT_EQ(all.total, 6);
  EXPECT_EQ(Ids(all.items), (std::vector<std::string>{"r6", "r5", "r4", "r3", "r2", "r1"}));

  q.page.limit = 2;
  q.page.offset = 1;
  auto page = st.ListRuns(ws_, q);
  EXPECT_EQ(page.total, 6);
  EXPECT_EQ(Ids(page.items), (std::vector<std::string>{"r5", "r4"}));
  q.page.offset = 5;
  EXPECT_EQ(Ids(st.ListRuns(ws_, q).items), (std::vector<std::string>{"r1"}));

  q.page = {};
  q.statuses = {"queued", "failed"};
  auto filtered = st.ListRuns(ws_, q);
  EXPECT_EQ(filtered.total, 4);
  EXPECT_EQ(Ids(filtered.items), (std::vector<std::string>{"r6", "r5", "r4", "r1"}));
  q.kind = "apply";
  filtered = st.ListRuns(ws_, q);
  EXPECT_EQ(filtered.total, 2);
  EXPECT_EQ(Ids(filtered.items), (std::vector<std::string>{"r6", "r4"}));
  q.statuses.clear();
  filtered = st.ListRuns(ws_, q);
  EXPECT_EQ(filtered.total, 3);
  EXPECT_EQ(Ids(filtered.items), (std::vector<std::string>{"r6", "r4", "r2"}));
  q.page.limit = 1;
  filtered = st.ListRuns(ws_, q);
  EXPECT_EQ(filtered.total, 3);
  EXPECT_EQ(Ids(filtered.items), (std::vector<std::string>{"r6"}));

  EXPECT_EQ(st.ListRuns(ws2_, {}).total, 1);
  EXPECT_EQ(st.ListRuns(other_, {}).total, 0);
  EXPECT_EQ(CodeOf([&] { st.ListRuns(missing_, {}); }), ErrorCode::kNotFound);
}

TEST_P(RunContract, RunsInStatusSpanAccountsOldestFirst) {
  auto& st = db_->Runs();
  RunRecord a = Run(ws_, "a", 30, "queued");
  RunRecord b = Run(other_, "b", 10, "queued");
  RunRecord c = Run(ws2_, "c", 20, "applying");
  RunRecord d = Run(ws_, "d", 5, "applied");
  RunRecord e = Run(other_, "e", 40, "planning");
  for (RunRecord* r : {&a, &b, &c, &d, &e}) st.CreateRun(*r, nullptr);

  EXPECT_EQ(Ids(st.RunsInStatus({"queued"}, 10)), (std::vector<std::string>{"b", "a"}));
  auto active = st.RunsInStatus({"queued", "applying", "planning"}, 10);
  EXPECT_EQ(Ids(active), (std::vector<std::string>{"b", "c", "a", "e"}));
  EXPECT_EQ(active[0].account, "other");
  EXPECT_EQ(Ids(st.RunsInStatus({"queued", "applying", "planning"}, 2)),
            (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(st.RunsInStatus({"cancelled"}, 10).empty());
  EXPECT_TRUE(st.RunsInStatus({}, 10).empty());
}

TEST_P(RunContract, EventsIncreaseAndListNewestFirst) {
  auto& st = db_->Runs();
  std::vector<int64_t> ids;
  ids.push_back(st.AddEvent(Event(ws_, "started", "r1", "pe1")));
  ids.push_back(st.AddEvent(Event(ws2_, "started", "r9", "pe1")));
  ids.push_back(st.AddEvent(Event(ws_, "planned", "r1", "pe1")));
  ids.push_back(st.AddEvent(Event(ws_, "custom", "", "pe2")));
  ids.push_back(st.AddEvent(Event(ws_, "started", "r2", "pe2")));
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);
  EXPECT_EQ(CodeOf([&] { st.AddEvent(Event(missing_, "x")); }), ErrorCode::kNotFound);

  auto all = st.ListEvents(ws_, {});
  EXPECT_EQ(all.total, 4);
  ASSERT_EQ(all.items.size(), 4u);
  EXPECT_EQ(all.items[0].id, ids[4]);
  EXPECT_EQ(all.items[3].id, ids[0]);
  const EventRecord& first = all.items[3];
  EXPECT_EQ(first.account, "acct");
  EXPECT_EQ(first.workspace, "ws");
  EXPECT_EQ(first.event_type, "started");
  EXPECT_EQ(first.run_id, "r1");
  EXPECT_EQ(first.pipeline_execution_id, "pe1");
  EXPECT_EQ(first.pipeline_stage_id, "stage");
  EXPECT_EQ(first.data_json, R"({"k":1})");
  EXPECT_EQ(first.metadata_json, "{}");
  EXPECT_EQ(first.created, 7);

  EventListQuery q;
  q.run_id = "r1";
  auto by_run = st.ListEvents(ws_, q);
  EXPECT_EQ(by_run.total, 2);
  ASSERT_EQ(by_run.items.size(), 2u);
  EXPECT_EQ(by_run.items[0].id, ids[2]);
  q = {};
  q.pipeline_execution_id = "pe2";
  EXPECT_EQ(st.ListEvents(ws_, q).total, 2);
  q.event_type = "custom";
  auto custom = st.ListEvents(ws_, q);
  EXPECT_EQ(custom.total, 1);
  ASSERT_EQ(custom.items.size(), 1u);
  EXPECT_EQ(custom.items[0].id, ids[3]);
  q = {};
  q.event_type = "started";
  q.page.limit = 1;
  q.page.offset = 1;
  auto paged = st.ListEvents(ws_, q);
  EXPECT_EQ(paged.total, 2);
  ASSERT_EQ(paged.items.size(), 1u);
  EXPECT_EQ(paged.items[0].id, ids[0]);

  EXPECT_EQ(st.ListEvents(ws2_, {}).total, 1);
  EXPECT_EQ(st.ListEvents(other_, {}).total, 0);
  EXPECT_EQ(CodeOf([&] { st.ListEvents(missing_, {}); }), ErrorCode::kNotFound);
}

TEST_P(RunContract, DriftConfigsAreReplacedAndFallDue) {
  auto& st = db_->Runs();
  EXPECT_FALSE(st.GetDriftConfig(ws_));
  EXPECT_EQ(CodeOf([&] { st.PutDriftConfig(Drift(missing_, 1)); }), ErrorCode::kNotFound);
  st.PutDriftConfig(Drift(ws_, 100));
  auto got = st.GetDriftConfig(ws_);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->enabled);
  EXPECT_EQ(got->provisioner, "terraform");
  EXPECT_EQ(got->pipeline_id, "pipe");
  EXPECT_EQ(got->run_every, 6);
  EXPECT_EQ(got->run_every_unit, "hours");
  EXPECT_EQ(got->trigger_id, "trig");
  EXPECT_EQ(got->next_run, 100);
  EXPECT_EQ(got->created, 3);

  DriftConfigRecord replaced = Drift(ws_, 50);
  replaced.run_every = 2;
  replaced.run_every_unit = "days";
  replaced.pipeline_id = "pipe2";
  replaced.created = 8;
  replaced.updated = 9;
  st.PutDriftConfig(replaced);
  got = st.GetDriftConfig(ws_);
  EXPECT_EQ(got->run_every, 2);
  EXPECT_EQ(got->run_every_unit, "days");
  EXPECT_EQ(got->pipeline_id, "pipe2");
  EXPECT_EQ(got->next_run, 50);
  EXPECT_EQ(got->updated, 9);
  EXPECT_EQ(got->created, 3) << "a replacement keeps the creation time";

  st.PutDriftConfig(Drift(ws2_, 20));
  st.PutDriftConfig(Drift(other_, 40));
  DriftConfigRecord disabled = Drift(WorkspaceKey{"other", "o1", "p1", "ws"}, 10, false);
  EXPECT_FALSE(st.GetDriftConfig(missing_));

  auto due = st.DueDriftConfigs(50, 10);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0].workspace, "ws2");
  EXPECT_EQ(due[1].account, "other");
  EXPECT_EQ(due[2].account, "acct");
  EXPECT_EQ(due[2].workspace, "ws");
  EXPECT_EQ(st.DueDriftConfigs(49, 10).size(), 2u);
  EXPECT_EQ(st.DueDriftConfigs(50, 1).size(), 1u);
  EXPECT_TRUE(st.DueDriftConfigs(19, 10).empty());

  st.PutDriftConfig(disabled);  // replaces other's config: disabled ones are never due
  due = st.DueDriftConfigs(1000, 10);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].workspace, "ws2");
  EXPECT_EQ(due[1].workspace, "ws");
  EXPECT_FALSE(st.GetDriftConfig(other_)->enabled);

  EXPECT_TRUE(st.DeleteDriftConfig(ws_));
  EXPECT_FALSE(st.DeleteDriftConfig(ws_));
  EXPECT_FALSE(st.GetDriftConfig(ws_));
  EXPECT_FALSE(st.DeleteDriftConfig(missing_));
  EXPECT_EQ(st.DueDriftConfigs(1000, 10).size(), 1u);
}

TEST_P(RunContract, DeletingTheWorkspaceTakesItsRunsAlong) {
  auto& st = db_->Runs();
  st.CreateRemoteExecution(Execution(ws_, "e1"));
  std::string e1 = "e1";
  RunRecord r1 = Run(ws_, "r1", 10);
  st.CreateRun(r1, &e1);
  RunRecord r2 = Run(ws_, "r2", 11);
  st.CreateRun(r2, nullptr);
  st.AddEvent(Event(ws_, "started", "r1"));
  st.PutDriftConfig(Drift(ws_, 1));
  RunRecord kept = Run(ws2_, "k", 12);
  st.CreateRun(kept, nullptr);
  st.AddEvent(Event(ws2_, "started", "k"));

  db_->Workspaces().DeleteWorkspace("acct", "o1", "p1", "ws", {});
  EXPECT_EQ(CodeOf([&] { st.ListRuns(ws_, {}); }), ErrorCode::kNotFound);
  EXPECT_FALSE(st.GetRun(ws_, "r1"));
  EXPECT_FALSE(st.GetRemoteExecution(ws_, "e1"));
  EXPECT_FALSE(st.GetDriftConfig(ws_));
  EXPECT_EQ(Ids(st.RunsInStatus({"queued"}, 10)), (std::vector<std::string>{"k"}));
  EXPECT_TRUE(st.DueDriftConfigs(1000, 10).empty());

  CreateWs("acct", "ws");
  EXPECT_EQ(st.ListRuns(ws_, {}).total, 0);
  EXPECT_EQ(st.ListEvents(ws_, {}).total, 0);
  EXPECT_FALSE(st.GetRemoteExecution(ws_, "e1"));
  RunRecord again = Run(ws_, "r1", 20);
  st.CreateRun(again, nullptr);
  EXPECT_EQ(again.number, 1) << "numbering restarts with the workspace";
  EXPECT_EQ(st.ListRuns(ws2_, {}).total, 1);
  EXPECT_EQ(st.ListEvents(ws2_, {}).total, 1);
}

// Server-owned workspace fields (the cost estimate's data ids): merged, never written by a save.
TEST_P(RunContract, ServerFieldsMergeAndSurviveClientSaves) {
  auto& ws = db_->Workspaces();
  int64_t version = ws.GetWorkspace("acct", "o1", "p1", "ws")->version;
  EXPECT_TRUE(
      ws.SetWorkspaceServerFields(ws_, R"({"cost_breakdown_json":"b1","cost_diff_json":"d1"})"));
  EXPECT_TRUE(ws.SetWorkspaceServerFields(ws_, R"({"cost_breakdown_json":"b2"})"));
  WorkspaceRecord w = *ws.GetWorkspace("acct", "o1", "p1", "ws");
  EXPECT_EQ(w.server_json, R"({"cost_breakdown_json":"b2","cost_diff_json":"d1"})");
  EXPECT_EQ(w.version, version + 2);
  // A client save carries an old server_json: the stored one stands.
  WorkspaceRecord stale = w;
  stale.server_json = "{}";
  stale.name = "renamed";
  ws.UpdateWorkspace(stale, std::nullopt, nullptr);
  WorkspaceRecord saved = *ws.GetWorkspace("acct", "o1", "p1", "ws");
  EXPECT_EQ(saved.name, "renamed");
  EXPECT_EQ(saved.server_json, R"({"cost_breakdown_json":"b2","cost_diff_json":"d1"})");
  EXPECT_EQ(ws.GetWorkspace("other", "o1", "p1", "ws")->server_json, "{}");
  EXPECT_FALSE(ws.SetWorkspaceServerFields({"acct", "o1", "p1", "nope"}, R"({"x":"y"})"));
}

// ---- what clients wrote about a workspace's resources ----

class ResourceContract : public StateContract {
 protected:
  using Row = StateStore::ResourceOverride;
  static Row R(const std::string& name, const std::string& path, const std::string& session = "") {
    Row r;
    r.provider = "registry.terraform.io/hashicorp/aws";
    r.type = "aws_instance";
    r.name = name;
    r.module = "";
    r.path_id = path;
    r.session_id = session;
    r.updated = 7;
    return r;
  }
  std::optional<Row> Find(const WorkspaceKey& key, const std::string& path) {
    for (auto& r : db_->States().ListResourceOverrides(key))
      if (r.path_id == path) return r;
    return std::nullopt;
  }
};

TEST_P(ResourceContract, UpsertAndDriftKeepEachOthersHalf) {
  auto& st = db_->States();
  EXPECT_TRUE(st.ListResourceOverrides(key_).empty());
  Row a = R("web", "aws_instance.web[0]", "s1");
  a.mode = "resource";
  a.attributes_json = R"({"id":"i-1"})";
  a.sensitive_json = R"(["password"])";
  Row b = R("db", "aws_instance.db");
  b.attributes_json = R"({"id":"i-2"})";
  st.WriteResourceOverrides(key_, {a, b}, /*drift=*/false);
  auto rows = st.ListResourceOverrides(key_);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].path_id, "aws_instance.db") << "rows come by key";
  auto got = Find(key_, "aws_instance.web[0]");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->upserted);
  EXPECT_FALSE(got->drifted);
  EXPECT_FALSE(got->deleted);
  EXPECT_EQ(got->attributes_json, R"({"id":"i-1"})");
  EXPECT_EQ(got->sensitive_json, R"(["password"])");
  EXPECT_EQ(got->session_id, "s1");
  EXPECT_EQ(got->mode, "resource");
  EXPECT_EQ(got->updated, 7);

  // A drift write keeps the upserted half and, given no session, the stored one.
  Row d = R("web", "aws_instance.web[0]");
  d.drifted = true;
  d.drift_status = "changed";
  d.drift_attributes_json = R"({"ami":"ami-2"})";
  d.updated = 8;
  st.WriteResourceOverrides(key_, {d}, /*drift=*/true);
  got = Find(key_, "aws_instance.web[0]");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->upserted && got->drifted);
  EXPECT_EQ(got->attributes_json, R"({"id":"i-1"})");
  EXPECT_EQ(got->drift_status, "changed");
  EXPECT_EQ(got->drift_attributes_json, R"({"ami":"ami-2"})");
  EXPECT_EQ(got->session_id, "s1");
  EXPECT_EQ(got->updated, 8);

  // An upsert in another session keeps the drift half; later rows of one call win.
  Row a2 = R("web", "aws_instance.web[0]", "s2");
  a2.attributes_json = R"({"id":"i-9"})";
  Row a3 = a2;
  a3.attributes_json = R"({"id":"i-10"})";
  st.WriteResourceOverrides(key_, {a2, a3}, false);
  got = Find(key_, "aws_instance.web[0]");
  EXPECT_EQ(got->attributes_json, R"({"id":"i-10"})");
  EXPECT_TRUE(got->drifted);
  EXPECT_EQ(got->session_id, "s2");

  // A drift-only row for a resource nobody upserted.
  Row only = R("cache", "aws_instance.cache");
  only.drifted = true;
  only.drift_status = "deleted";
  st.WriteResourceOverrides(key_, {only}, true);
  got = Find(key_, "aws_instance.cache");
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->upserted);
  EXPECT_EQ(got->attributes_json, "{}");
  EXPECT_EQ(got->drift_status, "deleted");
}

TEST_P(ResourceContract, TombstonesCountKeepTheSessionAndLiftOnUpsert) {
  auto& st = db_->States();
  Row a = R("web", "aws_instance.web", "s1");
  a.attributes_json = R"({"id":"i-1"})";
  a.drifted = true;
  st.WriteResourceOverrides(key_, {a}, false);
  Row drift = a;
  drift.drift_status = "changed";
  st.WriteResourceOverrides(key_, {drift}, true);

  // Nothing in session s1 goes; a resource nobody wrote about is tombstoned by a new row.
  Row fresh = R("db", "aws_instance.db");
  fresh.mode = "data";
  EXPECT_EQ(st.TombstoneResources(key_, {a, fresh}, "s1", 20), 1);
  auto kept = Find(key_, "aws_instance.web");
  ASSERT_TRUE(kept);
  EXPECT_FALSE(kept->deleted);
  auto gone = Find(key_, "aws_instance.db");
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->deleted);
  EXPECT_EQ(gone->mode, "data");
  EXPECT_EQ(gone->updated, 20);

  // Another session's stale pass, then a plain delete: each key is counted once.
  EXPECT_EQ(st.TombstoneResources(key_, {a, fresh}, "s2", 21), 1);
  EXPECT_EQ(st.TombstoneResources(key_, {a, fresh}, "", 22), 0);
  auto dead = Find(key_, "aws_instance.web");
  ASSERT_TRUE(dead);
  EXPECT_TRUE(dead->deleted);
  EXPECT_FALSE(dead->upserted) << "a tombstone drops what was written";
  EXPECT_FALSE(dead->drifted);
  EXPECT_EQ(dead->attributes_json, "{}");
  EXPECT_EQ(dead->drift_status, "");
  EXPECT_EQ(dead->session_id, "s1");

  // A drift write does not bring it back; an upsert does.
  st.WriteResourceOverrides(key_, {drift}, true);
  EXPECT_TRUE(Find(key_, "aws_instance.web")->deleted);
  Row again = R("web", "aws_instance.web", "s3");
  again.attributes_json = R"({"id":"i-2"})";
  st.WriteResourceOverrides(key_, {again}, false);
  auto back = Find(key_, "aws_instance.web");
  EXPECT_FALSE(back->deleted);
  EXPECT_TRUE(back->upserted);
  EXPECT_EQ(back->session_id, "s3");
  EXPECT_EQ(st.TombstoneResources(key_, {}, "", 23), 0);
}

TEST_P(ResourceContract, RowsBelongToTheirWorkspaceAndGoWithIt) {
  auto& st = db_->States();
  WorkspaceKey missing{"acct", "o1", "p1", "nope"};
  WorkspaceKey elsewhere{"other", "o1", "p1", "ws"};
  Row a = R("web", "aws_instance.web");
  for (const WorkspaceKey& k : {missing, elsewhere}) {
    EXPECT_EQ(CodeOf([&] { st.ListResourceOverrides(k); }), ErrorCode::kNotFound);
    EXPECT_EQ(CodeOf([&] { st.WriteResourceOverrides(k, {a}, false); }), ErrorCode::kNotFound);
    EXPECT_EQ(CodeOf([&] { st.TombstoneResources(k, {a}, "", 1); }), ErrorCode::kNotFound);
  }
  st.WriteResourceOverrides(key_, {a}, false);
  db_->Workspaces().DeleteWorkspace("acct", "o1", "p1", "ws", {});
  EXPECT_EQ(CodeOf([&] { st.ListResourceOverrides(key_); }), ErrorCode::kNotFound);
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
  EXPECT_TRUE(st.ListResourceOverrides(key_).empty()) << "a new workspace starts clean";
}

// ---- audit trail ----

AuditRecord Audited(const std::string& account, int64_t time, const std::string& action,
                    const std::string& target, const std::string& principal = "tok",
                    const std::string& outcome = "success", int64_t status = 200) {
  AuditRecord r;
  r.account = account;
  r.time = time;
  r.principal = principal;
  r.principal_name = "Token " + principal;
  r.api_key = "key";
  r.action = action;
  r.target = target;
  r.request_id = "req-" + std::to_string(time) + "-" + action;
  r.outcome = outcome;
  r.status = status;
  r.remote_address = "10.0.0.1";
  return r;
}

std::vector<std::string> Targets(const Page<AuditRecord>& page) {
  std::vector<std::string> out;
  for (const auto& r : page.items) out.push_back(r.target);
  return out;
}

TEST_P(StorageContract, AuditKeepsEveryFieldAndListsNewestFirst) {
  AuditStore& audit = db_->Audit();
  EXPECT_EQ(audit.List("acct", {}).total, 0);
  audit.Append({});
  audit.Append({Audited("acct", 100, "org.create", "o1"), Audited("acct", 300, "org.update", "o1"),
                Audited("acct", 200, "project.create", "o1/p1")});
  // Same time: the later append comes first.
  audit.Append({Audited("acct", 300, "org.delete", "o1", "other-tok", "failed", 409)});
  Page<AuditRecord> page = audit.List("acct", {});
  EXPECT_EQ(page.total, 4);
  EXPECT_EQ(Targets(page), (std::vector<std::string>{"o1", "o1", "o1/p1", "o1"}));
  ASSERT_EQ(page.items.size(), 4u);
  const AuditRecord& r = page.items[0];
  EXPECT_EQ(r.account, "acct");
  EXPECT_EQ(r.time, 300);
  EXPECT_EQ(r.principal, "other-tok");
  EXPECT_EQ(r.principal_name, "Token other-tok");
  EXPECT_EQ(r.api_key, "key");
  EXPECT_EQ(r.action, "org.delete");
  EXPECT_EQ(r.request_id, "req-300-org.delete");
  EXPECT_EQ(r.outcome, "failed");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.remote_address, "10.0.0.1");
  EXPECT_EQ(page.items[1].action, "org.update");
  EXPECT_GT(page.items[0].id, page.items[1].id) << "ids increase in append order";
  AuditListQuery oldest;
  oldest.oldest_first = true;
  page = audit.List("acct", oldest);
  EXPECT_EQ(page.items.front().action, "org.create");
  EXPECT_EQ(page.items.back().action, "org.delete");
}

TEST_P(StorageContract, AuditOfOneAccountIsNeverListedForAnother) {
  AuditStore& audit = db_->Audit();
  audit.Append({Audited("acct", 100, "token.create", "tokens/t1", "shared"),
                Audited("other", 101, "token.create", "tokens/t1", "shared"),
                Audited("acct", 102, "state.lock", "o1/p1/ws")});
  for (const char* account : {"acct", "other"}) {
    AuditListQuery everything;
    everything.limit = 100;
    for (const AuditListQuery& q : {everything, [] {
                                      AuditListQuery q;
                                      q.target_prefix = "tokens/";
                                      q.principal = "shared";
                                      q.actions = {"token"};
                                      q.from = 0;
                                      q.to = 1000;
                                      return q;
                                    }()}) {
      Page<AuditRecord> page = audit.List(account, q);
      ASSERT_FALSE(page.items.empty()) << account;
      for (const auto& r : page.items) EXPECT_EQ(r.account, account);
      EXPECT_EQ(page.total, static_cast<int64_t>(page.items.size()));
    }
  }
  EXPECT_EQ(audit.List("acct", {}).total, 2);
  EXPECT_EQ(audit.List("other", {}).total, 1);
  EXPECT_TRUE(audit.List("nobody", {}).items.empty());
  EXPECT_EQ(audit.List("nobody", {}).total, 0);
}

TEST_P(StorageContract, AuditBatchesKeepEveryRecordInItsOrder) {
  // 151 records in one append (written several rows per statement): each one stored whole,
  // ids in the order given (at one time, the newest is the last appended).
  AuditStore& audit = db_->Audit();
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 151; ++i) {
    AuditRecord r = Audited("acct", 5000, "state.lock", "t" + std::to_string(i),
                            "p" + std::to_string(i % 7), i % 5 ? "success" : "failed", 200 + i);
    r.request_id = "req-" + std::to_string(i);
    batch.push_back(r);
  }
  audit.Append(batch);
  AuditListQuery q;
  q.limit = 200;
  Page<AuditRecord> page = audit.List("acct", q);
  EXPECT_EQ(page.total, 151);
  ASSERT_EQ(page.items.size(), 151u);
  for (int k = 0; k < 151; ++k) {
    const AuditRecord& got = page.items[static_cast<size_t>(k)];
    const AuditRecord& want = batch[static_cast<size_t>(150 - k)];
    EXPECT_EQ(got.target, want.target) << k;
    EXPECT_EQ(got.principal, want.principal) << k;
    EXPECT_EQ(got.principal_name, want.principal_name) << k;
    EXPECT_EQ(got.request_id, want.request_id) << k;
    EXPECT_EQ(got.outcome, want.outcome) << k;
    EXPECT_EQ(got.status, want.status) << k;
    EXPECT_EQ(got.time, 5000) << k;
    EXPECT_EQ(got.action, "state.lock") << k;
    EXPECT_EQ(got.api_key, "key") << k;
    EXPECT_EQ(got.remote_address, "10.0.0.1") << k;
    if (k > 0) {
      EXPECT_LT(got.id, page.items[static_cast<size_t>(k - 1)].id) << k;
    }
  }
}

TEST_P(StorageContract, AuditFiltersAndPages) {
  AuditStore& audit = db_->Audit();
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 25; ++i)
    batch.push_back(Audited("acct", 1000 + i, "state.lock", "o1/p1/ws" + std::to_string(i % 3)));
  batch.push_back(Audited("acct", 2000, "token.rotate", "tokens/t1", "admin"));
  batch.push_back(Audited("acct", 2001, "tokens.other", "tokens/t2", "admin"));
  batch.push_back(Audited("acct", 2002, "token.delete", "tokens/t1", "admin", "denied", 403));
  batch.push_back(Audited("acct", 2003, "variable_set.create", "o1/variable-sets/v\xc3\xa9", "ed"));
  batch.push_back(Audited("acct", 2004, "variable_set.create", "o1/variable-sets/v\xc3\xa8", "ed"));
  batch.push_back(Audited("acct", 2005, "org.update", "o10", "ed"));
  audit.Append(batch);

  AuditListQuery q;
  q.limit = 10;
  q.actions = {"state.lock"};
  Page<AuditRecord> first = audit.List("acct", q);
  EXPECT_EQ(first.total, 25);
  ASSERT_EQ(first.items.size(), 10u);
  EXPECT_EQ(first.items.front().time, 1024);
  q.offset = 20;
  Page<AuditRecord> last = audit.List("acct", q);
  ASSERT_EQ(last.items.size(), 5u);
  EXPECT_EQ(last.items.back().time, 1000);

  auto count = [&](const std::function<void(AuditListQuery&)>& set) {
    AuditListQuery f;
    f.limit = 100;
    set(f);
    Page<AuditRecord> page = audit.List("acct", f);
    EXPECT_EQ(page.total, static_cast<int64_t>(page.items.size()));
    return page.total;
  };
  // Target prefix: a range, not a pattern ("o1" also starts "o10"; "_" and "%" are literal).
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o1/p1/ws1"; }), 8);
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o1/p1/"; }), 25);
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o1"; }), 28);
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o1/"; }), 27);
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o1/p1/ws_"; }), 0);
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o%"; }), 0);
  // A prefix ending in a character beyond ASCII.
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o1/variable-sets/v\xc3\xa9"; }), 1);
  EXPECT_EQ(count([](auto& f) { f.target_prefix = "o1/variable-sets/v"; }), 2);
  // Principal, outcome, actions (exact, family, several).
  EXPECT_EQ(count([](auto& f) { f.principal = "admin"; }), 3);
  EXPECT_EQ(count([](auto& f) { f.outcome = "denied"; }), 1);
  EXPECT_EQ(count([](auto& f) { f.actions = {"token"}; }), 2)
      << "the family is token.*, not tokens.*";
  EXPECT_EQ(count([](auto& f) { f.actions = {"token.rotate", "org.update"}; }), 2);
  EXPECT_EQ(count([](auto& f) { f.actions = {"variable_set", "state"}; }), 27);
  EXPECT_EQ(count([](auto& f) { f.actions = {"variable"}; }), 0);
  // Time, inclusive.
  EXPECT_EQ(count([](auto& f) { f.from = 1020; }), 11);
  EXPECT_EQ(count([](auto& f) { f.to = 1004; }), 5);
  EXPECT_EQ(count([](auto& f) {
              f.from = 1010;
              f.to = 2000;
              f.principal = "admin";
            }),
            1);
  // Everything at once.
  EXPECT_EQ(count([](auto& f) {
              f.target_prefix = "tokens/t1";
              f.principal = "admin";
              f.actions = {"token"};
              f.outcome = "success";
              f.from = 2000;
              f.to = 2000;
            }),
            1);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ResourceContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(AllBackends, RunContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(AllBackends, PolicyContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(AllBackends, StateContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(AllBackends, StorageContract, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace statehouse::storage
