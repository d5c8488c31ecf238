// Storage interfaces. Every backend (SQLite now, PostgreSQL later) implements them and passes
// the one contract suite in tests/unit/storage_contract_test.cpp.
//
// Contract for all methods: failures throw statehouse::Error. kNotFound when the addressed
// record (or its parent) does not exist, kConflict on duplicates or when children remain,
// kPreconditionFailed when expected_version does not match, kUnavailable when the database
// cannot be reached, kInternal for anything else. Each mutating call is one transaction.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/commit_clock.h"
#include "storage/records.h"

namespace statehouse::storage {

class AccountStore {
 public:
  virtual ~AccountStore() = default;
  // Returns false if the account already exists.
  virtual bool CreateAccount(const AccountRecord& account) = 0;
  virtual std::optional<AccountRecord> GetAccount(std::string_view identifier) = 0;
  virtual int64_t CountAccounts() = 0;
};

class OrgStore {
 public:
  virtual ~OrgStore() = default;
  virtual void CreateOrg(const OrgRecord& org) = 0;
  virtual std::optional<OrgRecord> GetOrg(std::string_view account, std::string_view org) = 0;
  // Replaces the mutable fields; bumps version; returns the stored record.
  virtual OrgRecord UpdateOrg(const OrgRecord& org, std::optional<int64_t> expected_version) = 0;
  // Refuses with kConflict, naming the remaining projects, when the org still holds any.
  virtual OrgRecord DeleteOrg(std::string_view account, std::string_view org,
                              std::optional<int64_t> expected_version) = 0;
  virtual Page<OrgRecord> ListOrgs(std::string_view account, const ListQuery& query) = 0;
};

class ProjectStore {
 public:
  virtual ~ProjectStore() = default;
  // kNotFound when the org does not exist.
  virtual void CreateProject(const ProjectRecord& project) = 0;
  virtual std::optional<ProjectRecord> GetProject(std::string_view account, std::string_view org,
                                                  std::string_view project) = 0;
  virtual ProjectRecord UpdateProject(const ProjectRecord& project,
                                      std::optional<int64_t> expected_version) = 0;
  virtual ProjectRecord DeleteProject(std::string_view account, std::string_view org,
                                      std::string_view project,
                                      std::optional<int64_t> expected_version) = 0;
  // kNotFound when the org does not exist.
  virtual Page<ProjectRecord> ListProjects(std::string_view account, std::string_view org,
                                           const ListQuery& query) = 0;
};

class ApiKeyStore {
 public:
  virtual ~ApiKeyStore() = default;
  virtual void CreateApiKey(const ApiKeyRecord& key) = 0;
  virtual std::optional<ApiKeyRecord> GetApiKey(std::string_view account,
                                                std::string_view identifier) = 0;
  virtual ApiKeyRecord UpdateApiKey(const ApiKeyRecord& key) = 0;
  // Deletes the key and every token under it, atomically.
  virtual void DeleteApiKey(std::string_view account, std::string_view identifier) = 0;
  // Filters: empty strings match anything.
  virtual Page<ApiKeyRecord> ListApiKeys(std::string_view account, const ScopeFilter& scope,
                                         std::string_view api_key_type,
                                         std::string_view parent_identifier,
                                         const ListQuery& query) = 0;
  virtual int64_t CountTokensOfApiKey(std::string_view account, std::string_view identifier) = 0;
};

class TokenStore {
 public:
  virtual ~TokenStore() = default;
  // kNotFound when the API key does not exist; kConflict on a duplicate identifier.
  virtual void CreateToken(const TokenRecord& token) = 0;
  virtual std::optional<TokenRecord> GetToken(std::string_view account,
                                              std::string_view identifier) = 0;
  virtual TokenRecord UpdateToken(const TokenRecord& token) = 0;
  virtual void DeleteToken(std::string_view account, std::string_view identifier) = 0;
  virtual Page<TokenRecord> ListTokens(std::string_view account, const ScopeFilter& scope,
                                       std::string_view api_key_identifier,
                                       std::string_view api_key_type,
                                       std::string_view parent_identifier, bool only_active,
                                       int64_t now, const ListQuery& query) = 0;
};

class WorkspaceStore {
 public:
  virtual ~WorkspaceStore() = default;
  // kNotFound when the project (or a referenced variable set) does not exist; kConflict on a
  // duplicate identifier. Variable-set references are checked in the same transaction.
  // evaluation (may be null): the save's policy evaluation, stored in the same transaction
  // (its id is set), so a save costs one commit and a failed save records nothing.
  virtual void CreateWorkspace(const WorkspaceRecord& workspace, EvaluationRecord* evaluation) = 0;
  virtual std::optional<WorkspaceRecord> GetWorkspace(std::string_view account,
                                                      std::string_view org,
                                                      std::string_view project,
                                                      std::string_view identifier) = 0;
  // The workspace, its lock and its newest state version, in one statement.
  virtual std::optional<WorkspaceView> GetWorkspaceView(std::string_view account,
                                                        std::string_view org,
                                                        std::string_view project,
                                                        std::string_view identifier) = 0;
  // Replaces everything but account/org/project/identifier/created; bumps version. evaluation
  // as for CreateWorkspace.
  virtual WorkspaceRecord UpdateWorkspace(const WorkspaceRecord& workspace,
                                          std::optional<int64_t> expected_version,
                                          EvaluationRecord* evaluation) = 0;
  // Sets only the status (runs move it), keeping the per-status counts right; bumps the
  // version. False when the workspace does not exist.
  virtual bool SetWorkspaceStatus(const WorkspaceKey& key, std::string_view status) = 0;
  // Sets server-owned fields (fields_json: a JSON object, e.g. the cost estimate's data ids) in
  // the workspace's server_json, keeping the others, in one transaction; bumps the version.
  // False when the workspace does not exist.
  virtual bool SetWorkspaceServerFields(const WorkspaceKey& key, std::string_view fields_json) = 0;
  // kLocked when the workspace's state is locked; kPreconditionFailed on a stale version.
  virtual void DeleteWorkspace(std::string_view account, std::string_view org,
                               std::string_view project, std::string_view identifier,
                               std::optional<int64_t> expected_version) = 0;
  // kNotFound when the project does not exist.
  virtual Page<WorkspaceRecord> ListWorkspaces(std::string_view account, std::string_view org,
                                               std::string_view project,
                                               const WorkspaceListQuery& query) = 0;
  // Distinct "key:value" tags (or "key" when the value is empty), sorted.
  virtual std::vector<std::string> ListWorkspaceTags(std::string_view account, std::string_view org,
                                                     std::string_view project) = 0;
  // Workspace count per status / per provisioner in a project.
  virtual std::vector<std::pair<std::string, int64_t>> CountWorkspacesBy(
      std::string_view account, std::string_view org, std::string_view project,
      std::string_view column) = 0;
  // Workspaces associated with a template across the given scope ("" = any).
  virtual std::vector<WorkspaceRecord> ListTemplateWorkspaces(
      std::string_view account, std::string_view org, std::string_view project,
      std::string_view template_id, std::string_view version, int64_t limit) = 0;
  // Per-workspace JSON settings (drift-config, ephemeral-config); nullopt when unset.
  virtual std::optional<std::string> GetWorkspaceSetting(std::string_view account,
                                                         std::string_view org,
                                                         std::string_view project,
                                                         std::string_view identifier,
                                                         std::string_view name) = 0;
  virtual void PutWorkspaceSetting(std::string_view account, std::string_view org,
                                   std::string_view project, std::string_view identifier,
                                   std::string_view name, std::string_view json) = 0;
  // Returns false when there was nothing to delete.
  virtual bool DeleteWorkspaceSetting(std::string_view account, std::string_view org,
                                      std::string_view project, std::string_view identifier,
                                      std::string_view name) = 0;
};

class VariableSetStore {
 public:
  virtual ~VariableSetStore() = default;
  // kNotFound when the org/project level does not exist; kConflict on a duplicate identifier.
  virtual void CreateVariableSet(const VariableSetRecord& set) = 0;
  virtual std::optional<VariableSetRecord> GetVariableSet(std::string_view account,
                                                          const VariableSetKey& key) = 0;
  // Replaces name, document and counts; bumps updated.
  virtual VariableSetRecord UpdateVariableSet(const VariableSetRecord& set) = 0;
  // kConflict, naming the referencing workspaces, while any workspace references the set.
  virtual void DeleteVariableSet(std::string_view account, const VariableSetKey& key) = 0;
  // Sets defined at exactly this level (org/project empty for account level).
  virtual Page<VariableSetRecord> ListVariableSets(std::string_view account, std::string_view org,
                                                   std::string_view project,
                                                   const ListQuery& query) = 0;
  // Workspaces referencing the set, ordered by org, project, identifier.
  virtual Page<WorkspaceRecord> ListVariableSetReferences(std::string_view account,
                                                          const VariableSetKey& key,
                                                          const ListQuery& query) = 0;
};

// Policies, policy sets and their evaluations at account, org and project level
// (org/project empty for the levels above). Links from a set to its policies are rows the
// store keeps consistent: a policy still linked is deleted only when forced, which unlinks it.
class PolicyStore {
 public:
  virtual ~PolicyStore() = default;
  // kNotFound when the org/project level does not exist; kConflict on a duplicate identifier.
  virtual void CreatePolicy(const PolicyRecord& policy) = 0;
  virtual std::optional<PolicyRecord> GetPolicy(std::string_view account, const PolicyKey& key) = 0;
  // Replaces name, rego and package_name; sets updated; bumps version.
  virtual PolicyRecord UpdatePolicy(const PolicyRecord& policy,
                                    std::optional<int64_t> expected_version) = 0;
  // Deletes the policy and returns an empty list, unless policy sets link it and force is
  // false: then nothing changes and the linking sets come back (up to 100, without links).
  // With force, the links go with the policy, in the same transaction. kPreconditionFailed
  // when expected_version is given and stale.
  virtual std::vector<PolicySetRecord> DeletePolicy(std::string_view account, const PolicyKey& key,
                                                    bool force,
                                                    std::optional<int64_t> expected_version) = 0;
  // Policies defined at exactly this level; with_set_counts fills policy_set_count.
  virtual Page<PolicyRecord> ListPolicies(std::string_view account, std::string_view org,
                                          std::string_view project, const ListQuery& query,
                                          bool with_set_counts) = 0;
  // Policy sets linking the policy (without their links); kNotFound for an unknown policy.
  virtual Page<PolicySetRecord> ListPolicySetsOfPolicy(std::string_view account,
                                                       const PolicyKey& key,
                                                       const ListQuery& query) = 0;

