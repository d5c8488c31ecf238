#include <boost/json.hpp>

#include "common/error.h"
#include "common/util.h"
#include "storage/sql/sql_common.h"
#include "storage/sql/sql_stores.h"

namespace statehouse::storage::sql {
namespace {
namespace json = boost::json;

class SqlStateStore final : public StateStore {
 public:
  explicit SqlStateStore(ConnectionPool& pool) : pool_(pool) {}

  std::optional<LockRecord> AcquireLock(const WorkspaceKey& key, const LockRecord& lock) override {
    return pool_.SingleStatementWrite([&](Connection& c) -> std::optional<LockRecord> {
      // One conditional statement takes the lock; losing writers see the holder.
      std::optional<LockRecord> holder;
      if (InsertLock(c, key, lock, holder)) return std::nullopt;
      if (holder && holder->lock_id == lock.lock_id) return std::nullopt;  // retried LOCK
      return holder;
    });
  }

  std::optional<LockRecord> GetLock(const WorkspaceKey& key) override {
    return pool_.With([&](Connection& c) { return FindLock(c, key); });
  }

  std::optional<LockRecord> ReleaseLock(const WorkspaceKey& key, std::string_view lock_id,
                                        bool& released) override {
    return pool_.SingleStatementWrite([&](Connection& c) -> std::optional<LockRecord> {
      std::optional<LockRecord> holder;
      released = DeleteLock(c, key, lock_id, holder);
      return holder;
    });
  }

  // Under group commit (SQLite) the write is queued and done follows its commit; otherwise
  // (PostgreSQL's one statement) the call runs here.
  void AcquireLockLater(const WorkspaceKey& key, const LockRecord& lock, LockDone done) override {
    if (!pool_.GroupCommitEnabled()) return StateStore::AcquireLockLater(key, lock, done);
    SubmitLockWrite(
        [key, lock](Connection& c, LockOutcome& out) {
          if (InsertLock(c, key, lock, out.holder)) return;
          if (out.holder && out.holder->lock_id == lock.lock_id) out.holder.reset();
        },
        std::move(done));
  }

  void ReleaseLockLater(const WorkspaceKey& key, std::string_view lock_id, LockDone done) override {
    if (!pool_.GroupCommitEnabled()) return StateStore::ReleaseLockLater(key, lock_id, done);
    SubmitLockWrite(
        [key, id = std::string(lock_id)](Connection& c, LockOutcome& out) {
          out.released = DeleteLock(c, key, id, out.holder);
        },
        std::move(done));
  }

  std::optional<LockRecord> ForceUnlock(const WorkspaceKey& key, std::string_view by) override {
    return pool_.WriteTransaction([&](Connection& c) -> std::optional<LockRecord> {
      RequireWorkspace(c, key);
      auto held = FindLock(c, key);
      if (!held) return std::nullopt;
      Statement del = c.Prepare(
          "DELETE FROM workspace_locks WHERE account = ? AND org = ? AND project = ? AND "
          "workspace = ?");
      BindKey(del, key);
      del.Run();
      Statement ev = c.Prepare(
          "INSERT INTO lock_events(account, org, project, workspace, event, lock_id, info, "
          "forced_by, "
          "created) VALUES(?,?,?,?,'force-unlock',?,?,?,?)");
      BindKey(ev, key);
      ev.Bind(5, held->lock_id).Bind(6, held->info_json).Bind(7, by).Bind(8, NowMillis()).Run();
      return held;
    });
  }

