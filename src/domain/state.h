// Terraform / OpenTofu remote state: the http backend's locks and writes, version history,
// rollback, other workspace data, and the views derived from the newest state.
#pragma once

#include <boost/json/object.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/auth.h"
#include "common/error.h"
#include "common/metrics.h"
#include "cost/catalog.h"
#include "domain/policies.h"
#include "domain/terraform_state.h"
#include "domain/workspaces.h"
#include "storage/store.h"

namespace statehouse::domain {

// A request body spooled to disk by the listener.
struct Upload {
  std::string file;
  uint64_t size = 0;
  std::optional<std::string> md5_base64;  // the client's Content-MD5, checked against the bytes
};

// Data types of the spec's HarnessIacmWorkspacedata enum.
const std::vector<std::string>& DataTypes();

// resources/search: a resource matches a selector when every given field matches; it is kept
// when any selector matches (or when there is none).
struct ResourceCondition {
  std::string attribute;  // "region", "tags.env", "<+attributes.region>"; "tag." means "tags."
  std::string op;         // equals, not_equals, contains, not_contains, starts_with, ends_with
  std::string value;
};
struct ResourceSelector {
  std::string resource_type;
  std::string provider;  // "aws" matches "registry.terraform.io/hashicorp/aws"
  std::string path_id;   // substring of the address
  std::string search_text;
  std::vector<ResourceCondition> conditions;
};
bool MatchesAnySelector(const boost::json::object& resource,
                        const std::vector<ResourceSelector>& selectors);

// What a plan's cost estimate gave (workspaces with cost_estimation_enabled).
struct CostOutcome {
  bool estimated = false;
  std::string breakdown_id;  // data ids of the stored cost_breakdown / cost_diff
  std::string diff_id;
  std::string currency;
  std::string total_monthly;
  std::string past_total_monthly;
  std::string diff_total_monthly;
  std::string monthly_budget;  // empty when the workspace has no budget
  bool over_budget = false;
  PolicyDecision decision;  // the Terraform Plan Cost policies, run on the breakdown
  std::string error;        // why no estimate was made, when one was asked for
  // The reply's / run summary's "cost_estimate" object.
  boost::json::object ToJson() const;
};

class StateService {
 public:
  StateService(storage::Database& db, WorkspaceService& workspaces,
               PolicyService* policies = nullptr)
      : db_(db), workspaces_(workspaces), policies_(policies) {}

  // The newest state version of a workspace the caller has read (WorkspaceService::Get), or
  // nullopt when it has none.
  std::optional<storage::DataRecord> Newest(const storage::WorkspaceRecord& w);
  // Stores a state version. lock_id is the backend's ?ID=. Throws kLocked (holder's info in
  // the details), kConflict (serial/lineage rules), kInvalidArgument (not JSON).
  // A stored state is evaluated by the terraformState policies for policy_action (default
  // afterTerraformApply); the result is kept with the version and put in *decision. A state
  // write is never refused by policy.
  storage::DataRecord WriteState(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& ws, const Upload& body,
                                 const std::optional<std::string>& lock_id,
                                 const std::string& policy_action = "",
                                 PolicyDecision* decision = nullptr);

  // LOCK / POST .../lock with Terraform's lock info (either letter case), and UNLOCK / DELETE
  // .../lock, for callers that answer once the change is durable without waiting for it:
  // what is checked before the write is checked here (and thrown); then done gets the outcome
  // (the lock taken, 423 with the holder's view when another holds it; whether one was
  // released) or the error, possibly on another thread, after the commit. An UNLOCK without
  // a body or with only an ID forces the lock open (ForceUnlock, here), then done.
  using LockDone = std::function<void(std::optional<storage::LockRecord>, std::exception_ptr)>;
  void LockLater(const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
                 const boost::json::object& info, LockDone done);
  using UnlockDone = std::function<void(bool released, std::exception_ptr)>;
  void UnlockLater(const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
                   const boost::json::object* info, UnlockDone done);
  // actions/lock: a manual lock with a reason.
  storage::LockRecord ManualLock(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& ws, const std::string& reason);
  // actions/force-unlock: clears any lock; returns what it removed. The workspace's
  // force-unlock policies see the workspace, the lock holder and the caller first: an
  // error-severity deny refuses (kPermissionDenied carrying the evaluation) and leaves the
  // lock; otherwise *decision gets the evaluation.
  std::optional<storage::LockRecord> ForceUnlock(const auth::Principal& who,
                                                 const WorkspaceScope& scope, const std::string& ws,
                                                 PolicyDecision* decision = nullptr);
  std::optional<storage::LockRecord> CurrentLock(const storage::WorkspaceRecord& w);

