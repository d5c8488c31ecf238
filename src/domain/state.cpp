#include "domain/state.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
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

// Terraform's LockInfo fields, matched case-insensitively.
constexpr const char* kLockFields[] = {"ID",      "Operation", "Info", "Who",
                                       "Version", "Created",   "Path"};

json::object NormalizeLockInfo(const json::object& body) {
  json::object info;
  for (const auto& kv : body) {
    for (const char* field : kLockFields) {
      if (!IEquals(kv.key(), field)) continue;
      if (!kv.value().is_string() && !kv.value().is_null())
        Fail(ErrorCode::kInvalidArgument,
             "lock info field " + std::string(field) + " must be a string");
      if (kv.value().is_string()) {
        if (kv.value().get_string().size() > 4096)
          Fail(ErrorCode::kInvalidArgument,
               "lock info field " + std::string(field) + " is too long");
        info[field] = kv.value();
      }
    }
  }
  return info;
}

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

bool PruneSensitive(const storage::WorkspaceRecord& w) {
  json::object config = ParseObjectOrEmpty(w.config_json);
  const json::value* v = config.if_contains("prune_sensitive_data");
  return v && v->is_bool() && v->get_bool();
}

std::string Rfc3339(int64_t millis) {
  time_t secs = static_cast<time_t>(millis / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis % 1000));
  return buf;
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

json::object StateService::LockView(const storage::LockRecord& lock) {
  // Only Terraform's capitalised LockInfo fields plus names no LockInfo field matches, even
  // case-insensitively: the CLI decodes this object into its LockInfo.
  json::object view = ParseObjectOrEmpty(lock.info_json);
  view["ID"] = lock.lock_id;
  if (lock.manual) {
    if (!view.contains("Operation")) view["Operation"] = "manual";
    if (!view.contains("Info")) view["Info"] = lock.reason;
    if (!view.contains("Who")) view["Who"] = lock.locked_by;
  }
  if (!view.contains("Created")) view["Created"] = Rfc3339(lock.created);
  // Only summary fields no LockInfo field matches case-insensitively (not id or created_at).
  for (const auto& kv : LockSummary(lock))
    if (kv.key() != "id" && kv.key() != "created_at") view[kv.key()] = kv.value();
  return view;
}

json::object StateService::LockSummary(const storage::LockRecord& lock) {
  json::object view;
  view["id"] = lock.lock_id;
  view["created_at"] = lock.created;
  view["manual"] = lock.manual;
  view["reason"] = lock.reason;
  // Locks are taken with tokens; the token id is the principal.
  view["locked_by_principal_id"] = lock.locked_by;
  view["locked_by_principal_type"] = "service_account";
  view["locked_by_display_name"] = lock.locked_by;
  return view;
}