  StateWriteResult WriteState(const WorkspaceKey& key, const DataRecord& version,
                              const std::optional<std::string>& lock_id,
                              const std::optional<std::string>& new_status) override {
    return pool_.WriteTransaction([&](Connection& c) {
      RequireWorkspace(c, key);
      StateWriteResult result;
      if (auto held = FindLock(c, key); held && (!lock_id || *lock_id != held->lock_id)) {
        result.kind = StateWriteResult::Kind::kLocked;
        result.holder = held;
        return result;
      }
      // Terraform's rules compare v4 states with the newest v4 state (opaque, encrypted
      // versions in between do not reset them).
      result.current = Newest(c, key, /*v4_only=*/version.serial.has_value());
      const auto& cur = result.current;
      if (cur && cur->serial && version.serial) {
        if (cur->lineage != version.lineage) {
          result.kind = StateWriteResult::Kind::kLineageConflict;
          return result;
        }
        if (*version.serial < *cur->serial) {
          result.kind = StateWriteResult::Kind::kStaleSerial;
          return result;
        }
        if (*version.serial == *cur->serial) {
          if (cur->sha256 == version.sha256) {
            result.kind = StateWriteResult::Kind::kRetried;
            result.record = *cur;
            return result;
          }
          result.kind = StateWriteResult::Kind::kSerialConflict;
          return result;
        }
      }
      Insert(c, key, version);
      Statement row = c.Prepare(
          "SELECT status, server FROM workspaces WHERE account = ? AND org = ? AND project = ? "
          "AND identifier = ?");
      BindKey(row, key);
      row.Step();
      std::string old_status = row.Text(0);
      boost::system::error_code ec;
      json::value server = json::parse(row.Text(1), ec);
      if (ec || !server.is_object()) server = json::object();
      server.get_object()["state_checksum"] = version.sha256;
      server.get_object()["terraform_state"] = version.id;
      server.get_object()["terraform_state_json"] = version.id;
      Statement upd = c.Prepare(
          "UPDATE workspaces SET server = ?, status = ?, updated = ?, version = version + 1 "
          "WHERE account = ? AND org = ? AND project = ? AND identifier = ?");
      upd.Bind(1, json::serialize(server)).Bind(2, new_status.value_or(old_status));
      upd.Bind(3, version.created);
      BindKey(upd, key, 4);
      upd.Run();
      if (new_status && *new_status != old_status) {
        // The status counters move with the status, in the same transaction.
        for (auto [st, delta] : {std::pair<std::string, int64_t>{old_status, -1},
                                 std::pair<std::string, int64_t>{*new_status, 1}}) {
          Statement cnt = c.Prepare(
              "INSERT INTO workspace_status_counts(account, org, project, status, count) "
              "VALUES(?,?,?,?,?) ON CONFLICT(account, org, project, status) DO UPDATE SET "
              "count = workspace_status_counts.count + excluded.count");
          cnt.Bind(1, key.account).Bind(2, key.org).Bind(3, key.project).Bind(4, st);
          cnt.Bind(5, delta).Run();
        }
      }
      result.kind = StateWriteResult::Kind::kStored;
      result.record = version;
      return result;
    });
  }

  std::optional<DataRecord> NewestState(const WorkspaceKey& key) override {
    return pool_.With([&](Connection& c) { return Newest(c, key); });
  }

  std::optional<DataRecord> GetData(const WorkspaceKey& key, std::string_view id) override {
    return pool_.With([&](Connection& c) -> std::optional<DataRecord> {
      Statement s = c.Prepare(std::string("SELECT ") + kDataColumns +
                              " FROM workspace_data WHERE account = ? AND org = ? AND project = ? "
                              "AND workspace = ? AND id = ?");
      BindKey(s, key);
      s.Bind(5, id);
      if (!s.Step()) return std::nullopt;
      return ReadData(s);
    });
  }

  void AddData(const WorkspaceKey& key, const DataRecord& data) override {
    pool_.WriteTransaction([&](Connection& c) {
      RequireWorkspace(c, key);
      Insert(c, key, data);
    });
  }

  bool SetDataPolicy(const WorkspaceKey& key, std::string_view id, EvaluationRecord& evaluation,
                     std::string_view status, std::string_view message) override {
    return pool_.WriteTransaction([&](Connection& c) {
      evaluation.id = InsertEvaluation(c, evaluation);
      Statement s = c.Prepare(
          "UPDATE workspace_data SET policy_evaluation_id = ?, policy_status = ?, "
          "policy_message = ? WHERE account = ? AND org = ? AND project = ? AND workspace = ? AND "
          "id = ?");
      s.Bind(1, evaluation.id).Bind(2, std::string(status)).Bind(3, std::string(message));
      s.Bind(4, key.account).Bind(5, key.org).Bind(6, key.project).Bind(7, key.workspace);
      s.Bind(8, std::string(id)).Run();
      return c.Changes() > 0;
    });
  }

