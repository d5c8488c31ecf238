// StateService's locks: LOCK and UNLOCK (waiting for their commit or answering once it is
// durable), manual locks, force-unlock and its policy check, and the views of a lock.
#include <boost/json.hpp>
#include <string>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "domain/body_reader.h"
#include "domain/policies.h"
#include "domain/state.h"

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

}  // namespace

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
  if (!view.contains("Created")) view["Created"] = Rfc3339Utc(lock.created, true);
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

void StateService::LockLater(const auth::Principal& who, const WorkspaceScope& scope,
                             const std::string& ws, const json::object& body, LockDone done) {
  storage::LockRecord lock = LockOf(who, scope, body);
  workspaces_.WithExisting(who, scope, ws, [] {});  // the caller's view of the scope
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  db_.States().AcquireLockLater(
      key, lock,
      [this, who, scope, ws, key, lock, done = std::move(done)](
          storage::StateStore::LockOutcome out, std::exception_ptr error) {
        try {
          // kNotFound says precisely what is missing (workspace or project).
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
      released = ForceUnlock(who, scope, ws).has_value();  // forced open
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

}  // namespace statehouse::domain
