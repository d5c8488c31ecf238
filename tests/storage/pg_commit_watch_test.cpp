// postgres::CommitWatch and CommitNotifier: a replica's commit clock, fed by the other
// replicas' notifications and by the heartbeat's snapshot comparison. On a real PostgreSQL server
// (STATEHOUSE_TEST_PG_URL, as under `make test`; skipped without), in a database of its own so that
// cutting its listener touches nobody else's.
#include "storage/postgres/pg_commit_watch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "common/error.h"
#include "storage/postgres/pg_driver.h"

namespace statehouse::storage {
namespace {

using namespace std::chrono_literals;

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
  const char* base = std::getenv("STATEHOUSE_TEST_PG_URL");
  if (!base) GTEST_SKIP() << "needs PostgreSQL: set STATEHOUSE_TEST_PG_URL (make test does)";
  const std::string db = "commit_watch_" + std::to_string(::getpid());
  auto admin = postgres::Connect(std::string(base) + "/postgres");
  try {
    admin->Exec("CREATE DATABASE " + db);
  } catch (const Error&) {
    // left by an earlier run of this process id
  }
  const std::string url = std::string(base) + "/" + db;
  {
    postgres::CommitWatch watch(url, 500ms);
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
    EXPECT_GE(notifier.Sent(), 1u);

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
  admin->Exec("DROP DATABASE IF EXISTS " + db);
}

}  // namespace
}  // namespace statehouse::storage
