// Policy management (Harness's /pm/api/v1): Rego policies and policy sets at account, org and
// project level, ad hoc evaluation, the evaluation history, and the one entry point the rest
// of the server calls to enforce policies on IaCM entities (Enforce).
//
// A level is a PolicyScope whose org/project are empty for the levels above (account: both
// empty; org: project empty), as for variable sets. Policies are compiled with the Rego engine
// (src/policy/engine.h) when they are saved; a parse or compile error is kInvalidArgument
// carrying OPA's message ("policy.rego:3: rego_parse_error: unexpected } token"). Compiled
// policies are kept in a cache keyed by the SHA-256 of their text, so enforcing ten policies
// compiles nothing after the first time.
//
// A policy set links policies of its own level or a level above it, each with a severity
// ("error" or "warning"). Requests name them as Harness does: "<id>" (the set's level),
// "org.<id>" (the set's org) or "account.<id>".
//
// Evaluating a policy (Harness style): the document of the policy's package is evaluated
// against the input; its "deny" rule gives the deny messages (deny[msg] / deny contains msg,
// a set or array of strings, or a boolean deny), its "warn" rule gives warning messages.
// Per policy: a deny under an "error" set link -> error; a deny under a "warning" link, or
// only warn messages -> warning; a policy that fails to evaluate (budget exceeded, conflict)
// -> error with the engine's message; otherwise pass. A set's status is its worst policy's;
// the evaluation's status is its worst set's.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/auth.h"
#include "common/error.h"
#include "storage/store.h"

namespace statehouse::policy {
class CompiledPolicy;
}

