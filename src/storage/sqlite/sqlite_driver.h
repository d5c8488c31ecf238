// The SQLite driver of the SQL layer: WAL, synchronous=FULL, one writer at a time
// (BEGIN IMMEDIATE), statements cached per connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "storage/commit_clock.h"
#include "storage/sql/sql.h"

namespace statehouse::storage::sqlite {

std::unique_ptr<sql::Connection> Connect(const std::string& path);

// Opens an existing database file read-only and as it is: no journal-mode change, no writes
// (reading a backup copy).
std::unique_ptr<sql::Connection> ConnectReadOnly(const std::string& path);

// Copies the database at source_path, while other connections and processes go on writing
// it, into dest_path (a new file) with SQLite's online backup API in a single step: one read
// transaction on the source, so the copy is one consistent snapshot, and under WAL the
// writers are not held up. The copy is left in rollback-journal mode: one self-contained file.
void OnlineBackup(const std::string& source_path, const std::string& dest_path);

// The count of write transactions committed to this file by this process's connections.
std::shared_ptr<const CommitClock> CommitCounter(const std::string& path);
// The count of those that changed a row of the tokens table (Database::CredentialsCounter).
std::shared_ptr<const CommitClock> CredentialsCounter(const std::string& path);

// WAL checkpoints of the file by this process since its first connection opened: those of the
// background thread, and those a writer ran itself because the WAL had outgrown that thread.
struct WalCheckpointCounts {
  uint64_t background = 0, by_writers = 0;
};
WalCheckpointCounts WalCheckpoints(const std::string& path);

}  // namespace statehouse::storage::sqlite
