#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/error.h"
#include "common/util.h"
#include "storage/sql/sql_common.h"
#include "storage/sql/sql_stores.h"
#include "storage/text_columns.h"

namespace statehouse::storage::sql {
namespace {

std::string KeyText(const VariableSetKey& k) {
  if (k.org.empty()) return "account." + k.identifier;
  if (k.project.empty()) return "org." + k.identifier;
  return k.identifier;
}

class SqlWorkspaceStore final : public WorkspaceStore {
 public:
  explicit SqlWorkspaceStore(ConnectionPool& pool) : pool_(pool) {}

  void CreateWorkspace(const WorkspaceRecord& w, EvaluationRecord* evaluation) override {
    pool_.WriteTransaction([&](Connection& c) {
      Statement p =
          c.Prepare("SELECT 1 FROM projects WHERE account = ? AND org = ? AND identifier = ?");
      p.Bind(1, w.account).Bind(2, w.org).Bind(3, w.project);
      if (!p.Step())
        Fail(ErrorCode::kNotFound,
             "project '" + w.project + "' not found in organization '" + w.org + "'");
      if (Find(c, w.account, w.org, w.project, w.identifier))
        Fail(ErrorCode::kConflict,
             "workspace '" + w.identifier + "' already exists in project '" + w.project + "'");
      Statement s = c.Prepare(std::string("INSERT INTO workspaces(") + kWorkspaceColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)");
      BindRow(s, w);
      s.Bind(14, w.created).Bind(15, w.updated).Run();
      WriteChildren(c, w);
      Statement inc = c.Prepare(
          "UPDATE projects SET workspace_count = workspace_count + 1 WHERE account = ? AND org = ? "
          "AND identifier = ?");
      inc.Bind(1, w.account).Bind(2, w.org).Bind(3, w.project).Run();
      AddStatusCount(c, w.account, w.org, w.project, w.status, 1);
      if (evaluation) evaluation->id = InsertEvaluation(c, *evaluation);
    });
  }

  std::optional<WorkspaceRecord> GetWorkspace(std::string_view account, std::string_view org,
                                              std::string_view project,
                                              std::string_view id) override {
    return pool_.With([&](Connection& c) { return Find(c, account, org, project, id); });
  }

  std::optional<WorkspaceView> GetWorkspaceView(std::string_view account, std::string_view org,
                                                std::string_view project,
                                                std::string_view id) override {
    // The lock row is unique per workspace; the state row is the one with the highest seq
    // among state versions (seq numbers every document of a workspace).
    static const std::string sql =
        "SELECT " + Qualified(kWorkspaceColumns, "w") + ", " + Qualified(kLockColumns, "l") + ", " +
        Qualified(kDataColumns, "d") +
        " FROM workspaces w LEFT JOIN workspace_locks l ON l.account = w.account AND l.org = "
        "w.org AND l.project = w.project AND l.workspace = w.identifier LEFT JOIN workspace_data "
        "d ON d.account = w.account AND d.org = w.org AND d.project = w.project AND d.workspace "
        "= w.identifier AND d.seq = (SELECT max(x.seq) FROM workspace_data x WHERE x.account = "
        "w.account AND x.org = w.org AND x.project = w.project AND x.workspace = w.identifier "
        "AND x.data_type = 'state_raw') WHERE w.account = ? AND w.org = ? AND w.project = ? AND "
        "w.identifier = ?";
    static const int kLockAt = ColumnCount(kWorkspaceColumns);
    static const int kDataAt = kLockAt + ColumnCount(kLockColumns);
    return pool_.With([&](Connection& c) -> std::optional<WorkspaceView> {
      Statement s = c.Prepare(sql);
      s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id);
      if (!s.Step()) return std::nullopt;
      WorkspaceView v;
      v.workspace = ReadWorkspaceRow(s);
      if (!s.IsNull(kLockAt)) v.lock = ReadLock(s, kLockAt);
      if (!s.IsNull(kDataAt)) v.newest_state = ReadData(s, kDataAt);
      return v;
    });
  }

