// The runner: executes queued runs in the server with a fixed number of slots, one active run
// per workspace. Each run gets a fresh work directory, its source (an uploaded archive or the
// workspace's git repository), a backend override that points the provisioner at this
// server's own terraform-backend with a run-scoped token, its variables, and a log that
// clients can follow while it grows.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/auth.h"
#include "domain/runs.h"
#include "domain/state.h"
#include "domain/workspaces.h"
#include "storage/store.h"

namespace statehouse::runs {

class ChildProcess;

struct RunnerOptions {
  int slots = 2;
  std::string data_dir;  // work directories and logs live in <data_dir>/runs
  std::string terraform_bin = "terraform";
  std::string tofu_bin = "tofu";
  std::string backend_url;  // how the provisioner reaches this server, e.g. http://127.0.0.1:8080
  // With TLS the provisioner connects to this server's own loopback address, which its
  // certificate rarely names: the backend override then sets skip_cert_verification (the http
  // backend has no environment variable for it).
  bool backend_skip_cert_verification = false;
  std::string
      runner_id;  // names this server's runs (recovery after a restart touches only its own)
  std::chrono::seconds run_timeout{3600};  // per provisioner step
  uint64_t max_log_bytes = uint64_t{64} << 20;
  // Secret references ("account.db_pw") and their values, for variables of value_type secret.
  std::map<std::string, std::string> secrets;
};

class Runner : public domain::RunExecutor {
 public:
  // signals: where status changes are announced to log followers (RunService::Signals()).
  Runner(storage::Database& db, domain::WorkspaceService& workspaces, domain::StateService& states,
         domain::RunSignals& signals, RunnerOptions options);
  ~Runner() override;
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Marks this runner's runs that were in flight when the server stopped as interrupted
  // (releasing the state locks they held), then starts the slots.
  void Start();
  // Interrupts running provisioners and joins the slots.
  void Stop();

  void Wake() override;
  bool CancelRunning(const std::string& run_id) override;

  // A run token ("run.<run id>.<secret>") is valid while its run executes a step: it grants
  // the editor role on the run's project, restricted to the run's workspace. nullopt when
  // the text is not a run token; throws kUnauthenticated for one that is not valid (now).
  std::optional<auth::Principal> AuthenticateRunToken(std::string_view token) const;

  // The run's log file (it may not exist yet).
  std::string LogPath(const std::string& run_id) const;

 private:
  struct Active;  // a run this runner is executing
  struct Job {
    storage::RunRecord run;
    std::shared_ptr<Active> active;  // registered in active_ before the run was claimed
  };

  void SlotLoop();
  std::optional<Job> Claim();
  void Execute(storage::RunRecord run);
  void Recover();
  std::string CachedVersion(const std::string& bin);
  void RememberVersion(const std::string& bin, const std::string& version);
  // Queues drift checks whose time has come (at most every few seconds, from an idle slot).
  void ScheduleDriftChecks();

  storage::Database& db_;
  domain::WorkspaceService& workspaces_;
  domain::StateService& states_;
  domain::RunSignals& signals_;
  RunnerOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t wakes_ = 0;
  std::map<std::string, std::shared_ptr<Active>> active_;  // by run id
  std::vector<std::thread> slots_;
  std::chrono::steady_clock::time_point last_drift_check_{};
  std::map<std::string, std::string> versions_;  // provisioner versions by binary file

  friend class RunExecution;
};

// Counts of a plan JSON's resource_changes: add, change, destroy (a replacement counts as an
// add and a destroy), and whether anything changes at all (outputs included).
struct PlanCounts {
  int64_t add = 0;
  int64_t change = 0;
  int64_t destroy = 0;
  bool has_changes = false;
};
PlanCounts CountPlanChanges(std::string_view plan_json);

}  // namespace statehouse::runs
