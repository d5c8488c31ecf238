#include "storage/sql/sql_common.h"

#include <algorithm>

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

WorkspaceRecord ReadWorkspaceRow(const Statement& s, int at) {
  WorkspaceRecord r;
  r.account = s.Text(at + 0);
  r.org = s.Text(at + 1);
  r.project = s.Text(at + 2);
  r.identifier = s.Text(at + 3);
  r.name = s.Text(at + 4);
  r.status = s.Text(at + 5);
  r.provisioner = s.Text(at + 6);
  r.template_id = s.Text(at + 7);
  r.template_version = s.Text(at + 8);
  r.tags = TagsFromText(s.Text(at + 9));
  r.variable_sets = StringsFromText(s.Text(at + 10));
  r.config_json = s.Text(at + 11);
  r.server_json = s.Text(at + 12);
  r.created = s.Int(at + 13);
  r.updated = s.Int(at + 14);
  r.version = s.Int(at + 15);
  return r;
}

const char* const kLockColumns = "lock_id, info, manual, reason, locked_by, created";

LockRecord ReadLock(const Statement& s, int at) {
  LockRecord l;
  l.lock_id = s.Text(at + 0);
  l.info_json = s.Text(at + 1);
  l.manual = s.Int(at + 2) != 0;
  l.reason = s.Text(at + 3);
  l.locked_by = s.Text(at + 4);
  l.created = s.Int(at + 5);
  return l;
}

const char* const kDataColumns =
    "id, data_type, sha256, size, serial, lineage, pipeline_id, stage_id, pipeline_execution_id, "
    "pipeline_stage_id, provisioner_type, stack_path, rollback_source_id, created_by, created, "
    "policy_evaluation_id, policy_status, policy_message";

DataRecord ReadData(const Statement& s, int at) {
  DataRecord d;
  d.id = s.Text(at + 0);
  d.data_type = s.Text(at + 1);
  d.sha256 = s.Text(at + 2);
  d.size = s.Int(at + 3);
  d.serial = s.OptInt(at + 4);
  d.lineage = s.Text(at + 5);
  d.pipeline_id = s.Text(at + 6);
  d.stage_id = s.Text(at + 7);
  d.pipeline_execution_id = s.Text(at + 8);
  d.pipeline_stage_id = s.Text(at + 9);
  d.provisioner_type = s.Text(at + 10);
  d.stack_path = s.Text(at + 11);
  d.rollback_source_id = s.Text(at + 12);
  d.created_by = s.Text(at + 13);
  d.created = s.Int(at + 14);
  d.policy_evaluation_id = s.Int(at + 15);
  d.policy_status = s.Text(at + 16);
  d.policy_message = s.Text(at + 17);
  return d;
}

int ColumnCount(std::string_view columns) {
  return 1 + static_cast<int>(std::count(columns.begin(), columns.end(), ','));
}

std::string Qualified(std::string_view columns, std::string_view alias) {
  std::string out;
  size_t start = 0;
  while (start < columns.size()) {
    size_t comma = columns.find(',', start);
    std::string_view column = columns.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!column.empty() && column.front() == ' ') column.remove_prefix(1);
    if (!out.empty()) out += ", ";
    out.append(alias).append(".").append(column);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

void BindKey(Statement& s, const WorkspaceKey& k, int first) {
  s.Bind(first, k.account).Bind(first + 1, k.org).Bind(first + 2, k.project);
  s.Bind(first + 3, k.workspace);
}

void RequireWorkspace(Connection& c, const WorkspaceKey& key, bool lock) {
  Statement s = c.Prepare(
      std::string("SELECT 1 FROM workspaces WHERE account = ? AND org = ? AND project = ? AND "
                  "identifier = ?") +
      (lock ? c.ForUpdate() : ""));
  BindKey(s, key);
  if (!s.Step()) Fail(ErrorCode::kNotFound, "workspace '" + key.workspace + "' not found");
}

}  // namespace statehouse::storage::sql