namespace statehouse::domain {

// ---------------------------------------------------------------------------------------
// The entity types (policy set "type") and events (policy set "action") IaCM evaluates,
// with Harness's names. This table is the only place they are spelled out; policy sets,
// evaluation filters, Enforce and the README refer to it.

enum class PolicyEntity { kWorkspace, kTerraformPlan, kTerraformPlanCost, kTerraformState };
enum class PolicyAction { kOnSave, kAfterTerraformPlan, kAfterTerraformApply, kOnForceUnlock };

struct PolicyTrigger {
  PolicyEntity entity;
  PolicyAction action;
  std::string_view type;         // the policy set's "type"
  std::string_view action_name;  // the policy set's "action"
  std::string_view package;      // the package Harness's sample policies use
  std::string_view input;        // what the policies receive as input
};

inline constexpr PolicyTrigger kPolicyTriggers[] = {
    {PolicyEntity::kWorkspace, PolicyAction::kOnSave, "workspace", "onsave", "workspace",
     "the workspace under input.workspace, when it is created or updated"},
    {PolicyEntity::kTerraformPlan, PolicyAction::kAfterTerraformPlan, "terraformPlan",
     "afterTerraformPlan", "terraform_plan", "the plan JSON (terraform show -json) after a plan"},
    {PolicyEntity::kTerraformPlanCost, PolicyAction::kAfterTerraformPlan, "terraformPlanCost",
     "afterTerraformPlan", "terraform_plan_cost", "the plan's cost estimate after a plan"},
    {PolicyEntity::kTerraformState, PolicyAction::kAfterTerraformPlan, "terraformState",
     "afterTerraformPlan", "terraform_state", "the state after a plan"},
    {PolicyEntity::kTerraformState, PolicyAction::kAfterTerraformApply, "terraformState",
     "afterTerraformApply", "terraform_state", "the new state after an apply"},
    // Statehouse's addition (Harness has no such event): guards forcing a state lock open.
    {PolicyEntity::kWorkspace, PolicyAction::kOnForceUnlock, "workspace", "onforceunlock",
     "workspace",
     "input.workspace, input.lock (the holder) and input.caller, before a force-unlock"},
};

std::string_view EntityTypeName(PolicyEntity entity);
std::string_view ActionName(PolicyAction action);
// The table row for a type/action pair; nullptr when the pair is not in the table.
const PolicyTrigger* FindTrigger(std::string_view type, std::string_view action);
// kInvalidArgument naming the field and the allowed values unless type is a known entity
// type and action one of its events (action may be empty when only the type is checked).
void ValidateTrigger(std::string_view type, std::string_view action);

// ---------------------------------------------------------------------------------------

enum class PolicyStatus { kPass, kWarning, kError };
const char* PolicyStatusName(PolicyStatus status);  // "pass" | "warning" | "error"

// A level: org and project empty above them.
struct PolicyScope {
  std::string org;
  std::string project;
};

// A policy as a request gives it (absent fields: not given).
struct PolicyInput {
  std::optional<std::string> identifier;
  std::optional<std::string> name;
  std::optional<std::string> rego;
};

struct PolicyLinkInput {
  std::string identifier;  // "<id>", "org.<id>" or "account.<id>"
  std::string severity;    // "error" | "warning"
};

// A policy set as a request gives it (absent fields: not given; PATCH keeps them).
struct PolicySetInput {
  std::optional<std::string> identifier;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> type;
  std::optional<std::string> action;
  std::optional<bool> enabled;
  std::optional<std::string> entity_selector;
  std::optional<std::vector<PolicyLinkInput>> policies;
  // Other spec fields kept as given (resource_groups, infra_type, infra_params, yaml_version).
  boost::json::object extra;
};

struct PolicySetFilter {
  std::vector<std::string> types;
  std::string action;
  bool hierarchical = false;  // the scope and every level above it (/policysets/all)
};

// What one policy said in one evaluation.
struct PolicyOutcome {
  std::string policy_set_id;  // as a request names it from the evaluated project
  std::string policy_set_name;
  std::string policy_id;  // "<id>", "org.<id>" or "account.<id>" seen from the set
  std::string policy_name;
  std::string severity;  // of the link
  PolicyStatus status = PolicyStatus::kPass;
  std::vector<std::string> deny_messages;
  std::vector<std::string> warn_messages;
  std::string error;  // evaluation failure, when any
};

// What Enforce decided.
struct PolicyDecision {
  PolicyStatus status = PolicyStatus::kPass;
  // False when no enabled policy set applies: nothing was evaluated or recorded.
  bool evaluated = false;
  int64_t evaluation_id = 0;  // the recorded evaluation (GET /pm/api/v1/evaluations/{id})
  // The recorded evaluation as JSON text: the spec's Evaluation / IaCMEvaluation (id, status,
  // entity, entity_metadata, type, action, account_id, org_id, project_id, created, input,
  // details, duration_ms), ready for a response's policy_evaluation (Reply::json_members).
  // Empty when !evaluated. Text, not a document: its details are the stored text, made once.
  std::string evaluation_json;
  std::vector<PolicyOutcome> outcomes;  // one per evaluated (set, policy)
  // From PolicyService::Evaluate: the evaluation still to store. The caller stores it (in
  // the transaction of the change it checked, which sets its id) and calls Recorded().
  std::optional<storage::EvaluationRecord> pending;

  // Fills evaluation_id and evaluation_json from the stored pending record and drops it.
  void Recorded();
  // evaluation_json parsed (null when !evaluated), for replies that embed it in a document.
  boost::json::value Evaluation() const;

