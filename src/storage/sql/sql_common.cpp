#include "storage/sql/sql_common.h"

#include "common/error.h"
#include "storage/text_columns.h"

namespace statehouse::storage::sql {

// Sort columns come from a fixed table, never from client text.
const char* OrderBy(SortField field, bool descending) {
  switch (field) {
    case SortField::kName:
      return descending ? "name DESC, identifier DESC" : "name, identifier";
    case SortField::kIdentifier:
      return descending ? "identifier DESC" : "identifier";
    case SortField::kCreated:
      return descending ? "created DESC, identifier DESC" : "created, identifier";
    case SortField::kUpdated:
      return descending ? "updated DESC, identifier DESC" : "updated, identifier";
  }
  return "identifier";
}

Filter SearchFilter(const ListQuery& q) {
  Filter f;
  if (!q.search.empty()) {
    f.sql +=
        " AND (lower(name) LIKE lower(?) ESCAPE '\\' OR lower(identifier) LIKE lower(?) ESCAPE "
        "'\\')";
    f.binds.push_back(LikeContains(q.search));
    f.binds.push_back(LikeContains(q.search));
  }
  if (!q.identifiers.empty()) {
    f.sql += " AND identifier IN (";
    for (size_t i = 0; i < q.identifiers.size(); ++i) {
      f.sql += i ? ",?" : "?";
      f.binds.push_back(q.identifiers[i]);
    }
    f.sql += ")";
  }
  return f;
}

bool Unfiltered(const ListQuery& q) { return q.search.empty() && q.identifiers.empty(); }

void CheckVersion(std::optional<int64_t> expected, int64_t actual, std::string_view what) {
  if (expected && *expected != actual)
    Fail(ErrorCode::kPreconditionFailed,
         std::string(what) + " was modified since the given ETag (If-Match does not match)");
}

std::string JoinNames(const std::vector<std::string>& names, int64_t total) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += names[i];
  }
  if (total > static_cast<int64_t>(names.size()))
    out += " and " + std::to_string(total - static_cast<int64_t>(names.size())) + " more";
  return out;
}

const char* const kWorkspaceColumns =
    "account, org, project, identifier, name, status, provisioner, template_id, "
    "template_version, tags, variable_sets, config, server, created, updated, version";

WorkspaceRecord ReadWorkspaceRow(const Statement& s) {
  WorkspaceRecord r;
  r.account = s.Text(0);
  r.org = s.Text(1);
  r.project = s.Text(2);
  r.identifier = s.Text(3);
  r.name = s.Text(4);
  r.status = s.Text(5);
  r.provisioner = s.Text(6);
  r.template_id = s.Text(7);
  r.template_version = s.Text(8);
  r.tags = TagsFromText(s.Text(9));
  r.variable_sets = StringsFromText(s.Text(10));
  r.config_json = s.Text(11);
  r.server_json = s.Text(12);
  r.created = s.Int(13);
  r.updated = s.Int(14);
  r.version = s.Int(15);
  return r;
}

}  // namespace statehouse::storage::sql
