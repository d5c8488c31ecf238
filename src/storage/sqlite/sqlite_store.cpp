#include "storage/sqlite/sqlite_store.h"

#include <filesystem>

#include "storage/backup.h"
#include "storage/file_blob_store.h"
#include "storage/sql/sql_stores.h"
#include "storage/sqlite/sqlite_driver.h"

namespace statehouse::storage {

std::unique_ptr<Database> OpenSqlite(const std::string& path, size_t pool_size) {
  auto pool =
      std::make_unique<sql::ConnectionPool>([path] { return sqlite::Connect(path); }, pool_size);
  std::string blobs = SqliteBlobDirectory(path);  // the one rule, shared with backups
  return sql::MakeDatabase(
      "sqlite", std::move(pool), SqliteMigrations(),
      [blobs](sql::ConnectionPool&) { return OpenFileBlobStore(blobs); },
      sqlite::CommitCounter(path));
}

}  // namespace statehouse::storage
