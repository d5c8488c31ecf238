#include "domain/runs.h"

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>

#include "common/error.h"
#include "common/util.h"
#include "cost/decimal.h"
#include "domain/body_reader.h"

namespace statehouse::domain {
namespace json = boost::json;

namespace {

// Terraform flags a run may be given (custom_arguments). Others could point the provisioner
// at other state or files, so they are refused with the list.
const std::vector<std::string> kAllowedArguments = {"-target",          "-replace",      "-refresh",
                                                    "-parallelism",     "-lock-timeout", "-var",
                                                    "-compact-warnings"};

std::string ArgumentList() {
  std::string out;
  for (const auto& a : kAllowedArguments) out += (out.empty() ? "" : ", ") + a;
  return out;
}

json::object ValidateCustomArguments(const json::object* args) {
  json::object out;
  if (!args) return out;
  if (args->size() > 32) Bad("custom_arguments", "at most 32 arguments are allowed");
  for (const auto& kv : *args) {
    std::string key(kv.key());
    std::string field = "custom_arguments." + key;
    if (std::find(kAllowedArguments.begin(), kAllowedArguments.end(), key) ==
        kAllowedArguments.end())
      Bad(field, "is not an argument a run takes; allowed: " + ArgumentList());
    if (!kv.value().is_array()) Bad(field, "must be an array of strings");
    const json::array& values = kv.value().get_array();
    if (values.size() > 256) Bad(field, "at most 256 values are allowed");
    json::array clean;
    for (const auto& v : values) {
      if (!v.is_string()) Bad(field, "must be an array of strings");
      const json::string& s = v.get_string();
      if (s.size() > 1024) Bad(field, "values must be at most 1024 characters");
      if (s.find('\0') != json::string::npos || s.find('\n') != json::string::npos)
        Bad(field, "values must be one line of text");
      clean.push_back(v);
    }
    out[key] = std::move(clean);
  }
  return out;
}

// The sha-256 of an RFC 9530 Content-Digest header ("sha-256=:<base64>:", possibly among
// other algorithms), as lowercase hex; nullopt when it names no sha-256.
std::optional<std::string> DigestSha256Hex(std::string_view header) {
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    std::string_view item = Trim(
        header.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    pos = comma == std::string_view::npos ? header.size() + 1 : comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    if (!IEquals(Trim(item.substr(0, eq)), "sha-256")) continue;
    std::string_view value = Trim(item.substr(eq + 1));
    if (value.size() < 2 || value.front() != ':' || value.back() != ':')
      Bad("Content-Digest", "sha-256 must be written as sha-256=:<base64>:");
    std::optional<std::string> raw = Base64Decode(value.substr(1, value.size() - 2));
    if (!raw || raw->size() != 32)
      Bad("Content-Digest", "sha-256 is not the base64 of a 32-byte digest");
    return HexEncode(reinterpret_cast<const unsigned char*>(raw->data()), raw->size());
  }
  return std::nullopt;
}

// The first bytes of a gzip stream or of a POSIX tar.
bool LooksLikeArchive(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  char head[262] = {};
  in.read(head, sizeof(head));
  std::streamsize n = in.gcount();
  if (n >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
      static_cast<unsigned char>(head[1]) == 0x8b)
    return true;
  return n >= 262 && std::string_view(head + 257, 5) == "ustar";
}

std::string Sha256OfFile(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) Fail(ErrorCode::kInternal, "cannot read the uploaded source");
  DigestStream digest(DigestStream::Algorithm::kSha256);
  std::string buf(1 << 16, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) digest.Update(std::string_view(buf.data(), in.gcount()));
  }
  return digest.Hex();
}

const std::vector<std::string> kEventTypes = {"plan",         "drifted", "provisioning",
                                              "destroying",   "active",  "inactive",
                                              "apply_needed", "failed",  "stage-complete"};

}  // namespace

