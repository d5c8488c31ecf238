// Backup and restore of the SQLite deployment through the library (the PostgreSQL path and the
// real binary are covered by tests/functional/test_backup.py).
#include "app/backup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/util.h"
#include "storage/backup.h"
#include "storage/sqlite/sqlite_store.h"

namespace statehouse::app {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
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

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("statehouse-backup-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "data");
    db_ = storage::OpenSqlite((root_ / "data" / "statehouse.db").string(), 2);
    ASSERT_TRUE(db_->CreateAccount({"acct", 1}));
    storage::OrgRecord o;
    o.account = "acct";
    o.identifier = "o";
    o.name = "O";
    db_->CreateOrg(o);
    storage::ProjectRecord p;
    p.account = "acct";
    p.org = "o";
    p.identifier = "p";
    p.name = "P";
    db_->CreateProject(p);
    storage::WorkspaceRecord w;
    w.account = "acct";
    w.org = "o";
    w.project = "p";
    w.identifier = "ws";
    w.name = "WS";
    w.status = "active";
    w.provisioner = "terraform";
    w.config_json = "{}";
    w.server_json = "{}";
    db_->Workspaces().CreateWorkspace(w, nullptr);
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(root_);
  }

  // Stores a version as the domain does: the blob first, then the row naming it.
  std::string Write(int64_t serial) {
    std::string bytes = "state " + std::to_string(serial) + " " + std::string(serial * 100, 'x');
    std::string sha = Sha256Hex({bytes});
    db_->Blobs().PutBytes(sha, bytes);
    storage::DataRecord d;
    d.id = "v" + std::to_string(serial);
    d.data_type = "state_raw";
    d.sha256 = sha;
    d.size = static_cast<int64_t>(bytes.size());
    d.created = serial;
    db_->States().WriteState(key_, d, std::nullopt, std::nullopt);
    return sha;
  }

  Config DataDir(const fs::path& dir) {
    Config c;
    c.data_dir = dir.string();
    return c;
  }

  fs::path root_;
  std::unique_ptr<storage::Database> db_;
  storage::WorkspaceKey key_{"acct", "o", "p", "ws"};
};

TEST_F(BackupTest, RoundTripCopiesTheSnapshotAndItsBlobs) {
  std::vector<std::string> shas;
  for (int64_t i = 1; i <= 5; ++i) shas.push_back(Write(i));
  std::ostringstream out, progress;
  Backup(DataDir(root_ / "data"), (root_ / "bk").string(), out, progress);
  EXPECT_TRUE(fs::exists(root_ / "bk" / "manifest.json"));
  EXPECT_NE(progress.str().find("backup: blobs 5/5"), std::string::npos) << progress.str();
  // The copy is one self-contained file (rollback journal, not WAL: header bytes 18-19).
  std::string header = ReadAll(root_ / "bk" / "statehouse.db").substr(0, 20);
  EXPECT_EQ(header[18], 1);
  EXPECT_EQ(header[19], 1);
  auto contents = storage::ReadSqliteFileContents((root_ / "bk" / "statehouse.db").string());
  EXPECT_EQ(contents.state_versions, 5);
  EXPECT_EQ(contents.workspaces, 1);
  ASSERT_EQ(contents.blobs.size(), 5u);

  Restore(DataDir(root_ / "restored"), (root_ / "bk").string(), out, progress);
  auto restored = storage::OpenSqlite((root_ / "restored" / "statehouse.db").string(), 1);
  for (int64_t i = 1; i <= 5; ++i) {
    auto d = restored->States().GetData(key_, "v" + std::to_string(i));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->sha256, shas[i - 1]);
    EXPECT_EQ(Sha256Hex({restored->Blobs().Read(d->sha256)}), shas[i - 1]);
  }
}

TEST_F(BackupTest, SnapshotDuringWritesNamesOnlyBlobsThatExist) {
  Write(1);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> written{1};
  std::thread writer([&] {
    for (int64_t i = 2; !stop.load(); ++i) {
      Write(i);
      written = i;
    }
  });
  for (int round = 0; round < 5; ++round) {
    fs::path dir = root_ / ("bk" + std::to_string(round));
    std::ostringstream out, progress;
    Backup(DataDir(root_ / "data"), dir.string(), out, progress);
    auto contents = storage::ReadSqliteFileContents((dir / "statehouse.db").string());
    // Versions 1..N, no gaps: one point in time.
    EXPECT_EQ(static_cast<int64_t>(contents.blobs.size()), contents.state_versions);
    EXPECT_LE(contents.state_versions, written.load() + 1);
    for (const auto& b : contents.blobs)
      EXPECT_EQ(Sha256Hex({ReadAll(dir / "blobs" / b.sha256.substr(0, 2) / b.sha256)}), b.sha256);
  }
  stop = true;
  writer.join();
}

TEST_F(BackupTest, RefusesANonEmptyBackupDirectory) {
  Write(1);
  fs::create_directories(root_ / "bk");
  WriteAll(root_ / "bk" / "x", "mine");
  std::ostringstream out, progress;
  EXPECT_EQ(
      CodeOf([&] { Backup(DataDir(root_ / "data"), (root_ / "bk").string(), out, progress); }),
      ErrorCode::kConflict);
  EXPECT_EQ(ReadAll(root_ / "bk" / "x"), "mine");
  EXPECT_EQ(
      CodeOf([&] { Backup(DataDir(root_ / "nothing"), (root_ / "bk2").string(), out, progress); }),
      ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(root_ / "bk2"));
}

