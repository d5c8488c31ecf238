#include "domain/state.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "cost/estimate.h"
#include "domain/body_reader.h"
#include "domain/policies.h"
#include "domain/terraform_plan.h"

namespace statehouse::domain {
namespace json = boost::json;

namespace {

// Feeds a spooled body to sink in fixed-size pieces.
template <typename Sink>
void ReadFile(const std::string& path, Sink&& sink) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(ErrorCode::kInternal, "cannot reopen the uploaded body");
  std::vector<char> buf(256 * 1024);
  try {
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Fail(ErrorCode::kInternal, "cannot read the uploaded body");
      if (n == 0) break;
      sink(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

// A spooled body, checked: its SHA-256 (the blob's name) and what the state scanner found.
struct CheckedUpload {
  std::string sha256;
  tfstate::StateHeader header;
};

// Reads a spooled body before it is stored: its SHA-256, the client's Content-MD5 when it sent
// one, and the state scan when scan is set. Each pass runs on its own thread, beside the blob
// store's head start on durability (BlobStore::Stage): for 1 MiB, MD5 takes ~1.4 ms, SHA-256
// and the scan ~0.6 ms each, the fsync ~1 ms, so together they cost the longest of them
// rather than the sum. A body that does not match its checksum is reported as such, even when
// it also fails the scan. (The futures' destructors wait: nothing outlives an early throw.)
CheckedUpload CheckUpload(storage::BlobStore& blobs, const Upload& body, bool scan) {
  constexpr auto kPolicy = std::launch::async | std::launch::deferred;
  auto digest = [&body](DigestStream::Algorithm algorithm) {
    DigestStream stream(algorithm);
    ReadFile(body.file, [&](std::string_view piece) { stream.Update(piece); });
    return algorithm == DigestStream::Algorithm::kMd5 ? stream.Base64() : stream.Hex();
  };
  auto staged = std::async(kPolicy, [&blobs, &body] { blobs.Stage(body.file); });
  auto sha256 = std::async(kPolicy, digest, DigestStream::Algorithm::kSha256);
  std::future<std::string> md5;
  if (body.md5_base64) md5 = std::async(kPolicy, digest, DigestStream::Algorithm::kMd5);
  CheckedUpload out;
  tfstate::StateScanner scanner;
  std::exception_ptr scan_error;
  if (scan) {
    try {
      ReadFile(body.file, [&](std::string_view piece) { scanner.Feed(piece); });
      scanner.Finish();
      out.header = scanner.header();
    } catch (...) {
      scan_error = std::current_exception();
    }
  }
  if (md5.valid() && md5.get() != *body.md5_base64)
    Fail(ErrorCode::kInvalidArgument, "the body does not match its Content-MD5 header");
  if (scan_error) std::rethrow_exception(scan_error);
  out.sha256 = sha256.get();
  staged.get();
  return out;
}

}  // namespace

const std::vector<std::string>& DataTypes() {
  static const std::vector<std::string> kTypes = {
      // plan_json (a plan as `terraform show -json` prints it) is Statehouse's addition: the
      // spec evaluates plans but its enum names no type that holds one.
      "plan_human", "plan_json", "state_raw", "state_human", "cost_breakdown", "cost_diff",
      "modules", "providers", "cdk_template", "cdk_manifest", "cdk_tree", "cdk_assets", "cdk_diff",
      "cdk_drift",
      // Statehouse's too: what POST .../dependency-graph and .../risk-assessment store (JSON
      // objects); the spec's enum has no type for either.
      "dependency_graph", "risk_assessment"};
  return kTypes;
}

std::optional<storage::DataRecord> StateService::Newest(const storage::WorkspaceRecord& w) {
  return db_.States().NewestState({w.account, w.org, w.project, w.identifier});
}

storage::DataRecord StateService::WriteState(const auth::Principal& who,
                                             const WorkspaceScope& scope, const std::string& ws,
                                             const Upload& body,
                                             const std::optional<std::string>& lock_id,
                                             const std::string& policy_action,
                                             PolicyDecision* decision) {
  auth::RequireScope(who, scope.org, scope.project);
  if (!policy_action.empty()) ActionFor("state_raw", policy_action);
  workspaces_.Get(who, scope, ws);
  if (body.size == 0) Fail(ErrorCode::kInvalidArgument, "the state body is empty");
  CheckedUpload checked = CheckUpload(db_.Blobs(), body, true);
  const tfstate::StateHeader& header = checked.header;
  // A document that says it is a v4 state must be one; anything else is stored opaquely.
  if (header.version == 4 && !header.encrypted && !header.IsV4())
    Fail(ErrorCode::kInvalidArgument,
         "a version 4 state needs an integer \"serial\" and a string \"lineage\"");
  storage::DataRecord version;
  version.id = RandomUuid();
  version.data_type = "state_raw";
  version.sha256 = checked.sha256;
  version.size = static_cast<int64_t>(body.size);
  if (header.IsV4()) {
    version.serial = header.serial;
    version.lineage = *header.lineage;
  }
  version.created_by = who.token_id;
  version.created = NowMillis();
  // The bytes are durable before any row points at them.
  db_.Blobs().Put(checked.sha256, body.file);
  auto result = db_.States().WriteState(KeyOf(who, scope, ws), version, lock_id, std::nullopt);
  using Kind = storage::StateWriteResult::Kind;
  switch (result.kind) {
    case Kind::kStored: {
      log::Info("state stored", {{"workspace", ws},
                                 {"id", version.id},
                                 {"size", version.size},
                                 {"serial", version.serial ? *version.serial : -1}});
      return CheckStoredState(who, scope, ws, result.record, policy_action, decision);
    }
    case Kind::kRetried:
      return result.record;
    case Kind::kLocked:
      ThrowLocked(*result.holder, ws, ErrorCode::kLocked);
    case Kind::kLineageConflict:
      Fail(ErrorCode::kConflict, "state lineage " + version.lineage +
                                     " does not match the workspace's lineage " +
                                     result.current->lineage);
    case Kind::kStaleSerial:
      Fail(ErrorCode::kConflict, "state serial " + std::to_string(*version.serial) +
                                     " is older than the stored serial " +
                                     std::to_string(*result.current->serial));
    case Kind::kSerialConflict:
      Fail(ErrorCode::kConflict,
           "state serial " + std::to_string(*version.serial) +
               " is already stored with different content; increment the serial");
  }
  Fail(ErrorCode::kInternal, "unexpected state write result");
}

storage::Page<storage::DataRecord> StateService::ListData(const auth::Principal& who,
                                                          const WorkspaceScope& scope,
                                                          const std::string& ws,
                                                          const storage::DataListQuery& query) {
  workspaces_.Get(who, scope, ws);
  if (!query.data_type.empty() &&
      std::find(DataTypes().begin(), DataTypes().end(), query.data_type) == DataTypes().end())
    Fail(ErrorCode::kInvalidArgument, "data_type: unknown data type '" + query.data_type + "'");
  return db_.States().ListData(KeyOf(who, scope, ws), query);
}

storage::DataRecord StateService::GetData(const auth::Principal& who, const WorkspaceScope& scope,
                                          const std::string& ws, const std::string& id) {
  workspaces_.Get(who, scope, ws);
  auto d = db_.States().GetData(KeyOf(who, scope, ws), id);
  if (!d) Fail(ErrorCode::kNotFound, "data '" + id + "' not found in workspace '" + ws + "'");
  return *d;
}

StateService::Content StateService::ContentOf(const storage::WorkspaceRecord& w,
                                              const storage::DataRecord& d, bool for_backend) {
  Content out;
  // The CLI's backend GET always gets the state whole; API downloads honour pruning.
  bool redact = !for_backend && d.data_type == "state_raw" && d.serial && PrunesSensitiveData(w);
  if (!redact) {
    if (auto path = db_.Blobs().LocalPath(d.sha256)) {
      out.file = *path;
      return out;
    }
    out.bytes = db_.Blobs().Read(d.sha256);
    return out;
  }
  // A state that cannot be parsed is never served unredacted when pruning is asked for.
  out.bytes = json::serialize(tfstate::Redact(tfstate::ParseState(db_.Blobs().Read(d.sha256))));
  return out;
}

storage::DataRecord StateService::CreateData(const auth::Principal& who,
                                             const WorkspaceScope& scope, const std::string& ws,
                                             const Upload& body, storage::DataRecord meta,
                                             const std::string& policy_action,
                                             PolicyDecision* decision, CostOutcome* cost) {
  auth::RequireScope(who, scope.org, scope.project);
  workspaces_.Get(who, scope, ws);
  if (std::find(DataTypes().begin(), DataTypes().end(), meta.data_type) == DataTypes().end())
    Fail(ErrorCode::kInvalidArgument, "data_type: must be one of the spec's data types");
  if (meta.provisioner_type != "tf" && meta.provisioner_type != "awscdk")
    Fail(ErrorCode::kInvalidArgument, "provisioner_type: must be tf or awscdk");
  if (meta.data_type == "state_raw") {
    return WriteState(who, scope, ws, body, std::nullopt, policy_action, decision);
  }
  ActionFor(meta.data_type, policy_action);  // a bad action is a 400 before anything is stored
  meta.id = RandomUuid();
  CheckedUpload checked = CheckUpload(db_.Blobs(), body, false);
  if (meta.data_type == "plan_json" || meta.data_type == "cost_breakdown" ||
      meta.data_type == "cost_diff" || meta.data_type == "dependency_graph" ||
      meta.data_type == "risk_assessment") {
    // Policies (and readers of graphs and risk data) read these as documents: refuse what is
    // not one, before anything is stored.
    ReadDocument(body.file, meta.data_type);
  }
  meta.sha256 = checked.sha256;
  meta.size = static_cast<int64_t>(body.size);
  meta.created_by = who.token_id;
  meta.created = NowMillis();
  db_.Blobs().Put(checked.sha256, body.file);
  db_.States().AddData(KeyOf(who, scope, ws), meta);
  PolicyDecision result = EvaluateData(who, scope, ws, meta, policy_action);
  if (result.evaluated) {
    meta.policy_evaluation_id = result.evaluation_id;
    meta.policy_status = result.StatusName();
    meta.policy_message = result.Message();
  }
  if (decision) *decision = std::move(result);
  if (meta.data_type == "plan_json") {
    CostOutcome outcome = EstimateCost(who, scope, ws, meta);
    if (cost) *cost = std::move(outcome);
  }
  return meta;
}

json::object CostOutcome::ToJson() const {
  json::object o;
  o["estimated"] = estimated;
  if (!estimated) {
    if (!error.empty()) o["error"] = error;
    return o;
  }
  o["currency"] = currency;
  o["total_monthly_cost"] = total_monthly;
  o["past_total_monthly_cost"] = past_total_monthly;
  o["diff_total_monthly_cost"] = diff_total_monthly;
  if (!monthly_budget.empty()) {
    o["monthly_budget"] = monthly_budget;
    o["over_budget"] = over_budget;
  }
  o["cost_breakdown_id"] = breakdown_id;
  o["cost_diff_id"] = diff_id;
  if (decision.evaluated) {
    o["policy_evaluation_status"] = decision.StatusName();
    o["policy_evaluation_id"] = decision.evaluation_id;
    if (!decision.Message().empty()) o["policy_evaluation_message"] = decision.Message();
  }
  return o;
}

CostOutcome StateService::EstimateCost(const auth::Principal& who, const WorkspaceScope& scope,
                                       const std::string& ws, const storage::DataRecord& plan) {
  CostOutcome outcome;
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  json::object config = ParseObjectOrEmpty(w.config_json);
  const json::value* enabled = config.if_contains("cost_estimation_enabled");
  if (!enabled || !enabled->is_bool() || !enabled->get_bool()) return outcome;
  if (!catalog_) {
    outcome.error = "cost estimation is not configured on this server";
    return outcome;
  }
  cost::EstimateOptions options;
  options.project_name = ws;
  options.time_generated = Rfc3339Utc(NowMillis(), true);
  if (const json::value* budget = config.if_contains("budget"); budget && budget->is_number())
    options.monthly_budget = cost::Decimal::FromDouble(budget->to_number<double>());
  json::object document;
  try {
    document = cost::EstimatePlan(ReadDocument(plan.sha256, "plan_json", true), *catalog_, options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument) throw;
    outcome.error = e.what();
    return outcome;
  }
  cost::CostTotals totals = cost::TotalsOf(document);
  storage::DataRecord breakdown = StoreDocument(who, scope, ws, "cost_breakdown",
                                                json::serialize(document), plan, &outcome.decision);
  storage::DataRecord diff = StoreDocument(
      who, scope, ws, "cost_diff", json::serialize(cost::DiffDocument(document)), plan, nullptr);
  db_.Workspaces().SetWorkspaceServerFields(
      KeyOf(who, scope, ws),
      json::serialize(json::object{{"cost_breakdown_json", breakdown.id},
                                   {"cost_diff_json", diff.id},
                                   {"cost_total_monthly", totals.total_monthly},
                                   {"cost_currency", totals.currency}}));
  outcome.estimated = true;
  outcome.breakdown_id = breakdown.id;
  outcome.diff_id = diff.id;
  outcome.currency = totals.currency;
  outcome.total_monthly = totals.total_monthly;
  outcome.past_total_monthly = totals.past_total_monthly;
  outcome.diff_total_monthly = totals.diff_total_monthly;
  outcome.over_budget = totals.over_budget;
  if (options.monthly_budget) outcome.monthly_budget = options.monthly_budget->ToString();
  return outcome;
}

storage::DataRecord StateService::StoreDocument(const auth::Principal& who,
                                                const WorkspaceScope& scope, const std::string& ws,
                                                const std::string& data_type,
                                                const std::string& bytes,
                                                const storage::DataRecord& like,
                                                PolicyDecision* decision) {
  storage::DataRecord meta;
  meta.id = RandomUuid();
  meta.data_type = data_type;
  meta.provisioner_type = like.provisioner_type;
  meta.pipeline_execution_id = like.pipeline_execution_id;
  meta.sha256 = Sha256Hex({bytes});
  meta.size = static_cast<int64_t>(bytes.size());
  meta.created_by = who.token_id;
  meta.created = NowMillis();
  db_.Blobs().PutBytes(meta.sha256, bytes);
  db_.States().AddData(KeyOf(who, scope, ws), meta);
  PolicyDecision result = EvaluateData(who, scope, ws, meta, "afterTerraformPlan");
  if (result.evaluated) {
    meta.policy_evaluation_id = result.evaluation_id;
    meta.policy_status = result.StatusName();
    meta.policy_message = result.Message();
  }
  if (decision) *decision = std::move(result);
  return meta;
}

std::optional<PolicyEntity> StateService::EntityOf(const std::string& data_type) {
  if (data_type == "plan_json") return PolicyEntity::kTerraformPlan;
  if (data_type == "cost_breakdown" || data_type == "cost_diff")
    return PolicyEntity::kTerraformPlanCost;
  if (data_type == "state_raw") return PolicyEntity::kTerraformState;
  return std::nullopt;
}

PolicyAction StateService::ActionFor(const std::string& data_type,
                                     const std::string& policy_action) {
  std::optional<PolicyEntity> entity = EntityOf(data_type);
  // Clients send policy_action with every upload; data no policy reads ignores it.
  if (!entity) return PolicyAction::kAfterTerraformPlan;
  std::string action = policy_action;
  if (action.empty()) {
    action =
        *entity == PolicyEntity::kTerraformState ? "afterTerraformApply" : "afterTerraformPlan";
  }
  const PolicyTrigger* trigger = FindTrigger(EntityTypeName(*entity), action);
  if (!trigger) {
    Fail(ErrorCode::kInvalidArgument, "policy_action: '" + action + "' is not an action of " +
                                          std::string(EntityTypeName(*entity)) + " policies");
  }
  return trigger->action;
}

json::value StateService::ReadDocument(const std::string& file_or_blob,
                                       const std::string& data_type, bool from_blob) {
  std::string text;
  if (from_blob) {
    text = db_.Blobs().Read(file_or_blob);
  } else {
    std::ifstream in(file_or_blob, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  json::value doc;
  try {
    doc = tfstate::ParseState(text);  // the scanner's depth limit, not Boost's default of 32
  } catch (const Error&) {
    Fail(ErrorCode::kInvalidArgument, data_type + " data must be a JSON document");
  }
  if (!doc.is_object())
    Fail(ErrorCode::kInvalidArgument, data_type + " data must be a JSON object");
  if (data_type == "plan_json" && !tfplan::IsPlan(doc)) {
    Fail(ErrorCode::kInvalidArgument,
         "plan_json data must be a plan in `terraform show -json` format (format_version and "
         "resource_changes)");
  }
  return doc;
}

PolicyDecision StateService::EvaluateData(const auth::Principal& who, const WorkspaceScope& scope,
                                          const std::string& ws, const storage::DataRecord& data,
                                          const std::string& policy_action) {
  PolicyDecision none;
  if (!policies_) return none;
  std::optional<PolicyEntity> entity = EntityOf(data.data_type);
  PolicyAction action = ActionFor(data.data_type, policy_action);
  if (!entity) return none;
  EnforcementRequest request;
  request.org = scope.org;
  request.project = scope.project;
  request.entity_type = *entity;
  request.action = action;
  request.entity =
      WorkspaceEntity(who.account, scope.org, scope.project, ws) + "/dataIdentifier:" + data.id;
  request.entity_metadata["workspace"] = ws;
  request.entity_metadata["data_id"] = data.id;
  request.entity_metadata["data_type"] = data.data_type;
  request.execution_id = data.pipeline_execution_id;
  // Nothing is read or parsed unless a policy set applies.
  if (!policies_->Applies(who, request)) return none;
  json::value input;
  if (data.data_type == "state_raw") {
    if (!data.serial) return none;  // not a v4 state (e.g. encrypted): nothing to read
    input = tfstate::Redact(tfstate::ParseState(db_.Blobs().Read(data.sha256)));
  } else {
    input = ReadDocument(data.sha256, data.data_type, true);
    if (data.data_type == "plan_json") tfplan::RedactPlan(input);
  }
  PolicyDecision decision = policies_->Evaluate(who, request, input);
  if (decision.pending) {
    db_.States().SetDataPolicy(KeyOf(who, scope, ws), data.id, *decision.pending,
                               decision.StatusName(), decision.Message());
    decision.Recorded();
  }
  return decision;
}

storage::DataRecord StateService::Rollback(const auth::Principal& who, const WorkspaceScope& scope,
                                           const std::string& ws, const std::string& data_id) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::DataRecord source = GetData(who, scope, ws, data_id);
  if (source.data_type != "state_raw")
    Fail(ErrorCode::kInvalidArgument, "data '" + data_id + "' is not a state version");
  auto current = db_.States().NewestState(KeyOf(who, scope, ws));
  if (!current || !current->serial || !source.serial)
    Fail(ErrorCode::kConflict, "only Terraform v4 states can be rolled back");
  if (source.id == current->id)
    Fail(ErrorCode::kConflict, "data '" + data_id + "' is already the newest state");
  std::string text = tfstate::WithSerial(db_.Blobs().Read(source.sha256), *current->serial + 1);
  std::string sha = Sha256Hex({text});
  db_.Blobs().PutBytes(sha, text);
  storage::DataRecord version;
  version.id = RandomUuid();
  version.data_type = "state_raw";
  version.sha256 = sha;
  version.size = static_cast<int64_t>(text.size());
  version.serial = *current->serial + 1;
  version.lineage = source.lineage;
  version.rollback_source_id = source.id;
  version.created_by = who.token_id;
  version.created = NowMillis();
  auto result = db_.States().WriteState(KeyOf(who, scope, ws), version, std::nullopt,
                                        std::string("rollback_applied"));
  using Kind = storage::StateWriteResult::Kind;
  if (result.kind == Kind::kLocked) ThrowLocked(*result.holder, ws, ErrorCode::kLocked);
  if (result.kind == Kind::kLineageConflict)
    Fail(ErrorCode::kConflict, "cannot roll back to a state of another lineage (" + source.lineage +
                                   " vs " + result.current->lineage + ")");
  if (result.kind != Kind::kStored)
    Fail(ErrorCode::kConflict, "the state changed during the rollback; try again");
  log::Info(
      "state rolled back",
      {{"workspace", ws}, {"from", source.id}, {"id", version.id}, {"serial", *version.serial}});
  return CheckStoredState(who, scope, ws, result.record, "", nullptr);
}

storage::DataRecord StateService::CheckStoredState(
    const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
    storage::DataRecord stored, const std::string& policy_action, PolicyDecision* decision) {
  // Policies on states record what they find; they never refuse a state (it records what
  // exists), and their failure never fails the acknowledged write.
  try {
    PolicyDecision checked = EvaluateData(who, scope, ws, stored, policy_action);
    if (checked.evaluated) {
      stored.policy_evaluation_id = checked.evaluation_id;
      stored.policy_status = checked.StatusName();
      stored.policy_message = checked.Message();
    }
    if (decision) *decision = std::move(checked);
  } catch (const std::exception& e) {
    log::Error("state policy evaluation failed",
               {{"workspace", ws}, {"id", stored.id}, {"error", e.what()}});
  }
  return stored;
}

tfstate::StateAnalysis StateService::Analyze(const auth::Principal& who,
                                             const WorkspaceScope& scope, const std::string& ws) {
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  auto newest = db_.States().NewestState(KeyOf(who, scope, ws));
  if (!newest || !newest->serial) return {};
  return tfstate::Analyze(tfstate::ParseState(db_.Blobs().Read(newest->sha256)),
                          PrunesSensitiveData(w));
}

}  // namespace statehouse::domain