  WorkspaceRecord UpdateWorkspace(const WorkspaceRecord& w, std::optional<int64_t> expected,
                                  EvaluationRecord* evaluation) override {
    return pool_.WriteTransaction([&](Connection& c) {
      auto current = Find(c, w.account, w.org, w.project, w.identifier, true);
      if (!current) Fail(ErrorCode::kNotFound, "workspace '" + w.identifier + "' not found");
      CheckVersion(expected, current->version, "workspace '" + w.identifier + "'");
      Statement s = c.Prepare(
          "UPDATE workspaces SET name = ?, status = ?, provisioner = ?, template_id = ?, "
          "template_version = ?, tags = ?, variable_sets = ?, config = ?, updated = ?, "
          "version = version + 1 WHERE account = ? AND org = ? AND project = ? AND identifier = ?");
      // Server-owned fields (server) are not the client's to write: a save racing a cost
      // estimate must not put back the ids it replaced.
      s.Bind(1, w.name).Bind(2, w.status).Bind(3, w.provisioner).Bind(4, w.template_id);
      s.Bind(5, w.template_version).Bind(6, TagsToText(w.tags));
      s.Bind(7, StringsToText(w.variable_sets)).Bind(8, w.config_json);
      s.Bind(9, w.updated).Bind(10, w.account).Bind(11, w.org).Bind(12, w.project);
      s.Bind(13, w.identifier).Run();
      DeleteChildren(c, w.account, w.org, w.project, w.identifier);
      WriteChildren(c, w);
      if (current->status != w.status) {
        AddStatusCount(c, w.account, w.org, w.project, current->status, -1);
        AddStatusCount(c, w.account, w.org, w.project, w.status, 1);
      }
      if (evaluation) evaluation->id = InsertEvaluation(c, *evaluation);
      return *Find(c, w.account, w.org, w.project, w.identifier);
    });
  }

  bool SetWorkspaceStatus(const WorkspaceKey& key, std::string_view status) override {
    return pool_.WriteTransaction([&](Connection& c) {
      auto current = Find(c, key.account, key.org, key.project, key.workspace, true);
      if (!current) return false;
      if (current->status == status) return true;
      Statement s = c.Prepare(
          "UPDATE workspaces SET status = ?, updated = ?, version = version + 1 WHERE account = ? "
          "AND org = ? AND project = ? AND identifier = ?");
      s.Bind(1, std::string(status)).Bind(2, NowMillis()).Bind(3, key.account).Bind(4, key.org);
      s.Bind(5, key.project).Bind(6, key.workspace).Run();
      AddStatusCount(c, key.account, key.org, key.project, current->status, -1);
      AddStatusCount(c, key.account, key.org, key.project, std::string(status), 1);
      return true;
    });
  }

  bool SetWorkspaceServerFields(const WorkspaceKey& key, std::string_view fields_json) override {
    boost::json::error_code ec;
    boost::json::value fields = boost::json::parse(fields_json, ec);
    if (ec || !fields.is_object())
      Fail(ErrorCode::kInternal, "SetWorkspaceServerFields: fields must be a JSON object");
    return pool_.WriteTransaction([&](Connection& c) {
      auto current = Find(c, key.account, key.org, key.project, key.workspace, true);
      if (!current) return false;
      boost::json::value merged = boost::json::parse(current->server_json, ec);
      if (ec || !merged.is_object()) merged = boost::json::object();
      for (const auto& kv : fields.get_object()) merged.get_object()[kv.key()] = kv.value();
      Statement s = c.Prepare(
          "UPDATE workspaces SET server = ?, updated = ?, version = version + 1 WHERE "
          "account = ? AND org = ? AND project = ? AND identifier = ?");
      s.Bind(1, boost::json::serialize(merged)).Bind(2, NowMillis()).Bind(3, key.account);
      s.Bind(4, key.org).Bind(5, key.project).Bind(6, key.workspace).Run();
      return true;
    });
  }

