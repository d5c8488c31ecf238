// The SQLite stores beyond the core ones, sharing the database's connection pool.
#pragma once

#include <memory>

#include "storage/sqlite/sqlite_db.h"
#include "storage/store.h"

namespace statehouse::storage::sqlite {

std::unique_ptr<WorkspaceStore> MakeWorkspaceStore(ConnectionPool& pool);
std::unique_ptr<VariableSetStore> MakeVariableSetStore(ConnectionPool& pool);
std::unique_ptr<StateStore> MakeStateStore(ConnectionPool& pool);

}  // namespace statehouse::storage::sqlite
