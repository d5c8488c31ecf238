// Lock bodies of the Terraform http backend (LOCK / POST .../lock, UNLOCK / DELETE .../lock):
// the request body as the state handlers read it (http::ParseJson, must be an object), then the
// public domain path StateService::LockLater -> NormalizeLockInfo (file-local in
// state_locks.cpp) -> StateStore::AcquireLockLater (waited for here), on a throwaway SQLite
// database in /dev/shm, then the two lock views, the conflict error a second locker gets, and
// Unlock with the same body. Properties: the only failure of Lock on an object body is
// kInvalidArgument; a taken lock has the body's ID (its ID field, any letter case), its views carry
// only string LockInfo fields and the ID, a second Lock gets kLocked with the holder's info as a
// JSON object, and Unlock with the same body releases the lock.
#include <unistd.h>

#include <filesystem>
#include <future>
#include <memory>

#include "auth/auth.h"
#include "common/util.h"
#include "domain/state.h"
#include "domain/workspaces.h"
#include "fuzz_common.h"
#include "http/codec.h"
#include "storage/sqlite/sqlite_store.h"

using namespace statehouse;
namespace json = boost::json;

namespace {

constexpr const char* kFields[] = {"ID", "Operation", "Info", "Who", "Version", "Created", "Path"};

struct World {
  std::string dir;
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<domain::WorkspaceService> workspaces;
  std::unique_ptr<domain::StateService> states;
  auth::Principal who;
  domain::WorkspaceScope scope{"org1", "proj1"};
  std::string ws = "ws1";

  World() {
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    // Databases of earlier runs that crashed (abort skips the cleanup) go first.
    for (const auto& entry : std::filesystem::directory_iterator(base)) {
      std::string name = entry.path().filename().string();
      if (name.rfind("statehouse-fuzz-lock-", 0) != 0) continue;
      std::string pid = name.substr(std::string("statehouse-fuzz-lock-").size());
      if (!std::filesystem::exists("/proc/" + pid)) std::filesystem::remove_all(entry.path());
    }
    dir = base + "/statehouse-fuzz-lock-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    db = storage::OpenSqlite(dir + "/fuzz.db", 1);
    db->CreateAccount({"acct", NowMillis()});
    storage::OrgRecord org;
    org.account = "acct";
    org.identifier = scope.org;
    org.name = "Org";
    db->CreateOrg(org);
    storage::ProjectRecord project;
    project.account = "acct";
    project.org = scope.org;
    project.identifier = scope.project;
    project.name = "Project";
    db->CreateProject(project);
    storage::WorkspaceRecord w;
    w.account = "acct";
    w.org = scope.org;
    w.project = scope.project;
    w.identifier = ws;
    w.name = "Workspace";
    w.status = "active";
    w.provisioner = "terraform";
    w.config_json = "{}";
    w.server_json = "{}";
    db->Workspaces().CreateWorkspace(w, nullptr);
    workspaces = std::make_unique<domain::WorkspaceService>(*db);
    states = std::make_unique<domain::StateService>(*db, *workspaces);
    who.account = "acct";
    who.token_id = "tok1";
    who.role = auth::Role::kAdmin;
  }
  ~World() { std::filesystem::remove_all(dir); }
};

World& TheWorld() {
  static World world;
  static bool cleanup = [] {
    std::atexit([] { std::filesystem::remove_all(TheWorld().dir); });
    return true;
  }();
  (void)cleanup;
  return world;
}

// The ID the body names: the last string-valued member whose key is "ID" in any letter case.
std::optional<std::string> BodyId(const json::object& body) {
  std::optional<std::string> id;
  for (const auto& kv : body)
    if (IEquals(kv.key(), "ID") && kv.value().is_string())
      id = std::string(kv.value().get_string());
  return id;
}

void CheckView(const json::object& view, const storage::LockRecord& held, const std::string& body) {
  const json::value* id = view.if_contains("ID");
  FUZZ_CHECK(id && id->is_string() && id->get_string() == held.lock_id, body);
  for (const char* f : kFields) {
    const json::value* v = view.if_contains(f);
    FUZZ_CHECK(!v || v->is_string(), std::string(f) + " in " + fuzz::Show(view));
  }
  // Nothing but LockInfo fields and the server's own: a body key that merely matches a field
  // case-insensitively must not show up under its own spelling (the CLI would decode it twice).
  for (const auto& kv : view) {
    bool known = false;
    for (const char* f : kFields) known = known || kv.key() == f;
    for (const char* f : {"manual", "reason", "locked_by_principal_id", "locked_by_principal_type",
                          "locked_by_display_name"})
      known = known || kv.key() == f;
    FUZZ_CHECK(known, "unexpected key " + std::string(kv.key()) + " in " + fuzz::Show(view));
  }
}

// LockLater / UnlockLater, waited for: what they throw before the write, or what their done
// callback gets after it.
storage::LockRecord Lock(World& w, const json::object& body) {
  std::promise<storage::LockRecord> taken;
  w.states->LockLater(w.who, w.scope, w.ws, body,
                      [&taken](std::optional<storage::LockRecord> lock, std::exception_ptr error) {
                        if (error)
                          taken.set_exception(error);
                        else
                          taken.set_value(*lock);
                      });
  return taken.get_future().get();
}

bool Unlock(World& w, const json::object& body) {
  std::promise<bool> released;
  w.states->UnlockLater(w.who, w.scope, w.ws, &body,
                        [&released](bool done, std::exception_ptr error) {
                          if (error)
                            released.set_exception(error);
                          else
                            released.set_value(done);
                        });
  return released.get_future().get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  World& w = TheWorld();
  std::string text(fuzz::AsText(data, size));

  json::value v;
  try {
    v = http::ParseJson(text);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    return 0;
  }
  if (!v.is_object()) return 0;  // "lock info must be a JSON object"
  const json::object& body = v.get_object();

  storage::LockRecord held;
  try {
    held = Lock(w, body);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, std::string(e.what()) + "\n" + text);
    // Nothing may have been locked.
    FUZZ_CHECK(!w.states->ForceUnlock(w.who, w.scope, w.ws), "a failed Lock left a lock\n" + text);
    return 0;
  }
  std::optional<std::string> id = BodyId(body);
  FUZZ_CHECK(id && *id == held.lock_id && !held.lock_id.empty(), text);