  storage::Page<storage::DataRecord> ListData(const auth::Principal& who,
                                              const WorkspaceScope& scope, const std::string& ws,
                                              const storage::DataListQuery& query);
  storage::DataRecord GetData(const auth::Principal& who, const WorkspaceScope& scope,
                              const std::string& ws, const std::string& id);
  // The bytes to send for a data record: a local file when the blob store has one and no
  // redaction applies; otherwise the (redacted) bytes.
  struct Content {
    std::string file;
    std::string bytes;
  };
  Content ContentOf(const storage::WorkspaceRecord& w, const storage::DataRecord& d,
                    bool for_backend);
  // Lock outcomes and hold times go to this registry (none when null). Set before use.
  void SetMetrics(metrics::Registry* registry);

  // The prices cost estimates use; without a catalog no estimate is made.
  void SetPriceCatalog(const cost::PriceCatalog* catalog) { catalog_ = catalog; }

  // Stores other workspace data. Plans (plan_json: `terraform show -json` of a plan) and cost
  // estimates (cost_breakdown, cost_diff) are evaluated by the policies of their entity for
  // policy_action (default afterTerraformPlan); the result is kept with the data and put in
  // *decision. Uploads are never refused by policy: a run decides what to do with an error.
  // A plan uploaded to a workspace with cost_estimation_enabled is priced: the breakdown and
  // the diff are stored as cost_breakdown / cost_diff data (checked by the Terraform Plan Cost
  // policies), the workspace's cost_breakdown_json / cost_diff_json name them, and *cost says
  // what came out.
  storage::DataRecord CreateData(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& ws, const Upload& body,
                                 storage::DataRecord meta, const std::string& policy_action = "",
                                 PolicyDecision* decision = nullptr, CostOutcome* cost = nullptr);
  // Evaluates stored data (a plan, a cost estimate or a state) again for policy_action and
  // keeps the result with it. Data of other types, or with no policy set applying, returns a
  // decision with evaluated == false.
  PolicyDecision EvaluateData(const auth::Principal& who, const WorkspaceScope& scope,
                              const std::string& ws, const storage::DataRecord& data,
                              const std::string& policy_action);
  // A new newest version from an old one: serial = current + 1, the old lineage.
  storage::DataRecord Rollback(const auth::Principal& who, const WorkspaceScope& scope,
                               const std::string& ws, const std::string& data_id);

  // The newest v4 state, analysed (pruned when the workspace asks for it). Empty when none.
  tfstate::StateAnalysis Analyze(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& ws);

  // Lock info as the Terraform CLI decodes it (ID, Operation, Who, Created, ...), used in
  // conflict bodies and LOCK responses.
  static boost::json::object LockView(const storage::LockRecord& lock);
  // WorkspaceLock / LockWorkspaceResponse: id, manual, reason, created_at, locked_by_*.
  static boost::json::object LockSummary(const storage::LockRecord& lock);
  // HarnessIacmLockinfo: the spec's lower-case lock fields.
  static boost::json::object SpecLockView(const storage::LockRecord& lock,
                                          const storage::WorkspaceKey& key);

