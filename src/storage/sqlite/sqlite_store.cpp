#include "storage/sqlite/sqlite_store.h"

#include <filesystem>

#include "storage/backup.h"
#include "storage/file_blob_store.h"
#include "storage/sql/sql_stores.h"
#include "storage/sqlite/sqlite_driver.h"

namespace statehouse::storage {
namespace {
// Bounds of one shared commit: a write waits for at most this many others' work.
constexpr size_t kGroupCommitMaxWrites = 128;
constexpr int64_t kGroupCommitMaxMillis = 20;
}  // namespace

std::unique_ptr<Database> OpenSqlite(const std::string& path, size_t pool_size) {
  auto pool =
      std::make_unique<sql::ConnectionPool>([path] { return sqlite::Connect(path); }, pool_size);
  // One writer at a time and an fsync per commit: concurrent writes share commits.
  pool->EnableGroupCommit(kGroupCommitMaxWrites, kGroupCommitMaxMillis);
  std::string blobs = SqliteBlobDirectory(path);  // the one rule, shared with backups
  return sql::MakeDatabase(
      "sqlite", std::move(pool), SqliteMigrations(),
      [blobs](sql::ConnectionPool&) { return OpenFileBlobStore(blobs); },
      sqlite::CommitCounter(path), {}, sqlite::CredentialsCounter(path),
      [path] {
        sqlite::WalCheckpointCounts counts = sqlite::WalCheckpoints(path);
        return Database::WalCheckpointCounts{counts.background, counts.by_writers};
      });
}

}  // namespace statehouse::storage