void RunSignals::Set(const std::string& run_id, const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (status_.size() >= kMaxEntries)
    std::erase_if(status_, [](const auto& kv) { return IsFinalRunStatus(kv.second); });
  status_[run_id] = status;
}

std::optional<std::string> RunSignals::Get(const std::string& run_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = status_.find(run_id);
  if (it == status_.end()) return std::nullopt;
  return it->second;
}

std::string RunLogPath(const std::string& data_dir, const std::string& run_id) {
  return data_dir + "/runs/" + run_id + ".log";
}

const std::vector<std::string>& RunKinds() {
  static const std::vector<std::string> kKinds = {
      run_kind::kPlan, run_kind::kApply, run_kind::kDestroy, run_kind::kDrift, run_kind::kRefresh};
  return kKinds;
}

const std::vector<std::string>& ActiveRunStatuses() {
  static const std::vector<std::string> kActive = {run_status::kQueued, run_status::kPlanning,
                                                   run_status::kAwaitingApproval,
                                                   run_status::kApproved, run_status::kApplying};
  return kActive;
}

const std::vector<std::string>& RunStatuses() {
  static const std::vector<std::string> kAll = [] {
    std::vector<std::string> all = ActiveRunStatuses();
    for (const char* s : {run_status::kPlanned, run_status::kApplied, run_status::kDrifted,
                          run_status::kNoDrift, run_status::kPolicyFailed, run_status::kDiscarded,
                          run_status::kCancelled, run_status::kFailed, run_status::kInterrupted})
      all.emplace_back(s);
    return all;
  }();
  return kAll;
}

bool IsFinalRunStatus(std::string_view status) {
  const auto& active = ActiveRunStatuses();
  return std::find(active.begin(), active.end(), status) == active.end();
}

storage::WorkspaceKey RunService::KeyOf(const auth::Principal& who, const WorkspaceScope& scope,
                                        const std::string& ws) const {
  return {who.account, scope.org, scope.project, ws};
}

// ---- remote executions ----

storage::RemoteExecutionRecord RunService::CreateRemoteExecution(const auth::Principal& who,
                                                                 const WorkspaceScope& scope,
                                                                 const std::string& ws,
                                                                 const json::object& body,
                                                                 bool lenient) {
  auth::RequireScope(who, scope.org, scope.project);
  workspaces_.Get(who, scope, ws);
  Reader r(body, "", lenient);
  storage::RemoteExecutionRecord e;
  e.account = who.account;
  e.org = scope.org;
  e.project = scope.project;
  e.workspace = ws;
  e.id = RandomUuid();
  e.custom_arguments_json = json::serialize(ValidateCustomArguments(r.Obj("custom_arguments")));
  e.pipeline_execution_id = r.Str("pipeline_execution_id", 128).value_or(e.id);
  e.pipeline_execution_url = r.Str("pipeline_execution_url", 2048).value_or("");
  e.created = e.updated = NowMillis();
  db_.Runs().CreateRemoteExecution(e);
  return e;
}

storage::RemoteExecutionRecord RunService::GetRemoteExecution(const auth::Principal& who,
                                                              const WorkspaceScope& scope,
                                                              const std::string& ws,
                                                              const std::string& id) {
  workspaces_.Get(who, scope, ws);
  auto e = db_.Runs().GetRemoteExecution(KeyOf(who, scope, ws), id);
  if (!e) Fail(ErrorCode::kNotFound, "remote execution '" + id + "' not found");
  return *e;
}

