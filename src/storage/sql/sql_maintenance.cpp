// Retention of state versions and the blob sweep's reference checks, written once for SQLite
// and PostgreSQL.
#include <set>

#include "common/error.h"
#include "storage/sql/sql_stores.h"

namespace statehouse::storage::sql {
namespace {

class SqlMaintenanceStore final : public MaintenanceStore {
 public:
  explicit SqlMaintenanceStore(ConnectionPool& pool) : pool_(pool) {}

  std::vector<WorkspaceConfig> WorkspacesAfter(const WorkspaceKey& after, int64_t limit) override {
    return pool_.With([&](Connection& c) {
      Statement s = c.Prepare(
          "SELECT account, org, project, identifier, config FROM workspaces WHERE "
          "(account, org, project, identifier) > (?, ?, ?, ?) "
          "ORDER BY account, org, project, identifier LIMIT ?");
      s.Bind(1, after.account).Bind(2, after.org).Bind(3, after.project);
      s.Bind(4, after.workspace).Bind(5, limit);
      std::vector<WorkspaceConfig> out;
      while (s.Step())
        out.push_back({WorkspaceKey{s.Text(0), s.Text(1), s.Text(2), s.Text(3)}, s.Text(4)});
      return out;
    });
  }

  std::vector<DataRecord> ExpireStateVersions(const WorkspaceKey& key, int64_t keep_versions,
                                              int64_t created_before) override {
    if (keep_versions <= 0 && created_before <= 0) return {};
    return pool_.WriteTransaction([&](Connection& c) {
      std::vector<DataRecord> expired;
      // The workspace row is held (FOR UPDATE on PostgreSQL) like a state write holds it, so
      // the newest version cannot change under this transaction.
      Statement ws = c.Prepare(
          std::string("SELECT 1 FROM workspaces WHERE account = ? AND org = ? AND project = ? "
                      "AND identifier = ?") +
          c.ForUpdate());
      ws.Bind(1, key.account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.workspace);
      if (!ws.Step()) return expired;
      std::set<std::string> sources;
      {
        Statement s = c.Prepare(
            "SELECT rollback_source_id FROM workspace_data WHERE account = ? AND org = ? AND "
            "project = ? AND workspace = ? AND rollback_source_id <> ''");
        s.Bind(1, key.account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.workspace);
        while (s.Step()) sources.insert(s.Text(0));
      }
      std::vector<DataRecord> versions;
      {
        Statement s = c.Prepare(
            "SELECT id, sha256, size, serial, created, rollback_source_id FROM workspace_data "
            "WHERE account = ? AND org = ? AND project = ? AND workspace = ? AND data_type = "
            "'state_raw' ORDER BY seq DESC");
        s.Bind(1, key.account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.workspace);
        while (s.Step()) {
          DataRecord d;
          d.id = s.Text(0);
          d.data_type = "state_raw";
          d.sha256 = s.Text(1);
          d.size = s.Int(2);
          d.serial = s.OptInt(3);
          d.created = s.Int(4);
          d.rollback_source_id = s.Text(5);
          versions.push_back(std::move(d));
        }
      }
      bool newest_v4_seen = false;
      for (size_t i = 0; i < versions.size(); ++i) {
        const DataRecord& d = versions[i];
        bool keep = i == 0;  // the current state
        if (d.serial && !newest_v4_seen) {
          newest_v4_seen = true;
          keep = true;  // the serial/lineage baseline of the next write
        }
        if (sources.count(d.id)) keep = true;  // a rollback points at it
        bool beyond_count = keep_versions > 0 && static_cast<int64_t>(i) >= keep_versions;
        bool too_old = created_before > 0 && d.created < created_before;
        if (keep || !(beyond_count || too_old)) continue;
        Statement del = c.Prepare(
            "DELETE FROM workspace_data WHERE account = ? AND org = ? AND project = ? AND "
            "workspace = ? AND id = ?");
        del.Bind(1, key.account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.workspace);
        del.Bind(5, d.id).Run();
        expired.push_back(d);
      }
      return expired;
    });
  }

  bool BlobReferenced(std::string_view sha256) override {
    return pool_.With([&](Connection& c) {
      Statement s = c.Prepare(
          "SELECT 1 WHERE EXISTS (SELECT 1 FROM workspace_data WHERE sha256 = ?) OR EXISTS "
          "(SELECT 1 FROM remote_executions WHERE sha256 = ?)");
      s.Bind(1, sha256).Bind(2, sha256);
      return s.Step();
    });
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<MaintenanceStore> MakeMaintenanceStore(ConnectionPool& pool) {
  return std::make_unique<SqlMaintenanceStore>(pool);
}

}  // namespace statehouse::storage::sql