  // kNotFound when the level or a linked policy does not exist; kConflict on a duplicate.
  virtual void CreatePolicySet(const PolicySetRecord& set) = 0;
  // Links come resolved.
  virtual std::optional<PolicySetRecord> GetPolicySet(std::string_view account,
                                                      const PolicyKey& key) = 0;
  // Replaces every client field and the links; sets updated; bumps version.
  virtual PolicySetRecord UpdatePolicySet(const PolicySetRecord& set,
                                          std::optional<int64_t> expected_version) = 0;
  virtual void DeletePolicySet(std::string_view account, const PolicyKey& key,
                               std::optional<int64_t> expected_version) = 0;
  // Sets of the query's levels, links resolved.
  virtual Page<PolicySetRecord> ListPolicySets(std::string_view account,
                                               const PolicySetListQuery& query) = 0;
  // Enabled sets for type/action at the account level, the org and the project (levels
  // left empty are skipped), links resolved; account level first, then org, then project,
  // each by identifier. One read transaction. The list is immutable and may be shared with
  // other callers (a store can hand out the one it remembers without copying it).
  virtual std::shared_ptr<const std::vector<PolicySetRecord>> ApplicablePolicySets(
      std::string_view account, std::string_view org, std::string_view project,
      std::string_view type, std::string_view action) = 0;