storage::RemoteExecutionRecord RunService::UploadSource(
    const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
    const std::string& id, const Upload& body, const std::optional<std::string>& content_digest) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::RemoteExecutionRecord e = GetRemoteExecution(who, scope, ws, id);
  if (e.executed)
    Fail(ErrorCode::kConflict,
         "remote execution '" + id + "' was executed already; create a new one for new source");
  if (body.size == 0) Bad("body", "the source archive (.tar.gz) is empty");
  std::string sha = Sha256OfFile(body.file);
  if (content_digest) {
    std::optional<std::string> expected = DigestSha256Hex(*content_digest);
    if (!expected)
      Bad("Content-Digest", "must carry a sha-256 digest (the only algorithm supported)");
    if (*expected != sha)
      Bad("Content-Digest",
          "the body's sha-256 does not match the header (the upload was altered or cut short)");
  }
  if (!LooksLikeArchive(body.file)) Bad("body", "the source must be a .tar.gz (or .tar) archive");
  db_.Blobs().Put(sha, body.file);
  e.sha256 = sha;
  e.size = static_cast<int64_t>(body.size);
  e.updated = NowMillis();
  db_.Runs().UpdateRemoteExecution(e, /*expect_unexecuted=*/true);
  return e;
}

storage::RunRecord RunService::Execute(const auth::Principal& who, const WorkspaceScope& scope,
                                       const std::string& ws, const std::string& id,
                                       RunInput input) {
  input.remote_execution_id = id;
  return CreateRun(who, scope, ws, input);
}

// ---- runs ----

storage::RunRecord RunService::CreateRun(const auth::Principal& who, const WorkspaceScope& scope,
                                         const std::string& ws, const RunInput& input) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  const auto& kinds = RunKinds();
  if (std::find(kinds.begin(), kinds.end(), input.kind) == kinds.end())
    Bad("kind", "must be one of plan, apply, destroy, drift, refresh (got '" + input.kind + "')");
  if (input.message.size() > 1024) Bad("message", "must be at most 1024 characters");
  if (input.pipeline_execution_id.size() > 128)
    Bad("pipeline_execution_id", "must be at most 128 characters");
  storage::RunRecord run;
  run.account = who.account;
  run.org = scope.org;
  run.project = scope.project;
  run.workspace = ws;
  run.id = RandomUuid();
  run.kind = input.kind;
  run.status = run_status::kQueued;
  run.auto_apply = input.auto_apply;
  run.message = input.message;
  run.created_by = who.token_id;
  run.created = run.updated = NowMillis();
  json::object summary;
  if (!input.remote_execution_id.empty()) {
    storage::RemoteExecutionRecord e =
        GetRemoteExecution(who, scope, ws, input.remote_execution_id);
    if (e.sha256.empty())
      Fail(ErrorCode::kConflict, "remote execution '" + e.id +
                                     "' has no source yet: upload a .tar.gz to its /upload first");
    if (e.executed)
      Fail(ErrorCode::kConflict, "remote execution '" + e.id + "' was executed already");
    run.remote_execution_id = e.id;
    run.pipeline_execution_id = e.pipeline_execution_id;
    summary["source"] = json::object{{"type", "remote_execution"}, {"sha256", e.sha256}};
  } else {
    json::object config = ParseObjectOrEmpty(w.config_json);
    const json::value* repo = config.if_contains("repository");
    if (!repo || !repo->is_string() || repo->get_string().empty())
      Fail(ErrorCode::kInvalidArgument,
           "workspace '" + ws +
               "' names no repository: set its repository, or upload the source through "
               "remote-executions");
    summary["source"] = json::object{{"type", "repository"}, {"repository", *repo}};
  }
  if (!input.pipeline_execution_id.empty()) run.pipeline_execution_id = input.pipeline_execution_id;
  if (run.pipeline_execution_id.empty()) run.pipeline_execution_id = run.id;
  run.summary_json = json::serialize(summary);
  db_.Runs().CreateRun(run, run.remote_execution_id.empty() ? nullptr : &run.remote_execution_id);
  signals_.Set(run.id, run.status);
  if (executor_) executor_->Wake();
  return run;
}