  json::object view = domain::StateService::LockView(held);
  CheckView(view, held, text);
  json::object spec =
      domain::StateService::SpecLockView(held, {w.who.account, w.scope.org, w.scope.project, w.ws});
  FUZZ_CHECK(spec.at("id") == json::value(held.lock_id), fuzz::Show(spec));
  (void)http::SerializeYaml(view);

  // A second locker is refused with the holder's info.
  try {
    json::object other{{"ID", held.lock_id == "other-locker" ? "other-locker-2" : "other-locker"},
                       {"Who", "someone@else"}};
    (void)Lock(w, other);
    fuzz::Die(__FILE__, __LINE__, "a second Lock succeeded", text);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kLocked, e.what());
    boost::system::error_code ec;
    json::value details = json::parse(e.details_json(), ec);
    FUZZ_CHECK(!ec && details.is_object(), e.details_json());
    CheckView(details.get_object(), held, text);
  }

  // Unlock with the same body releases it.
  bool released = false;
  try {
    released = Unlock(w, body);
  } catch (const Error& e) {
    w.states->ForceUnlock(w.who, w.scope, w.ws);
    fuzz::Die(__FILE__, __LINE__, "Unlock with the Lock body failed",
              std::string(e.what()) + "\n" + text);
  }
  if (!released) {
    w.states->ForceUnlock(w.who, w.scope, w.ws);
    fuzz::Die(__FILE__, __LINE__, "Unlock with the Lock body released nothing", text);
  }
  FUZZ_CHECK(!w.states->ForceUnlock(w.who, w.scope, w.ws), "still locked after Unlock\n" + text);
  return 0;
}
