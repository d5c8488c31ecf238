// WAL checkpoints of the SQLite driver run on a thread of their own, not in the commit that
// takes the WAL past its mark.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/sql/sql.h"
#include "storage/sqlite/sqlite_driver.h"

namespace statehouse::storage::sqlite {
namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-checkpoint-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "db.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Commits of one 64 KiB row each (16 WAL frames, and a page or two more for the b-tree).
  static void WriteRows(sql::Connection& c, int commits, int first_id) {
    std::string row(64 * 1024, 'x');
    for (int i = 0; i < commits; ++i) {
      c.BeginWrite();
      c.Prepare("INSERT INTO rows (id, body) VALUES (?, ?)")
          .Bind(1, int64_t{first_id + i})
          .Bind(2, row)
          .Run();
      c.Commit();
    }
  }
  uintmax_t FileSize(const std::string& suffix = "") const {
    std::error_code ec;
    uintmax_t n = std::filesystem::file_size(path_ + suffix, ec);
    return ec ? 0 : n;
  }
  // Waits up to 10 s for the background checkpoints to reach n.
  uint64_t AwaitBackgroundCheckpoints(uint64_t n) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (WalCheckpoints(path_).background < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return WalCheckpoints(path_).background;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(CheckpointTest, TheWalIsCopiedBackByTheBackgroundThreadNotByTheWriter) {
  auto c = Connect(path_);
  c->Exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  // Below the mark (1,000 frames): nothing is checkpointed, the rows are in the WAL only.
  WriteRows(*c, 40, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(WalCheckpoints(path_).background, 0u);
  EXPECT_LT(FileSize(), 40u * 64 * 1024) << "without a checkpoint the rows are in the WAL only";
  EXPECT_GT(FileSize("-wal"), 40u * 64 * 1024);

  // Past it (at about the 57th row): the background thread copies the WAL into the file; the
  // writers never do.
  WriteRows(*c, 40, 1000);
  EXPECT_GE(AwaitBackgroundCheckpoints(1), 1u);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (FileSize() < 50u * 64 * 1024 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(FileSize(), 50u * 64 * 1024) << "the checkpoint wrote the rows into the file";
  EXPECT_EQ(WalCheckpoints(path_).by_writers, 0u);

  // Checkpointed, the WAL is written again from its start: it stops growing.
  uintmax_t wal = FileSize("-wal");
  for (int round = 0; round < 5; ++round) {
    uint64_t before = WalCheckpoints(path_).background;
    WriteRows(*c, 70, 2000 + 100 * round);
    AwaitBackgroundCheckpoints(before + 1);
  }
  EXPECT_LE(FileSize("-wal"), wal + 2 * 70u * 17 * 4096) << "the WAL keeps growing";
  EXPECT_EQ(WalCheckpoints(path_).by_writers, 0u);

  sql::Statement count = c->Prepare("SELECT count(*) FROM rows");
  ASSERT_TRUE(count.Step());
  EXPECT_EQ(count.Int(0), 80 + 5 * 70);
}

TEST_F(CheckpointTest, ClosingTheLastConnectionLeavesEverythingInTheFile) {
  {
    auto c = Connect(path_);
    c->Exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    WriteRows(*c, 100, 0);
    AwaitBackgroundCheckpoints(1);
  }
  // SQLite's close of the last connection (the checkpointer's, after the writers') checkpoints
  // and removes the WAL.
  EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));
  auto reader = ConnectReadOnly(path_);
  sql::Statement count = reader->Prepare("SELECT count(*) FROM rows");
  ASSERT_TRUE(count.Step());
  EXPECT_EQ(count.Int(0), 100);
}

// A writer process killed (SIGKILL) at random moments while its checkpoints copy the WAL into
// the file: every commit it had acknowledged is there afterwards, whole, and the file is sound.
// The rows are 64 KiB (17 WAL frames a commit), so a checkpoint comes every ~60 commits and
// takes a few milliseconds: many kills land during one.
TEST_F(CheckpointTest, AKillDuringCheckpointsLosesNoAcknowledgedCommit) {
  constexpr int kTrials = 12;
  std::mt19937 rng(std::random_device{}());
  int trials_after_checkpoints = 0;
  int64_t acknowledged_total = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::string path = path_ + "." + std::to_string(trial);
    int acks[2];
    ASSERT_EQ(::pipe(acks), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // The writer: one line per commit once COMMIT has returned ("acknowledged"), with the
      // background checkpoints counted so far.
      ::close(acks[0]);
      auto c = Connect(path);
      c->Exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
      for (int64_t id = 1; id < 100000; ++id) {
        c->BeginWrite();
        c->Prepare("INSERT INTO rows (id, body) VALUES (?, ?)")
            .Bind(1, id)
            .Bind(2, std::string(64 * 1024, static_cast<char>('a' + id % 26)))
            .Run();
        c->Commit();
        char line[64];
        int n = std::snprintf(line, sizeof line, "%lld %llu\n", static_cast<long long>(id),
                              static_cast<unsigned long long>(WalCheckpoints(path).background));
        if (::write(acks[1], line, n) != n) ::_exit(1);
      }
      ::_exit(0);
    }
    ::close(acks[1]);
    // Killed after a random number of acknowledged commits (60-400), read as they come.
    int kill_after = std::uniform_int_distribution<int>(60, 400)(rng);
    int64_t acknowledged = 0;
    unsigned long long checkpoints = 0;
    FILE* in = ::fdopen(acks[0], "r");
    long long id = 0;
    unsigned long long seen = 0;
    while (acknowledged < kill_after && std::fscanf(in, "%lld %llu", &id, &seen) == 2) {
      acknowledged = id;
      checkpoints = seen;
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    std::fclose(in);
    ASSERT_EQ(acknowledged, kill_after) << "the writer stopped early (trial " << trial << ")";
    if (checkpoints > 0) ++trials_after_checkpoints;
    acknowledged_total += acknowledged;

    auto c = Connect(path);  // recovers the WAL as SQLite does after a crash
    sql::Statement check = c->Prepare("PRAGMA integrity_check");
    ASSERT_TRUE(check.Step());
    EXPECT_EQ(check.Text(0), "ok") << "trial " << trial;
    sql::Statement rows = c->Prepare(
        "SELECT count(*), min(id), max(id), sum(length(body) = 65536 AND substr(body, 1, 1) = "
        "char(97 + id % 26) AND substr(body, 65536, 1) = char(97 + id % 26)) FROM rows "
        "WHERE id <= ?");
    rows.Bind(1, acknowledged);
    ASSERT_TRUE(rows.Step());
    EXPECT_EQ(rows.Int(0), acknowledged) << "trial " << trial << ": acknowledged rows lost";
    EXPECT_EQ(rows.Int(1), 1);
    EXPECT_EQ(rows.Int(2), acknowledged);
    EXPECT_EQ(rows.Int(3), acknowledged) << "trial " << trial << ": a row is not as written";
  }
  std::printf("%d trials, %lld commits acknowledged, %d trials killed after checkpoints began\n",
              kTrials, static_cast<long long>(acknowledged_total), trials_after_checkpoints);
  EXPECT_GT(trials_after_checkpoints, kTrials / 2) << "the kills came before any checkpoint";
}

}  // namespace
}  // namespace statehouse::storage::sqlite