storage::RunRecord RunService::GetRun(const auth::Principal& who, const WorkspaceScope& scope,
                                      const std::string& ws, const std::string& id) {
  workspaces_.Get(who, scope, ws);
  auto run = db_.Runs().GetRun(KeyOf(who, scope, ws), id);
  if (!run) Fail(ErrorCode::kNotFound, "run '" + id + "' not found");
  return *run;
}

storage::Page<storage::RunRecord> RunService::ListRuns(const auth::Principal& who,
                                                       const WorkspaceScope& scope,
                                                       const std::string& ws,
                                                       const storage::RunListQuery& query) {
  workspaces_.Get(who, scope, ws);
  const auto& statuses = RunStatuses();
  for (const auto& s : query.statuses)
    if (std::find(statuses.begin(), statuses.end(), s) == statuses.end())
      Bad("status", "unknown run status '" + s + "'");
  if (!query.kind.empty()) {
    const auto& kinds = RunKinds();
    if (std::find(kinds.begin(), kinds.end(), query.kind) == kinds.end())
      Bad("kind", "unknown run kind '" + query.kind + "'");
  }
  return db_.Runs().ListRuns(KeyOf(who, scope, ws), query);
}

storage::RunRecord RunService::Transition(const auth::Principal& who, const WorkspaceScope& scope,
                                          const std::string& ws, const std::string& id,
                                          const std::vector<std::string>& from, const char* to,
                                          const char* verb) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::RunRecord run = GetRun(who, scope, ws, id);
  if (std::find(from.begin(), from.end(), run.status) == from.end())
    Fail(ErrorCode::kConflict, std::string("run '") + id + "' is " + run.status +
                                   "; only a run awaiting approval can be " + verb);
  run.status = to;
  run.updated = NowMillis();
  if (IsFinalRunStatus(to)) run.finished = run.updated;
  if (std::string_view(to) == run_status::kApproved) run.approved_by = who.token_id;
  run = db_.Runs().UpdateRun(run, from);
  signals_.Set(run.id, run.status);
  return run;
}

storage::RunRecord RunService::Approve(const auth::Principal& who, const WorkspaceScope& scope,
                                       const std::string& ws, const std::string& id) {
  storage::RunRecord run = Transition(who, scope, ws, id, {run_status::kAwaitingApproval},
                                      run_status::kApproved, "approved");
  if (executor_) executor_->Wake();
  return run;
}

storage::RunRecord RunService::Discard(const auth::Principal& who, const WorkspaceScope& scope,
                                       const std::string& ws, const std::string& id) {
  storage::RunRecord run = Transition(who, scope, ws, id, {run_status::kAwaitingApproval},
                                      run_status::kDiscarded, "discarded");
  // The workspace waited for this apply; without it, it is as it was.
  db_.Workspaces().SetWorkspaceStatus(KeyOf(who, scope, ws), "active");
  db_.Runs().AddEvent(RunEvent(run, "active", "incomplete"));
  if (executor_) executor_->Wake();  // queued runs of the workspace may go
  return run;
}

storage::RunRecord RunService::Cancel(const auth::Principal& who, const WorkspaceScope& scope,
                                      const std::string& ws, const std::string& id) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::RunRecord run = GetRun(who, scope, ws, id);
  if (IsFinalRunStatus(run.status))
    Fail(ErrorCode::kConflict, "run '" + id + "' has ended (" + run.status + ")");
  if ((run.status == run_status::kPlanning || run.status == run_status::kApplying) && executor_ &&
      executor_->CancelRunning(id)) {
    // The runner stops the provisioner and records the outcome.
    return run;
  }
  std::string was = run.status;
  run.status = run_status::kCancelled;
  run.updated = run.finished = NowMillis();
  run = db_.Runs().UpdateRun(run, {was});
  signals_.Set(run.id, run.status);
  if (was == run_status::kAwaitingApproval || was == run_status::kApproved)
    db_.Workspaces().SetWorkspaceStatus(KeyOf(who, scope, ws), "active");
  if (executor_) executor_->Wake();
  return run;
}

