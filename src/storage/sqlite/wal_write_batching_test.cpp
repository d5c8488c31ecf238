// The WAL-batching VFS on real files: what it writes later must be what SQLite would have
// written at once, in the same places, before anyone can read it.
#include "storage/sqlite/wal_write_batching.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace statehouse::storage::sqlite {
namespace {

class WalWriteBatchingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-wal-batching-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "db.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A connection as the server opens one: this VFS, WAL, synchronous=FULL.
  sqlite3* Open(const char* vfs) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
              SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    Exec(db, "PRAGMA journal_mode=WAL");
    Exec(db, "PRAGMA synchronous=FULL");
    return db;
  }
  static void Exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  static std::string One(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(s, 0);
      out = text ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(s);
    return out;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(WalWriteBatchingTest, CommitsOfSeveralConnectionsReadBackThroughThePlainVfs) {
  const char* vfs = WalWriteBatchingVfs();
  EXPECT_NE(sqlite3_vfs_find(vfs), nullptr);
  sqlite3* a = Open(vfs);
  sqlite3* b = Open(vfs);
  Exec(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, body BLOB)");
  for (int i = 0; i < 300; ++i) {
    sqlite3* writer = i % 3 == 0 ? b : a;
    Exec(writer, "INSERT INTO t (who, body) VALUES ('" + std::string(writer == a ? "a" : "b") +
                     "', randomblob(" + std::to_string(100 + (i * 997) % 9000) + "))");
    // Each commit is visible to the other connection at once.
    EXPECT_EQ(One(writer == a ? b : a, "SELECT count(*) FROM t"), std::to_string(i + 1));
  }
  sqlite3_close(a);
  sqlite3_close(b);

  sqlite3* plain = Open(nullptr);
  EXPECT_EQ(One(plain, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(One(plain, "SELECT count(*) FROM t"), "300");
  EXPECT_EQ(One(plain, "SELECT count(*) FROM t WHERE who = 'b'"), "100");
  sqlite3_close(plain);
}

// A transaction larger than the page cache writes (spills) frames before it commits; rolled
// back, those frames must not be written later over another connection's commits.
TEST_F(WalWriteBatchingTest, FramesOfARolledBackTransactionNeverOverwriteLaterCommits) {
  const char* vfs = WalWriteBatchingVfs();
  sqlite3* a = Open(vfs);
  sqlite3* b = Open(vfs);
  Exec(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT, body BLOB)");
  Exec(a, "PRAGMA cache_size=20");  // pages: the 2 MB below spill
  for (int round = 0; round < 5; ++round) {
    Exec(a, "PRAGMA wal_checkpoint(TRUNCATE)");  // the rollback then reads nothing from the WAL
    Exec(a, "BEGIN IMMEDIATE");
    for (int i = 0; i < 50; ++i)
      Exec(a, "INSERT INTO t (who, body) VALUES ('gone', randomblob(40000))");
    Exec(a, "ROLLBACK");
    for (int i = 0; i < 20; ++i)
      Exec(b, "INSERT INTO t (who, body) VALUES ('b', randomblob(" + std::to_string(500 + i * 300) +
                  "))");
    Exec(a, "INSERT INTO t (who, body) VALUES ('a', randomblob(3000))");
    EXPECT_EQ(One(b, "PRAGMA integrity_check"), "ok") << "round " << round;
  }
  EXPECT_EQ(One(b, "SELECT count(*) FROM t WHERE who = 'gone'"), "0");
  sqlite3_close(a);
  sqlite3_close(b);

  sqlite3* plain = Open(nullptr);
  EXPECT_EQ(One(plain, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(One(plain, "SELECT count(*) FROM t WHERE who = 'b'"), "100");
  EXPECT_EQ(One(plain, "SELECT count(*) FROM t WHERE who = 'a'"), "5");
  EXPECT_EQ(One(plain, "SELECT count(*) FROM t WHERE who = 'gone'"), "0");
  sqlite3_close(plain);
}

// Writes wait in memory only inside a write transaction: whatever ends it (a commit, a
// rollback after pages spilled) leaves nothing pending.
TEST_F(WalWriteBatchingTest, NothingIsLeftPendingWhenATransactionEnds) {
  sqlite3* a = Open(WalWriteBatchingVfs());
  Exec(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)");
  EXPECT_EQ(WalBytesPending(path_), 0u);
  Exec(a, "PRAGMA cache_size=20");
  for (const char* end : {"ROLLBACK", "COMMIT", "ROLLBACK"}) {
    // Every page in the database file: undoing the transaction then reads nothing from the
    // WAL, which would have written what was pending.
    Exec(a, "PRAGMA wal_checkpoint(TRUNCATE)");
    Exec(a, "BEGIN IMMEDIATE");
    size_t most = 0;
    for (int i = 0; i < 40; ++i) {
      Exec(a, "INSERT INTO t (body) VALUES (randomblob(40000))");
      most = std::max(most, WalBytesPending(path_));
    }
    EXPECT_GT(most, 4096u) << "spilled pages wait to be written together";
    Exec(a, end);
    EXPECT_EQ(WalBytesPending(path_), 0u) << "after " << end;
  }
  EXPECT_EQ(One(a, "SELECT count(*) FROM t"), "40");
  sqlite3_close(a);
}

// A big transaction commits through the plain write path past the pending limit, and a
// checkpoint copies it all into the database file.
TEST_F(WalWriteBatchingTest, LargeTransactionsAndCheckpointsKeepEveryRow) {
  sqlite3* a = Open(WalWriteBatchingVfs());
  Exec(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)");
  Exec(a, "BEGIN IMMEDIATE");
  for (int i = 0; i < 300; ++i) Exec(a, "INSERT INTO t (body) VALUES (randomblob(30000))");
  Exec(a, "COMMIT");
  Exec(a, "PRAGMA wal_checkpoint(TRUNCATE)");
  EXPECT_EQ(One(a, "SELECT count(*) FROM t"), "300");
  EXPECT_EQ(std::filesystem::file_size(path_ + "-wal"), 0u) << "the WAL was copied and truncated";
  Exec(a, "INSERT INTO t (body) VALUES (randomblob(10))");
  sqlite3_close(a);
  sqlite3* plain = Open(nullptr);
  EXPECT_EQ(One(plain, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(One(plain, "SELECT count(*) FROM t"), "301");
  sqlite3_close(plain);
}

}  // namespace
}  // namespace statehouse::storage::sqlite
