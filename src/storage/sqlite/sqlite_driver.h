// The SQLite driver of the SQL layer: WAL, synchronous=FULL, one writer at a time
// (BEGIN IMMEDIATE), statements cached per connection.
#pragma once

#include <memory>
#include <string>

#include "storage/sql/sql.h"

namespace statehouse::storage::sqlite {

std::unique_ptr<sql::Connection> Connect(const std::string& path);

}  // namespace statehouse::storage::sqlite