TEST_F(BackupTest, RestoreRefusesExistingDataAndDamagedBackups) {
  for (int64_t i = 1; i <= 3; ++i) Write(i);
  std::ostringstream out, progress;
  Backup(DataDir(root_ / "data"), (root_ / "bk").string(), out, progress);
  EXPECT_EQ(
      CodeOf([&] { Restore(DataDir(root_ / "data"), (root_ / "bk").string(), out, progress); }),
      ErrorCode::kConflict);

  // A damaged blob (replaced, not edited: the backup's blobs are hard links to the live ones).
  fs::copy(root_ / "bk", root_ / "bad", fs::copy_options::recursive);
  auto contents = storage::ReadSqliteFileContents((root_ / "bk" / "statehouse.db").string());
  const std::string& sha = contents.blobs.back().sha256;
  fs::path victim = root_ / "bad" / "blobs" / sha.substr(0, 2) / sha;
  std::string bytes = ReadAll(victim);
  bytes[bytes.size() / 2] ^= 1;
  fs::remove(victim);
  WriteAll(victim, bytes);
  EXPECT_EQ(
      CodeOf([&] { Restore(DataDir(root_ / "t1"), (root_ / "bad").string(), out, progress); }),
      ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_ / "t1" / "statehouse.db"));
  for (auto& e : fs::recursive_directory_iterator(root_ / "t1"))
    EXPECT_TRUE(e.is_directory()) << "left behind: " << e.path();

  // A manifest of a newer format.
  std::string manifest = ReadAll(root_ / "bk" / "manifest.json");
  fs::copy(root_ / "bk", root_ / "future", fs::copy_options::recursive);
  std::string future = manifest;
  future.replace(future.find("\"format_version\":1"), 18, "\"format_version\":9");
  fs::remove(root_ / "future" / "manifest.json");
  WriteAll(root_ / "future" / "manifest.json", future);
  EXPECT_EQ(
      CodeOf([&] { Restore(DataDir(root_ / "t2"), (root_ / "future").string(), out, progress); }),
      ErrorCode::kInvalidArgument);
  // The good backup still restores into the untouched target.
  Restore(DataDir(root_ / "t1"), (root_ / "bk").string(), out, progress);
  EXPECT_TRUE(fs::exists(root_ / "t1" / "statehouse.db"));
}

TEST_F(BackupTest, ABackupKeepsTheBlobSweepOut) {
  std::string blobs = storage::SqliteBlobDirectory((root_ / "data" / "statehouse.db").string());
  std::string sha = Sha256Hex({"orphan"});
  db_->Blobs().PutBytes(sha, "orphan");  // named by no row: garbage once the grace is over
  db_->Blobs().Backdate(sha, 3600);
  auto nothing_referenced = [](std::string_view) { return false; };
  {
    std::optional<storage::BlobSweepLock> first, second;
    first.emplace(storage::BlobSweepLock::ForBackup(blobs));
    second.emplace(storage::BlobSweepLock::ForBackup(blobs));  // backups share it
    EXPECT_FALSE(storage::BlobSweepLock::TryForSweep(blobs).has_value());
    EXPECT_EQ(db_->Blobs().Sweep(nothing_referenced, 60, 86400).removed_blobs, 0);
    EXPECT_TRUE(fs::exists(storage::BlobFilePath(blobs, sha)));
    first.reset();
    EXPECT_FALSE(storage::BlobSweepLock::TryForSweep(blobs).has_value());
  }
  EXPECT_TRUE(storage::BlobSweepLock::TryForSweep(blobs).has_value());
  EXPECT_EQ(db_->Blobs().Sweep(nothing_referenced, 60, 86400).removed_blobs, 1);
  EXPECT_FALSE(fs::exists(storage::BlobFilePath(blobs, sha)));
}

TEST(PostgresClientEnvironment, MapsEveryParameterToLibpqVariables) {
  auto env = storage::PostgresClientEnvironment(
      "postgres://alice:s%40cret@db.internal:5433/statehouse?sslmode=require");
  std::map<std::string, std::string> m(env.begin(), env.end());
  EXPECT_EQ(m["PGUSER"], "alice");
  EXPECT_EQ(m["PGPASSWORD"], "s@cret");
  EXPECT_EQ(m["PGHOST"], "db.internal");
  EXPECT_EQ(m["PGPORT"], "5433");
  EXPECT_EQ(m["PGDATABASE"], "statehouse");
  EXPECT_EQ(m["PGSSLMODE"], "require");
  auto kv = storage::PostgresClientEnvironment("host=/run/pg dbname=x");
  std::map<std::string, std::string> k(kv.begin(), kv.end());
  EXPECT_EQ(k["PGHOST"], "/run/pg");
  EXPECT_EQ(k["PGDATABASE"], "x");
  EXPECT_EQ(CodeOf([] { storage::PostgresClientEnvironment("postgres://h/db?nonsense=1"); }),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace statehouse::app
