// postgres::CommitWatch: a replica's commit clock, fed by the other connections' NOTIFY. On a
// real PostgreSQL server (STATEHOUSE_TEST_PG_URL, as under `make test`; skipped without), in a
// database of its own so that cutting its listener touches nobody else's.
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
    // notification.
    CommitClock writer;
    auto conn = postgres::Connect(url, &writer);
    uint64_t before = watch.Clock().Count();
    conn->BeginWrite();
    conn->Exec("SELECT 1");
    conn->Commit();
    EXPECT_EQ(writer.Count(), 1u);
    ASSERT_TRUE(WaitFor([&] { return watch.Clock().Count() > before; }))
        << "the notification never arrived";
    EXPECT_GE(watch.Notifications(), 1u);

    // A refused write ticks its own replica's clock too; reads tick nothing.
    conn->BeginWrite();
    conn->Rollback();
    EXPECT_EQ(writer.Count(), 2u);
    conn->BeginRead();
    conn->Exec("SELECT 1");
    conn->Commit();
    EXPECT_EQ(writer.Count(), 2u);

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
