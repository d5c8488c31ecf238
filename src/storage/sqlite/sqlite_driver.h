// The SQLite driver of the SQL layer: WAL, synchronous=FULL, one writer at a time
// (BEGIN IMMEDIATE), statements cached per connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "storage/sql/sql.h"

namespace statehouse::storage::sqlite {

std::unique_ptr<sql::Connection> Connect(const std::string& path);

// The count of write transactions committed to this file by this process's connections.
std::shared_ptr<const std::atomic<uint64_t>> CommitCounter(const std::string& path);

}  // namespace statehouse::storage::sqlite