  bool Blocked() const { return status == PolicyStatus::kError; }
  const char* StatusName() const { return PolicyStatusName(status); }
  // "- message" lines of every deny, warning and failure (the spec's
  // policy_evaluation_message); empty when everything passed.
  std::string Message() const;
  // WorkspaceDataPolicyEvaluation items (policy_set_id, policy_set_name, policy_id,
  // policy_name, policy_status, message), one per outcome.
  boost::json::array DataPolicyEvaluations() const;
  // The error a caller throws to refuse the operation: kInvalidArgument (the spec's 400
  // PolicyViolationError) whose details are the evaluation document.
  Error ViolationError() const;
};

// The entity being checked and where.
struct EnforcementRequest {
  std::string org;  // the entity's project (policy sets of the account, org and project apply)
  std::string project;
  PolicyEntity entity_type = PolicyEntity::kWorkspace;
  PolicyAction action = PolicyAction::kOnSave;
  std::string entity;                   // globally identifies the entity, see WorkspaceEntity
  boost::json::object entity_metadata;  // stored as JSON text (the spec's entity_metadata)
  std::string execution_id;             // pipeline execution, when any (a list filter)
  bool record_without_sets = false;     // record a "pass" evaluation even when no set applies
};

// "accountIdentifier:<a>/orgIdentifier:<o>/projectIdentifier:<p>/workspaceIdentifier:<w>"
std::string WorkspaceEntity(std::string_view account, std::string_view org,
                            std::string_view project, std::string_view workspace);

struct PolicyServiceOptions {
  int64_t eval_timeout_ms = 1000;               // per policy
  size_t eval_memory_bytes = size_t{64} << 20;  // per policy
  size_t max_stored_input_bytes = 256 * 1024;   // larger inputs are stored as a marker
  size_t compiled_cache_entries = 1024;
};

// Compiled policies by their text; least recently used go first.
class CompiledPolicyCache {
 public:
  // A compiled policy and its text as a JSON string (quoted once, not on every evaluation
  // record that shows the policy).
  struct Cached {
    std::shared_ptr<const policy::CompiledPolicy> compiled;
    std::string rego_json;
  };
  explicit CompiledPolicyCache(size_t capacity) : capacity_(capacity) {}
  // Compiles on a miss; throws policy::PolicyError on a bad policy (not cached).
  std::shared_ptr<const policy::CompiledPolicy> Get(const std::string& rego) {
    return Find(rego)->compiled;
  }
  std::shared_ptr<const Cached> Find(const std::string& rego);
  size_t Size() const;

 private:
  struct Entry {
    std::shared_ptr<const Cached> cached;
    std::list<std::string>::iterator position;
  };
  size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::string> order_;  // most recent first
  std::unordered_map<std::string, Entry> entries_;
};

class PolicyService {
 public:
  explicit PolicyService(storage::Database& db, PolicyServiceOptions options = {});

  // ---- policies ----
  // kInvalidArgument for bad fields or Rego that does not compile (OPA's message);
  // kNotFound for an unknown or invisible level; kPermissionDenied outside the caller's
  // scope; kConflict on a duplicate identifier.
  storage::PolicyRecord CreatePolicy(const auth::Principal& who, const PolicyScope& scope,
                                     const PolicyInput& input);
  storage::PolicyRecord GetPolicy(const auth::Principal& who, const PolicyScope& scope,
                                  const std::string& identifier);
  // Changes the fields given; a new rego is compiled first.
  storage::PolicyRecord UpdatePolicy(const auth::Principal& who, const PolicyScope& scope,
                                     const std::string& identifier, const PolicyInput& input,
                                     std::optional<int64_t> if_match);
  // kConflict, with the linking sets as details ({"referenced_by": [PolicySetRef]}), while
  // policy sets link the policy, unless force (which unlinks it from them).
  void DeletePolicy(const auth::Principal& who, const PolicyScope& scope,
                    const std::string& identifier, bool force, std::optional<int64_t> if_match);
  storage::Page<storage::PolicyRecord> ListPolicies(const auth::Principal& who,
                                                    const PolicyScope& scope,
                                                    const storage::ListQuery& query,
                                                    bool with_set_counts);
  // Sets linking the policy that the caller may see.
  storage::Page<storage::PolicySetRecord> PolicySetsOfPolicy(const auth::Principal& who,
                                                             const PolicyScope& scope,
                                                             const std::string& identifier,
                                                             const storage::ListQuery& query);

  // ---- policy sets ----
  storage::PolicySetRecord CreatePolicySet(const auth::Principal& who, const PolicyScope& scope,
                                           const PolicySetInput& input);
  storage::PolicySetRecord GetPolicySet(const auth::Principal& who, const PolicyScope& scope,
                                        const std::string& identifier);
  storage::PolicySetRecord UpdatePolicySet(const auth::Principal& who, const PolicyScope& scope,
                                           const std::string& identifier,
                                           const PolicySetInput& input,
                                           std::optional<int64_t> if_match);
  void DeletePolicySet(const auth::Principal& who, const PolicyScope& scope,
                       const std::string& identifier, std::optional<int64_t> if_match);
  storage::Page<storage::PolicySetRecord> ListPolicySets(const auth::Principal& who,
                                                         const PolicyScope& scope,
                                                         const PolicySetFilter& filter,
                                                         const storage::ListQuery& query);

