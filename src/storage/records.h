// Plain records exchanged between the domain and the stores. No behaviour here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace statehouse::storage {

// Tags keep the order the client gave them.
using Tags = std::vector<std::pair<std::string, std::string>>;

struct AccountRecord {
  std::string identifier;
  int64_t created = 0;
};

struct OrgRecord {
  std::string account;
  std::string identifier;
  std::string name;
  std::string description;
  Tags tags;
  bool harness_managed = false;
  int64_t created = 0;
  int64_t updated = 0;
  int64_t version = 1;  // bumps on every update; the ETag
};

struct ProjectRecord {
  std::string account;
  std::string org;
  std::string identifier;
  std::string name;
  std::string description;
  std::string color;
  std::vector<std::string> modules;
  Tags tags;
  int64_t created = 0;
  int64_t updated = 0;
  int64_t version = 1;
};

struct ApiKeyRecord {
  std::string account;
  std::string identifier;
  std::string name;
  std::string description;
  Tags tags;
  std::string api_key_type;  // USER, SERVICE_ACCOUNT, ...
  std::string parent_identifier;
  std::optional<int64_t> default_time_to_expire_token;
  std::string org;      // empty: account level
  std::string project;  // empty: org or account level
  int64_t created = 0;
  int64_t updated = 0;
};

struct TokenRecord {
  std::string account;
  std::string
      identifier;  // unique per account; the <token-id> of pat.<account>.<token-id>.<secret>
  std::string name;
  std::string description;
  Tags tags;
  std::string api_key_identifier;
  std::string api_key_type;
  std::string parent_identifier;
  std::string org;
  std::string project;
  std::string role;  // viewer | editor | admin
  int64_t valid_from = 0;
  std::optional<int64_t> valid_to;
  std::optional<int64_t> scheduled_expire_time;
  // Only a salted hash of the secret is kept. After a rotation the previous secret may stay
  // valid until previous_valid_until.
  std::string secret_salt;
  std::string secret_hash;
  std::string previous_salt;
  std::string previous_hash;
  int64_t previous_valid_until = 0;
  int64_t created = 0;
  int64_t updated = 0;
};

enum class SortField { kName, kIdentifier, kCreated, kUpdated };

struct ListQuery {
  int64_t offset = 0;
  int64_t limit = 30;
  SortField sort = SortField::kName;
  bool descending = false;
  std::string search;                    // substring of name or identifier, case-insensitive
  std::vector<std::string> identifiers;  // restrict to these, when not empty
};

// Restricts credential listings to an org and/or project; empty strings match anything.
struct ScopeFilter {
  std::string org;
  std::string project;
};

template <typename T>
struct Page {
  std::vector<T> items;
  int64_t total = 0;
};

}  // namespace statehouse::storage

namespace statehouse::storage {

// A variable set named by a workspace, resolved to its level: org and project are empty for
// account-level sets, project is empty for org-level sets.
struct VariableSetKey {
  std::string org;
  std::string project;
  std::string identifier;
  bool operator==(const VariableSetKey&) const = default;
};

struct WorkspaceRecord {
  std::string account;
  std::string org;
  std::string project;
  std::string identifier;
  std::string name;
  std::string status;  // the spec's enum; "active" after create
  std::string provisioner;
  std::string template_id;  // associated_template, empty when none
  std::string template_version;
  Tags tags;
  // As the client wrote them ("account.x", "org.x", "x"), in order. variable_set_keys holds
  // their resolution on writes (the store checks and indexes them); reads leave it empty.
  std::vector<std::string> variable_sets;
  std::vector<VariableSetKey> variable_set_keys;
  std::string config_json;  // the rest of the client-owned configuration (domain's encoding)
  std::string server_json;  // server-owned fields: state ids, checksums, cost and module JSON
  int64_t created = 0;
  int64_t updated = 0;
  int64_t version = 1;
};

struct WorkspaceListQuery {
  ListQuery page;                     // sort: kName or kUpdated
  std::vector<std::string> statuses;  // any of these, when not empty
  // key:value pairs (value empty with has_value false means "has the key"); all must match.
  struct TagFilter {
    std::string key;
    std::optional<std::string> value;
  };
  std::vector<TagFilter> tags;
  std::string template_id;  // workspaces associated with this template, when not empty
  std::string template_version;
};

struct VariableSetRecord {
  std::string account;
  std::string org;      // empty for account level
  std::string project;  // empty for account and org level
  std::string identifier;
  std::string name;
  std::string document_json;  // variables, files and connectors (domain's encoding)
  int64_t env_vars_count = 0;
  int64_t tf_vars_count = 0;
  int64_t var_files_count = 0;
  int64_t created = 0;
  int64_t updated = 0;
};

}  // namespace statehouse::storage

