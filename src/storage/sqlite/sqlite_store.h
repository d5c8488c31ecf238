// The embedded SQLite backend (WAL, synchronous=FULL, migrations applied at open).
#pragma once

#include <memory>
#include <string>

#include "storage/store.h"

namespace statehouse::storage {

// Opens (creating if needed) the database file at path and migrates it to the newest schema.
std::unique_ptr<Database> OpenSqlite(const std::string& path, size_t pool_size = 8);

}  // namespace statehouse::storage