  // Stores an evaluation and returns its id (ids increase).
  virtual int64_t AddEvaluation(const EvaluationRecord& evaluation) = 0;
  virtual std::optional<EvaluationRecord> GetEvaluation(std::string_view account, int64_t id) = 0;
  // Newest first; items come without input_json ("null"). Unfiltered totals come from counters.
  virtual Page<EvaluationRecord> ListEvaluations(std::string_view account,
                                                 const EvaluationListQuery& query) = 0;
};

// Content-addressed bytes of state versions and uploads.
class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Takes the file at spool_path (consuming it) as the blob sha256; durable on return.
  virtual void Put(std::string_view sha256, const std::string& spool_path) = 0;
  // Optional head start for Put: pushes a spooled file's bytes to disk while the caller still
  // checks them (the file may yet be discarded). Put is still required; with this done first
  // it has little left to wait for.
  virtual void Stage(const std::string& spool_path) { (void)spool_path; }
  // Stores bytes given in memory (rollback copies, small uploads); durable on return.
  virtual void PutBytes(std::string_view sha256, std::string_view bytes) = 0;
  // A local file holding the blob, for zero-copy sends; nullopt when the backend has none.
  virtual std::optional<std::string> LocalPath(std::string_view sha256) = 0;
  // The whole blob in memory (for parsing); kNotFound when absent.
  virtual std::string Read(std::string_view sha256) = 0;

