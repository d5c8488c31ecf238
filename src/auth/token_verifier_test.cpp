// TokenVerifier over a real SQLite database: remembered token rows never outlive a committed
// change to a token row, every call still checks the secret and the validity window, and
// without a counter every call reads the store. Also Database::CommitCounter() and
// Database::CredentialsCounter() of SQLite themselves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/auth.h"
#include "common/error.h"
#include "common/util.h"
#include "domain/credentials.h"
#include "storage/sqlite/sqlite_store.h"

namespace statehouse::auth {
namespace {

// Forwards to the real store and counts the reads the verifier makes.
class CountingTokens final : public storage::TokenStore {
 public:
  explicit CountingTokens(storage::TokenStore& inner) : inner_(inner) {}
  void CreateToken(const storage::TokenRecord& token) override { inner_.CreateToken(token); }
  std::optional<storage::TokenRecord> GetToken(std::string_view account,
                                               std::string_view identifier) override {
    ++gets;
    return inner_.GetToken(account, identifier);
  }
  storage::TokenRecord UpdateToken(const storage::TokenRecord& token) override {
    return inner_.UpdateToken(token);
  }
  void DeleteToken(std::string_view account, std::string_view identifier) override {
    inner_.DeleteToken(account, identifier);
  }
  storage::Page<storage::TokenRecord> ListTokens(std::string_view account,
                                                 const storage::ScopeFilter& scope,
                                                 std::string_view api_key_identifier,
                                                 std::string_view api_key_type,
                                                 std::string_view parent_identifier,
                                                 bool only_active, int64_t now,
                                                 const storage::ListQuery& query) override {
    return inner_.ListTokens(account, scope, api_key_identifier, api_key_type, parent_identifier,
                             only_active, now, query);
  }
  int gets = 0;

