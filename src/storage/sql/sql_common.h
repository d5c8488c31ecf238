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

// Workspace rows, shared by the workspace and variable-set stores.
extern const char* const kWorkspaceColumns;
WorkspaceRecord ReadWorkspaceRow(const Statement& s);

}  // namespace statehouse::storage::sql