// ---- events ----

storage::EventRecord RunService::SendEvent(const auth::Principal& who, const WorkspaceScope& scope,
                                           const std::string& ws, const json::object& body,
                                           bool lenient) {
  auth::RequireScope(who, scope.org, scope.project);
  workspaces_.Get(who, scope, ws);
  Reader r(body, "", lenient);
  storage::EventRecord e;
  e.account = who.account;
  e.org = scope.org;
  e.project = scope.project;
  e.workspace = ws;
  e.event_type = r.Enum("event_type", kEventTypes, true).value();
  e.pipeline_execution_id = r.Str("pipeline_execution_id", 128).value_or("");
  e.pipeline_stage_id = r.Str("pipeline_stage_id", 128).value_or("");
  if (const json::object* data = r.Obj("data")) {
    for (const auto& kv : *data)
      if (!kv.value().is_string()) Bad("data." + std::string(kv.key()), "must be a string");
    e.data_json = json::serialize(*data);
  }
  if (const json::value* metadata = r.Get("metadata")) {
    if (!metadata->is_object()) Bad("metadata", "must be an object (ActivityMetadata)");
    e.metadata_json = json::serialize(*metadata);
  }
  if (e.data_json.size() + e.metadata_json.size() > 256 * 1024)
    Bad("body", "data and metadata must be at most 256 KiB together");
  e.created = NowMillis();
  e.id = db_.Runs().AddEvent(e);
  return e;
}

storage::Page<storage::EventRecord> RunService::ListEvents(const auth::Principal& who,
                                                           const WorkspaceScope& scope,
                                                           const std::string& ws,
                                                           const storage::EventListQuery& query) {
  workspaces_.Get(who, scope, ws);
  return db_.Runs().ListEvents(KeyOf(who, scope, ws), query);
}

// ---- documents ----

json::object RunService::RunDocument(const storage::RunRecord& run) {
  json::object o;
  o["id"] = run.id;
  o["number"] = run.number;
  o["account"] = run.account;
  o["org"] = run.org;
  o["project"] = run.project;
  o["workspace"] = run.workspace;
  o["kind"] = run.kind;
  o["status"] = run.status;
  o["final"] = IsFinalRunStatus(run.status);
  o["auto_apply"] = run.auto_apply;
  o["message"] = run.message;
  o["remote_execution_id"] = run.remote_execution_id;
  o["pipeline_execution_id"] = run.pipeline_execution_id;
  o["created_by"] = run.created_by;
  o["approved_by"] = run.approved_by;
  o["created"] = run.created;
  o["updated"] = run.updated;
  o["started"] = run.started;
  o["finished"] = run.finished;
  o["log_size"] = run.log_size;
  o["summary"] = ParseObjectOrEmpty(run.summary_json);
  return o;
}

json::object RunService::RemoteExecutionDocument(const storage::RemoteExecutionRecord& r) {
  json::object o;
  o["account"] = r.account;
  o["org"] = r.org;
  o["project"] = r.project;
  o["workspace"] = r.workspace;
  o["id"] = r.id;
  o["custom_arguments"] = ParseObjectOrEmpty(r.custom_arguments_json);
  o["pipeline_execution_id"] = r.pipeline_execution_id;
  o["pipeline_execution_url"] = r.pipeline_execution_url;
  o["sha256_checksum"] = r.sha256;
  o["executed"] = r.executed;
  o["created"] = r.created;
  o["updated"] = r.updated;
  if (!r.run_id.empty()) o["run_id"] = r.run_id;
  return o;
}