 private:
  storage::TokenStore& inner_;
};

// The code of the Error fn throws; kInternal (and a failure) when it throws none.
ErrorCode CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInternal;
}

class TokenVerifierTest : public ::testing::Test {
 protected:
  static constexpr int64_t kNow = 1'700'000'000'000;  // ms

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-verifier-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = storage::OpenSqlite((dir_ / "test.db").string(), 2);
    ASSERT_TRUE(db_->CreateAccount({"acct", 1}));
    ASSERT_TRUE(db_->CreateAccount({"other", 1}));
    for (const char* account : {"acct", "other"}) AddApiKey(account, "key", "Key");
    counting_ = std::make_unique<CountingTokens>(*db_);
  }
  void TearDown() override {
    counting_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Stores a token and returns its presented value.
  std::string AddToken(const std::string& id, const std::string& role = "editor",
                       std::optional<int64_t> valid_to = std::nullopt,
                       const std::string& account = "acct", int64_t valid_from = 0) {
    MintedSecret m = MintSecret();
    storage::TokenRecord t;
    t.account = account;
    t.identifier = id;
    t.name = id;
    t.api_key_identifier = "key";
    t.api_key_type = "SERVICE_ACCOUNT";
    t.parent_identifier = "svc";
    t.role = role;
    t.valid_from = valid_from;
    t.valid_to = valid_to;
    t.secret_salt = m.stored.salt;
    t.secret_hash = m.stored.hash;
    t.created = t.updated = 1;
    db_->CreateToken(t);
    return FormatToken(account, id, m.secret);
  }

  // Both paths must agree: the verifier with its memory and the plain uncached check.
  std::optional<ErrorCode> Uncached(const std::string& presented, int64_t now) {
    try {
      Authenticate(*db_, presented, now);
      return std::nullopt;
    } catch (const Error& e) {
      return e.code();
    }
  }
  std::optional<ErrorCode> Cached(TokenVerifier& v, const std::string& presented, int64_t now) {
    try {
      v.Authenticate(presented, now);
      return std::nullopt;
    } catch (const Error& e) {
      return e.code();
    }
  }

  // What the server gives its verifier.
  const storage::CommitClock* Counter() const { return db_->CredentialsCounter(); }

  void AddApiKey(const std::string& account, const std::string& id, const std::string& name) {
    storage::ApiKeyRecord k;
    k.account = account;
    k.identifier = id;
    k.name = name;
    k.api_key_type = "SERVICE_ACCOUNT";
    k.parent_identifier = "svc";
    k.created = k.updated = 1;
    db_->CreateApiKey(k);
  }

  void AddProject(const std::string& org, const std::string& id) {
    storage::ProjectRecord p;
    p.account = "acct";
    p.org = org;
    p.identifier = id;
    p.name = id;
    p.created = p.updated = 1;
    db_->CreateProject(p);
  }

  void AddOrg(const std::string& id) {
    storage::OrgRecord o;
    o.account = "acct";
    o.identifier = id;
    o.name = id;
    o.created = o.updated = 1;
    db_->CreateOrg(o);
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<CountingTokens> counting_;
};

TEST_F(TokenVerifierTest, RememberedTokenKeepsWorking) {
  std::string value = AddToken("t1", "editor");
  TokenVerifier v(*counting_, Counter());
  for (int i = 0; i < 5; ++i) {
    Principal p = v.Authenticate(value, kNow);
    EXPECT_EQ(p.account, "acct");
    EXPECT_EQ(p.token_id, "t1");
    EXPECT_EQ(p.role, Role::kEditor);
  }
  EXPECT_EQ(counting_->gets, 1) << "nothing was written: the row read first stays good";
}

TEST_F(TokenVerifierTest, RememberedPrincipalKeepsItsScope) {
  AddOrg("o1");
  AddProject("o1", "p1");
  std::string value = domain::CreateOperatorToken(*db_, "acct", Role::kViewer, "o1", "p1");
  TokenVerifier v(*counting_, Counter());
  for (int i = 0; i < 3; ++i) {
    Principal got = v.Authenticate(value, NowMillis());
    EXPECT_EQ(got.role, Role::kViewer);
    EXPECT_EQ(got.org, "o1");
    EXPECT_EQ(got.project, "p1");
  }
}

TEST_F(TokenVerifierTest, DeletedTokenIsRefusedOnTheVeryNextCall) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  for (int i = 0; i < 3; ++i) v.Authenticate(value, kNow);
  db_->DeleteToken("acct", "t1");
  EXPECT_EQ(CodeOf([&] { v.Authenticate(value, kNow); }), ErrorCode::kUnauthenticated);
  EXPECT_EQ(CodeOf([&] { v.Authenticate(value, kNow); }), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, TokenDeletedThroughTheCredentialServiceIsRefused) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  v.Authenticate(value, NowMillis());
  domain::CredentialService creds(*db_);
  Principal admin{"acct", "op", Role::kAdmin, "", "", ""};
  creds.DeleteToken(admin, "t1", {});
  EXPECT_EQ(CodeOf([&] { v.Authenticate(value, NowMillis()); }), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, RotatedTokensOldSecretBehavesAsUncached) {
  std::string old_value = AddToken("t1", "admin");
  TokenVerifier v(*counting_, Counter());
  int64_t now = NowMillis();
  ASSERT_EQ(Cached(v, old_value, now), std::nullopt);
  ASSERT_EQ(Cached(v, old_value, now), std::nullopt);

  domain::CredentialService creds(*db_);
  Principal admin{"acct", "op", Role::kAdmin, "", "", ""};
  auto rotated = creds.RotateToken(admin, "t1", {}, std::nullopt);  // the old one dies at once
  now = NowMillis();
  EXPECT_EQ(Uncached(old_value, now), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, old_value, now), Uncached(old_value, now));
  EXPECT_EQ(Cached(v, rotated.token, now), std::nullopt);
  EXPECT_EQ(Cached(v, rotated.token, now), Uncached(rotated.token, now));
  EXPECT_EQ(Cached(v, old_value, now), ErrorCode::kUnauthenticated)
      << "the new row, now remembered, must refuse the old secret";
}

TEST_F(TokenVerifierTest, RotationWithAGracePeriodKeepsTheOldSecretUntilItEnds) {
  std::string old_value = AddToken("t1", "admin");
  TokenVerifier v(*counting_, Counter());
  int64_t now = NowMillis();
  ASSERT_EQ(Cached(v, old_value, now), std::nullopt);

  domain::CredentialService creds(*db_);
  Principal admin{"acct", "op", Role::kAdmin, "", "", ""};
  int64_t grace_end = NowMillis() + 3'600'000;
  auto rotated = creds.RotateToken(admin, "t1", {}, grace_end);
  now = NowMillis();
  for (const std::string& value : {old_value, rotated.token}) {
    EXPECT_EQ(Uncached(value, now), std::nullopt);
    EXPECT_EQ(Cached(v, value, now), std::nullopt);
  }
  // Once the grace period ends the old secret is refused, though nothing was written.
  EXPECT_EQ(Uncached(old_value, grace_end), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, old_value, grace_end), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, old_value, grace_end + 1), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, rotated.token, grace_end + 1), std::nullopt);
}

