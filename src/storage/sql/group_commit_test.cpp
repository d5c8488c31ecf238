// Group commit of the SQL layer's pool on a real SQLite file: concurrent writes share commits,
// each in its own savepoint, so one that fails takes only its own changes with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
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

// SubmitWrite: the submitting thread does not wait for the commit; done reports each
// write's outcome once, after the commit that covers it.
TEST_F(GroupCommitTest, SubmittedWritesShareCommitsWithWaitingOnesAndEachIsDoneOnce) {
  constexpr int kSubmitted = 40, kWaiting = 8;
  std::atomic<bool> release{false};
  std::mutex m;
  std::vector<int> done_count(kSubmitted, 0);
  std::vector<std::exception_ptr> done_error(kSubmitted);
  std::vector<bool> visible_when_done(kSubmitted, false);
  std::vector<std::thread> threads;
  // A held write leads, so everything below queues behind it.
  threads.emplace_back([&] {
    pool_->WriteTransaction([&](Connection& c) {
      Insert(c, 1000);
      while (!release.load()) std::this_thread::yield();
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::atomic<int> returned{0};
  for (int i = 0; i < kSubmitted; ++i) {
    // Returns at once: a commit is being led.
    pool_->SubmitWrite(
        [i](Connection& c) {
          Insert(c, i);
          if (i % 5 == 4) Fail(ErrorCode::kConflict, "submitted " + std::to_string(i) + " fails");
        },
        [&, i](std::exception_ptr error) {
          // Durable and visible to readers by now (unless it failed).
          bool visible = pool_->ReadTransaction([i](Connection& c) {
            Statement s = c.Prepare("SELECT count(*) FROM rows WHERE writer = ?");
            s.Bind(1, int64_t{i});
            return s.Step() && s.Int(0) == 1;
          });
          std::lock_guard g(m);
          ++done_count[i];
          done_error[i] = error;
          visible_when_done[i] = visible;
        });
    returned.fetch_add(1);
  }
  EXPECT_EQ(returned.load(), kSubmitted);
  for (int i = 0; i < kWaiting; ++i)
    threads.emplace_back(
        [&, i] { pool_->WriteTransaction([i](Connection& c) { Insert(c, 500 + i); }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    std::lock_guard g(m);
    for (int i = 0; i < kSubmitted; ++i) EXPECT_EQ(done_count[i], 0) << "before its commit: " << i;
  }
  release.store(true);
  for (auto& t : threads) t.join();
  // The leader ran what was queued before it returned; the submitted writes may have been
  // led past that by a waiting writer, which also returns only after they are done.
  std::vector<int64_t> expected;
  for (int i = 0; i < kSubmitted; ++i) {
    EXPECT_EQ(done_count[i], 1) << "write " << i;
    if (i % 5 == 4) {
      ASSERT_TRUE(done_error[i]) << "write " << i;
      try {
        std::rethrow_exception(done_error[i]);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kConflict);
      }
      EXPECT_FALSE(visible_when_done[i]) << "write " << i;
    } else {
      EXPECT_FALSE(done_error[i]) << "write " << i;
      EXPECT_TRUE(visible_when_done[i]) << "write " << i;
      expected.push_back(i);
    }
  }
  for (int i = 0; i < kWaiting; ++i) expected.push_back(500 + i);
  expected.push_back(1000);
  EXPECT_EQ(Writers(), expected);
  auto counts = pool_->GroupCommits();
  uint64_t commits = counts.commits - before_.commits, writes = counts.writes - before_.writes;
  EXPECT_EQ(writes, static_cast<uint64_t>(kSubmitted + kWaiting + 1));
  EXPECT_LT(commits, 6u);  // 49 writes in batches of up to 64: the held one's, then one or two
}

TEST_F(GroupCommitTest, ALoneSubmittedWriteIsCommittedBeforeSubmitWriteReturns) {
  bool done = false;
  std::exception_ptr error;
  pool_->SubmitWrite([](Connection& c) { Insert(c, 3); },
                     [&](std::exception_ptr e) {
                       done = true;
                       error = e;
                     });
  // Nobody led: the caller led its own commit, and the queue is empty again.
  EXPECT_TRUE(done);
  EXPECT_FALSE(error);
  EXPECT_EQ(Writers(), std::vector<int64_t>{3});
}

TEST_F(GroupCommitTest, SubmitWriteWithoutGroupCommitRunsItsTransactionAtOnce) {
  std::string path = (dir_ / "plain.sqlite").string();
  ConnectionPool plain([path] { return sqlite::Connect(path); }, 2);
  plain.WriteTransaction([](Connection& c) { c.Exec("CREATE TABLE t (x INTEGER)"); });
  std::exception_ptr error;
  int calls = 0;
  plain.SubmitWrite([](Connection& c) { c.Exec("INSERT INTO t VALUES (1)"); },
                    [&](std::exception_ptr e) {
                      ++calls;
                      error = e;
                    });
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(error);
  plain.SubmitWrite([](Connection& c) { c.Exec("INSERT INTO missing VALUES (1)"); },
                    [&](std::exception_ptr e) {
                      ++calls;
                      error = e;
                    });
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(error);
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