  // Garbage collection (domain/retention.h). Removes the blobs that still_referenced(sha256)
  // denies, asked at delete time, and that were not stored or re-stored (Put/PutBytes of the
  // same content refresh a blob) in the last grace_seconds; also temporary files of abandoned
  // writes older than abandon_seconds. A Put racing the sweep keeps its blob: the final check
  // and the removal exclude a Put of the same blob (a striped lock in the file store, one SQL
  // statement on PostgreSQL), and a Put refreshes the blob, so a row that the Put's caller
  // inserts within the grace period finds its bytes. Backends without files do nothing.
  struct SweepResult {
    int64_t removed_blobs = 0;
    int64_t removed_bytes = 0;
    int64_t removed_temp_files = 0;  // abandoned writes
    int64_t removed_temp_bytes = 0;
  };
  virtual SweepResult Sweep(const std::function<bool(std::string_view)>& still_referenced,
                            int64_t grace_seconds, int64_t abandon_seconds) {
    (void)still_referenced, (void)grace_seconds, (void)abandon_seconds;
    return {};
  }
  // For tests: makes the blob look stored `seconds` earlier than it was.
  virtual void Backdate(std::string_view sha256, int64_t seconds) { (void)sha256, (void)seconds; }
};

// Retention of state versions and what the blob sweep asks (domain/retention.h drives both).
class MaintenanceStore {
 public:
  virtual ~MaintenanceStore() = default;
  struct WorkspaceConfig {
    WorkspaceKey key;
    std::string config_json;
  };
  // Workspaces of every account after `after` in (account, org, project, identifier) order,
  // at most limit (an empty key starts at the beginning).
  virtual std::vector<WorkspaceConfig> WorkspacesAfter(const WorkspaceKey& after,
                                                       int64_t limit) = 0;
  // Deletes, in one transaction, the workspace's state versions (state_raw) that are beyond
  // the keep_versions newest (0: no count limit) or created before created_before (unix ms;
  // 0: no age limit), but never the newest version, the newest v4 version (Terraform's
  // serial/lineage rules compare with it), nor a version that a remaining version's
  // rollback_source_id names. Returns the deleted records (their blobs go with the next
  // sweep). A workspace that does not exist (deleted meanwhile) expires nothing.
  virtual std::vector<DataRecord> ExpireStateVersions(const WorkspaceKey& key,
                                                      int64_t keep_versions,
                                                      int64_t created_before) = 0;
  // Whether any row (workspace data, remote-execution archives) references the blob.
  virtual bool BlobReferenced(std::string_view sha256) = 0;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  // Takes the lock when the workspace has none, or when it already holds this lock id (a
  // retried LOCK). Returns the holder when another lock is held. One atomic statement or
  // transaction; kNotFound when the workspace does not exist.
  virtual std::optional<LockRecord> AcquireLock(const WorkspaceKey& key,
                                                const LockRecord& lock) = 0;
  virtual std::optional<LockRecord> GetLock(const WorkspaceKey& key) = 0;
  // Releases the lock if lock_id holds it; returns the holder when another lock is held.
  virtual std::optional<LockRecord> ReleaseLock(const WorkspaceKey& key, std::string_view lock_id,
                                                bool& released) = 0;
  // Removes any lock and records who forced it; returns the removed lock.
  virtual std::optional<LockRecord> ForceUnlock(const WorkspaceKey& key, std::string_view by) = 0;