  void DeleteWorkspace(std::string_view account, std::string_view org, std::string_view project,
                       std::string_view id, std::optional<int64_t> expected) override {
    pool_.WriteTransaction([&](Connection& c) {
      auto current = Find(c, account, org, project, id, true);
      if (!current) Fail(ErrorCode::kNotFound, "workspace '" + std::string(id) + "' not found");
      CheckVersion(expected, current->version, "workspace '" + std::string(id) + "'");
      Statement lock = c.Prepare(
          "SELECT lock_id FROM workspace_locks WHERE account = ? AND org = ? AND project = ? AND "
          "workspace = ?");
      lock.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id);
      if (lock.Step())
        Fail(ErrorCode::kLocked, "workspace '" + std::string(id) + "' has a locked state (lock " +
                                     lock.Text(0) + "); unlock it before destroying the workspace");
      DeleteChildren(c, account, org, project, id);
      for (const char* table : {"workspace_settings", "workspace_data", "runs", "remote_executions",
                                "workspace_events", "drift_configs"}) {
        Statement s = c.Prepare(std::string("DELETE FROM ") + table +
                                " WHERE account = ? AND org = ? AND project = ? AND workspace = ?");
        s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id).Run();
      }
      Statement del = c.Prepare(
          "DELETE FROM workspaces WHERE account = ? AND org = ? AND project = ? AND identifier = "
          "?");
      del.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id).Run();
      Statement dec = c.Prepare(
          "UPDATE projects SET workspace_count = workspace_count - 1 WHERE account = ? AND org = ? "
          "AND identifier = ?");
      dec.Bind(1, account).Bind(2, org).Bind(3, project).Run();
      AddStatusCount(c, account, org, project, current->status, -1);
    });
  }

  Page<WorkspaceRecord> ListWorkspaces(std::string_view account, std::string_view org,
                                       std::string_view project,
                                       const WorkspaceListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      Page<WorkspaceRecord> page;
      Statement count = c.Prepare(
          "SELECT workspace_count FROM projects WHERE account = ? AND org = ? AND identifier = ?");
      count.Bind(1, account).Bind(2, org).Bind(3, project);
      if (!count.Step())
        Fail(ErrorCode::kNotFound, "project '" + std::string(project) + "' not found");
      Filter f = SearchFilter(q.page);
      std::string where = " WHERE account = ? AND org = ? AND project = ?" + f.sql;
      std::vector<std::string> binds = f.binds;
      if (!q.statuses.empty()) {
        where += " AND status IN (";
        for (size_t i = 0; i < q.statuses.size(); ++i) {
          where += i ? ",?" : "?";
          binds.push_back(q.statuses[i]);
        }
        where += ")";
      }
      for (const auto& tag : q.tags) {
        // Each tag filter is an indexed probe into workspace_tags.
        where +=
            " AND EXISTS (SELECT 1 FROM workspace_tags t WHERE t.account = workspaces.account AND "
            "t.org = workspaces.org AND t.project = workspaces.project AND t.workspace = "
            "workspaces.identifier AND t.key = ?";
        binds.push_back(tag.key);
        if (tag.value) {
          where += " AND t.value = ?";
          binds.push_back(*tag.value);
        }
        where += ")";
      }
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        s.Bind(i++, org);
        s.Bind(i++, project);
        for (const auto& b : binds) s.Bind(i++, b);
        return i;
      };
      if (Unfiltered(q.page) && q.statuses.empty() && q.tags.empty()) {
        page.total = count.Int(0);
      } else if (Unfiltered(q.page) && q.tags.empty()) {
        page.total = 0;
        for (const auto& status : q.statuses)
          page.total += StatusCount(c, account, org, project, status);
      } else {
        Statement s = c.Prepare("SELECT count(*) FROM workspaces" + where);
        bind_where(s);
        s.Step();
        page.total = s.Int(0);
      }
      Statement s =
          c.Prepare(std::string("SELECT ") + kWorkspaceColumns + " FROM workspaces" + where +
                    " ORDER BY " + OrderBy(q.page.sort, q.page.descending) + " LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.page.limit);
      s.Bind(i++, q.page.offset);
      while (s.Step()) page.items.push_back(ReadWorkspaceRow(s));
      return page;
    });
  }

  std::vector<std::string> ListWorkspaceTags(std::string_view account, std::string_view org,
                                             std::string_view project) override {
    return pool_.ReadTransaction([&](Connection& c) {
      RequireProject(c, account, org, project);
      Statement s = c.Prepare(
          "SELECT DISTINCT key, value FROM workspace_tags WHERE account = ? AND org = ? AND "
          "project = ? ORDER BY key, value");
      s.Bind(1, account).Bind(2, org).Bind(3, project);
      std::vector<std::string> out;
      while (s.Step()) {
        std::string v = s.Text(1);
        out.push_back(v.empty() ? s.Text(0) : s.Text(0) + ":" + v);
      }
      return out;
    });
  }

  std::vector<std::pair<std::string, int64_t>> CountWorkspacesBy(std::string_view account,
                                                                 std::string_view org,
                                                                 std::string_view project,
                                                                 std::string_view column) override {
    // column is chosen by the domain from a fixed set.
    const char* col = column == "status"        ? "status"
                      : column == "provisioner" ? "provisioner"
                                                : nullptr;
    if (!col) Fail(ErrorCode::kInternal, "unknown workspace grouping column");
    return pool_.ReadTransaction([&](Connection& c) {
      RequireProject(c, account, org, project);
      std::vector<std::pair<std::string, int64_t>> out;
      if (column == "status") {
        Statement s = c.Prepare(
            "SELECT status, count FROM workspace_status_counts WHERE account = ? AND org = ? AND "
            "project = ? AND count > 0 ORDER BY status");
        s.Bind(1, account).Bind(2, org).Bind(3, project);
        while (s.Step()) out.emplace_back(s.Text(0), s.Int(1));
        return out;
      }
      Statement s = c.Prepare(std::string("SELECT ") + col +
                              ", count(*) FROM workspaces WHERE "
                              "account = ? AND org = ? AND project = ? GROUP BY " +
                              col + " ORDER BY " + col);
      s.Bind(1, account).Bind(2, org).Bind(3, project);
      while (s.Step()) out.emplace_back(s.Text(0), s.Int(1));
      return out;
    });
  }

  std::vector<WorkspaceRecord> ListTemplateWorkspaces(
      std::string_view account, std::string_view org, std::string_view project,
      std::string_view template_id, std::string_view version, int64_t limit) override {
    return pool_.With([&](Connection& c) {
      Statement s = c.Prepare(std::string("SELECT ") + kWorkspaceColumns +
                              " FROM workspaces WHERE account = ? AND template_id = ? AND "
                              "template_id != '' AND (? = '' OR template_version = ?) AND "
                              "(? = '' OR org = ?) AND (? = '' OR project = ?) "
                              "ORDER BY org, project, identifier LIMIT ?");
      s.Bind(1, account).Bind(2, template_id).Bind(3, version).Bind(4, version);
      s.Bind(5, org).Bind(6, org).Bind(7, project).Bind(8, project).Bind(9, limit);
      std::vector<WorkspaceRecord> out;
      while (s.Step()) out.push_back(ReadWorkspaceRow(s));
      return out;
    });
  }

  std::optional<std::string> GetWorkspaceSetting(std::string_view account, std::string_view org,
                                                 std::string_view project, std::string_view id,
                                                 std::string_view name) override {
    return pool_.With([&](Connection& c) -> std::optional<std::string> {
      RequireWorkspace(c, KeyOf(account, org, project, id), /*lock=*/false);
      Statement s = c.Prepare(
          "SELECT value FROM workspace_settings WHERE account = ? AND org = ? AND project = ? AND "
          "workspace = ? AND name = ?");
      s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id).Bind(5, name);
      if (!s.Step()) return std::nullopt;
      return s.Text(0);
    });
  }

  void PutWorkspaceSetting(std::string_view account, std::string_view org, std::string_view project,
                           std::string_view id, std::string_view name,
                           std::string_view json) override {
    pool_.WriteTransaction([&](Connection& c) {
      RequireWorkspace(c, KeyOf(account, org, project, id), /*lock=*/false);
      Statement s = c.Prepare(
          "INSERT INTO workspace_settings(account, org, project, workspace, name, value) "
          "VALUES(?,?,?,?,?,?) ON CONFLICT(account, org, project, workspace, name) DO UPDATE SET "
          "value = excluded.value");
      s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id).Bind(5, name).Bind(6, json);
      s.Run();
    });
  }

  bool DeleteWorkspaceSetting(std::string_view account, std::string_view org,
                              std::string_view project, std::string_view id,
                              std::string_view name) override {
    return pool_.WriteTransaction([&](Connection& c) {
      RequireWorkspace(c, KeyOf(account, org, project, id), /*lock=*/false);
      Statement s = c.Prepare(
          "DELETE FROM workspace_settings WHERE account = ? AND org = ? AND project = ? AND "
          "workspace = ? AND name = ?");
      s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id).Bind(5, name).Run();
      return c.Changes() > 0;
    });
  }

 private:
  // lock: take the row for the rest of the transaction (version checks before a write).
  static std::optional<WorkspaceRecord> Find(Connection& c, std::string_view account,
                                             std::string_view org, std::string_view project,
                                             std::string_view id, bool lock = false) {
    Statement s = c.Prepare(std::string("SELECT ") + kWorkspaceColumns +
                            " FROM workspaces WHERE account = ? AND org = ? AND project = ? AND "
                            "identifier = ?" +
                            (lock ? c.ForUpdate() : ""));
    s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id);
    if (!s.Step()) return std::nullopt;
    return ReadWorkspaceRow(s);
  }

  static void RequireProject(Connection& c, std::string_view account, std::string_view org,
                             std::string_view project) {
    Statement s =
        c.Prepare("SELECT 1 FROM projects WHERE account = ? AND org = ? AND identifier = ?");
    s.Bind(1, account).Bind(2, org).Bind(3, project);
    if (!s.Step()) Fail(ErrorCode::kNotFound, "project '" + std::string(project) + "' not found");
  }

  static WorkspaceKey KeyOf(std::string_view account, std::string_view org,
                            std::string_view project, std::string_view id) {
    return {std::string(account), std::string(org), std::string(project), std::string(id)};
  }

  static void AddStatusCount(Connection& c, std::string_view account, std::string_view org,
                             std::string_view project, std::string_view status, int64_t delta) {
    Statement s = c.Prepare(
        "INSERT INTO workspace_status_counts(account, org, project, status, count) "
        "VALUES(?,?,?,?,?) ON CONFLICT(account, org, project, status) DO UPDATE SET "
        "count = workspace_status_counts.count + excluded.count");
    s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, status).Bind(5, delta).Run();
  }

  static int64_t StatusCount(Connection& c, std::string_view account, std::string_view org,
                             std::string_view project, std::string_view status) {
    Statement s = c.Prepare(
        "SELECT count FROM workspace_status_counts WHERE account = ? AND org = ? AND project = ? "
        "AND status = ?");
    s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, status);
    return s.Step() ? s.Int(0) : 0;
  }

  static void BindRow(Statement& s, const WorkspaceRecord& w) {
    s.Bind(1, w.account).Bind(2, w.org).Bind(3, w.project).Bind(4, w.identifier).Bind(5, w.name);
    s.Bind(6, w.status).Bind(7, w.provisioner).Bind(8, w.template_id).Bind(9, w.template_version);
    s.Bind(10, TagsToText(w.tags)).Bind(11, StringsToText(w.variable_sets));
    s.Bind(12, w.config_json).Bind(13, w.server_json);
  }

  static void DeleteChildren(Connection& c, std::string_view account, std::string_view org,
                             std::string_view project, std::string_view id) {
    for (const char* table : {"workspace_tags", "workspace_variable_sets"}) {
      Statement s = c.Prepare(std::string("DELETE FROM ") + table +
                              " WHERE account = ? AND org = ? AND project = ? AND workspace = ?");
      s.Bind(1, account).Bind(2, org).Bind(3, project).Bind(4, id).Run();
    }
  }

  // Tags and variable-set references, checked against existing sets in this transaction.
  static void WriteChildren(Connection& c, const WorkspaceRecord& w) {
    for (const auto& [k, v] : w.tags) {
      Statement s = c.Prepare(
          "INSERT INTO workspace_tags(account, org, project, workspace, key, value) "
          "VALUES(?,?,?,?,?,?) ON CONFLICT(account, org, project, workspace, key) DO UPDATE SET "
          "value = excluded.value");
      s.Bind(1, w.account).Bind(2, w.org).Bind(3, w.project).Bind(4, w.identifier);
      s.Bind(5, k).Bind(6, v).Run();
    }
    int64_t position = 0;
    for (const VariableSetKey& key : w.variable_set_keys) {
      Statement exists = c.Prepare(
          "SELECT 1 FROM variable_sets WHERE account = ? AND org = ? AND project = ? AND "
          "identifier = ?");
      exists.Bind(1, w.account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier);
      if (!exists.Step())
        Fail(ErrorCode::kNotFound,
             "variable_sets: variable set '" + KeyText(key) + "' does not exist at that level");
      Statement s = c.Prepare(
          "INSERT INTO workspace_variable_sets(account, org, project, workspace, position, "
          "set_org, set_project, set_identifier) VALUES(?,?,?,?,?,?,?,?)");
      s.Bind(1, w.account).Bind(2, w.org).Bind(3, w.project).Bind(4, w.identifier);
      s.Bind(5, position++).Bind(6, key.org).Bind(7, key.project).Bind(8, key.identifier).Run();
    }
  }

  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<WorkspaceStore> MakeWorkspaceStore(ConnectionPool& pool) {
  return std::make_unique<SqlWorkspaceStore>(pool);
}

}  // namespace statehouse::storage::sql