  Page<DataRecord> ListData(const WorkspaceKey& key, const DataListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      RequireWorkspace(c, key, /*lock=*/false);
      std::string where =
          " FROM workspace_data WHERE account = ? AND org = ? AND project = ? AND workspace = ? "
          "AND (? = '' OR data_type = ?) AND (? = '' OR pipeline_execution_id = ?) AND (? = '' OR "
          "pipeline_stage_id = ?) AND (? = '' OR provisioner_type = ?) AND (? = '' OR stack_path "
          "= ?)";
      auto bind = [&](Statement& s) {
        BindKey(s, key);
        int i = 5;
        for (const std::string* v : {&q.data_type, &q.pipeline_execution_id, &q.pipeline_stage_id,
                                     &q.provisioner_type, &q.stack_path}) {
          s.Bind(i++, *v);
          s.Bind(i++, *v);
        }
        return i;
      };
      Page<DataRecord> page;
      Statement cnt = c.Prepare("SELECT count(*)" + where);
      bind(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      Statement s = c.Prepare(std::string("SELECT ") + kDataColumns + where +
                              (q.page.descending ? " ORDER BY seq" : " ORDER BY seq DESC") +
                              " LIMIT ? OFFSET ?");
      int i = bind(s);
      s.Bind(i++, q.page.limit);
      s.Bind(i++, q.page.offset);
      while (s.Step()) page.items.push_back(ReadData(s));
      return page;
    });
  }

  std::vector<ResourceOverride> ListResourceOverrides(const WorkspaceKey& key) override {
    return pool_.ReadTransaction([&](Connection& c) {
      RequireWorkspace(c, key, /*lock=*/false);
      Statement s = c.Prepare(
          "SELECT provider, resource_type, name, module, path_id, mode, upserted, attributes, "
          "sensitive_attributes, drifted, drift_status, drift_attributes, deleted, session_id, "
          "updated FROM workspace_resources WHERE account = ? AND org = ? AND project = ? AND "
          "workspace = ? ORDER BY provider, resource_type, name, module, path_id");
      BindKey(s, key);
      std::vector<ResourceOverride> out;
      while (s.Step()) {
        ResourceOverride r;
        r.provider = s.Text(0);
        r.type = s.Text(1);
        r.name = s.Text(2);
        r.module = s.Text(3);
        r.path_id = s.Text(4);
        r.mode = s.Text(5);
        r.upserted = s.Int(6) != 0;
        r.attributes_json = s.Text(7);
        r.sensitive_json = s.Text(8);
        r.drifted = s.Int(9) != 0;
        r.drift_status = s.Text(10);
        r.drift_attributes_json = s.Text(11);
        r.deleted = s.Int(12) != 0;
        r.session_id = s.Text(13);
        r.updated = s.Int(14);
        out.push_back(std::move(r));
      }
      return out;
    });
  }

  void WriteResourceOverrides(const WorkspaceKey& key, const std::vector<ResourceOverride>& rows,
                              bool drift) override {
    pool_.WriteTransaction([&](Connection& c) {
      RequireWorkspace(c, key);
      // The half not written keeps its stored value (or the column default for a new row).
      const char* sql =
          drift
              ? "INSERT INTO workspace_resources(account, org, project, workspace, provider, "
                "resource_type, name, module, path_id, mode, drifted, drift_status, "
                "drift_attributes, session_id, updated) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(account, org, project, workspace, provider, resource_type, name, "
                "module, path_id) DO UPDATE SET drifted = excluded.drifted, drift_status = "
                "excluded.drift_status, drift_attributes = excluded.drift_attributes, "
                "session_id = CASE WHEN excluded.session_id = '' THEN "
                "workspace_resources.session_id ELSE excluded.session_id END, updated = "
                "excluded.updated"
              : "INSERT INTO workspace_resources(account, org, project, workspace, provider, "
                "resource_type, name, module, path_id, mode, upserted, attributes, "
                "sensitive_attributes, session_id, updated) VALUES(?,?,?,?,?,?,?,?,?,?,1,?,?,?,?) "
                "ON CONFLICT(account, org, project, workspace, provider, resource_type, name, "
                "module, path_id) DO UPDATE SET mode = excluded.mode, upserted = 1, attributes "
                "= excluded.attributes, sensitive_attributes = excluded.sensitive_attributes, "
                "deleted = 0, session_id = CASE WHEN excluded.session_id = '' THEN "
                "workspace_resources.session_id ELSE excluded.session_id END, updated = "
                "excluded.updated";
      for (const ResourceOverride& r : rows) {
        Statement s = c.Prepare(sql);
        BindKey(s, key);
        s.Bind(5, r.provider).Bind(6, r.type).Bind(7, r.name).Bind(8, r.module);
        s.Bind(9, r.path_id).Bind(10, r.mode);
        if (drift) {
          s.Bind(11, int64_t{r.drifted}).Bind(12, r.drift_status);
          s.Bind(13, r.drift_attributes_json).Bind(14, r.session_id).Bind(15, r.updated);
        } else {
          s.Bind(11, r.attributes_json).Bind(12, r.sensitive_json).Bind(13, r.session_id);
          s.Bind(14, r.updated);
        }
        s.Run();
      }
    });
  }