namespace statehouse::storage {

struct WorkspaceKey {
  std::string account;
  std::string org;
  std::string project;
  std::string workspace;
};

// A held state lock: a Terraform CLI lock (info_json is its LockInfo) or a manual one.
struct LockRecord {
  std::string lock_id;
  std::string info_json = "{}";
  bool manual = false;
  std::string reason;
  std::string locked_by;  // token id of the principal that took it
  int64_t created = 0;
};

// One stored document of a workspace: a state version (data_type "state_raw") or an upload
// such as a plan. The bytes live in the blob store under sha256.
struct DataRecord {
  std::string id;  // UUID
  std::string data_type;
  std::string sha256;
  int64_t size = 0;
  std::optional<int64_t> serial;  // v4 states only
  std::string lineage;            // v4 states only
  std::string pipeline_id;
  std::string stage_id;
  std::string pipeline_execution_id;
  std::string pipeline_stage_id;
  std::string provisioner_type = "tf";
  std::string stack_path;
  std::string rollback_source_id;
  std::string created_by;
  int64_t created = 0;
  // The policies evaluated on this plan or state (0 / empty: none applied).
  int64_t policy_evaluation_id = 0;
  std::string policy_status;   // pass | warning | error
  std::string policy_message;  // the spec's policy_evaluation_message
};

// A workspace with what a GET of it shows beside its own fields, read in one statement.
struct WorkspaceView {
  WorkspaceRecord workspace;
  std::optional<LockRecord> lock;
  std::optional<DataRecord> newest_state;  // the newest state version (state_raw)
};

struct DataListQuery {
  ListQuery page;
  std::string data_type;
  std::string pipeline_execution_id;
  std::string pipeline_stage_id;
  std::string provisioner_type;
  std::string stack_path;
};

// What WriteState did. Rejections carry what the caller needs to explain them.
struct StateWriteResult {
  enum class Kind {
    kStored,           // a new version
    kRetried,          // same serial and bytes as the newest: accepted again, nothing stored
    kLocked,           // locked by someone else (holder set)
    kStaleSerial,      // serial lower than the newest's
    kSerialConflict,   // same serial, other bytes
    kLineageConflict,  // another lineage
  };
  Kind kind = Kind::kStored;
  DataRecord record;                  // stored (or retried) version
  std::optional<DataRecord> current;  // the newest version before the write
  std::optional<LockRecord> holder;
};

}  // namespace statehouse::storage