TEST_F(TokenVerifierTest, UpdateThatEndsValidityIsSeenOnTheNextCall) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  auto row = db_->GetToken("acct", "t1");
  ASSERT_TRUE(row);
  row->valid_to = kNow - 1;
  db_->UpdateToken(*row);
  EXPECT_EQ(Uncached(value, kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, value, kNow), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, SecretReplacedInTheStoreRefusesTheOldOne) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  auto row = db_->GetToken("acct", "t1");
  ASSERT_TRUE(row);
  MintedSecret m = MintSecret();
  row->secret_salt = m.stored.salt;
  row->secret_hash = m.stored.hash;
  row->previous_salt.clear();
  row->previous_hash.clear();
  row->previous_valid_until = 0;
  db_->UpdateToken(*row);
  EXPECT_EQ(Cached(v, value, kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, FormatToken("acct", "t1", m.secret), kNow), std::nullopt);
}

TEST_F(TokenVerifierTest, WrongSecretForARememberedTokenIsRefused) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  int gets = counting_->gets;
  auto parsed = ParseTokenString(value);
  ASSERT_TRUE(parsed);
  std::string wrong = FormatToken("acct", "t1", parsed->secret + "x");
  std::string other = FormatToken("acct", "t1", MintSecret().secret);
  EXPECT_EQ(Cached(v, wrong, kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, other, kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(counting_->gets, gets) << "the secret is checked against the remembered row";
  // The wrong attempts did not spoil the remembered row for its owner.
  EXPECT_EQ(Cached(v, value, kNow), std::nullopt);
}

TEST_F(TokenVerifierTest, RememberedRowIsNotUsedForAnotherAccount) {
  std::string value = AddToken("t1", "admin");
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  auto parsed = ParseTokenString(value);
  ASSERT_TRUE(parsed);
  // The same id and secret, naming another account where no such token exists.
  EXPECT_EQ(Cached(v, FormatToken("other", "t1", parsed->secret), kNow),
            ErrorCode::kUnauthenticated);
  // A token of the same id in the other account is its own row.
  std::string theirs = AddToken("t1", "viewer", std::nullopt, "other");
  Principal p = v.Authenticate(theirs, kNow);
  EXPECT_EQ(p.account, "other");
  EXPECT_EQ(p.role, Role::kViewer);
  EXPECT_EQ(v.Authenticate(value, kNow).account, "acct");
  EXPECT_EQ(Cached(v, FormatToken("acct", "t1", ParseTokenString(theirs)->secret), kNow),
            ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, RowsThatRefusedTheirCallerAreNotRemembered) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  std::string wrong = FormatToken("acct", "t1", "not-the-secret");
  EXPECT_EQ(Cached(v, wrong, kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(counting_->gets, 1);
  EXPECT_EQ(Cached(v, wrong, kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(counting_->gets, 2) << "a wrong secret must not make its row remembered";
  EXPECT_EQ(Cached(v, value, kNow), std::nullopt);
  EXPECT_EQ(counting_->gets, 3);
  EXPECT_EQ(Cached(v, value, kNow), std::nullopt);
  EXPECT_EQ(counting_->gets, 3);
}

TEST_F(TokenVerifierTest, UnknownAndMalformedTokensAreRefused) {
  TokenVerifier v(*counting_, Counter());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Cached(v, FormatToken("acct", "nope", "s"), kNow), ErrorCode::kUnauthenticated);
    EXPECT_EQ(Cached(v, "pat.acct.t1", kNow), ErrorCode::kUnauthenticated);
    EXPECT_EQ(Cached(v, "", kNow), ErrorCode::kUnauthenticated);
  }
  // A token created after an unknown-id refusal is found (the refusal was not remembered).
  EXPECT_EQ(Cached(v, FormatToken("acct", "late", "s"), kNow), ErrorCode::kUnauthenticated);
  std::string late = AddToken("late");
  EXPECT_EQ(Cached(v, late, kNow), std::nullopt);
}

TEST_F(TokenVerifierTest, ExpiredTokenIsRefusedEvenIfRemembered) {
  int64_t valid_to = kNow + 60'000;
  std::string value = AddToken("t1", "editor", valid_to);
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  ASSERT_EQ(Cached(v, value, valid_to - 1), std::nullopt);
  int gets = counting_->gets;
  EXPECT_EQ(Cached(v, value, valid_to), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, value, valid_to + 3'600'000), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Uncached(value, valid_to), ErrorCode::kUnauthenticated);
  EXPECT_EQ(counting_->gets, gets) << "the window is checked without reading the row again";
}

TEST_F(TokenVerifierTest, NotYetValidTokenIsRefusedEvenIfRemembered) {
  int64_t valid_from = kNow + 60'000;
  std::string value = AddToken("t1", "editor", std::nullopt, "acct", valid_from);
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, valid_from), std::nullopt);  // remembered now
  EXPECT_EQ(Cached(v, value, valid_from - 1), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cached(v, value, kNow), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, WriteThatChangesNoTokenKeepsTheRowRemembered) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  v.Authenticate(value, kNow);
  v.Authenticate(value, kNow);
  EXPECT_EQ(counting_->gets, 1);
  AddOrg("o1");  // a committed write that touches no token row
  v.Authenticate(value, kNow);
  EXPECT_EQ(counting_->gets, 1);
  AddToken("t2");  // another token's row
  v.Authenticate(value, kNow);
  EXPECT_EQ(counting_->gets, 2);
  v.Authenticate(value, kNow);
  EXPECT_EQ(counting_->gets, 2);
}