  int64_t TombstoneResources(const WorkspaceKey& key, const std::vector<ResourceOverride>& rows,
                             std::string_view keep_session, int64_t now) override {
    return pool_.WriteTransaction([&](Connection& c) {
      RequireWorkspace(c, key);
      int64_t tombstoned = 0;
      for (const ResourceOverride& r : rows) {
        // A new row is a tombstone of a resource nobody wrote about: no session to keep.
        Statement s = c.Prepare(
            "INSERT INTO workspace_resources(account, org, project, workspace, provider, "
            "resource_type, name, module, path_id, mode, deleted, updated) "
            "VALUES(?,?,?,?,?,?,?,?,?,?,1,?) ON CONFLICT(account, org, project, workspace, "
            "provider, resource_type, name, module, path_id) DO UPDATE SET deleted = 1, upserted "
            "= 0, attributes = '{}', sensitive_attributes = '[]', drifted = 0, drift_status = '', "
            "drift_attributes = '{}', updated = excluded.updated WHERE workspace_resources.deleted "
            "= 0 AND (? = '' OR workspace_resources.session_id != ?)");
        BindKey(s, key);
        s.Bind(5, r.provider).Bind(6, r.type).Bind(7, r.name).Bind(8, r.module);
        s.Bind(9, r.path_id).Bind(10, r.mode).Bind(11, now);
        s.Bind(12, keep_session).Bind(13, keep_session);
        s.Run();
        tombstoned += c.Changes();
      }
      return tombstoned;
    });
  }

 private:
  // Queues a lock write (ConnectionPool::SubmitWrite); done gets the outcome work left, or the
  // error, once the commit that covers it is durable.
  void SubmitLockWrite(std::function<void(Connection&, LockOutcome&)> work, LockDone done) {
    auto out = std::make_shared<LockOutcome>();
    pool_.SubmitWrite(
        [work = std::move(work), out](Connection& c) {
          *out = {};  // a write may run again (alone, after its shared commit failed)
          work(c, *out);
        },
        [out, done = std::move(done)](std::exception_ptr error) {
          if (error) return done({}, error);
          done(std::move(*out), nullptr);
        });
  }

  // The workspace's row locked (kNotFound without it) and the lock row inserted unless one is
  // there; true when this inserted it, else holder is the lock row found (the workspace's row
  // stays locked to the end, so nobody changes it meanwhile). PostgreSQL: one call of a
  // function (migration 0013), one statement, sent by SingleStatementWrite without BEGIN and
  // COMMIT.
  static bool InsertLock(Connection& c, const WorkspaceKey& key, const LockRecord& lock,
                         std::optional<LockRecord>& holder) {
    if (c.DataModifyingWith()) {
      Statement s = c.Prepare(
          std::string("SELECT CAST(workspace_found AS INTEGER), CAST(changed AS INTEGER), ") +
          kLockColumns +
          " FROM statehouse_acquire_lock(?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?, ?, CAST(? AS "
          "BIGINT))");
      BindKey(s, key);
      s.Bind(5, lock.lock_id).Bind(6, lock.info_json).Bind(7, int64_t{lock.manual});
      s.Bind(8, lock.reason).Bind(9, lock.locked_by).Bind(10, lock.created);
      return OneCallOutcome(s, key, holder);
    }
    RequireWorkspace(c, key);
    Statement ins = c.Prepare(
        "INSERT INTO workspace_locks(account, org, project, workspace, lock_id, info, manual, "
        "reason, locked_by, created) VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING");
    BindKey(ins, key);
    ins.Bind(5, lock.lock_id).Bind(6, lock.info_json).Bind(7, int64_t{lock.manual});
    ins.Bind(8, lock.reason).Bind(9, lock.locked_by).Bind(10, lock.created).Run();
    return ChangedElseHolder(c, key, holder);
  }

