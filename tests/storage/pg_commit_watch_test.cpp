// postgres::CommitWatch and CommitNotifier: a replica's commit clock, fed by the other
// replicas' notifications and by the heartbeat's snapshot comparison. On a real PostgreSQL server
// (STATEHOUSE_TEST_PG_URL, as under `make test`; skipped without), in a database of its own so that
// cutting its listener touches nobody else's.
#include "storage/postgres/pg_commit_watch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"
#include "storage/postgres/pg_driver.h"
#include "storage/postgres/pg_store.h"

namespace statehouse::storage {
namespace {

using namespace std::chrono_literals;

// A fresh database of this process on the test server; nullopt (skip) without one.
std::optional<std::string> FreshDatabase(const std::string& name) {
  const char* base = std::getenv("STATEHOUSE_TEST_PG_URL");
  if (!base) return std::nullopt;
  auto admin = postgres::Connect(std::string(base) + "/postgres");
  admin->Exec("DROP DATABASE IF EXISTS " + name);  // left by an earlier run of this process id
  admin->Exec("CREATE DATABASE " + name);
  return std::string(base) + "/" + name;
}

void DropDatabase(const std::string& name) {
  auto admin = postgres::Connect(std::string(std::getenv("STATEHOUSE_TEST_PG_URL")) + "/postgres");
  admin->Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(PgCommitWatchTest, UnreachableServerVouchesForNothingAndStopsPromptly) {
  auto start = std::chrono::steady_clock::now();
  {
    postgres::CommitWatch watch("postgresql://127.0.0.1:1/nothing?connect_timeout=1", 100ms);
    watch.Start();
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(watch.Clock().Now().has_value());
    EXPECT_EQ(watch.Connects(), 0u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "stopping waited on the backoff";
}

TEST(PgCommitWatchTest, NotifierWithoutADatabaseNeitherBlocksWritersNorItsStop) {
  auto start = std::chrono::steady_clock::now();
  {
    postgres::CommitNotifier notifier("postgresql://127.0.0.1:1/nothing?connect_timeout=1");
    for (int i = 0; i < 1000; ++i) notifier.Poke();  // writers never wait for it
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(notifier.Sent(), 0u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "stopping waited too long";
}

TEST(PgCommitWatchTest, CountsOtherConnectionsCommitsAndListensAgainAfterACut) {
  const std::string db = "commit_watch_" + std::to_string(::getpid());
  std::optional<std::string> fresh = FreshDatabase(db);
  if (!fresh) GTEST_SKIP() << "needs PostgreSQL: set STATEHOUSE_TEST_PG_URL (make test does)";
  const std::string url = *fresh;
  // Cuts this test's connections (pg_terminate_backend).
  auto admin = postgres::Connect(std::string(std::getenv("STATEHOUSE_TEST_PG_URL")) + "/postgres");
  {
    postgres::CommitWatch watch(url, 500ms);
    watch.Start();
    ASSERT_TRUE(WaitFor([&] { return watch.Clock().Now().has_value(); }))
        << "never confirmed by a heartbeat";
    EXPECT_EQ(watch.Connects(), 1u);

    // Another replica's write transaction: its own clock ticks at once, this one on the
    // notification its notifier sends after the commit. (The transaction writes nothing, so
    // only the notification can tell.)
    CommitClock writer;
    postgres::CommitNotifier notifier(url);
    auto conn = postgres::Connect(url, &writer, &notifier);
    uint64_t before = watch.Clock().Count();
    conn->BeginWrite();
    conn->Exec("SELECT 1");
    conn->Commit();
    EXPECT_EQ(writer.Count(), 1u);
    ASSERT_TRUE(WaitFor([&] { return watch.Clock().Count() > before; }))
        << "the notification never arrived";
    EXPECT_GE(watch.Notifications(), 1u);
    // The notifier counts a NOTIFY once PostgreSQL has answered it, which can be after the
    // listener has heard it.
    EXPECT_TRUE(WaitFor([&] { return notifier.Sent() >= 1u; })) << "never counted as sent";

    // A commit that nobody announces (a connection without a notifier) is counted all the
    // same: it changes the database's transaction snapshot, which the next heartbeat reads.
    auto silent = postgres::Connect(url);
    silent->Exec("CREATE TABLE IF NOT EXISTS watch_probe (x int)");
    auto snapshot = [&] {
      sql::Statement s = silent->Prepare("SELECT pg_current_snapshot()::text");
      EXPECT_TRUE(s.Step());
      return s.Text(0);
    };
    ASSERT_TRUE(WaitFor([&] { return watch.Notifications() >= notifier.Sent(); }));
    uint64_t notes_before = watch.Notifications();
    uint64_t count_before = watch.Clock().Count();
    uint64_t changes_before = watch.SnapshotChanges();
    std::string snapshot_before = snapshot();
    silent->Exec("INSERT INTO watch_probe VALUES (1)");
    EXPECT_NE(snapshot(), snapshot_before) << "a commit must change the snapshot";
    ASSERT_TRUE(WaitFor([&] { return watch.SnapshotChanges() > changes_before; }, 5s))
        << "no heartbeat saw the snapshot change";
    EXPECT_GT(watch.Clock().Count(), count_before);
    EXPECT_EQ(watch.Notifications(), notes_before) << "nothing was announced";

    // The notifier's connection is cut while idle (as by a database restart): the next
    // commit's notification still goes out, on a new connection.
    admin->Exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'statehouse-commit-notify' AND datname = '" +
        db + "'");
    uint64_t sent_before_cut = notifier.Sent();
    notes_before = watch.Notifications();
    conn->BeginWrite();
    conn->Commit();
    ASSERT_TRUE(WaitFor([&] { return notifier.Sent() > sent_before_cut; }))
        << "the notifier did not reconnect";
    ASSERT_TRUE(WaitFor([&] { return watch.Notifications() > notes_before; }));

    // A notifier that stops sends what is pending first.
    notes_before = watch.Notifications();
    {
      postgres::CommitNotifier last(url);
      last.Poke();
    }
    ASSERT_TRUE(WaitFor([&] { return watch.Notifications() > notes_before; }))
        << "the pending notification was dropped at stop";

    // A refused write ticks its own replica's clock too; reads tick nothing.
    uint64_t written = writer.Count();
    conn->BeginWrite();
    conn->Rollback();
    EXPECT_EQ(writer.Count(), written + 1);
    conn->BeginRead();
    conn->Exec("SELECT 1");
    conn->Commit();
    EXPECT_EQ(writer.Count(), written + 1);

    // The listening connection is cut: the watch listens again and ticks (what was sent
    // meanwhile is lost), then vouches again.
    uint64_t before_cut = watch.Clock().Count();
    admin->Exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'statehouse-commit-watch' AND datname = '" +
        db + "'");
    ASSERT_TRUE(WaitFor([&] { return watch.Connects() >= 2; })) << "never listened again";
    EXPECT_GT(watch.Clock().Count(), before_cut);
    EXPECT_TRUE(WaitFor([&] { return watch.Clock().Now().has_value(); }));
  }
  DropDatabase(db);
}

// A single-statement write (LOCK and UNLOCK on PostgreSQL) sends no BEGIN or COMMIT: its
// statement is committed when it returns, and counts as a commit of this replica. A second
// statement is refused before it is sent; the connection then works as before.
TEST(PgCommitWatchTest, SingleStatementWritesCommitAloneAndCountAsCommits) {
  const std::string name = "single_statement_" + std::to_string(::getpid());
  std::optional<std::string> url = FreshDatabase(name);
  if (!url) GTEST_SKIP() << "needs PostgreSQL: set STATEHOUSE_TEST_PG_URL (make test does)";
  {
    CommitClock writer;
    auto conn = postgres::Connect(*url, &writer);
    auto other = postgres::Connect(*url);
    conn->Exec("CREATE TABLE probe (x INTEGER)");
    auto rows = [&] {
      sql::Statement s = other->Prepare("SELECT count(*) FROM probe");
      EXPECT_TRUE(s.Step());
      return s.Int(0);
    };
    conn->BeginSingleStatementWrite();
    conn->Prepare("INSERT INTO probe VALUES (1)").Run();
    EXPECT_EQ(rows(), 1) << "committed with its statement, before Commit";
    conn->Commit();
    EXPECT_EQ(writer.Count(), 1u);

    conn->BeginSingleStatementWrite();
    conn->Prepare("INSERT INTO probe VALUES (2)").Run();
    std::optional<ErrorCode> code;
    try {
      conn->Prepare("INSERT INTO probe VALUES (3)").Run();
    } catch (const Error& e) {
      code = e.code();
    }
    EXPECT_EQ(code, ErrorCode::kInternal) << "a second statement went out";
    conn->Rollback();
    EXPECT_EQ(writer.Count(), 2u) << "its end counts as a commit";
    EXPECT_EQ(rows(), 2) << "the second statement was sent";

    // An ordinary transaction on the same connection afterwards.
    conn->BeginWrite();
    conn->Prepare("INSERT INTO probe VALUES (4)").Run();
    conn->Prepare("INSERT INTO probe VALUES (5)").Run();
    EXPECT_EQ(rows(), 2) << "not committed yet";
    conn->Rollback();
    EXPECT_EQ(rows(), 2);
  }
  DropDatabase(name);
}

// Two replicas on one database: token rows a replica verified stay vouched for across the
// other replicas' ordinary commits, and stop being so when a token row changes anywhere: at
// once on the replica that changed it, within the bound on the others (the trigger's
// notification, else the heartbeat's read of the credentials_generation row).
TEST(PgCommitWatchTest, CredentialsClockMovesForTokenChangesOnly) {
  const std::string name = "credentials_watch_" + std::to_string(::getpid());
  std::optional<std::string> url = FreshDatabase(name);
  if (!url) GTEST_SKIP() << "needs PostgreSQL: set STATEHOUSE_TEST_PG_URL (make test does)";
  char dir[] = "/tmp/credentials_watch_XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  {
    auto a = OpenPostgres(*url, std::string(dir) + "/a", 2, 500ms);
    auto b = OpenPostgres(*url, std::string(dir) + "/b", 2, 500ms);
    const CommitClock& a_credentials = *a->CredentialsCounter();
    const CommitClock& b_commits = *b->CommitCounter();
    const CommitClock& b_credentials = *b->CredentialsCounter();
    ASSERT_NE(&b_commits, &b_credentials) << "token rows follow every commit";
    ASSERT_TRUE(WaitFor([&] { return b_credentials.Now().has_value(); }))
        << "never confirmed by a heartbeat";
    ASSERT_TRUE(a->CreateAccount({"acct", 1}));
    ApiKeyRecord key;
    key.account = "acct";
    key.identifier = "k1";
    key.name = "Key";
    key.api_key_type = "SERVICE_ACCOUNT";
    key.parent_identifier = "svc";
    a->CreateApiKey(key);
    // Settled: two heartbeat periods (100 ms each) with nothing changing token rows.
    std::this_thread::sleep_for(300ms);

    // Ordinary commits through A (an org, its update) move B's commit clock, not its
    // credentials clock; nor A's.
    uint64_t a_tokens = a_credentials.Count(), b_tokens = b_credentials.Count();
    uint64_t b_seen = b_commits.Count();
    OrgRecord org;
    org.account = "acct";
    org.identifier = "o1";
    org.name = "Org";
    a->CreateOrg(org);
    ASSERT_TRUE(WaitFor([&] { return b_commits.Count() > b_seen; })) << "B missed A's commit";
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(b_credentials.Count(), b_tokens) << "an org write dropped B's token rows";
    EXPECT_EQ(a_credentials.Count(), a_tokens) << "an org write dropped A's token rows";
    EXPECT_TRUE(b_credentials.Now().has_value());

    // A token created through A: A's clock moves before CreateToken returns, B's soon after.
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
    a->CreateToken(t);
    EXPECT_GT(a_credentials.Count(), a_tokens) << "A vouches for the token rows it replaced";
    ASSERT_TRUE(WaitFor([&] { return b_credentials.Count() > b_tokens; }, 5s))
        << "B never heard of the new token";

    // Tokens deleted with their API key (the foreign key's cascade) count too, as does a token
    // deleted by hand (psql), which nothing in this process hears of but the database.
    auto generation = [&] {
      auto c = postgres::Connect(*url);
      sql::Statement s = c->Prepare("SELECT n FROM credentials_generation WHERE id = 1");
      EXPECT_TRUE(s.Step());
      return s.Int(0);
    };
    int64_t g = generation();
    b_tokens = b_credentials.Count();
    a->DeleteApiKey("acct", "k1");
    EXPECT_GT(generation(), g) << "the cascade did not move the generation";
    ASSERT_TRUE(WaitFor([&] { return b_credentials.Count() > b_tokens; }, 5s));

    a->CreateApiKey(key);
    a->CreateToken(t);
    std::this_thread::sleep_for(300ms);
    b_tokens = b_credentials.Count();
    a_tokens = a_credentials.Count();
    postgres::Connect(*url)->Exec("DELETE FROM tokens WHERE identifier = 't1'");
    ASSERT_TRUE(WaitFor([&] { return b_credentials.Count() > b_tokens; }, 5s));
    ASSERT_TRUE(WaitFor([&] { return a_credentials.Count() > a_tokens; }, 5s))
        << "a change made outside the process never reached it";

    // The heartbeat alone: the row moved without a notification.
    std::this_thread::sleep_for(300ms);
    b_tokens = b_credentials.Count();
    postgres::Connect(*url)->Exec("UPDATE credentials_generation SET n = n + 1");
    ASSERT_TRUE(WaitFor([&] { return b_credentials.Count() > b_tokens; }, 5s))
        << "no heartbeat saw the generation move";
    EXPECT_TRUE(b_credentials.Now().has_value());
  }
  DropDatabase(name);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace statehouse::storage
