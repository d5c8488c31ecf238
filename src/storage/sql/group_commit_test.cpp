// Group commit of the SQL layer's pool on a real SQLite file: concurrent writes share commits,
// each in its own savepoint, so one that fails takes only its own changes with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "common/error.h"
#include "storage/sql/sql.h"
#include "storage/sqlite/sqlite_driver.h"
#include "storage/sqlite/wal_write_batching.h"

namespace statehouse::storage::sql {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-group-commit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string path = (dir_ / "db.sqlite").string();
    pool_ = std::make_unique<ConnectionPool>([path] { return sqlite::Connect(path); }, 4);
    pool_->EnableGroupCommit(64, 1000);
    pool_->WriteTransaction([](Connection& c) {
      c.Exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)");
    });
    before_ = pool_->GroupCommits();
  }
  void TearDown() override {
    pool_.reset();
    std::filesystem::remove_all(dir_);
  }

  static void Insert(Connection& c, int64_t writer) {
    c.Prepare("INSERT INTO rows (writer) VALUES (?)").Bind(1, writer).Run();
  }
  std::vector<int64_t> Writers() {
    return pool_->ReadTransaction([](Connection& c) {
      std::vector<int64_t> out;
      Statement s = c.Prepare("SELECT writer FROM rows ORDER BY writer");
      while (s.Step()) out.push_back(s.Int(0));
      return out;
    });
  }

  // Write 0 holds the writer (inside its transaction) while writes 1..n-1 are handed to the
  // pool, so they queue behind it and are committed together; each inserts its number, then
  // does extra(i, c). Returns each write's error (null when it committed).
  std::vector<std::exception_ptr> WritesBehindAHeldOne(
      int n, const std::function<void(int, Connection&)>& extra) {
    std::atomic<bool> release{false};
    std::vector<std::exception_ptr> errors(n);
    std::vector<std::thread> threads;
    threads.emplace_back([&] {
      pool_->WriteTransaction([&](Connection& c) {
        Insert(c, 0);
        while (!release.load()) std::this_thread::yield();
      });
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // writer 0 leads by then
    for (int i = 1; i < n; ++i) {
      threads.emplace_back([&, i] {
        try {
          pool_->WriteTransaction([&](Connection& c) {
            Insert(c, i);
            extra(i, c);
          });
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    }
    // Time for the others to queue (not asserted: the outcomes hold either way).
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    release.store(true);
    for (auto& t : threads) t.join();
    return errors;
  }

  std::filesystem::path dir_;
  std::unique_ptr<ConnectionPool> pool_;
  ConnectionPool::GroupCommitCounts before_;
};

TEST_F(GroupCommitTest, ALoneWriteCommitsAndReturnsItsResult) {
  int64_t changed = pool_->WriteTransaction([](Connection& c) {
    Insert(c, 7);
    return c.Changes();
  });
  EXPECT_EQ(changed, 1);
  EXPECT_EQ(Writers(), std::vector<int64_t>{7});
}

TEST_F(GroupCommitTest, AFailingWriteInASharedCommitRollsBackOnlyItsOwnChanges) {
  constexpr int kWriters = 24;
  // Every third one fails after its insert: that insert must not survive.
  auto errors = WritesBehindAHeldOne(kWriters, [](int i, Connection&) {
    if (i % 3 == 0) Fail(ErrorCode::kConflict, "writer " + std::to_string(i) + " fails");
  });

  std::vector<int64_t> expected;
  for (int i = 0; i < kWriters; ++i) {
    if (i != 0 && i % 3 == 0) {
      ASSERT_TRUE(errors[i]) << "writer " << i;
      try {
        std::rethrow_exception(errors[i]);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kConflict);
        EXPECT_EQ(std::string(e.what()), "writer " + std::to_string(i) + " fails");
      }
    } else {
      EXPECT_FALSE(errors[i]) << "writer " << i;
      expected.push_back(i);
    }
  }
  EXPECT_EQ(Writers(), expected);
  auto counts = pool_->GroupCommits();
  uint64_t commits = counts.commits - before_.commits, writes = counts.writes - before_.writes;
  EXPECT_EQ(writes, static_cast<uint64_t>(kWriters));
  // The writes that queued behind writer 0 shared commits.
  EXPECT_LT(commits, writes);
}

TEST_F(GroupCommitTest, AWriteThatBreaksTheSharedTransactionLeavesTheOthersCommitted) {
  // A statement error that SQLite answers by rolling back the whole transaction (a failed
  // COMMIT-level problem is hard to provoke; ROLLBACK inside a savepoint ends it the same way).
  constexpr int kWriters = 12;
  auto errors = WritesBehindAHeldOne(kWriters, [](int i, Connection& c) {
    if (i == 5) c.Exec("ROLLBACK");  // ends the shared transaction under everyone
  });
  // Writer 5, run again alone, ends its own transaction and so fails; everyone else commits.
  std::vector<int64_t> expected;
  for (int i = 0; i < kWriters; ++i) {
    if (i == 5) {
      EXPECT_TRUE(errors[i]);
    } else {
      EXPECT_FALSE(errors[i]) << "writer " << i;
      expected.push_back(i);
    }
  }
  EXPECT_EQ(Writers(), expected);
}

TEST_F(GroupCommitTest, ManyWritersWithSmallBatchesAllReturnTheirOwnOutcome) {
  // Leadership changes hands often (3 writes per commit, 1 ms of work, and some writes slower
  // than that, which sends the rest of their batch to the next commit): every call returns,
  // with its own outcome, and exactly the writes that succeeded are stored.
  pool_->EnableGroupCommit(3, 1);
  constexpr int kThreads = 12, kPerThread = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> stored(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        int64_t id = t * 1000 + k;
        try {
          int64_t changed = pool_->WriteTransaction([&](Connection& c) {
            Insert(c, id);
            if (k % 17 == 5) std::this_thread::sleep_for(std::chrono::milliseconds(2));
            if (k % 7 == 3) Fail(ErrorCode::kConflict, "write " + std::to_string(id) + " fails");
            return c.Changes();
          });
          EXPECT_EQ(changed, 1);
          stored[t].push_back(id);
        } catch (const Error& e) {
          EXPECT_EQ(std::string(e.what()), "write " + std::to_string(id) + " fails");
          EXPECT_EQ(k % 7, 3);
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> expected;
  for (const auto& ids : stored) expected.insert(expected.end(), ids.begin(), ids.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Writers(), expected);
  EXPECT_EQ(failures.load(), kThreads * ((kPerThread + 3) / 7));
  auto counts = pool_->GroupCommits();
  EXPECT_EQ(counts.writes - before_.writes, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(GroupCommitTest, SavepointJournalsOfASharedCommitStayInMemory) {
  // Each write changes ~40 pages of one table in its own savepoint (~160 KiB journaled each),
  // 24 of them in shared commits: far past SQLite's default spill point of 64 KiB, yet below
  // the driver's bound, so no statement journal file is opened.
  pool_->WriteTransaction([](Connection& c) {
    c.Exec("CREATE TABLE wide (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    c.Exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) "
        "INSERT INTO wide (id, body) SELECT i, printf('%.1000c', 'x') FROM n");
  });
  uint64_t opened = sqlite::SubjournalFilesOpened();
  auto errors = WritesBehindAHeldOne(24, [](int i, Connection& c) {
    c.Prepare("UPDATE wide SET body = printf('%.1000c', char(65 + ?))").Bind(1, int64_t{i}).Run();
  });
  for (int i = 1; i < 24; ++i) EXPECT_FALSE(errors[i]) << "writer " << i;
  auto counts = pool_->GroupCommits();
  EXPECT_LT(counts.commits - before_.commits, counts.writes - before_.writes);  // shared
  EXPECT_EQ(sqlite::SubjournalFilesOpened(), opened);
}

}  // namespace
}  // namespace statehouse::storage::sql
