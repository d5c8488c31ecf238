// The PostgreSQL driver of the SQL layer (libpq).
#pragma once

#include <memory>
#include <string>

#include "storage/sql/sql.h"

namespace statehouse::storage::postgres {

// Throws kUnavailable when the server cannot be reached.
std::unique_ptr<sql::Connection> Connect(const std::string& url);

}  // namespace statehouse::storage::postgres