json::object StateService::SpecLockView(const storage::LockRecord& lock,
                                        const storage::WorkspaceKey& key) {
  json::object info = ParseObjectOrEmpty(lock.info_json);
  auto text = [&](const char* k) -> std::string {
    const json::value* v = info.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  json::object view;
  view["account"] = key.account;
  view["org"] = key.org;
  view["project"] = key.project;
  view["workspace"] = key.workspace;
  view["id"] = lock.lock_id;
  view["operation"] = lock.manual ? std::string("manual") : text("Operation");
  view["info"] = lock.manual ? lock.reason : text("Info");
  view["who"] = lock.manual ? lock.locked_by : text("Who");
  view["version"] = text("Version");
  view["path"] = text("Path");
  view["created"] = lock.created;
  for (const auto& kv : LockSummary(lock))
    if (kv.key() != "id" && kv.key() != "created_at" && kv.key() != "reason")
      view[kv.key()] = kv.value();
  return view;
}

void StateService::ThrowLocked(const storage::LockRecord& holder, const std::string& ws,
                               ErrorCode code) {
  json::object view = LockView(holder);
  std::string who = view.contains("Who") && view["Who"].is_string()
                        ? std::string(view["Who"].get_string())
                        : std::string("someone");
  throw Error(code,
              "workspace '" + ws + "' is locked by " + who + " (lock ID " + holder.lock_id + ")",
              json::serialize(view));
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

namespace {
// The lock row a LOCK asks for (after the caller's scope is checked).
storage::LockRecord LockOf(const auth::Principal& who, const WorkspaceScope& scope,
                           const json::object& body) {
  auth::RequireScope(who, scope.org, scope.project);
  json::object info = NormalizeLockInfo(body);
  const json::value* id = info.if_contains("ID");
  if (!id || id->get_string().empty()) Fail(ErrorCode::kInvalidArgument, "lock info needs an ID");
  storage::LockRecord lock;
  lock.lock_id = std::string(id->get_string());
  lock.info_json = json::serialize(info);
  lock.locked_by = who.token_id;
  lock.created = NowMillis();
  return lock;
}
}  // namespace

storage::LockRecord StateService::Lock(const auth::Principal& who, const WorkspaceScope& scope,
                                       const std::string& ws, const json::object& body) {
  storage::LockRecord lock = LockOf(who, scope, body);
  auto holder = workspaces_.WithExisting(
      who, scope, ws, [&] { return db_.States().AcquireLock(KeyOf(who, scope, ws), lock); });
  if (holder) {
    if (lock_requests_) lock_requests_->With({"held_by_another"}).Inc();
    ThrowLocked(*holder, ws, ErrorCode::kLocked);
  }
  LockTaken(KeyOf(who, scope, ws), lock);
  return lock;
}

void StateService::LockLater(const auth::Principal& who, const WorkspaceScope& scope,
                             const std::string& ws, const json::object& body, LockDone done) {
  storage::LockRecord lock = LockOf(who, scope, body);
  workspaces_.WithExisting(who, scope, ws, [] {});  // the caller's view of the scope, as Lock
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  db_.States().AcquireLockLater(
      key, lock,
      [this, who, scope, ws, key, lock, done = std::move(done)](
          storage::StateStore::LockOutcome out, std::exception_ptr error) {
        try {
          // kNotFound says precisely what is missing, as Lock's does.
          if (error)
            workspaces_.WithExisting(who, scope, ws, [&] { std::rethrow_exception(error); });
          if (out.holder) {
            if (lock_requests_) lock_requests_->With({"held_by_another"}).Inc();
            ThrowLocked(*out.holder, ws, ErrorCode::kLocked);
          }
          LockTaken(key, lock);
        } catch (...) {
          return done(std::nullopt, std::current_exception());
        }
        done(lock, nullptr);
      });
}

void StateService::UnlockLater(const auth::Principal& who, const WorkspaceScope& scope,
                               const std::string& ws, const json::object* body, UnlockDone done) {
  auth::RequireScope(who, scope.org, scope.project);
  json::object info = body ? NormalizeLockInfo(*body) : json::object();
  if (info.empty() || (info.size() == 1 && info.contains("ID"))) {
    bool released = false;
    try {
      released = Unlock(who, scope, ws, body);  // forced open
    } catch (...) {
      return done(false, std::current_exception());
    }
    return done(released, nullptr);
  }
  const json::value* id = info.if_contains("ID");
  if (!id) Fail(ErrorCode::kInvalidArgument, "unlock info needs the lock's ID");
  std::string lock_id(id->get_string());
  workspaces_.WithExisting(who, scope, ws, [] {});
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  db_.States().ReleaseLockLater(
      key, lock_id,
      [this, who, scope, ws, key, lock_id, done = std::move(done)](
          storage::StateStore::LockOutcome out, std::exception_ptr error) {
        try {
          if (error)
            workspaces_.WithExisting(who, scope, ws, [&] { std::rethrow_exception(error); });
          if (out.holder) ThrowLocked(*out.holder, ws, ErrorCode::kConflict);
          if (out.released) LockEnded(key, lock_id, 0, "released");
        } catch (...) {
          return done(false, std::current_exception());
        }
        done(out.released, nullptr);
      });
}

void StateService::SetMetrics(metrics::Registry* registry) {
  if (!registry) return;
  lock_requests_ = &registry->AddCounter(
      "statehouse_state_lock_requests_total",
      "State lock requests by result: acquired, held_by_another (the client must wait and "
      "retry), released, forced_open",
      {"result"});
  lock_held_ = &registry
                    ->AddHistogram("statehouse_state_lock_held_seconds",
                                   "How long state locks were held, from lock to unlock", {})
                    .With({});
}

namespace {
std::string LockTimeKey(const storage::WorkspaceKey& key, std::string_view lock_id) {
  std::string k;
  k.reserve(key.account.size() + key.org.size() + key.project.size() + key.workspace.size() +
            lock_id.size() + 4);
  k.append(key.account).append("/").append(key.org).append("/").append(key.project);
  k.append("/").append(key.workspace).append("/").append(lock_id);
  return k;
}
}  // namespace

void StateService::LockTaken(const storage::WorkspaceKey& key, const storage::LockRecord& lock) {
  if (!lock_requests_) return;
  lock_requests_->With({"acquired"}).Inc();
  std::lock_guard guard(lock_times_mutex_);
  if (lock_times_.size() >= 100000) lock_times_.clear();  // locks never released: forget
  lock_times_[LockTimeKey(key, lock.lock_id)] = lock.created;
}

void StateService::LockEnded(const storage::WorkspaceKey& key, std::string_view lock_id,
                             int64_t created, const char* result) {
  if (!lock_requests_) return;
  lock_requests_->With({result}).Inc();
  {
    std::lock_guard guard(lock_times_mutex_);
    auto it = lock_times_.find(LockTimeKey(key, lock_id));
    if (it != lock_times_.end()) {
      if (created == 0) created = it->second;
      lock_times_.erase(it);
    }
  }
  if (created > 0) lock_held_->Observe(static_cast<double>(NowMillis() - created) / 1000.0);
}

bool StateService::Unlock(const auth::Principal& who, const WorkspaceScope& scope,
                          const std::string& ws, const json::object* body) {
  auth::RequireScope(who, scope.org, scope.project);
  json::object info = body ? NormalizeLockInfo(*body) : json::object();
  bool id_only = info.size() == 1 && info.contains("ID");
  if (info.empty() || id_only) {
    GuardForceUnlock(who, workspaces_.Get(who, scope, ws), nullptr);
    auto removed = db_.States().ForceUnlock(KeyOf(who, scope, ws), who.token_id);
    if (removed) {
      log::Warn("state lock forced open",
                {{"workspace", ws}, {"lock_id", removed->lock_id}, {"by", who.token_id}});
      LockEnded(KeyOf(who, scope, ws), removed->lock_id, removed->created, "forced_open");
    }
    return removed.has_value();
  }
  const json::value* id = info.if_contains("ID");
  if (!id) Fail(ErrorCode::kInvalidArgument, "unlock info needs the lock's ID");
  bool released = false;
  auto holder = workspaces_.WithExisting(who, scope, ws, [&] {
    return db_.States().ReleaseLock(KeyOf(who, scope, ws), id->get_string(), released);
  });
  if (holder) ThrowLocked(*holder, ws, ErrorCode::kConflict);
  if (released) LockEnded(KeyOf(who, scope, ws), id->get_string(), 0, "released");
  return released;
}

storage::LockRecord StateService::ManualLock(const auth::Principal& who,
                                             const WorkspaceScope& scope, const std::string& ws,
                                             const std::string& reason) {
  auth::RequireScope(who, scope.org, scope.project);
  workspaces_.Get(who, scope, ws);
  if (reason.size() > 1024)
    Fail(ErrorCode::kInvalidArgument, "reason: must be at most 1024 characters");
  storage::LockRecord lock;
  lock.lock_id = RandomUuid();
  lock.manual = true;
  lock.reason = reason;
  lock.locked_by = who.token_id;
  lock.created = NowMillis();
  if (auto holder = db_.States().AcquireLock(KeyOf(who, scope, ws), lock)) {
    if (lock_requests_) lock_requests_->With({"held_by_another"}).Inc();
    ThrowLocked(*holder, ws, ErrorCode::kLocked);
  }
  LockTaken(KeyOf(who, scope, ws), lock);
  return lock;
}

std::optional<storage::LockRecord> StateService::ForceUnlock(const auth::Principal& who,
                                                             const WorkspaceScope& scope,
                                                             const std::string& ws,
                                                             PolicyDecision* decision) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  GuardForceUnlock(who, w, decision);
  auto removed = db_.States().ForceUnlock(KeyOf(who, scope, ws), who.token_id);
  if (removed) {
    log::Warn("state lock forced open",
              {{"workspace", ws}, {"lock_id", removed->lock_id}, {"by", who.token_id}});
    LockEnded(KeyOf(who, scope, ws), removed->lock_id, removed->created, "forced_open");
  }
  return removed;
}

std::optional<storage::LockRecord> StateService::CurrentLock(const storage::WorkspaceRecord& w) {
  return db_.States().GetLock({w.account, w.org, w.project, w.identifier});
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
  bool redact = !for_backend && d.data_type == "state_raw" && d.serial && PruneSensitive(w);
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
  options.time_generated = Rfc3339(NowMillis());
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

void StateService::GuardForceUnlock(const auth::Principal& who, const storage::WorkspaceRecord& w,
                                    PolicyDecision* decision) {
  if (!policies_) return;
  auto holder = db_.States().GetLock({w.account, w.org, w.project, w.identifier});
  if (!holder) return;  // nothing to force open
  EnforcementRequest request;
  request.org = w.org;
  request.project = w.project;
  request.entity_type = PolicyEntity::kWorkspace;
  request.action = PolicyAction::kOnForceUnlock;
  request.entity = WorkspaceEntity(w.account, w.org, w.project, w.identifier);
  request.entity_metadata["workspace"] = w.identifier;
  request.entity_metadata["lock_id"] = holder->lock_id;
  if (!policies_->Applies(who, request)) return;
  json::object lock = LockSummary(*holder);
  json::object info = LockView(*holder);
  lock["id"] = holder->lock_id;
  lock["who"] = info.contains("Who") ? info["Who"] : json::value(holder->locked_by);
  lock["operation"] = holder->manual
                          ? json::value("manual")
                          : (info.contains("Operation") ? info["Operation"] : json::value(""));
  lock["since"] = holder->created;
  lock["manual"] = holder->manual;
  json::object caller;
  caller["token_id"] = who.token_id;
  caller["role"] = auth::RoleName(who.role);
  caller["account"] = who.account;
  caller["org"] = who.org;
  caller["project"] = who.project;
  json::object input;
  input["workspace"] = WorkspaceDocument(w);
  input["lock"] = std::move(lock);
  input["caller"] = std::move(caller);
  PolicyDecision result = policies_->Enforce(who, request, input);
  if (result.Blocked()) {
    throw Error(ErrorCode::kPermissionDenied,
                "force-unlock of workspace '" + w.identifier + "' refused by policy" +
                    (result.Message().empty() ? std::string() : ":\n" + result.Message()),
                "{\"policy_evaluation\":" + result.evaluation_json + "}");
  }
  if (decision) *decision = std::move(result);
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
  return tfstate::Analyze(tfstate::ParseState(db_.Blobs().Read(newest->sha256)), PruneSensitive(w));
}

namespace {
std::string Text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return {};
  return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
}

bool Contains(std::string_view hay, std::string_view needle) {
  return ToLower(hay).find(ToLower(needle)) != std::string::npos;
}

// The attribute a condition names, as text; nullopt when absent.
std::optional<std::string> AttributeText(const json::object& resource, std::string path) {
  if (path.rfind("<+", 0) == 0 && path.back() == '>') path = path.substr(2, path.size() - 3);
  if (path.rfind("attributes.", 0) == 0) path = path.substr(11);
  if (path.rfind("tag.", 0) == 0) path = "tags." + path.substr(4);
  const json::value* cur = resource.if_contains("attributes");
  size_t start = 0;
  while (cur && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return std::nullopt;
    cur = cur->get_object().if_contains(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!cur || cur->is_null()) return std::nullopt;
  return cur->is_string() ? std::string(cur->get_string()) : json::serialize(*cur);
}

bool ConditionHolds(const json::object& resource, const ResourceCondition& c) {
  auto v = AttributeText(resource, c.attribute);
  if (c.op == "not_equals") return !v || *v != c.value;
  if (c.op == "not_contains") return !v || v->find(c.value) == std::string::npos;
  if (!v) return false;
  if (c.op == "equals") return *v == c.value;
  if (c.op == "contains") return v->find(c.value) != std::string::npos;
  if (c.op == "starts_with") return v->rfind(c.value, 0) == 0;
  if (c.op == "ends_with")
    return v->size() >= c.value.size() &&
           v->compare(v->size() - c.value.size(), c.value.size(), c.value) == 0;
  return false;
}
}  // namespace

bool MatchesAnySelector(const json::object& resource,
                        const std::vector<ResourceSelector>& selectors) {
  if (selectors.empty()) return true;
  for (const auto& sel : selectors) {
    if (!sel.resource_type.empty() && Text(resource, "type") != sel.resource_type) continue;
    if (!sel.provider.empty()) {
      std::string provider = Text(resource, "provider");
      bool ok = provider == sel.provider ||
                (provider.size() > sel.provider.size() &&
                 provider.compare(provider.size() - sel.provider.size() - 1, std::string::npos,
                                  "/" + sel.provider) == 0);
      if (!ok) continue;
    }
    if (!sel.path_id.empty() && !Contains(Text(resource, "path_id"), sel.path_id)) continue;
    if (!sel.search_text.empty() && !Contains(Text(resource, "path_id"), sel.search_text) &&
        !Contains(Text(resource, "resource_id"), sel.search_text) &&
        !Contains(Text(resource, "type"), sel.search_text))
      continue;
    bool all = true;
    for (const auto& c : sel.conditions) all = all && ConditionHolds(resource, c);
    if (all) return true;
  }
  return false;
}

// ---- the resource inventory ----
//
// Resources are derived from the newest state; PATCH / DELETE .../resources record what
// clients say about them in workspace_resources, one row per resource (provider, type, name,
// module, path_id), and every listing applies those rows on top of the state:
//   - an upsert (PATCH, update_mode upsert) replaces a resource's attributes and sensitive
//     paths, and adds the resource when the state has none such (Harness's inventory is what
//     its clients upsert); it also brings back a deleted resource;
//   - a drift update (update_mode drift) replaces drift_status / drift_attributes of a listed
//     resource ("" clears them back to the state's "unchanged");
//   - DELETE .../resources ("destroyed resources") and DELETE .../resources/stale (every listed
//     resource the given session did not write) leave tombstones that hide the resource.
// What clients wrote is their word: it survives new state versions until they write that
// resource again (a tombstone until the next upsert of it). Pruning of sensitive values applies
// to written attributes too (the client's paths and the state's).
namespace {
using ResKey = std::tuple<std::string, std::string, std::string, std::string, std::string>;
using Override = storage::StateStore::ResourceOverride;

std::string Str(const json::object& o, std::string_view k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

ResKey KeyOfResource(const json::object& r) {
  return {Str(r, "provider"), Str(r, "type"), Str(r, "name"), Str(r, "module"), Str(r, "path_id")};
}

ResKey KeyOfRow(const Override& r) { return {r.provider, r.type, r.name, r.module, r.path_id}; }

Override RowOf(const ResKey& k, const std::string& mode) {
  Override r;
  std::tie(r.provider, r.type, r.name, r.module, r.path_id) = k;
  r.mode = mode;
  return r;
}

// Stored JSON (written by this server, so as deep as request bodies may be).
json::value ParseOr(const std::string& text, json::value fallback) {
  json::parse_options options;
  options.max_depth = tfstate::StateScanner::kMaxDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, options);
  return ec || v.kind() != fallback.kind() ? fallback : v;
}

// "tags.secret" -> Terraform's sensitive path [{"type":"get_attr","value":"tags"}, ...]; a
// segment of digits indexes a list.
json::array TerraformPaths(const json::value& client_paths) {
  json::array out;
  const json::array* paths = client_paths.if_array();
  if (!paths) return out;
  for (const json::value& p : *paths) {
    if (!p.is_string() || p.get_string().empty()) continue;
    std::string_view text(p.get_string().data(), p.get_string().size());
    json::array steps;
    for (size_t start = 0; start <= text.size();) {
      size_t dot = text.find('.', start);
      if (dot == std::string_view::npos) dot = text.size();
      std::string_view part = text.substr(start, dot - start);
      int64_t index = 0;
      if (!part.empty() && part.find_first_not_of("0123456789") == std::string_view::npos &&
          ParseInt64(part, index))
        steps.push_back(json::object{
            {"type", "index"}, {"value", json::object{{"value", index}, {"type", "number"}}}});
      else
        steps.push_back(json::object{{"type", "get_attr"}, {"value", part}});
      start = dot + 1;
    }
    out.push_back(std::move(steps));
  }
  return out;
}

// Applies one row to a listed resource (which carries the state's sensitive paths).
void ApplyRow(json::object& res, const Override& row, bool prune) {
  json::value state_paths = res.contains("sensitive_attributes") ? res["sensitive_attributes"]
                                                                 : json::value(json::array());
  json::value client_paths = json::array();
  if (row.upserted) {
    json::value attributes = ParseOr(row.attributes_json, json::object());
    client_paths = ParseOr(row.sensitive_json, json::array());
    if (prune) {
      tfstate::RedactAttributes(attributes, state_paths);
      tfstate::RedactAttributes(attributes, TerraformPaths(client_paths));
    }
    if (const json::value* id = attributes.get_object().if_contains("id"); id && !id->is_null())
      res["resource_id"] =
          id->is_string() ? json::value(id->get_string()) : json::value(json::serialize(*id));
    else if (!res.contains("resource_id"))
      res["resource_id"] = "";
    res["attributes"] = std::move(attributes);
    res["sensitive_attributes"] = client_paths;
  }
  if (row.drifted) {
    json::value drift = ParseOr(row.drift_attributes_json, json::object());
    if (prune) {
      tfstate::RedactAttributes(drift, state_paths);
      tfstate::RedactAttributes(drift, TerraformPaths(client_paths));
    }
    res["drift_status"] = row.drift_status;
    res["drift_attributes"] = std::move(drift);
  }
}

// The listing: the state's resources with the rows applied, then resources only rows know.
tfstate::StateAnalysis Overlay(const tfstate::StateAnalysis& base,
                               const std::vector<Override>& rows, bool prune) {
  std::map<ResKey, const Override*> by_key;
  for (const Override& r : rows) by_key[KeyOfRow(r)] = &r;
  std::set<ResKey> seen;
  tfstate::StateAnalysis out;
  auto apply = [&](const json::array& from, json::array& to) {
    for (const json::value& v : from) {
      json::object res = v.get_object();
      ResKey k = KeyOfResource(res);
      seen.insert(k);
      auto it = by_key.find(k);
      if (it != by_key.end()) {
        if (it->second->deleted) continue;
        ApplyRow(res, *it->second, prune);
      }
      to.push_back(std::move(res));
    }
  };
  apply(base.resources, out.resources);
  apply(base.data_sources, out.data_sources);
  for (const Override& r : rows) {
    if (!r.upserted || r.deleted || seen.count(KeyOfRow(r))) continue;
    json::object res;
    res["provider"] = r.provider;
    res["type"] = r.type;
    res["name"] = r.name;
    res["module"] = r.module;
    res["mode"] = r.mode;
    res["path_id"] = r.path_id;
    res["drift_status"] = "unchanged";
    res["drift_attributes"] = json::object();
    res["sensitive_attributes"] = json::array();
    ApplyRow(res, r, prune);
    (r.mode == "data" ? out.data_sources : out.resources).push_back(std::move(res));
  }
  out.outputs = base.outputs;
  out.modules = base.modules;
  out.type_attributes = base.type_attributes;
  out.total_resources = static_cast<int64_t>(out.resources.size());
  return out;
}

// The newest v4 state of a workspace, analysed as Analyze does (empty when none).
tfstate::StateAnalysis StateOf(storage::Database& db, const storage::WorkspaceRecord& w) {
  auto newest = db.States().NewestState({w.account, w.org, w.project, w.identifier});
  if (!newest || !newest->serial) return {};
  return tfstate::Analyze(tfstate::ParseState(db.Blobs().Read(newest->sha256)), PruneSensitive(w));
}

// A resource a request may name: its key and mode.
struct Candidate {
  ResKey key;
  std::string mode;
};

std::vector<Candidate> Listed(const tfstate::StateAnalysis& a) {
  std::vector<Candidate> out;
  for (const json::array* list : {&a.resources, &a.data_sources})
    for (const json::value& v : *list)
      out.push_back({KeyOfResource(v.get_object()), Str(v.get_object(), "mode")});
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The candidates a ref names (of mode, when given): exact providers first, else those whose
// source address ends in "/<provider>" (any letter case).
std::vector<const Candidate*> Match(const std::vector<Candidate>& candidates,
                                    const StateService::ResourceRef& ref, const std::string* mode) {
  std::string provider = tfstate::ProviderAddress(ref.provider);
  std::vector<const Candidate*> exact, loose;
  for (const Candidate& c : candidates) {
    const auto& [c_provider, c_type, c_name, c_module, c_path] = c.key;
    if (c_type != ref.type || c_name != ref.name || c_module != ref.module) continue;
    if (!ref.path_id.empty() && c_path != ref.path_id) continue;
    if (mode && c.mode != *mode) continue;
    if (c_provider == provider)
      exact.push_back(&c);
    else if (EndsWith(ToLower(c_provider), "/" + ToLower(provider)))
      loose.push_back(&c);
  }
  return exact.empty() ? loose : exact;
}

std::string Paths(const std::vector<const Candidate*>& found) {
  std::string out;
  for (const Candidate* c : found) out += (out.empty() ? "" : ", ") + std::get<4>(c->key);
  return out;
}
}  // namespace

tfstate::StateAnalysis StateService::Resources(const auth::Principal& who,
                                               const WorkspaceScope& scope, const std::string& ws) {
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  return Overlay(StateOf(db_, w), db_.States().ListResourceOverrides(KeyOf(who, scope, ws)),
                 PruneSensitive(w));
}

std::vector<StateService::ResourceOutcome> StateService::UpdateResources(
    const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
    const std::vector<ResourceChange>& changes, bool drift, const std::string& session_id) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  tfstate::StateAnalysis base = StateOf(db_, w);
  std::vector<Override> rows = db_.States().ListResourceOverrides(key);
  // Drift is recorded for listed resources only; an upsert may name any resource the state or
  // a client knows (a deleted one comes back) or a new one.
  std::vector<Candidate> candidates = Listed(drift ? Overlay(base, rows, false) : base);
  if (!drift) {
    std::set<ResKey> known;
    for (const Candidate& c : candidates) known.insert(c.key);
    for (const Override& r : rows)
      if (known.insert(KeyOfRow(r)).second) candidates.push_back({KeyOfRow(r), r.mode});
  }
  std::vector<ResourceOutcome> outcomes;
  std::vector<Override> writes;
  int64_t now = NowMillis();
  for (const ResourceChange& change : changes) {
    if (change.mode == "output") {
      outcomes.push_back({"skipped", "outputs come from the state and are not written here"});
      continue;
    }
    auto found = Match(candidates, change.ref, &change.mode);
    ResKey target;
    if (found.size() > 1 && change.ref.path_id.empty()) {
      outcomes.push_back({"failed", std::to_string(found.size()) + " instances match (" +
                                        Paths(found) + "); name one with path_id"});
      continue;
    }
    if (!found.empty()) {
      target = found.front()->key;
    } else if (drift) {
      outcomes.push_back({"skipped", "no such resource in the workspace"});
      continue;
    } else {
      std::string path = change.ref.path_id.empty()
                             ? tfstate::InstanceAddress(change.ref.module, change.mode == "data",
                                                        change.ref.type, change.ref.name, nullptr)
                             : change.ref.path_id;
      target = {tfstate::ProviderAddress(change.ref.provider), change.ref.type, change.ref.name,
                change.ref.module, path};
      candidates.push_back({target, change.mode});
    }
    Override row = RowOf(target, change.mode);
    row.session_id = session_id;
    row.updated = now;
    if (drift) {
      row.drifted = !change.drift_status.empty();
      row.drift_status = change.drift_status;
      if (row.drifted) row.drift_attributes_json = json::serialize(change.drift_attributes);
    } else {
      row.upserted = true;
      row.attributes_json = json::serialize(change.attributes);
      json::array paths;
      for (const std::string& p : change.sensitive_paths) paths.emplace_back(p);
      row.sensitive_json = json::serialize(paths);
    }
    writes.push_back(std::move(row));
    outcomes.push_back({"updated", ""});
  }
  if (!writes.empty()) db_.States().WriteResourceOverrides(key, writes, drift);
  return outcomes;
}

std::vector<StateService::ResourceOutcome> StateService::DeleteResources(
    const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
    const std::vector<ResourceRef>& refs) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  std::vector<Candidate> listed = Listed(Resources(who, scope, ws));
  std::vector<ResourceOutcome> outcomes;
  std::vector<Override> tombstones;
  for (const ResourceRef& ref : refs) {
    auto found = Match(listed, ref, nullptr);
    if (found.empty()) {
      outcomes.push_back({"skipped", "no such resource in the workspace"});
      continue;
    }
    for (const Candidate* c : found) tombstones.push_back(RowOf(c->key, c->mode));
    outcomes.push_back({"deleted", ""});
  }
  if (!tombstones.empty()) db_.States().TombstoneResources(key, tombstones, "", NowMillis());
  return outcomes;
}

int64_t StateService::DeleteStaleResources(const auth::Principal& who, const WorkspaceScope& scope,
                                           const std::string& ws, const std::string& session_id) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  std::vector<Override> rows = db_.States().ListResourceOverrides(key);
  std::map<ResKey, std::string> sessions;
  for (const Override& r : rows) sessions[KeyOfRow(r)] = r.session_id;
  std::vector<Override> stale;
  for (const Candidate& c : Listed(Overlay(StateOf(db_, w), rows, false))) {
    auto it = sessions.find(c.key);
    if (it == sessions.end() || it->second != session_id) stale.push_back(RowOf(c.key, c.mode));
  }
  // The store checks the sessions again, so a resource written in this session meanwhile stays.
  return stale.empty() ? 0 : db_.States().TombstoneResources(key, stale, session_id, NowMillis());
}

}  // namespace statehouse::domain