  // AcquireLock and ReleaseLock for callers that need not wait for the commit (the backend's
  // LOCK and UNLOCK): done gets what they return, or their error, once the change is durable,
  // possibly on another thread (a store with group commit queues the write; see
  // ConnectionPool::SubmitWrite). done must not throw. These defaults run the call here.
  struct LockOutcome {
    std::optional<LockRecord> holder;  // another lock held: nothing changed
    bool released = false;             // ReleaseLockLater: this lock id was released
  };
  using LockDone = std::function<void(LockOutcome, std::exception_ptr)>;
  virtual void AcquireLockLater(const WorkspaceKey& key, const LockRecord& lock, LockDone done) {
    LockOutcome out;
    try {
      out.holder = AcquireLock(key, lock);
    } catch (...) {
      return done({}, std::current_exception());
    }
    done(std::move(out), nullptr);
  }
  virtual void ReleaseLockLater(const WorkspaceKey& key, std::string_view lock_id, LockDone done) {
    LockOutcome out;
    try {
      out.holder = ReleaseLock(key, lock_id, out.released);
    } catch (...) {
      return done({}, std::current_exception());
    }
    done(std::move(out), nullptr);
  }

  // Stores a state version after checking, in one transaction, the lock (a held lock needs
  // lock_id to match; with none held any write goes) and Terraform's serial/lineage rules
  // against the newest version (only when both are v4 states). Updates the workspace's
  // state fields, and its status when new_status is given.
  virtual StateWriteResult WriteState(const WorkspaceKey& key, const DataRecord& version,
                                      const std::optional<std::string>& lock_id,
                                      const std::optional<std::string>& new_status) = 0;
  virtual std::optional<DataRecord> NewestState(const WorkspaceKey& key) = 0;
  virtual std::optional<DataRecord> GetData(const WorkspaceKey& key, std::string_view id) = 0;
  // Other data types (plans, cost breakdowns, ...); kNotFound when the workspace is absent.
  virtual void AddData(const WorkspaceKey& key, const DataRecord& data) = 0;
  virtual Page<DataRecord> ListData(const WorkspaceKey& key, const DataListQuery& query) = 0;
  // Stores the policy evaluation of a data record (setting its id) and links the record to it,
  // in one transaction; false when the record does not exist (the evaluation is kept).
  virtual bool SetDataPolicy(const WorkspaceKey& key, std::string_view id,
                             EvaluationRecord& evaluation, std::string_view status,
                             std::string_view message) = 0;

