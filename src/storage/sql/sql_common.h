// Helpers shared by the SQL stores: list filters, ordering, version checks.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/records.h"
#include "storage/sql/sql.h"

namespace statehouse::storage::sql {

// ORDER BY clause for a sort field; columns come from a fixed table, never from client text.
const char* OrderBy(SortField field, bool descending);

// " AND (...)" for search and identifier filters, with the values to bind in order.
struct Filter {
  std::string sql;
  std::vector<std::string> binds;
};
Filter SearchFilter(const ListQuery& q);
bool Unfiltered(const ListQuery& q);

// Throws kPreconditionFailed when expected is given and differs from actual.
void CheckVersion(std::optional<int64_t> expected, int64_t actual, std::string_view what);

// "a, b, c and 7 more"
std::string JoinNames(const std::vector<std::string>& names, int64_t total);

// Row readers shared by the stores; each reads its columns starting at column `at`, so joined
// rows can be read in pieces.
extern const char* const kWorkspaceColumns;
WorkspaceRecord ReadWorkspaceRow(const Statement& s, int at = 0);
extern const char* const kLockColumns;  // workspace_locks
LockRecord ReadLock(const Statement& s, int at = 0);
extern const char* const kDataColumns;  // workspace_data
DataRecord ReadData(const Statement& s, int at = 0);
// Binds a workspace key's four parts to placeholders first .. first + 3.
void BindKey(Statement& s, const WorkspaceKey& k, int first = 1);
// The workspace must exist (kNotFound). lock: hold its row to the end of the write transaction
// where the database locks rows (SQLite already admits a single writer), so lock, state and run
// writes on one workspace run one at a time.
void RequireWorkspace(Connection& c, const WorkspaceKey& key, bool lock = true);
// "a, b" qualified by a table alias: "w.a, w.b".
std::string Qualified(std::string_view columns, std::string_view alias);
// The number of columns in such a list (where the next part of a joined row starts).
int ColumnCount(std::string_view columns);

}  // namespace statehouse::storage::sql