TEST_F(TokenVerifierTest, TokensDeletedWithTheirApiKeyAreRefused) {
  // The tokens go by the foreign key's cascade, not by a statement naming them.
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  db_->DeleteApiKey("acct", "key");
  ASSERT_FALSE(db_->GetToken("acct", "t1"));
  EXPECT_EQ(Cached(v, value, kNow), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, TokenChangedInASharedCommitIsSeen) {
  // Group commit: the token's change rides in one transaction with other writes.
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  std::atomic<bool> go{false};
  std::vector<std::thread> writers;
  for (int i = 0; i < 6; ++i)
    writers.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      AddOrg("shared" + std::to_string(i));
    });
  writers.emplace_back([&] {
    while (!go.load()) std::this_thread::yield();
    db_->DeleteToken("acct", "t1");
  });
  go = true;
  for (auto& t : writers) t.join();
  EXPECT_EQ(Cached(v, value, kNow), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, WithoutACounterEveryCallReadsTheStore) {
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, nullptr);
  for (int i = 1; i <= 4; ++i) {
    EXPECT_EQ(v.Authenticate(value, kNow).token_id, "t1");
    EXPECT_EQ(counting_->gets, i);
  }
  EXPECT_EQ(Cached(v, FormatToken("acct", "t1", "wrong"), kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(counting_->gets, 5);
  db_->DeleteToken("acct", "t1");
  EXPECT_EQ(Cached(v, value, kNow), ErrorCode::kUnauthenticated);
  EXPECT_EQ(counting_->gets, 6);
  EXPECT_EQ(Cached(v, "garbage", kNow), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, WithoutACounterAChangeMadeBehindItsBackIsSeen) {
  // The PostgreSQL case: another process may write, and no counter tells this one.
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, nullptr);
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  auto row = db_->GetToken("acct", "t1");
  ASSERT_TRUE(row);
  row->valid_to = kNow - 1;
  db_->UpdateToken(*row);
  EXPECT_EQ(Cached(v, value, kNow), ErrorCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, CachedAndUncachedAgreeAcrossALifecycle) {
  std::string value = AddToken("t1", "viewer", kNow + 1000);
  TokenVerifier v(*counting_, Counter());
  auto check = [&](int64_t now, const char* when) {
    EXPECT_EQ(Cached(v, value, now), Uncached(value, now)) << when;
  };
  check(kNow, "fresh");
  check(kNow, "remembered");
  check(kNow + 999, "last valid ms");
  check(kNow + 1000, "expired");
  auto row = db_->GetToken("acct", "t1");
  row->valid_to = kNow + 5000;
  db_->UpdateToken(*row);
  check(kNow + 1000, "extended");
  check(kNow + 4999, "extended, remembered");
  check(kNow + 5000, "expired again");
  db_->DeleteToken("acct", "t1");
  check(kNow, "deleted");
}

// --- Database::CommitCounter of SQLite -------------------------------------------------------

TEST_F(TokenVerifierTest, SqliteCommitCounterMovesOnWritesOnly) {
  const storage::CommitClock* counter = db_->CommitCounter();
  ASSERT_NE(counter, nullptr);
  ASSERT_EQ(counter, db_->CommitCounter()) << "one counter for the life of the database";
  std::string value = AddToken("t1");

  uint64_t before = counter->Count();
  db_->GetToken("acct", "t1");
  db_->GetToken("acct", "missing");
  db_->GetAccount("acct");
  db_->GetOrg("acct", "nope");
  db_->ListOrgs("acct", {});
  db_->ListTokens("acct", {}, "", "", "", true, kNow, {});
  db_->Ping();
  Authenticate(*db_, value, kNow);
  EXPECT_EQ(counter->Count(), before) << "reads must not move the counter";

  AddOrg("o1");
  uint64_t after_org = counter->Count();
  EXPECT_GT(after_org, before) << "creating an org commits a write";

  auto row = db_->GetToken("acct", "t1");
  row->name = "renamed";
  db_->UpdateToken(*row);
  uint64_t after_update = counter->Count();
  EXPECT_GT(after_update, after_org) << "updating a token commits a write";

  db_->DeleteToken("acct", "t1");
  uint64_t after_delete = counter->Count();
  EXPECT_GT(after_delete, after_update) << "deleting a token commits a write";

  AddToken("t2");
  EXPECT_GT(counter->Count(), after_delete) << "creating a token commits a write";

  uint64_t settled = counter->Count();
  db_->GetOrg("acct", "o1");
  db_->GetToken("acct", "t2");
  EXPECT_EQ(counter->Count(), settled);
}

TEST_F(TokenVerifierTest, SqliteCommitCounterMovesOnMultiStatementWrites) {
  const storage::CommitClock* counter = db_->CommitCounter();
  ASSERT_NE(counter, nullptr);
  AddOrg("o1");
  uint64_t before = counter->Count();
  AddProject("o1", "p1");
  uint64_t after_project = counter->Count();
  EXPECT_GT(after_project, before);

  storage::WorkspaceRecord w;
  w.account = "acct";
  w.org = "o1";
  w.project = "p1";
  w.identifier = "w1";
  w.name = "w1";
  w.status = "active";
  w.provisioner = "terraform";
  w.config_json = "{}";
  w.server_json = "{}";
  w.created = w.updated = 1;
  db_->Workspaces().CreateWorkspace(w, nullptr);
  uint64_t after_ws = counter->Count();
  EXPECT_GT(after_ws, after_project);
  ASSERT_TRUE(db_->Workspaces().GetWorkspace("acct", "o1", "p1", "w1"));
  EXPECT_EQ(counter->Count(), after_ws);

  storage::LockRecord lock;
  lock.lock_id = "lock-1";
  lock.locked_by = "me";
  lock.created = 1;
  db_->States().AcquireLock({"acct", "o1", "p1", "w1"}, lock);
  uint64_t after_lock = counter->Count();
  EXPECT_GT(after_lock, after_ws) << "taking a state lock commits a write";
  ASSERT_TRUE(db_->States().GetLock({"acct", "o1", "p1", "w1"}));
  EXPECT_EQ(counter->Count(), after_lock);
}

TEST_F(TokenVerifierTest, SqliteCommitCounterCountsWritesOfASecondHandleOnTheSameFile) {
  // Two handles of one file in this process: a write through either must tell readers of both.
  auto second = storage::OpenSqlite((dir_ / "test.db").string(), 1);
  const storage::CommitClock* counter = db_->CommitCounter();
  ASSERT_NE(counter, nullptr);
  uint64_t before = counter->Count();
  storage::OrgRecord o;
  o.account = "acct";
  o.identifier = "o2";
  o.name = "o2";
  o.created = o.updated = 1;
  second->CreateOrg(o);
  EXPECT_GT(counter->Count(), before);
}

TEST_F(TokenVerifierTest, SqliteCredentialsCounterMovesOnTokenChangesOnly) {
  const storage::CommitClock* credentials = db_->CredentialsCounter();
  ASSERT_NE(credentials, nullptr);
  ASSERT_NE(credentials, db_->CommitCounter()) << "SQLite tells token changes apart";
  uint64_t start = credentials->Count();
  AddOrg("o1");
  AddProject("o1", "p1");
  AddApiKey("acct", "key2", "Key 2");
  EXPECT_EQ(credentials->Count(), start) << "no token row changed";

  AddToken("t1");
  uint64_t created = credentials->Count();
  EXPECT_GT(created, start) << "creating a token";
  auto row = db_->GetToken("acct", "t1");
  row->name = "renamed";
  db_->UpdateToken(*row);
  uint64_t updated = credentials->Count();
  EXPECT_GT(updated, created) << "updating a token";
  EXPECT_EQ(CodeOf([&] { AddToken("t1"); }), ErrorCode::kConflict);
  AddOrg("o2");
  db_->DeleteToken("acct", "t1");
  uint64_t deleted = credentials->Count();
  EXPECT_GT(deleted, updated) << "deleting a token";
  AddToken("t2");
  uint64_t recreated = credentials->Count();
  db_->DeleteApiKey("acct", "key");  // cascades to t2
  EXPECT_GT(credentials->Count(), recreated) << "a token deleted by its API key's cascade";
  uint64_t settled = credentials->Count();
  AddOrg("o3");
  db_->GetToken("acct", "t2");
  EXPECT_EQ(credentials->Count(), settled);
}

TEST_F(TokenVerifierTest, FailedWriteLeavesDataUnchanged) {
  // A refused write may or may not move the counter, but the verifier must still agree with
  // the store afterwards.
  std::string value = AddToken("t1");
  TokenVerifier v(*counting_, Counter());
  ASSERT_EQ(Cached(v, value, kNow), std::nullopt);
  EXPECT_EQ(CodeOf([&] { AddToken("t1"); }), ErrorCode::kConflict);
  EXPECT_EQ(Cached(v, value, kNow), std::nullopt);
  EXPECT_EQ(Cached(v, value, kNow), Uncached(value, kNow));
}

}  // namespace
}  // namespace statehouse::auth
