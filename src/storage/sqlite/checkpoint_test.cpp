// WAL checkpoints of the SQLite driver run on a thread of their own, not in the commit that
// takes the WAL past its mark.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

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

}  // namespace
}  // namespace statehouse::storage::sqlite
