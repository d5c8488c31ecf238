// Runs, their source uploads (remote executions), workspace events and drift schedules,
// written once against the SQL layer (SQLite and PostgreSQL alike).
//
// Every write that needs its workspace holds the workspace row for the transaction (FOR
// UPDATE on PostgreSQL; SQLite admits one writer): run numbers (MAX + 1) and event ids then
// follow commit order within a workspace, and nothing is added to a workspace being deleted.
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "storage/sql/sql_common.h"
#include "storage/sql/sql_stores.h"

namespace statehouse::storage::sql {
namespace {

constexpr const char* kExecutionColumns =
    "account, org, project, workspace, id, custom_arguments, pipeline_execution_id, "
    "pipeline_execution_url, sha256, size, executed, run_id, created, updated";
constexpr const char* kRunColumns =
    "account, org, project, workspace, id, number, kind, status, remote_execution_id, "
    "auto_apply, pipeline_execution_id, message, created_by, approved_by, summary, log_size, "
    "created, updated, started, finished";
constexpr const char* kEventColumns =
    "id, account, org, project, workspace, event_type, pipeline_execution_id, pipeline_stage_id, "
    "run_id, data, metadata, created";
constexpr const char* kDriftColumns =
    "account, org, project, workspace, enabled, provisioner, pipeline_id, run_every, "
    "run_every_unit, trigger_id, next_run, created, updated";
constexpr const char* kWorkspaceWhere =
    " WHERE account = ? AND org = ? AND project = ? AND workspace = ?";

RemoteExecutionRecord ReadExecution(const Statement& s) {
  RemoteExecutionRecord r;
  r.account = s.Text(0);
  r.org = s.Text(1);
  r.project = s.Text(2);
  r.workspace = s.Text(3);
  r.id = s.Text(4);
  r.custom_arguments_json = s.Text(5);
  r.pipeline_execution_id = s.Text(6);
  r.pipeline_execution_url = s.Text(7);
  r.sha256 = s.Text(8);
  r.size = s.Int(9);
  r.executed = s.Int(10) != 0;
  r.run_id = s.Text(11);
  r.created = s.Int(12);
  r.updated = s.Int(13);
  return r;
}

RunRecord ReadRun(const Statement& s) {
  RunRecord r;
  r.account = s.Text(0);
  r.org = s.Text(1);
  r.project = s.Text(2);
  r.workspace = s.Text(3);
  r.id = s.Text(4);
  r.number = s.Int(5);
  r.kind = s.Text(6);
  r.status = s.Text(7);
  r.remote_execution_id = s.Text(8);
  r.auto_apply = s.Int(9) != 0;
  r.pipeline_execution_id = s.Text(10);
  r.message = s.Text(11);
  r.created_by = s.Text(12);
  r.approved_by = s.Text(13);
  r.summary_json = s.Text(14);
  r.log_size = s.Int(15);
  r.created = s.Int(16);
  r.updated = s.Int(17);
  r.started = s.Int(18);
  r.finished = s.Int(19);
  return r;
}

EventRecord ReadEvent(const Statement& s) {
  EventRecord r;
  r.id = s.Int(0);
  r.account = s.Text(1);
  r.org = s.Text(2);
  r.project = s.Text(3);
  r.workspace = s.Text(4);
  r.event_type = s.Text(5);
  r.pipeline_execution_id = s.Text(6);
  r.pipeline_stage_id = s.Text(7);
  r.run_id = s.Text(8);
  r.data_json = s.Text(9);
  r.metadata_json = s.Text(10);
  r.created = s.Int(11);
  return r;
}

DriftConfigRecord ReadDrift(const Statement& s) {
  DriftConfigRecord r;
  r.account = s.Text(0);
  r.org = s.Text(1);
  r.project = s.Text(2);
  r.workspace = s.Text(3);
  r.enabled = s.Int(4) != 0;
  r.provisioner = s.Text(5);
  r.pipeline_id = s.Text(6);
  r.run_every = s.Int(7);
  r.run_every_unit = s.Text(8);
  r.trigger_id = s.Text(9);
  r.next_run = s.Int(10);
  r.created = s.Int(11);
  r.updated = s.Int(12);
  return r;
}

template <typename Record>
WorkspaceKey KeyOf(const Record& r) {
  return {r.account, r.org, r.project, r.workspace};
}

std::optional<RemoteExecutionRecord> FindExecution(Connection& c, const WorkspaceKey& key,
                                                   std::string_view id, bool lock = false) {
  Statement s = c.Prepare(std::string("SELECT ") + kExecutionColumns + " FROM remote_executions" +
                          kWorkspaceWhere + " AND id = ?" + (lock ? c.ForUpdate() : ""));
  BindKey(s, key);
  s.Bind(5, id);
  if (!s.Step()) return std::nullopt;
  return ReadExecution(s);
}

std::optional<RunRecord> FindRun(Connection& c, const WorkspaceKey& key, std::string_view id,
                                 bool lock = false) {
  Statement s = c.Prepare(std::string("SELECT ") + kRunColumns + " FROM runs" + kWorkspaceWhere +
                          " AND id = ?" + (lock ? c.ForUpdate() : ""));
  BindKey(s, key);
  s.Bind(5, id);
  if (!s.Step()) return std::nullopt;
  return ReadRun(s);
}

std::string DescribeExecution(std::string_view id) {
  return "remote execution '" + std::string(id) + "'";
}

// " AND column IN (?,?,...)", its values appended to binds; nothing for an empty list.
void AddIn(std::string& where, std::vector<std::string>& binds, const char* column,
           const std::vector<std::string>& values) {
  if (values.empty()) return;
  where += std::string(" AND ") + column + " IN (";
  for (size_t i = 0; i < values.size(); ++i) {
    where += i ? ",?" : "?";
    binds.push_back(values[i]);
  }
  where += ")";
}

void AddEqual(std::string& where, std::vector<std::string>& binds, const char* column,
              const std::string& value) {
  if (value.empty()) return;
  where += std::string(" AND ") + column + " = ?";
  binds.push_back(value);
}

class SqlRunStore final : public RunStore {
 public:
  explicit SqlRunStore(ConnectionPool& pool) : pool_(pool) {}