 private:
  storage::WorkspaceKey KeyOf(const auth::Principal& who, const WorkspaceScope& scope,
                              const std::string& ws) {
    return {who.account, scope.org, scope.project, ws};
  }
  [[noreturn]] void ThrowLocked(const storage::LockRecord& holder, const std::string& ws,
                                ErrorCode code);
  // The policy entity a data type is checked as (plans, cost estimates, states).
  static std::optional<PolicyEntity> EntityOf(const std::string& data_type);
  // policy_action (default by entity) checked against the trigger table; kInvalidArgument.
  static PolicyAction ActionFor(const std::string& data_type, const std::string& policy_action);
  // A plan or cost document from an upload's spool file or a stored blob; kInvalidArgument
  // when it is not one.
  boost::json::value ReadDocument(const std::string& file_or_blob, const std::string& data_type,
                                  bool from_blob = false);
  void GuardForceUnlock(const auth::Principal& who, const storage::WorkspaceRecord& w,
                        PolicyDecision* decision);
  // Runs the state policies on a version just stored (write or rollback) and returns it with
  // their result; never throws for a policy failure.
  storage::DataRecord CheckStoredState(const auth::Principal& who, const WorkspaceScope& scope,
                                       const std::string& ws, storage::DataRecord stored,
                                       const std::string& policy_action, PolicyDecision* decision);
  // Prices the stored plan `plan` when the workspace asks for estimates (see CreateData).
  CostOutcome EstimateCost(const auth::Principal& who, const WorkspaceScope& scope,
                           const std::string& ws, const storage::DataRecord& plan);
  // Stores a document the server made (a cost estimate) as workspace data, with its policies.
  storage::DataRecord StoreDocument(const auth::Principal& who, const WorkspaceScope& scope,
                                    const std::string& ws, const std::string& data_type,
                                    const std::string& bytes, const storage::DataRecord& like,
                                    PolicyDecision* decision);
  storage::Database& db_;
  WorkspaceService& workspaces_;
  PolicyService* policies_;
  const cost::PriceCatalog* catalog_ = nullptr;
  // Metrics: lock requests by result, and how long locks were held (measured from the lock's
  // creation, remembered here when this process took it, or read from a forced-open lock).
  void LockTaken(const storage::WorkspaceKey& key, const storage::LockRecord& lock);
  void LockEnded(const storage::WorkspaceKey& key, std::string_view lock_id, int64_t created,
                 const char* result);
  metrics::Family<metrics::Counter>* lock_requests_ = nullptr;
  metrics::Histogram* lock_held_ = nullptr;
  std::mutex lock_times_mutex_;
  std::unordered_map<std::string, int64_t> lock_times_;

 public:
  // ---- the resource inventory: PATCH / DELETE .../resources (the rules are in state.cpp) ----
  // A resource as a request names it. path_id (the instance address the listings show) picks
  // one instance; empty, it names every instance of the block. provider may be a source
  // address ("registry.terraform.io/hashicorp/aws"), its last part ("aws") or Terraform's
  // provider["..."] form.
  struct ResourceRef {
    std::string provider;
    std::string type;
    std::string name;
    std::string module;
    std::string path_id;
  };
  struct ResourceChange {
    ResourceRef ref;
    std::string mode;  // resource | data | output
    boost::json::object attributes;
    std::vector<std::string> sensitive_paths;  // "password", "tags.secret", "list.0"
    std::string drift_status;                  // changed | deleted | unchanged | "" (clears)
    boost::json::object drift_attributes;
  };
  struct ResourceOutcome {
    std::string status;  // updated | deleted | skipped | failed
    std::string error;
  };
  // The newest state's resources and data sources with what clients wrote applied (listings,
  // search); outputs, modules and types are the state's.
  tfstate::StateAnalysis Resources(const auth::Principal& who, const WorkspaceScope& scope,
                                   const std::string& ws);
  // One outcome per change, in order. drift: only the drift fields are written, and only for
  // resources a listing shows; otherwise attributes are upserted. session_id (may be empty)
  // marks the resources written as belonging to that session.
  std::vector<ResourceOutcome> UpdateResources(const auth::Principal& who,
                                               const WorkspaceScope& scope, const std::string& ws,
                                               const std::vector<ResourceChange>& changes,
                                               bool drift, const std::string& session_id);
  // One outcome per ref, in order: deleted, or skipped when no listed resource matches.
  std::vector<ResourceOutcome> DeleteResources(const auth::Principal& who,
                                               const WorkspaceScope& scope, const std::string& ws,
                                               const std::vector<ResourceRef>& refs);
  // Deletes every listed resource (and data source) not written in session_id; returns how
  // many.
  int64_t DeleteStaleResources(const auth::Principal& who, const WorkspaceScope& scope,
                               const std::string& ws, const std::string& session_id);
};

}  // namespace statehouse::domain
