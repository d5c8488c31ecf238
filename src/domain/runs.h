// Runs: one plan / apply / destroy / drift check / refresh of a workspace, the source uploads
// (remote executions) that CLI-driven runs start from, and the workspace events they leave.
// The runner (src/runs) executes runs; this service owns their rules: who may create,
// approve, discard and cancel them, and which status may follow which.
#pragma once

#include <boost/json/object.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/auth.h"
#include "domain/state.h"
#include "domain/workspaces.h"
#include "storage/store.h"

namespace statehouse::domain {

// Run kinds and statuses, as stored and as the API shows them.
namespace run_kind {
inline constexpr const char* kPlan = "plan";        // plan only
inline constexpr const char* kApply = "apply";      // plan, approval, apply
inline constexpr const char* kDestroy = "destroy";  // plan -destroy, approval, apply
inline constexpr const char* kDrift = "drift";      // plan -refresh-only -detailed-exitcode
inline constexpr const char* kRefresh = "refresh";  // plan -refresh-only, approval, apply
}  // namespace run_kind

namespace run_status {
// Active: the run still holds its workspace (one active run per workspace, queued ones wait).
inline constexpr const char* kQueued = "queued";
inline constexpr const char* kPlanning = "planning";
inline constexpr const char* kAwaitingApproval = "awaiting_approval";
inline constexpr const char* kApproved = "approved";  // waiting for a slot to apply
inline constexpr const char* kApplying = "applying";
// Final.
inline constexpr const char* kPlanned = "planned";  // plan-only runs, and runs with no changes
inline constexpr const char* kApplied = "applied";
inline constexpr const char* kDrifted = "drifted";
inline constexpr const char* kNoDrift = "no_drift";
inline constexpr const char* kPolicyFailed = "policy_failed";  // a plan policy said no
inline constexpr const char* kDiscarded = "discarded";
inline constexpr const char* kCancelled = "cancelled";
inline constexpr const char* kFailed = "failed";
inline constexpr const char* kInterrupted = "interrupted";  // the server stopped under it
}  // namespace run_status

const std::vector<std::string>& RunKinds();
const std::vector<std::string>& RunStatuses();
const std::vector<std::string>& ActiveRunStatuses();
bool IsFinalRunStatus(std::string_view status);

// What the service needs of the runner.
class RunExecutor {
 public:
  virtual ~RunExecutor() = default;
  // There is queued or approved work.
  virtual void Wake() = 0;
  // Stops the run's provisioner if this runner is executing it; true when it was.
  virtual bool CancelRunning(const std::string& run_id) = 0;
};

// The newest status of the runs this process changed, so that a log follower, polled from a
// network thread, sees its run stop without asking the database.
class RunSignals {
 public:
  void Set(const std::string& run_id, const std::string& status);
  std::optional<std::string> Get(const std::string& run_id) const;

 private:
  static constexpr size_t kMaxEntries = 10000;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> status_;
};

// Where a run's log lives under the server's data directory.
std::string RunLogPath(const std::string& data_dir, const std::string& run_id);

struct RunInput {
  std::string kind = run_kind::kPlan;
  std::string message;
  bool auto_apply = false;
  std::string remote_execution_id;  // source upload; empty: the workspace's repository
  std::string pipeline_execution_id;
};

class RunService {
 public:
  RunService(storage::Database& db, WorkspaceService& workspaces)
      : db_(db), workspaces_(workspaces) {}
  void SetExecutor(RunExecutor* executor) { executor_ = executor; }
  void SetDataDir(std::string dir) { data_dir_ = std::move(dir); }
  const std::string& DataDir() const { return data_dir_; }
  RunSignals& Signals() { return signals_; }

  // ---- remote executions ----
  storage::RemoteExecutionRecord CreateRemoteExecution(const auth::Principal& who,
                                                       const WorkspaceScope& scope,
                                                       const std::string& ws,
                                                       const boost::json::object& body,
                                                       bool lenient);
  storage::RemoteExecutionRecord GetRemoteExecution(const auth::Principal& who,
                                                    const WorkspaceScope& scope,
                                                    const std::string& ws, const std::string& id);
  // Stores a .tar.gz source. content_digest is the request's Content-Digest header (RFC
  // 9530): its sha-256 must match the bytes (kInvalidArgument otherwise; other algorithms
  // only are refused too). kConflict once executed.
  storage::RemoteExecutionRecord UploadSource(const auth::Principal& who,
                                              const WorkspaceScope& scope, const std::string& ws,
                                              const std::string& id, const Upload& body,
                                              const std::optional<std::string>& content_digest);
  // Starts a run from the upload (kind plan unless input says otherwise).
  storage::RunRecord Execute(const auth::Principal& who, const WorkspaceScope& scope,
                             const std::string& ws, const std::string& id, RunInput input);

  // ---- runs ----
  storage::RunRecord CreateRun(const auth::Principal& who, const WorkspaceScope& scope,
                               const std::string& ws, const RunInput& input);
  storage::RunRecord GetRun(const auth::Principal& who, const WorkspaceScope& scope,
                            const std::string& ws, const std::string& id);
  storage::Page<storage::RunRecord> ListRuns(const auth::Principal& who,
                                             const WorkspaceScope& scope, const std::string& ws,
                                             const storage::RunListQuery& query);
  // awaiting_approval -> approved (the runner then applies the saved plan).
  storage::RunRecord Approve(const auth::Principal& who, const WorkspaceScope& scope,
                             const std::string& ws, const std::string& id);
  // awaiting_approval -> discarded.
  storage::RunRecord Discard(const auth::Principal& who, const WorkspaceScope& scope,
                             const std::string& ws, const std::string& id);
  // Any active run -> cancelled; a running provisioner is interrupted first (the runner then
  // records the final status).
  storage::RunRecord Cancel(const auth::Principal& who, const WorkspaceScope& scope,
                            const std::string& ws, const std::string& id);

  // ---- events ----
  // POST .../events (the spec's SendEventRequest).
  storage::EventRecord SendEvent(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& ws, const boost::json::object& body,
                                 bool lenient);
  storage::Page<storage::EventRecord> ListEvents(const auth::Principal& who,
                                                 const WorkspaceScope& scope, const std::string& ws,
                                                 const storage::EventListQuery& query);

  // Documents as the API shows them.
  static boost::json::object RunDocument(const storage::RunRecord& run);
  static boost::json::object RemoteExecutionDocument(const storage::RemoteExecutionRecord& r);
  static boost::json::object EventDocument(const storage::EventRecord& e);

 private:
  storage::WorkspaceKey KeyOf(const auth::Principal& who, const WorkspaceScope& scope,
                              const std::string& ws) const;
  storage::RunRecord Transition(const auth::Principal& who, const WorkspaceScope& scope,
                                const std::string& ws, const std::string& id,
                                const std::vector<std::string>& from, const char* to,
                                const char* verb);

  storage::Database& db_;
  WorkspaceService& workspaces_;
  RunExecutor* executor_ = nullptr;
  std::string data_dir_ = ".";
  RunSignals signals_;
};

// Builds the event a run leaves at a transition: the spec's event_type and ActivityMetadata
// (activity_type, activity_status, counts, data ids, provisioner, git facts).
storage::EventRecord RunEvent(const storage::RunRecord& run, const std::string& event_type,
                              const std::string& activity_status);

}  // namespace statehouse::domain