  // ---- remote executions ----
  void CreateRemoteExecution(const RemoteExecutionRecord& e) override {
    pool_.WriteTransaction([&](Connection& c) {
      WorkspaceKey key = KeyOf(e);
      RequireWorkspace(c, key, true);
      if (FindExecution(c, key, e.id))
        Fail(ErrorCode::kConflict, DescribeExecution(e.id) + " already exists");
      Statement s = c.Prepare(std::string("INSERT INTO remote_executions(") + kExecutionColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      BindKey(s, key);
      s.Bind(5, e.id).Bind(6, e.custom_arguments_json).Bind(7, e.pipeline_execution_id);
      s.Bind(8, e.pipeline_execution_url).Bind(9, e.sha256).Bind(10, e.size);
      s.Bind(11, int64_t{e.executed}).Bind(12, e.run_id).Bind(13, e.created);
      s.Bind(14, e.updated).Run();
    });
  }

  std::optional<RemoteExecutionRecord> GetRemoteExecution(const WorkspaceKey& key,
                                                          std::string_view id) override {
    return pool_.With([&](Connection& c) { return FindExecution(c, key, id); });
  }

  void UpdateRemoteExecution(const RemoteExecutionRecord& e, bool expect_unexecuted) override {
    pool_.WriteTransaction([&](Connection& c) {
      WorkspaceKey key = KeyOf(e);
      auto current = FindExecution(c, key, e.id, true);
      if (!current) Fail(ErrorCode::kNotFound, DescribeExecution(e.id) + " not found");
      if (expect_unexecuted && current->executed)
        Fail(ErrorCode::kConflict,
             DescribeExecution(e.id) + " was already executed by run '" + current->run_id + "'");
      Statement s = c.Prepare(
          std::string("UPDATE remote_executions SET sha256 = ?, size = ?, executed = ?, run_id "
                      "= ?, updated = ?") +
          kWorkspaceWhere + " AND id = ?");
      s.Bind(1, e.sha256).Bind(2, e.size).Bind(3, int64_t{e.executed}).Bind(4, e.run_id);
      s.Bind(5, e.updated);
      BindKey(s, key, 6);
      s.Bind(10, e.id).Run();
    });
  }

  // ---- runs ----
  void CreateRun(RunRecord& run, const std::string* remote_execution_id) override {
    std::string execution_id = remote_execution_id ? *remote_execution_id : run.remote_execution_id;
    int64_t number = pool_.WriteTransaction([&](Connection& c) {
      WorkspaceKey key = KeyOf(run);
      RequireWorkspace(c, key, true);
      if (FindRun(c, key, run.id))
        Fail(ErrorCode::kConflict, "run '" + run.id + "' already exists");
      if (remote_execution_id) {
        auto execution = FindExecution(c, key, execution_id, true);
        if (!execution) Fail(ErrorCode::kNotFound, DescribeExecution(execution_id) + " not found");
        if (execution->executed)
          Fail(ErrorCode::kConflict, DescribeExecution(execution_id) +
                                         " was already executed by run '" + execution->run_id +
                                         "'");
      }
      // The workspace row is held: no other writer takes this number meanwhile.
      Statement next =
          c.Prepare(std::string("SELECT coalesce(max(number), 0) + 1 FROM runs") + kWorkspaceWhere);
      BindKey(next, key);
      next.Step();
      int64_t n = next.Int(0);
      Statement s = c.Prepare(std::string("INSERT INTO runs(") + kRunColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      BindKey(s, key);
      s.Bind(5, run.id).Bind(6, n).Bind(7, run.kind).Bind(8, run.status).Bind(9, execution_id);
      s.Bind(10, int64_t{run.auto_apply}).Bind(11, run.pipeline_execution_id);
      s.Bind(12, run.message).Bind(13, run.created_by).Bind(14, run.approved_by);
      s.Bind(15, run.summary_json).Bind(16, run.log_size).Bind(17, run.created);
      s.Bind(18, run.updated).Bind(19, run.started).Bind(20, run.finished).Run();
      if (remote_execution_id) {
        Statement mark = c.Prepare(
            std::string("UPDATE remote_executions SET executed = 1, run_id = ?, updated = ?") +
            kWorkspaceWhere + " AND id = ?");
        mark.Bind(1, run.id).Bind(2, run.created);
        BindKey(mark, key, 3);
        mark.Bind(7, execution_id).Run();
      }
      return n;
    });
    run.number = number;
    run.remote_execution_id = std::move(execution_id);
  }

  std::optional<RunRecord> GetRun(const WorkspaceKey& key, std::string_view id) override {
    return pool_.With([&](Connection& c) { return FindRun(c, key, id); });
  }

  RunRecord UpdateRun(const RunRecord& run, const std::vector<std::string>& expected) override {
    return pool_.WriteTransaction([&](Connection& c) {
      WorkspaceKey key = KeyOf(run);
      auto current = FindRun(c, key, run.id, true);
      if (!current) Fail(ErrorCode::kNotFound, "run '" + run.id + "' not found");
      if (!expected.empty()) {
        bool matches = false;
        for (const std::string& status : expected) matches = matches || status == current->status;
        if (!matches) {
          std::vector<std::string> quoted;
          for (const std::string& status : expected) quoted.push_back("'" + status + "'");
          Fail(ErrorCode::kConflict, "run '" + run.id + "' is '" + current->status +
                                         "' (expected " + JoinNames(quoted, 0) + ")");
        }
      }
      Statement s = c.Prepare(
          std::string("UPDATE runs SET status = ?, approved_by = ?, summary = ?, log_size = ?, "
                      "updated = ?, started = ?, finished = ?") +
          kWorkspaceWhere + " AND id = ?");
      s.Bind(1, run.status).Bind(2, run.approved_by).Bind(3, run.summary_json);
      s.Bind(4, run.log_size).Bind(5, run.updated).Bind(6, run.started).Bind(7, run.finished);
      BindKey(s, key, 8);
      s.Bind(12, run.id).Run();
      return *FindRun(c, key, run.id);
    });
  }

  Page<RunRecord> ListRuns(const WorkspaceKey& key, const RunListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      RequireWorkspace(c, key, false);
      std::string where = kWorkspaceWhere;
      std::vector<std::string> binds;
      AddIn(where, binds, "status", q.statuses);
      AddEqual(where, binds, "kind", q.kind);
      auto bind_where = [&](Statement& s) {
        BindKey(s, key);
        int i = 5;
        for (const auto& b : binds) s.Bind(i++, b);
        return i;
      };
      Page<RunRecord> page;
      Statement cnt = c.Prepare("SELECT count(*) FROM runs" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      Statement s = c.Prepare(std::string("SELECT ") + kRunColumns + " FROM runs" + where +
                              " ORDER BY number DESC LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.page.limit);
      s.Bind(i++, q.page.offset);
      while (s.Step()) page.items.push_back(ReadRun(s));
      return page;
    });
  }

  std::vector<RunRecord> RunsInStatus(const std::vector<std::string>& statuses,
                                      int64_t limit) override {
    if (statuses.empty() || limit <= 0) return {};
    return pool_.With([&](Connection& c) {
      std::string where = " WHERE 1 = 1";
      std::vector<std::string> binds;
      AddIn(where, binds, "status", statuses);
      Statement s = c.Prepare(std::string("SELECT ") + kRunColumns + " FROM runs" + where +
                              " ORDER BY created, account, org, project, workspace, number "
                              "LIMIT ?");
      int i = 1;
      for (const auto& b : binds) s.Bind(i++, b);
      s.Bind(i++, limit);
      std::vector<RunRecord> runs;
      while (s.Step()) runs.push_back(ReadRun(s));
      return runs;
    });
  }

  // ---- events ----
  int64_t AddEvent(const EventRecord& e) override {
    return pool_.WriteTransaction([&](Connection& c) {
      WorkspaceKey key = KeyOf(e);
      // Holding the workspace row also makes a workspace's event ids commit in order.
      RequireWorkspace(c, key, true);
      Statement s = c.Prepare(
          "INSERT INTO workspace_events(account, org, project, workspace, event_type, "
          "pipeline_execution_id, pipeline_stage_id, run_id, data, metadata, created) "
          "VALUES(?,?,?,?,?,?,?,?,?,?,?) RETURNING id");
      BindKey(s, key);
      s.Bind(5, e.event_type).Bind(6, e.pipeline_execution_id).Bind(7, e.pipeline_stage_id);
      s.Bind(8, e.run_id).Bind(9, e.data_json).Bind(10, e.metadata_json).Bind(11, e.created);
      if (!s.Step()) Fail(ErrorCode::kInternal, "inserting an event returned no id");
      int64_t id = s.Int(0);
      while (s.Step()) {
      }
      return id;
    });
  }

  Page<EventRecord> ListEvents(const WorkspaceKey& key, const EventListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      RequireWorkspace(c, key, false);
      std::string where = kWorkspaceWhere;
      std::vector<std::string> binds;
      AddEqual(where, binds, "pipeline_execution_id", q.pipeline_execution_id);
      AddEqual(where, binds, "run_id", q.run_id);
      AddEqual(where, binds, "event_type", q.event_type);
      auto bind_where = [&](Statement& s) {
        BindKey(s, key);
        int i = 5;
        for (const auto& b : binds) s.Bind(i++, b);
        return i;
      };
      Page<EventRecord> page;
      Statement cnt = c.Prepare("SELECT count(*) FROM workspace_events" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      Statement s = c.Prepare(std::string("SELECT ") + kEventColumns + " FROM workspace_events" +
                              where + " ORDER BY id DESC LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.page.limit);
      s.Bind(i++, q.page.offset);
      while (s.Step()) page.items.push_back(ReadEvent(s));
      return page;
    });
  }

  // ---- drift configuration ----
  std::optional<DriftConfigRecord> GetDriftConfig(const WorkspaceKey& key) override {
    return pool_.With([&](Connection& c) -> std::optional<DriftConfigRecord> {
      Statement s = c.Prepare(std::string("SELECT ") + kDriftColumns + " FROM drift_configs" +
                              kWorkspaceWhere);
      BindKey(s, key);
      if (!s.Step()) return std::nullopt;
      return ReadDrift(s);
    });
  }

  void PutDriftConfig(const DriftConfigRecord& d) override {
    pool_.WriteTransaction([&](Connection& c) {
      WorkspaceKey key = KeyOf(d);
      RequireWorkspace(c, key, true);
      // A replacement keeps the first creation time.
      Statement s = c.Prepare(
          std::string("INSERT INTO drift_configs(") + kDriftColumns +
          ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (account, org, project, workspace) DO "
          "UPDATE SET enabled = excluded.enabled, provisioner = excluded.provisioner, "
          "pipeline_id = excluded.pipeline_id, run_every = excluded.run_every, run_every_unit = "
          "excluded.run_every_unit, trigger_id = excluded.trigger_id, next_run = "
          "excluded.next_run, updated = excluded.updated");
      BindKey(s, key);
      s.Bind(5, int64_t{d.enabled}).Bind(6, d.provisioner).Bind(7, d.pipeline_id);
      s.Bind(8, d.run_every).Bind(9, d.run_every_unit).Bind(10, d.trigger_id);
      s.Bind(11, d.next_run).Bind(12, d.created).Bind(13, d.updated).Run();
    });
  }

  bool DeleteDriftConfig(const WorkspaceKey& key) override {
    return pool_.WriteTransaction([&](Connection& c) {
      Statement s = c.Prepare(std::string("DELETE FROM drift_configs") + kWorkspaceWhere);
      BindKey(s, key);
      s.Run();
      return c.Changes() > 0;
    });
  }

  std::vector<DriftConfigRecord> DueDriftConfigs(int64_t now, int64_t limit) override {
    if (limit <= 0) return {};
    return pool_.With([&](Connection& c) {
      std::vector<DriftConfigRecord> due;
      Statement s = c.Prepare(std::string("SELECT ") + kDriftColumns +
                              " FROM drift_configs WHERE enabled = 1 AND next_run <= ? ORDER BY "
                              "next_run, account, org, project, workspace LIMIT ?");
      s.Bind(1, now).Bind(2, limit);
      while (s.Step()) due.push_back(ReadDrift(s));
      return due;
    });
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<RunStore> MakeRunStore(ConnectionPool& pool) {
  return std::make_unique<SqlRunStore>(pool);
}

}  // namespace statehouse::storage::sql
