// What a backup needs from storage: a consistent snapshot of the database, the blobs its rows
// name, and counts for the manifest. The operator commands (src/app/backup.h) copy files and
// run pg_dump / pg_restore around these.
//
// Blobs are content-addressed and written (durably) before the row naming them commits: every
// blob a snapshot's rows name exists when the snapshot is taken. Blobs that no row names any
// more are removed by the sweep (BlobStore::Sweep, domain/retention.h), which could remove a
// blob after the snapshot and before a backup copied it: on SQLite a backup therefore holds
// BlobSweepLock (shared) from before its snapshot until its blobs are copied, and the file
// store's sweep skips the blob directory while any backup holds it. On PostgreSQL the dump and
// the checks read one MVCC snapshot, in which rows the sweep deletes afterwards stay visible.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace statehouse::storage {

namespace sql {
class Connection;
}

struct BlobRef {
  std::string sha256;
  int64_t size = 0;
};

struct SnapshotContents {
  int64_t accounts = 0;
  int64_t orgs = 0;
  int64_t projects = 0;
  int64_t workspaces = 0;
  int64_t state_versions = 0;  // data records of type state_raw
  int64_t data_records = 0;    // all data records (state versions, plans, cost documents, ...)
  int64_t remote_executions = 0;
  int64_t runs = 0;
  std::vector<BlobRef> blobs;  // every blob a row names (data records, uploads), by sha256
  int64_t blob_bytes = 0;      // their sizes summed
};

// Reads the counts and the blobs named by the rows, in c's current transaction.
SnapshotContents ReadSnapshotContents(sql::Connection& c);

// Where the SQLite deployment keeps the blobs of the database file at db_path (its directory's
// blobs/, as OpenSqlite does), and the file of one blob there.
std::string SqliteBlobDirectory(const std::string& db_path);
std::string BlobFilePath(const std::string& blob_directory, std::string_view sha256);

// flock(2) on <blob directory>/.sweep.lock, across processes: backups hold it shared, the
// sweep exclusively. Released when destroyed.
class BlobSweepLock {
 public:
  // Shared, for a backup: waits while a sweep runs. Creates the directory if needed.
  static BlobSweepLock ForBackup(const std::string& blob_directory);
  // Exclusive, for a sweep: nullopt while a backup holds the lock (never waits).
  static std::optional<BlobSweepLock> TryForSweep(const std::string& blob_directory);
  ~BlobSweepLock();
  BlobSweepLock(BlobSweepLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  BlobSweepLock& operator=(BlobSweepLock&&) = delete;
  BlobSweepLock(const BlobSweepLock&) = delete;

 private:
  explicit BlobSweepLock(int fd) : fd_(fd) {}
  int fd_;
};

// The contents of a SQLite database file, opened read-only (a backup's copy).
SnapshotContents ReadSqliteFileContents(const std::string& db_path);

// One REPEATABLE READ, read-only transaction on a PostgreSQL database, its snapshot exported
// (pg_dump --snapshot=ExportedId() dumps exactly what this transaction sees). Statement and
// idle timeouts are off for it: a dump may take long. Rolled back when destroyed.
class PostgresSnapshot {
 public:
  explicit PostgresSnapshot(const std::string& url);
  ~PostgresSnapshot();
  PostgresSnapshot(const PostgresSnapshot&) = delete;
  PostgresSnapshot& operator=(const PostgresSnapshot&) = delete;

  const std::string& ExportedId() const { return snapshot_id_; }
  // current_database(): the name libpq's defaults resolved the URL to.
  const std::string& DatabaseName() const { return database_; }
  SnapshotContents Contents();
  // The tables of the current schema, sorted.
  std::vector<std::string> Tables();
  // The blob's bytes as stored, chunk by chunk (memory stays at one chunk). kNotFound when the
  // snapshot has no such blob, kInternal when a chunk is missing.
  void ReadBlob(std::string_view sha256, const std::function<void(std::string_view)>& sink);

 private:
  std::unique_ptr<sql::Connection> conn_;
  std::string snapshot_id_;
  std::string database_;
};

// The connection parameters of a PostgreSQL URL (libpq URI or key=value string) as libpq's
// environment variables (PGHOST, PGPORT, PGDATABASE, PGPASSWORD, PGSSLMODE, ...), so that
// pg_dump / pg_restore connect without the URL, and its password, on their command line.
// kInvalidArgument when libpq cannot parse the URL or a parameter has no variable.
std::vector<std::pair<std::string, std::string>> PostgresClientEnvironment(const std::string& url);

}  // namespace statehouse::storage