  // ---- evaluation ----
  // Evaluates ad hoc Rego against input (nothing is stored): the spec's EvaluatedPolicy.
  // Rego that does not compile is kInvalidArgument with OPA's message; a failure while
  // evaluating is status "error" with the message in "error".
  boost::json::object EvaluateRego(const auth::Principal& who, const PolicyScope& scope,
                                   const std::string& rego, const boost::json::value& input);

  // Evaluations recorded at the scope (and below it, with query.include_child_scopes),
  // limited to what the caller may see. query.org/project are overwritten by scope.
  storage::Page<storage::EvaluationRecord> ListEvaluations(const auth::Principal& who,
                                                           const PolicyScope& scope,
                                                           storage::EvaluationListQuery query);
  // kNotFound unless the evaluation lies within the scope (or below it) and the caller's.
  storage::EvaluationRecord GetEvaluation(const auth::Principal& who, const PolicyScope& scope,
                                          int64_t id);

  // ---- enforcement ----
  // Evaluates every enabled policy set of request.entity_type/action at the account level,
  // request.org and request.org/request.project against input, records one evaluation (when
  // at least one set applies) and returns the decision. Uses who.account only: the caller has
  // already checked that who may act on the entity. Throws kInvalidArgument for a type/action
  // pair outside kPolicyTriggers, and storage errors.
  PolicyDecision Enforce(const auth::Principal& who, const EnforcementRequest& request,
                         const boost::json::value& input);
  // Enforce without storing: the evaluation comes back in decision.pending (when evaluated).
  PolicyDecision Evaluate(const auth::Principal& who, const EnforcementRequest& request,
                          const boost::json::value& input);
  // The same, with the input made only when a set applies (a save without policies does not
  // build the document it would check).
  PolicyDecision Evaluate(const auth::Principal& who, const EnforcementRequest& request,
                          const std::function<const boost::json::value&()>& make_input);
  // True when Enforce would evaluate at least one enabled policy set for the request (or
  // record an evaluation anyway): callers skip reading and parsing the input otherwise.
  bool Applies(const auth::Principal& who, const EnforcementRequest& request);

  // POST /pm/api/v1/evaluate-by-type: Enforce for a caller of the API (CI pipelines, tests),
  // who needs write access to the scope (the evaluation is recorded, even when no set
  // applies). type/action must be a pair of kPolicyTriggers.
  PolicyDecision EvaluateByType(const auth::Principal& who, const PolicyScope& scope,
                                const std::string& type, const std::string& action,
                                const std::string& entity,
                                const boost::json::object& entity_metadata,
                                const boost::json::value& input);

  const CompiledPolicyCache& Cache() const { return cache_; }

 private:
  void RequireLevel(const auth::Principal& who, const PolicyScope& scope);
  // Enabled sets of the request's type/action at its levels that link at least one policy.
  // The pointers point into the list held beside them.
  struct ApplicableSets {
    std::shared_ptr<const std::vector<storage::PolicySetRecord>> list;
    std::vector<const storage::PolicySetRecord*> sets;
  };
  ApplicableSets SetsFor(const auth::Principal& who, const EnforcementRequest& request);
  storage::PolicySetLink ResolveLink(const PolicyScope& set_level, const PolicyLinkInput& link);
  void ApplySetInput(storage::PolicySetRecord& set, const PolicySetInput& input, bool create);

  storage::Database& db_;
  PolicyServiceOptions options_;
  CompiledPolicyCache cache_;
};

// Identifiers of policies and policy sets: ^[A-Za-z_][A-Za-z0-9_-]*$, 1..128 (a '.' would
// clash with the "org.<id>" references).
void ValidatePolicyIdentifier(std::string_view field, std::string_view value);

// The spec's Evaluation document of a record; with_input adds the stored (bounded) input.
boost::json::object EvaluationDocument(const storage::EvaluationRecord& record, bool with_input);
// The same as JSON text, made from the record's stored texts without parsing them.
std::string EvaluationDocumentJson(const storage::EvaluationRecord& record, bool with_input);

// The PolicyManagementPolicy fields shared by every view of a policy.
boost::json::object PolicyDocument(const storage::PolicyRecord& policy, bool with_rego);

}  // namespace statehouse::domain
