// The PostgreSQL driver of the SQL layer (libpq).
#pragma once

#include <memory>
#include <string>

#include "storage/commit_clock.h"
#include "storage/sql/sql.h"

namespace statehouse::storage::postgres {

// Throws kUnavailable when the server cannot be reached. With a clock, every write
// transaction notifies the other replicas as it commits (see CommitWatch) and ticks the clock
// once its COMMIT has returned.
std::unique_ptr<sql::Connection> Connect(const std::string& url, CommitClock* clock = nullptr);

}  // namespace statehouse::storage::postgres