  // The workspace's row locked (kNotFound without it) and its lock row deleted if it has
  // lock_id; true when this deleted it, else holder is the lock row found, if any.
  // PostgreSQL: one call, as InsertLock.
  static bool DeleteLock(Connection& c, const WorkspaceKey& key, std::string_view lock_id,
                         std::optional<LockRecord>& holder) {
    if (c.DataModifyingWith()) {
      Statement s = c.Prepare(
          std::string("SELECT CAST(workspace_found AS INTEGER), CAST(changed AS INTEGER), ") +
          kLockColumns + " FROM statehouse_release_lock(?, ?, ?, ?, ?)");
      BindKey(s, key);
      s.Bind(5, lock_id);
      return OneCallOutcome(s, key, holder);
    }
    RequireWorkspace(c, key);
    Statement del = c.Prepare(
        "DELETE FROM workspace_locks WHERE account = ? AND org = ? AND project = ? AND "
        "workspace = ? AND lock_id = ?");
    BindKey(del, key);
    del.Bind(5, lock_id).Run();
    return ChangedElseHolder(c, key, holder);
  }

  // After the SQLite forms' INSERT or DELETE: true when it changed the lock row, else holder
  // is the lock row found, if any.
  static bool ChangedElseHolder(Connection& c, const WorkspaceKey& key,
                                std::optional<LockRecord>& holder) {
    if (c.Changes() == 1) return true;
    holder = FindLock(c, key);
    return false;
  }

  // The answer of statehouse_acquire_lock / statehouse_release_lock.
  static bool OneCallOutcome(Statement& s, const WorkspaceKey& key,
                             std::optional<LockRecord>& holder) {
    if (!s.Step()) Fail(ErrorCode::kInternal, "the lock function returned no row");
    bool workspace = s.Int(0) != 0, changed = s.Int(1) != 0;
    if (!changed && !s.IsNull(2)) holder = ReadLock(s, 2);
    while (s.Step()) {
    }
    if (!workspace) Fail(ErrorCode::kNotFound, "workspace '" + key.workspace + "' not found");
    return changed;
  }

  static std::optional<LockRecord> FindLock(Connection& c, const WorkspaceKey& key) {
    Statement s = c.Prepare(
        std::string("SELECT ") + kLockColumns +
        " FROM workspace_locks WHERE account = ? AND org = ? AND project = ? AND workspace = ?");
    BindKey(s, key);
    if (!s.Step()) return std::nullopt;
    return ReadLock(s);
  }

  static std::optional<DataRecord> Newest(Connection& c, const WorkspaceKey& key,
                                          bool v4_only = false) {
    Statement s =
        c.Prepare(std::string("SELECT ") + kDataColumns +
                  " FROM workspace_data WHERE account = ? AND org = ? AND project = ? "
                  "AND workspace = ? AND data_type = 'state_raw'" +
                  (v4_only ? " AND serial IS NOT NULL" : "") + " ORDER BY seq DESC LIMIT 1");
    BindKey(s, key);
    if (!s.Step()) return std::nullopt;
    return ReadData(s);
  }

  static void Insert(Connection& c, const WorkspaceKey& key, const DataRecord& d) {
    Statement seq = c.Prepare(
        "SELECT coalesce(max(seq), 0) + 1 FROM workspace_data WHERE account = ? AND org = ? AND "
        "project = ? AND workspace = ?");
    BindKey(seq, key);
    seq.Step();
    int64_t next = seq.Int(0);
    Statement s = c.Prepare(
        "INSERT INTO workspace_data(account, org, project, workspace, seq, id, data_type, sha256, "
        "size, serial, lineage, pipeline_id, stage_id, pipeline_execution_id, pipeline_stage_id, "
        "provisioner_type, stack_path, rollback_source_id, created_by, created) "
        "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    BindKey(s, key);
    s.Bind(5, next).Bind(6, d.id).Bind(7, d.data_type).Bind(8, d.sha256).Bind(9, d.size);
    s.Bind(10, d.serial).Bind(11, d.lineage).Bind(12, d.pipeline_id).Bind(13, d.stage_id);
    s.Bind(14, d.pipeline_execution_id).Bind(15, d.pipeline_stage_id).Bind(16, d.provisioner_type);
    s.Bind(17, d.stack_path).Bind(18, d.rollback_source_id).Bind(19, d.created_by);
    s.Bind(20, d.created).Run();
  }

  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<StateStore> MakeStateStore(ConnectionPool& pool) {
  return std::make_unique<SqlStateStore>(pool);
}

}  // namespace statehouse::storage::sql
