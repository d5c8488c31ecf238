// The PostgreSQL driver of the SQL layer (libpq).
#pragma once

#include <memory>
#include <string>

#include "storage/commit_clock.h"
#include "storage/sql/sql.h"

namespace statehouse::storage::postgres {

class CommitNotifier;

// Throws kUnavailable when the server cannot be reached. With a clock, every write
// transaction ticks the clock once its COMMIT has returned, and pokes the notifier, which
// tells the other replicas (see CommitWatch); one that said ChangesCredentials also ticks
// credentials.
std::unique_ptr<sql::Connection> Connect(const std::string& url, CommitClock* clock = nullptr,
                                         CommitNotifier* notifier = nullptr,
                                         CommitClock* credentials = nullptr);

}  // namespace statehouse::storage::postgres