namespace statehouse::storage {

// A policy or policy set, named by its level (org and project empty above them, as for
// variable sets) and identifier.
struct PolicyKey {
  std::string org;
  std::string project;
  std::string identifier;
  bool operator==(const PolicyKey&) const = default;
};

// A Rego policy (harness-policies-api-openapi.yml). rego compiled when it was saved.
struct PolicyRecord {
  std::string account;
  std::string org;      // empty for account level
  std::string project;  // empty for account and org level
  std::string identifier;
  std::string name;
  std::string rego;
  std::string package_name;  // the module's package, e.g. "workspace"
  int64_t created = 0;
  int64_t updated = 0;
  int64_t version = 1;
  int64_t policy_set_count = 0;  // filled by ListPolicies when asked
};

// One policy linked by a policy set, in the set's order.
struct PolicySetLink {
  PolicyKey policy;                      // the linked policy's level and identifier
  std::string severity;                  // "error" | "warning"
  std::optional<PolicyRecord> resolved;  // filled by reads
};

// A policy set (harness-policy-sets-api-openapi.yml): which policies run on which entity
// type (type) and event (action).
struct PolicySetRecord {
  std::string account;
  std::string org;
  std::string project;
  std::string identifier;
  std::string name;
  std::string description;
  std::string type;
  std::string action;
  bool enabled = false;
  std::string entity_selector = "all_entities_in_scope";
  std::string extra_json = "{}";  // other client fields, kept as given (domain's encoding)
  std::vector<PolicySetLink> policies;
  int64_t created = 0;
  int64_t updated = 0;
  int64_t version = 1;
};

struct PolicySetListQuery {
  ListQuery page;  // sort, search, identifiers
  // The levels listed, as {org, project} ({"", ""} is the account level); at least one.
  std::vector<std::pair<std::string, std::string>> levels;
  std::vector<std::string> types;  // any of these, when not empty
  std::string action;              // when not empty
};

// One recorded policy evaluation (harness-evaluations-api-openapi.yml Evaluation).
struct EvaluationRecord {
  int64_t id = 0;  // assigned by the store, increasing
  std::string account;
  std::string org;
  std::string project;
  std::string entity;
  std::string entity_metadata;
  std::string type;
  std::string action;
  std::string status;  // pass | warning | error
  std::string execution_id;
  std::string input_json = "null";  // bounded by the domain (a marker replaces large inputs)
  std::string details_json = "[]";  // EvaluationDetail array (domain's encoding)
  int64_t duration_us = 0;
  int64_t created = 0;
};

struct EvaluationListQuery {
  int64_t offset = 0;
  int64_t limit = 30;
  std::string org;  // the scope listed; with include_child_scopes also the levels below it
  std::string project;
  bool include_child_scopes = false;
  std::string entity;
  // The entity and every entity below it ("<prefix>/..."): a workspace and its data.
  std::string entity_prefix;
  std::string type;
  std::string action;
  std::string execution_id;
  std::vector<std::string> statuses;  // any of these, when not empty
  std::optional<int64_t> last_seen;   // only evaluations with a lower id
  std::optional<int64_t> created_from;
  std::optional<int64_t> created_to;
};

// ---- runs (plan / apply / destroy / drift check / refresh of a workspace) ----

// A source upload for a CLI-driven run (the spec's RemoteExecution).
struct RemoteExecutionRecord {
  std::string account;
  std::string org;
  std::string project;
  std::string workspace;
  std::string id;                     // UUID
  std::string custom_arguments_json;  // {"-target": ["a", "b"], ...}
  std::string pipeline_execution_id;
  std::string pipeline_execution_url;
  std::string sha256;  // hex SHA-256 of the uploaded .tar.gz; empty until uploaded
  int64_t size = 0;    // bytes of the upload
  bool executed = false;
  std::string run_id;  // the run it started (set with executed)
  int64_t created = 0;
  int64_t updated = 0;
};

struct RunRecord {
  std::string account;
  std::string org;
  std::string project;
  std::string workspace;
  std::string id;                   // UUID
  int64_t number = 0;               // 1, 2, ... per workspace, given by CreateRun
  std::string kind;                 // plan | apply | destroy | drift | refresh
  std::string status;               // see domain/runs.h; the store does not interpret it
  std::string remote_execution_id;  // source: an upload, or empty for the workspace repository
  bool auto_apply = false;
  std::string pipeline_execution_id;
  std::string message;     // what the creator said of it
  std::string created_by;  // token id of the creator
  std::string approved_by;
  // Facts gathered while it runs (source commit, plan counts, data ids, policy and cost
  // results, error text): a JSON object the domain owns.
  std::string summary_json = "{}";
  int64_t log_size = 0;  // bytes of its log so far
  int64_t created = 0;
  int64_t updated = 0;
  int64_t started = 0;   // 0 until a runner slot takes it
  int64_t finished = 0;  // 0 until it reaches a final status
};

struct RunListQuery {
  ListQuery page;                     // offset/limit; newest first
  std::vector<std::string> statuses;  // any of these, when not empty
  std::string kind;                   // when not empty
};

// A workspace event: a run's transition, or one sent through POST .../events.
struct EventRecord {
  int64_t id = 0;  // increasing, given by AddEvent
  std::string account;
  std::string org;
  std::string project;
  std::string workspace;
  std::string event_type;  // the spec's SendEventRequest enum
  std::string pipeline_execution_id;
  std::string pipeline_stage_id;
  std::string run_id;  // empty for events sent from outside
  std::string data_json = "{}";
  std::string metadata_json = "{}";  // ActivityMetadata
  int64_t created = 0;
};

struct EventListQuery {
  ListQuery page;  // offset/limit; newest first
  std::string pipeline_execution_id;
  std::string run_id;
  std::string event_type;
};

// The spec's drift-config of a workspace, with the time of its next check.
struct DriftConfigRecord {
  std::string account;
  std::string org;
  std::string project;
  std::string workspace;
  bool enabled = true;
  std::string provisioner;
  std::string pipeline_id;
  int64_t run_every = 0;
  std::string run_every_unit;  // seconds | minutes | hours | days
  std::string trigger_id;
  int64_t next_run = 0;  // unix ms
  int64_t created = 0;
  int64_t updated = 0;
};

// ---- audit trail ----

// One request to a write route, as the audit trail keeps it. Never a secret: no token value,
// no body, no variable value.
struct AuditRecord {
  int64_t id = 0;    // given by the store, increasing
  int64_t time = 0;  // unix ms, when the answer was made
  std::string account;
  std::string principal;       // the token id; "run:<id>" for a run's token
  std::string principal_name;  // the token's name, when known
  std::string api_key;         // the API key the token belongs to, when known
  std::string action;          // "workspace.update", "state.lock", "token.rotate", ...
  std::string target;          // the resource path: "org/project/workspace/...", "tokens/<id>"
  std::string request_id;
  std::string outcome;  // success | denied | failed
  int64_t status = 0;   // the HTTP status of the answer
  std::string remote_address;
};

struct AuditListQuery {
  int64_t offset = 0;
  int64_t limit = 30;
  std::string target_prefix;  // targets starting with it
  std::string principal;      // exactly this principal
  // Any of these; an entry without a dot names a family ("token": every "token.*" action).
  std::vector<std::string> actions;
  std::string outcome;
  std::optional<int64_t> from;  // time >= from
  std::optional<int64_t> to;    // time <= to
  bool oldest_first = false;    // newest first by default
};

}  // namespace statehouse::storage