  // ---- what clients wrote about the resources derived from the state ----
  // One row per resource of a workspace, keyed by provider, type, name, module and path_id.
  // Rows go with their workspace.
  struct ResourceOverride {
    std::string provider;
    std::string type;
    std::string name;
    std::string module;
    std::string path_id;
    std::string mode = "resource";  // resource | data
    bool upserted = false;          // attributes_json / sensitive_json replace the state's
    std::string attributes_json = "{}";
    std::string sensitive_json = "[]";
    bool drifted = false;  // drift_status / drift_attributes_json replace the state's
    std::string drift_status;
    std::string drift_attributes_json = "{}";
    bool deleted = false;    // a tombstone: hidden until upserted again
    std::string session_id;  // of the last write that named one ("" keeps the stored one)
    int64_t updated = 0;
  };
  // Every row of the workspace, by key; kNotFound when the workspace is absent.
  virtual std::vector<ResourceOverride> ListResourceOverrides(const WorkspaceKey& key) = 0;
  // In one transaction, for each row (later rows win over earlier ones with the same key):
  // with drift false, sets mode, attributes_json and sensitive_json (upserted) and lifts a
  // tombstone; with drift true, sets drifted, drift_status and drift_attributes_json. Both
  // keep the other half of an existing row, and its session_id when the row's is empty.
  // kNotFound when the workspace is absent.
  virtual void WriteResourceOverrides(const WorkspaceKey& key,
                                      const std::vector<ResourceOverride>& rows, bool drift) = 0;
  // Tombstones the rows' keys (creating rows as needed; mode is kept from the row given),
  // dropping what was written about them, in one transaction. A key already tombstoned, or,
  // when keep_session is not empty, one stored with that session_id, is left alone. Returns
  // how many keys it tombstoned; kNotFound when the workspace is absent.
  virtual int64_t TombstoneResources(const WorkspaceKey& key,
                                     const std::vector<ResourceOverride>& rows,
                                     std::string_view keep_session, int64_t now) = 0;
};

// Runs, their source uploads, workspace events and drift schedules.
class RunStore {
 public:
  virtual ~RunStore() = default;

  // ---- remote executions (source uploads) ----
  // kNotFound when the workspace does not exist.
  virtual void CreateRemoteExecution(const RemoteExecutionRecord& execution) = 0;
  virtual std::optional<RemoteExecutionRecord> GetRemoteExecution(const WorkspaceKey& key,
                                                                  std::string_view id) = 0;
  // Replaces the mutable fields (sha256, size, executed, run_id, updated); kNotFound when
  // absent. With expect_unexecuted, kConflict when it was executed meanwhile (one run per
  // upload).
  virtual void UpdateRemoteExecution(const RemoteExecutionRecord& execution,
                                     bool expect_unexecuted) = 0;

  // ---- runs ----
  // Stores a new run and gives it the workspace's next number (set in run); kNotFound when
  // the workspace does not exist. With execution, marks that remote execution executed by
  // this run in the same transaction (kConflict when it already was).
  virtual void CreateRun(RunRecord& run, const std::string* remote_execution_id) = 0;
  virtual std::optional<RunRecord> GetRun(const WorkspaceKey& key, std::string_view id) = 0;
  // Replaces the mutable fields (status, approved_by, summary_json, log_size, updated,
  // started, finished) when the stored status is one of expected_statuses (any, when empty);
  // otherwise kConflict naming the current status. kNotFound when absent. Returns the stored
  // run.
  virtual RunRecord UpdateRun(const RunRecord& run,
                              const std::vector<std::string>& expected_statuses) = 0;
  // Newest first (by number); total counts the filtered runs.
  virtual Page<RunRecord> ListRuns(const WorkspaceKey& key, const RunListQuery& query) = 0;
  // Runs of every account in these statuses, oldest first (the runner's queue and its
  // recovery after a restart).
  virtual std::vector<RunRecord> RunsInStatus(const std::vector<std::string>& statuses,
                                              int64_t limit) = 0;

  // ---- events ----
  // Stores an event and returns its id (ids increase); kNotFound when the workspace does not
  // exist.
  virtual int64_t AddEvent(const EventRecord& event) = 0;
  // Newest first.
  virtual Page<EventRecord> ListEvents(const WorkspaceKey& key, const EventListQuery& query) = 0;