json::object RunService::EventDocument(const storage::EventRecord& e) {
  json::object o;
  o["id"] = e.id;
  o["event_type"] = e.event_type;
  o["pipeline_execution_id"] = e.pipeline_execution_id;
  o["pipeline_stage_id"] = e.pipeline_stage_id;
  if (!e.run_id.empty()) o["run_id"] = e.run_id;
  o["data"] = ParseObjectOrEmpty(e.data_json);
  boost::system::error_code ec;
  json::value metadata = json::parse(e.metadata_json, ec);
  o["metadata"] = ec ? json::value(json::object()) : metadata;
  o["created"] = e.created;
  return o;
}

storage::EventRecord RunEvent(const storage::RunRecord& run, const std::string& event_type,
                              const std::string& activity_status) {
  json::object summary = ParseObjectOrEmpty(run.summary_json);
  json::object m;
  std::string activity = run.kind;
  if (run.kind == run_kind::kDrift) activity = "drift";
  if (run.kind == run_kind::kRefresh) activity = "apply";
  if (event_type == "plan" || event_type == "apply_needed") activity = "plan";
  m["activity_type"] = activity;
  m["activity_status"] = activity_status;
  m["pipeline_execution_id"] = run.pipeline_execution_id;
  if (const json::value* counts = summary.if_contains("resource_changes");
      counts && counts->is_object()) {
    m["resource_counts"] = *counts;
    int64_t total = 0;
    for (const auto& kv : counts->get_object())
      if (kv.value().is_int64()) total += kv.value().get_int64();
    m["PlannedChangesCount"] = total;
  }
  for (const char* from_to :
       {"plan_data_id:plan_uuid", "state_data_id:state_uuid", "provisioner:provisioner",
        "provisioner_version:provisioner_version", "git_commit:git_commit_sha",
        "git_branch:git_branch", "git_repo:git_repo", "state_sha256:state_checksum"}) {
    std::string_view pair(from_to);
    size_t colon = pair.find(':');
    const json::value* v = summary.if_contains(pair.substr(0, colon));
    if (v && v->is_string() && !v->get_string().empty()) m[pair.substr(colon + 1)] = *v;
  }
  // A priced plan: ActivityMetadata's cost fields (strings, as the spec has them).
  if (const json::value* cost = summary.if_contains("cost_estimate"); cost && cost->is_object()) {
    const json::object& c = cost->get_object();
    for (const char* from_to :
         {"currency:cost_currency", "total_monthly_cost:cost_total_monthly",
          "past_total_monthly_cost:cost_past_total_monthly",
          "diff_total_monthly_cost:cost_diff_total_monthly",
          "cost_breakdown_id:cost_breakdown_uuid", "cost_diff_id:cost_diff_uuid"}) {
      std::string_view pair(from_to);
      size_t colon = pair.find(':');
      const json::value* v = c.if_contains(pair.substr(0, colon));
      if (v && v->is_string()) m[pair.substr(colon + 1)] = *v;
    }
    std::optional<cost::Decimal> now, past;
    if (const json::value* v = c.if_contains("total_monthly_cost"); v && v->is_string())
      now = cost::Decimal::Parse(v->get_string());
    if (const json::value* v = c.if_contains("past_total_monthly_cost"); v && v->is_string())
      past = cost::Decimal::Parse(v->get_string());
    if (now && past && !past->IsZero())
      m["cost_total_monthly_percentage_change"] =
          (((*now - *past) * cost::Decimal::FromInt(100)) / *past).Round(2).ToString();
    if (const json::value* over = c.if_contains("over_budget"); over && over->is_bool())
      m["cost_over_budget"] = *over;
  }
  storage::EventRecord e;
  e.account = run.account;
  e.org = run.org;
  e.project = run.project;
  e.workspace = run.workspace;
  e.event_type = event_type;
  e.pipeline_execution_id = run.pipeline_execution_id;
  e.run_id = run.id;
  e.data_json = json::serialize(
      json::object{{"run_id", run.id}, {"run_status", run.status}, {"run_kind", run.kind}});
  e.metadata_json = json::serialize(m);
  e.created = NowMillis();
  return e;
}

}  // namespace statehouse::domain