  // ---- drift configuration ----
  virtual std::optional<DriftConfigRecord> GetDriftConfig(const WorkspaceKey& key) = 0;
  // Creates or replaces; kNotFound when the workspace does not exist.
  virtual void PutDriftConfig(const DriftConfigRecord& config) = 0;
  // False when there was none.
  virtual bool DeleteDriftConfig(const WorkspaceKey& key) = 0;
  // Enabled configurations whose next_run is at or before now, oldest first.
  virtual std::vector<DriftConfigRecord> DueDriftConfigs(int64_t now, int64_t limit) = 0;
};

// The audit trail: one row per request to a write route (domain/audit.h). Append-only.
class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // Stores the records (their ids are ignored) in one transaction; ids increase in their
  // order.
  virtual void Append(const std::vector<AuditRecord>& records) = 0;
  // One account's records, and only its own, newest first (time, then id); total counts the
  // filtered records (from a counter when unfiltered).
  virtual Page<AuditRecord> List(std::string_view account, const AuditListQuery& query) = 0;
};

// One database: all stores, plus health.
class Database : public AccountStore,
                 public OrgStore,
                 public ProjectStore,
                 public ApiKeyStore,
                 public TokenStore {
 public:
  virtual WorkspaceStore& Workspaces() = 0;
  virtual VariableSetStore& VariableSets() = 0;
  virtual StateStore& States() = 0;
  virtual PolicyStore& Policies() = 0;
  virtual RunStore& Runs() = 0;
  virtual BlobStore& Blobs() = 0;
  virtual AuditStore& Audit() = 0;
  virtual MaintenanceStore& Maintenance() = 0;
  // Throws kUnavailable when the database cannot answer.
  virtual void Ping() = 0;
  // Counts committed write transactions (see CommitClock): while it stands still, what was
  // read stays true, so readers may cache it. Exact on SQLite; on PostgreSQL it follows the
  // other replicas' commits within a bounded delay. Null when nothing may be cached
  // (PostgreSQL with --replica-staleness-ms 0).
  virtual const CommitClock* CommitCounter() const = 0;
  // Moves at least whenever a committed write changed a token row (created, updated, deleted,
  // also through a cascade), so a remembered token row stays true while it stands still. On
  // SQLite it moves for those commits only (other writes leave verified tokens remembered), as
  // it does on PostgreSQL, where it follows the credentials_generation row that migration
  // 0012's trigger moves (within the same bound as CommitCounter). Where neither applies, it is
  // CommitCounter itself.
  virtual const CommitClock* CredentialsCounter() const { return CommitCounter(); }
  virtual std::string BackendName() const = 0;

  // Totals for metrics, read at scrape time.
  struct Totals {
    int64_t state_versions = 0;
    int64_t state_bytes = 0;  // every stored state version
    int64_t blobs = 0;        // distinct stored blobs (states and other data)
    int64_t blob_bytes = 0;
    std::vector<std::pair<std::string, int64_t>> runs_by_status;
  };
  virtual Totals ReadTotals() = 0;
  // Told how long each transaction (write) and each read took, for metrics.
  virtual void SetTransactionObserver(std::function<void(bool write, double seconds)> observer) = 0;
  // Group commit (SQLite): commits made and the write transactions they covered; zeros where
  // each write commits alone (PostgreSQL).
  struct GroupCommitCounts {
    uint64_t commits = 0, writes = 0;
  };
  virtual GroupCommitCounts GroupCommits() const = 0;
  // SQLite's WAL checkpoints: on the database's checkpoint thread, and by writers because the
  // WAL had outgrown that thread; zeros on PostgreSQL.
  struct WalCheckpointCounts {
    uint64_t background = 0, by_writers = 0;
  };
  virtual WalCheckpointCounts WalCheckpoints() const = 0;
  // PostgreSQL replicas: commit notifications sent and received, and heartbeats that found the
  // transaction snapshot changed (see CommitWatch); zeros on SQLite.
  struct ReplicaSignalCounts {
    uint64_t notifications_sent = 0, notifications_received = 0, snapshot_changes = 0;
  };
  virtual ReplicaSignalCounts ReplicaSignals() const = 0;
};

}  // namespace statehouse::storage
