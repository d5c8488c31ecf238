#include "runs/runner.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "domain/body_reader.h"
#include "runs/archive.h"
#include "runs/process.h"

namespace statehouse::runs {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace rs = domain::run_status;
using domain::ParseObjectOrEmpty;
namespace rk = domain::run_kind;

namespace {

constexpr const char* kRunTokenPrefix = "run.";

std::string StrField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The PATH the provisioner gets: the server's own.
std::string ServerPath() {
  const char* p = std::getenv("PATH");
  return p ? p : "/usr/local/bin:/usr/bin:/bin";
}

// name if it is a path to an executable, else its first executable match in PATH; "" when
// none.
std::string FindExecutable(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

// A relative path inside the work directory (repository_path).
bool SafeRelativePath(const std::string& p) {
  if (p.empty()) return true;
  if (p.front() == '/') return false;
  std::stringstream parts(p);
  std::string part;
  while (std::getline(parts, part, '/'))
    if (part == "..") return false;
  return true;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* WorkspaceStatusWhileRunning(const std::string& kind) {
  return kind == rk::kDestroy ? "destroying" : "provisioning";
}

}  // namespace

PlanCounts CountPlanChanges(std::string_view plan_json) {
  PlanCounts counts;
  boost::system::error_code ec;
  json::value doc = json::parse(plan_json, ec);
  if (ec || !doc.is_object()) return counts;
  if (const json::value* changes = doc.get_object().if_contains("resource_changes");
      changes && changes->is_array()) {
    for (const auto& rc : changes->get_array()) {
      if (!rc.is_object()) continue;
      const json::value* change = rc.get_object().if_contains("change");
      if (!change || !change->is_object()) continue;
      const json::value* actions = change->get_object().if_contains("actions");
      if (!actions || !actions->is_array()) continue;
      for (const auto& a : actions->get_array()) {
        if (!a.is_string()) continue;
        if (a.get_string() == "create") ++counts.add;
        if (a.get_string() == "update") ++counts.change;
        if (a.get_string() == "delete") ++counts.destroy;
      }
    }
  }
  counts.has_changes = counts.add + counts.change + counts.destroy > 0;
  if (const json::value* outputs = doc.get_object().if_contains("output_changes");
      outputs && outputs->is_object()) {
    for (const auto& kv : outputs->get_object()) {
      const json::value* actions =
          kv.value().is_object() ? kv.value().get_object().if_contains("actions") : nullptr;
      if (!actions || !actions->is_array()) continue;
      for (const auto& a : actions->get_array())
        if (a.is_string() && a.get_string() != "no-op") counts.has_changes = true;
    }
  }
  return counts;
}

// A run this runner is executing: its token, and the provisioner step under way.
struct Runner::Active {
  storage::RunRecord run;
  std::string token_hash;  // SHA-256 of the run token's secret
  std::shared_ptr<ChildProcess> step;
  bool cancel_requested = false;
  bool token_valid = false;
};

// One run's execution from a slot: work directory, log, steps, transitions.
class RunExecution {
 public:
  RunExecution(Runner& runner, storage::RunRecord run, std::shared_ptr<Runner::Active> active)
      : r_(runner), run_(std::move(run)), active_(std::move(active)) {
    key_ = {run_.account, run_.org, run_.project, run_.workspace};
    run_dir_ = r_.options_.data_dir + "/runs/" + run_.id;
    work_dir_ = run_dir_ + "/work";
    plan_file_ = run_dir_ + "/plan.tfplan";
    summary_ = ParseObjectOrEmpty(run_.summary_json);
    principal_.account = run_.account;
    principal_.org = run_.org;
    principal_.project = run_.project;
    principal_.role = auth::Role::kEditor;
    principal_.token_id = "run:" + run_.id;
  }

  void Go() {
    OpenLog();
    try {
      CheckCancelled();
      if (run_.status == rs::kPlanning) {
        Plan();
      } else if (run_.status == rs::kApplying) {
        Apply();
      }
    } catch (const Cancelled&) {
      // A cancelled apply may have changed part of the infrastructure.
      bool applying = run_.status == rs::kApplying;
      std::string before = StrField(summary_, "workspace_status_before");
      std::string status = applying ? "failed" : before.empty() ? "active" : before;
      bool stopping = false;
      {
        std::lock_guard<std::mutex> lock(r_.mutex_);
        stopping = r_.stopping_;
      }
      if (stopping)
        Finish(rs::kInterrupted, applying ? "failed" : status, "failed", "incomplete",
               "the server stopped while the run was " + run_.status);
      else
        Finish(rs::kCancelled, status, applying ? "failed" : "active", "incomplete",
               "the run was cancelled");
    } catch (const std::exception& e) {
      LogLine(std::string("error: ") + e.what());
      Finish(rs::kFailed, "failed", "failed", "failure", e.what());
    }
    CloseLog();
  }

 private:
  struct Cancelled {};

  // ---- log ----
  void OpenLog() {
    fs::create_directories(r_.options_.data_dir + "/runs");
    std::string path = r_.LogPath(run_.id);
    log_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd_ < 0) Fail(ErrorCode::kInternal, "cannot open the run log " + path);
    struct stat st {};
    if (::fstat(log_fd_, &st) == 0) log_size_ = static_cast<uint64_t>(st.st_size);
  }
  void CloseLog() {
    if (log_fd_ >= 0) ::close(log_fd_);
    log_fd_ = -1;
  }
  void WriteLog(std::string_view bytes) {
    if (bytes.empty() || log_fd_ < 0) return;
    if (log_size_ >= r_.options_.max_log_bytes) return;
    if (log_size_ + bytes.size() > r_.options_.max_log_bytes)
      bytes = bytes.substr(0, r_.options_.max_log_bytes - log_size_);
    while (!bytes.empty()) {
      ssize_t n = ::write(log_fd_, bytes.data(), bytes.size());
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
      log_size_ += static_cast<uint64_t>(n);
    }
  }
  void LogLine(const std::string& line) {
    SecretMasker masker(secret_values_);
    WriteLog(masker.Feed("[statehouse] " + Rfc3339Utc(NowMillis()) + " " + line + "\n") +
             masker.Flush());
  }

  // ---- transitions ----
  void Save(const std::vector<std::string>& expected) {
    run_.summary_json = json::serialize(summary_);
    run_.log_size = static_cast<int64_t>(log_size_);
    run_.updated = NowMillis();
    run_ = r_.db_.Runs().UpdateRun(run_, expected);
    r_.signals_.Set(run_.id, run_.status);
    std::lock_guard<std::mutex> lock(r_.mutex_);
    active_->run = run_;
  }
  void Event(const std::string& type, const std::string& activity_status) {
    run_.summary_json = json::serialize(summary_);  // the counts and ids known so far
    try {
      r_.db_.Runs().AddEvent(domain::RunEvent(run_, type, activity_status));
    } catch (const std::exception& e) {
      log::Warn("run event not recorded", {{"run_id", run_.id}, {"detail", e.what()}});
    }
  }
  void WorkspaceStatus(const std::string& status) {
    if (!status.empty()) r_.db_.Workspaces().SetWorkspaceStatus(key_, status);
  }
  // To a status that ends the slot's work on the run (final, or awaiting approval).
  void Finish(const char* status, const std::string& workspace_status, const std::string& event,
              const std::string& activity_status, const std::string& error = "") {
    EndToken();
    ReleaseLockIfHeld();
    if (!error.empty()) summary_["error"] = error;
    // When the server worked around the provisioner: claimed -> first process, last exit ->
    // this status (bench/ reads these).
    json::object timing{{"claimed_us", claimed_us_},
                        {"first_process_start_us", first_start_us_},
                        {"last_process_exit_us", last_exit_us_},
                        {"status_us", NowMicros()}};
    json::value& timings = summary_["timings"];
    if (!timings.is_object()) timings = json::object();
    timings.get_object()[run_.status == rs::kApplying ? "apply" : "plan"] = std::move(timing);
    claimed_us_ = NowMicros();  // an auto-applied run goes on to its apply phase
    first_start_us_ = last_exit_us_ = 0;
    std::string was = run_.status;
    run_.status = status;
    if (domain::IsFinalRunStatus(status)) run_.finished = NowMillis();
    // The last line goes first: a follower stops reading once it sees the new status.
    LogLine(std::string("run ") + status + (error.empty() ? "" : ": " + error));
    try {
      Save({was});
    } catch (const Error& e) {
      // Cancelled or discarded meanwhile through the API: that status stands.
      LogLine(std::string("(not recorded: ") + e.what() + ")");
      RemoveWorkDir();
      return;
    }
    WorkspaceStatus(workspace_status);
    Event(event, activity_status);
    if (domain::IsFinalRunStatus(status)) RemoveWorkDir();
  }
  void RemoveWorkDir() {
    std::error_code ec;
    fs::remove_all(run_dir_, ec);
  }

  // ---- the run token: valid only while a step runs ----
  std::string BeginToken() {
    std::string secret = RandomToken(40);
    std::lock_guard<std::mutex> lock(r_.mutex_);
    active_->token_hash = Sha256Hex({secret});
    active_->token_valid = true;
    return kRunTokenPrefix + run_.id + "." + secret;
  }
  void EndToken() {
    std::lock_guard<std::mutex> lock(r_.mutex_);
    active_->token_valid = false;
  }
  // A provisioner killed mid-operation leaves its state lock behind: the run's own lock goes.
  void ReleaseLockIfHeld() {
    try {
      auto lock = r_.db_.States().GetLock(key_);
      if (lock && lock->locked_by == principal_.token_id) {
        r_.db_.States().ForceUnlock(key_, "statehouse-runner");
        LogLine("released the state lock " + lock->lock_id + " the run held");
      }
    } catch (const std::exception& e) {
      log::Warn("run lock not released", {{"run_id", run_.id}, {"detail", e.what()}});
    }
  }

  // ---- provisioner processes, timed for the run's overhead figures ----
  std::shared_ptr<ChildProcess> StartChild(ProcessSpec spec) {
    // Bounds on what one run may take from the server's machine.
    spec.rlimit_cpu_seconds = static_cast<uint64_t>(r_.options_.run_timeout.count()) * 2 + 60;
    spec.rlimit_file_size = uint64_t{16} << 30;
    spec.rlimit_open_files = 8192;
    if (!first_start_us_) first_start_us_ = NowMicros();
    return ChildProcess::Start(spec);
  }
  ProcessResult RunChild(const ProcessSpec& spec,
                         const std::function<void(std::string_view)>& on_output) {
    ProcessResult r = StartChild(spec)->Wait(on_output);
    last_exit_us_ = NowMicros();
    return r;
  }

  // ---- steps ----
  ProcessResult Step(const std::string& title, std::vector<std::string> argv,
                     const std::string& cwd, std::chrono::milliseconds timeout) {
    LogLine("$ " + title);
    ProcessSpec spec;
    spec.argv = std::move(argv);
    spec.cwd = cwd;
    spec.env = env_;
    spec.timeout = timeout;
    uint64_t room =
        r_.options_.max_log_bytes > log_size_ ? r_.options_.max_log_bytes - log_size_ : 1;
    spec.max_output_bytes = room;
    std::shared_ptr<ChildProcess> child = StartChild(spec);
    {
      std::lock_guard<std::mutex> lock(r_.mutex_);
      if (active_->cancel_requested) child->Cancel();
      active_->step = child;
    }
    SecretMasker masker(secret_values_);
    ProcessResult result =
        child->Wait([&](std::string_view chunk) { WriteLog(masker.Feed(chunk)); });
    last_exit_us_ = NowMicros();
    WriteLog(masker.Flush());
    {
      std::lock_guard<std::mutex> lock(r_.mutex_);
      active_->step.reset();
    }
    if (result.cancelled) throw Cancelled{};
    if (result.timed_out)
      Fail(ErrorCode::kInternal, title + " took longer than the run time limit (" +
                                     std::to_string(r_.options_.run_timeout.count()) + " s)");
    return result;
  }
  void CheckCancelled() {
    std::lock_guard<std::mutex> lock(r_.mutex_);
    if (active_->cancel_requested) throw Cancelled{};
  }
  std::chrono::milliseconds Timeout() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(r_.options_.run_timeout);
  }

  // ---- preparation ----
  storage::WorkspaceRecord Workspace() {
    auto w = r_.db_.Workspaces().GetWorkspace(key_.account, key_.org, key_.project, key_.workspace);
    if (!w) Fail(ErrorCode::kNotFound, "workspace '" + key_.workspace + "' no longer exists");
    return *w;
  }

  void PrepareSource(const storage::WorkspaceRecord& w, const json::object& config) {
    RemoveWorkDir();
    fs::create_directories(work_dir_);
    ::chmod(run_dir_.c_str(), 0700);
    // An uploaded archive (a remote execution's, or the last applied one for a drift check).
    std::string source_sha;
    if (const json::value* src = summary_.if_contains("source"); src && src->is_object())
      source_sha = StrField(src->get_object(), "sha256");
    if (!source_sha.empty()) {
      std::string archive = run_dir_ + "/source.tar.gz";
      if (auto local = r_.db_.Blobs().LocalPath(source_sha)) {
        fs::copy_file(*local, archive, fs::copy_options::overwrite_existing);
      } else {
        std::ofstream out(archive, std::ios::binary);
        std::string bytes = r_.db_.Blobs().Read(source_sha);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
      ExtractResult x = ExtractArchive(archive, work_dir_);
      fs::remove(archive);
      LogLine("unpacked the uploaded source: " + std::to_string(x.entries) + " entries, " +
              std::to_string(x.bytes) + " bytes");
      module_dir_ = work_dir_;
      return;
    }
    std::string repo = StrField(config, "repository");
    std::string branch = StrField(config, "repository_branch");
    std::string commit = StrField(config, "repository_commit");
    std::string path = StrField(config, "repository_path");
    if (repo.empty()) Fail(ErrorCode::kInvalidArgument, "the workspace names no repository");
    if (!SafeRelativePath(path))
      Fail(ErrorCode::kInvalidArgument,
           "repository_path '" + path + "' must be relative and stay inside the repository");
    std::string git = FindExecutable("git", ServerPath());
    if (git.empty()) Fail(ErrorCode::kUnavailable, "git is not installed on the server");
    std::vector<std::string> clone = {git, "clone", "--quiet", "--no-tags"};
    if (commit.empty()) clone.insert(clone.end(), {"--depth", "1"});
    if (!branch.empty()) clone.insert(clone.end(), {"--branch", branch});
    clone.insert(clone.end(), {"--", repo, work_dir_});
    ProcessResult r = Step("git clone " + repo + (branch.empty() ? "" : " (" + branch + ")"), clone,
                           run_dir_, Timeout());
    if (r.exit_code != 0) Fail(ErrorCode::kInvalidArgument, "git clone of " + repo + " failed");
    if (!commit.empty()) {
      r = Step("git checkout " + commit,
               {git, "-c", "advice.detachedHead=false", "checkout", "--quiet", commit}, work_dir_,
               Timeout());
      if (r.exit_code != 0)
        Fail(ErrorCode::kInvalidArgument, "commit " + commit + " is not in " + repo);
    }
    // The commit the run used, for the events.
    ProcessSpec spec;
    spec.argv = {git, "rev-parse", "HEAD"};
    spec.cwd = work_dir_;
    spec.env = env_;
    std::string head;
    RunChild(spec, [&](std::string_view c) { head.append(c); });
    summary_["git_commit"] = std::string(Trim(head));
    summary_["git_repo"] = repo;
    summary_["git_branch"] = branch;
    fs::remove_all(work_dir_ + "/.git");
    module_dir_ = path.empty() ? work_dir_ : work_dir_ + "/" + path;
    if (!fs::is_directory(module_dir_))
      Fail(ErrorCode::kInvalidArgument, "repository_path '" + path + "' is not a directory");
  }

  // Environment, variables and the backend override.
  void PrepareEnvironment(const storage::WorkspaceRecord& w) {
    env_.clear();
    std::string home = run_dir_ + "/home";
    fs::create_directories(home);
    env_ = {{"PATH", ServerPath()},       {"HOME", home},
            {"TF_IN_AUTOMATION", "1"},    {"TF_INPUT", "0"},
            {"CHECKPOINT_DISABLE", "1"},  {"GIT_TERMINAL_PROMPT", "0"},
            {"GIT_CONFIG_NOSYSTEM", "1"}, {"GIT_ALLOW_PROTOCOL", "file:https:http:ssh:git"}};
    if (const char* lang = std::getenv("LANG")) env_.emplace_back("LANG", lang);
    json::object effective = r_.workspaces_.EffectiveVariables(w);
    auto value_of = [&](const json::object& v, const std::string& key) {
      std::string value = StrField(v, "value");
      if (StrField(v, "value_type") != "secret") return value;
      auto found = r_.options_.secrets.find(value);
      if (found == r_.options_.secrets.end())
        Fail(ErrorCode::kInvalidArgument,
             "variable '" + key + "' refers to secret '" + value +
                 "', which the server does not have (see --secrets-file)");
      secret_values_.push_back(found->second);
      return found->second;
    };
    if (const json::value* envs = effective.if_contains("environment_variables");
        envs && envs->is_object()) {
      for (const auto& kv : envs->get_object()) {
        if (!kv.value().is_object()) continue;
        std::string key(kv.key());
        env_.emplace_back(key, value_of(kv.value().get_object(), key));
      }
    }
    json::object tfvars;
    if (const json::value* vars = effective.if_contains("terraform_variables");
        vars && vars->is_object()) {
      for (const auto& kv : vars->get_object()) {
        if (!kv.value().is_object()) continue;
        std::string key(kv.key());
        tfvars[key] = value_of(kv.value().get_object(), key);
      }
    }
    tfvars_ = json::serialize(tfvars);
  }

  void WriteRunFiles(const std::string& token) {
    std::string address = r_.options_.backend_url + "/iacm/api/orgs/" + run_.org + "/projects/" +
                          run_.project + "/workspaces/" + run_.workspace + "/terraform-backend";
    // Backend settings come through the environment, so the token never touches the disk.
    auto set = [&](const std::string& k, const std::string& v) {
      std::erase_if(env_, [&](const auto& kv) { return kv.first == k; });
      env_.emplace_back(k, v);
    };
    set("TF_HTTP_ADDRESS", address);
    set("TF_HTTP_LOCK_ADDRESS", address + "/lock");
    set("TF_HTTP_UNLOCK_ADDRESS", address + "/lock");
    set("TF_HTTP_USERNAME", "statehouse-run");
    set("TF_HTTP_PASSWORD", token);
    secret_values_.push_back(token);
    std::ofstream(module_dir_ + "/zz_statehouse_backend_override.tf")
        << "# Written by Statehouse for run " << run_.id
        << ": state lives in the workspace's backend.\nterraform {\n  backend \"http\" {"
        << (r_.options_.backend_skip_cert_verification
                ? "\n    # This server's own loopback address, which its certificate rarely "
                  "names.\n"
                  "    skip_cert_verification = true\n  "
                : "")
        << "}\n}\n";
    if (tfvars_ != "{}")
      std::ofstream(module_dir_ + "/zz_statehouse.auto.tfvars.json") << tfvars_ << "\n";
  }

  std::string Provisioner(const storage::WorkspaceRecord& w, const json::object& config) {
    bool tofu = w.provisioner == "opentofu";
    std::string name = tofu ? r_.options_.tofu_bin : r_.options_.terraform_bin;
    std::string bin = FindExecutable(name, ServerPath());
    if (bin.empty())
      Fail(ErrorCode::kUnavailable, std::string(tofu ? "OpenTofu" : "Terraform") + " binary '" +
                                        name + "' not found on the server (" +
                                        (tofu ? "--tofu-bin" : "--terraform-bin") + ")");
    summary_["provisioner"] = tofu ? "opentofu" : "terraform";
    std::string wanted = StrField(config, "provisioner_version");
    std::string have = r_.CachedVersion(bin);
    if (have.empty()) {
      std::string version;
      ProcessSpec spec;
      spec.argv = {bin, "version", "-json"};
      spec.cwd = run_dir_;
      spec.env = env_;
      spec.timeout = std::chrono::seconds(30);
      RunChild(spec, [&](std::string_view c) { version.append(c); });
      boost::system::error_code ec;
      json::value v = json::parse(version, ec);
      have = !ec && v.is_object() ? StrField(v.get_object(), "terraform_version") : "";
      r_.RememberVersion(bin, have);
    }
    summary_["provisioner_version"] = have;
    LogLine("provisioner " + bin + " " + (have.empty() ? "(version unknown)" : have));
    if (!wanted.empty() && wanted != "latest" && !have.empty() && wanted != have)
      LogLine("warning: the workspace asks for version " + wanted + " but the server has " + have +
              " (binaries are not downloaded)");
    return bin;
  }

  std::vector<std::string> CustomArguments() {
    std::vector<std::string> out;
    if (run_.remote_execution_id.empty()) return out;
    auto e = r_.db_.Runs().GetRemoteExecution(key_, run_.remote_execution_id);
    if (!e) return out;
    json::object args = ParseObjectOrEmpty(e->custom_arguments_json);
    for (const auto& kv : args) {
      if (!kv.value().is_array()) continue;
      for (const auto& v : kv.value().get_array())
        if (v.is_string()) out.push_back(std::string(kv.key()) + "=" + std::string(v.get_string()));
    }
    return out;
  }

  // ---- plan ----
  void Plan() {
    LogLine("run " + run_.id + " (" + run_.kind + ") started on workspace " + run_.workspace);
    storage::WorkspaceRecord w = Workspace();
    json::object config = ParseObjectOrEmpty(w.config_json);
    summary_["workspace_status_before"] = w.status;
    if (run_.kind != rk::kDrift && run_.kind != rk::kPlan) {
      WorkspaceStatus(WorkspaceStatusWhileRunning(run_.kind));
      Event(WorkspaceStatusWhileRunning(run_.kind), "incomplete");
    }
    PrepareEnvironment(w);
    PrepareSource(w, config);
    summary_["module_dir"] = module_dir_;  // the apply after approval runs there again
    CheckCancelled();
    std::string bin = Provisioner(w, config);
    std::string token = BeginToken();
    WriteRunFiles(token);
    ProcessResult init = Step(
        summary_["provisioner"].as_string().c_str() + std::string(" init -input=false -no-color"),
        {bin, "init", "-input=false", "-no-color"}, module_dir_, Timeout());
    if (init.exit_code != 0) Fail(ErrorCode::kInvalidArgument, "init failed");
    CheckCancelled();
    std::vector<std::string> plan = {
        bin, "plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=" + plan_file_};
    if (run_.kind == rk::kDestroy) plan.push_back("-destroy");
    if (run_.kind == rk::kDrift || run_.kind == rk::kRefresh) plan.push_back("-refresh-only");
    for (auto& a : CustomArguments()) plan.push_back(std::move(a));
    std::string title;
    for (size_t i = 1; i < plan.size(); ++i) title += (i > 1 ? " " : "") + plan[i];
    ProcessResult pr = Step(std::string(summary_["provisioner"].as_string()) + " " + title, plan,
                            module_dir_, Timeout());
    if (pr.exit_code != 0 && pr.exit_code != 2) Fail(ErrorCode::kInvalidArgument, "plan failed");
    CheckCancelled();
    EndToken();

    // The plan as JSON and as text, stored as workspace data.
    std::string plan_json = ShowPlan(bin, true);
    std::string plan_text = ShowPlan(bin, false);
    PlanCounts counts = CountPlanChanges(plan_json);
    if (pr.exit_code == 2) counts.has_changes = true;
    summary_["has_changes"] = counts.has_changes;
    summary_["resource_changes"] =
        json::object{{"add", counts.add}, {"change", counts.change}, {"destroy", counts.destroy}};
    LogLine("plan: " + std::to_string(counts.add) + " to add, " + std::to_string(counts.change) +
            " to change, " + std::to_string(counts.destroy) + " to destroy");
    domain::PolicyDecision decision;
    domain::CostOutcome cost;
    storage::DataRecord human = StoreData("plan_human", plan_text, nullptr);
    storage::DataRecord json_data = StoreData("plan_json", plan_json, &decision, &cost);
    summary_["plan_data_id"] = json_data.id;
    summary_["plan_human_data_id"] = human.id;
    if (decision.evaluated) {
      summary_["policy"] = json::object{{"status", decision.StatusName()},
                                        {"evaluation_id", decision.evaluation_id},
                                        {"message", decision.Message()}};
      LogLine(std::string("plan policies: ") + decision.StatusName() +
              (decision.Message().empty() ? "" : "\n" + decision.Message()));
    }
    RecordCost(cost);
    Event("plan", "success");

    if (decision.evaluated && decision.Blocked()) {
      Finish(rs::kPolicyFailed, "failed", "failed", "failure",
             "a plan policy denied the plan; nothing was applied");
      return;
    }
    if (cost.decision.evaluated && cost.decision.Blocked()) {
      Finish(rs::kPolicyFailed, "failed", "failed", "failure",
             "a cost policy denied the plan; nothing was applied");
      return;
    }
    const std::string before = StrField(summary_, "workspace_status_before");
    if (run_.kind == rk::kDrift) {
      if (counts.has_changes)
        Finish(rs::kDrifted, "drifted", "drifted", "success");
      else
        Finish(rs::kNoDrift, "active", "active", "success");
      return;
    }
    if (run_.kind == rk::kPlan) {
      Finish(rs::kPlanned, "", "stage-complete", "success");
      return;
    }
    if (!counts.has_changes) {
      Finish(rs::kPlanned, before.empty() ? "active" : before, "active", "success");
      return;
    }
    if (run_.auto_apply) {
      Finish(rs::kApproved, "", "stage-complete", "success");
      run_.approved_by = "auto-apply";
      run_.status = rs::kApplying;
      run_.updated = NowMillis();
      run_ = r_.db_.Runs().UpdateRun(run_, {rs::kApproved});
      r_.signals_.Set(run_.id, run_.status);
      Apply();
      return;
    }
    Finish(rs::kAwaitingApproval, "apply_needed", "apply_needed", "success");
  }

  std::string ShowPlan(const std::string& bin, bool as_json) {
    ProcessSpec spec;
    spec.argv = {bin, "show", "-no-color"};
    if (as_json) spec.argv.push_back("-json");
    spec.argv.push_back(plan_file_);
    spec.cwd = module_dir_;
    spec.env = env_;
    spec.timeout = Timeout();
    std::string out;
    ProcessResult r = RunChild(spec, [&](std::string_view c) { out.append(c); });
    if (r.exit_code != 0)
      Fail(ErrorCode::kInternal, std::string("show") + (as_json ? " -json" : "") + " failed");
    // Secrets passed as variables must not reach stored data either.
    SecretMasker masker(secret_values_);
    return masker.Feed(out) + masker.Flush();
  }

  // The plan's cost estimate in the log, the run's summary and so its events.
  void RecordCost(const domain::CostOutcome& cost) {
    if (!cost.estimated) {
      if (!cost.error.empty()) LogLine("cost estimate: none (" + cost.error + ")");
      return;
    }
    summary_["cost_estimate"] = cost.ToJson();
    summary_["cost_breakdown_id"] = cost.breakdown_id;
    summary_["cost_diff_id"] = cost.diff_id;
    std::string line = "cost estimate: " + cost.total_monthly + " " + cost.currency + " a month (" +
                       cost.diff_total_monthly + " against " + cost.past_total_monthly + " before)";
    if (!cost.monthly_budget.empty())
      line += cost.over_budget ? "; over the workspace budget of " + cost.monthly_budget
                               : "; within the workspace budget of " + cost.monthly_budget;
    LogLine(line);
    if (cost.decision.evaluated)
      LogLine(std::string("cost policies: ") + cost.decision.StatusName() +
              (cost.decision.Message().empty() ? "" : "\n" + cost.decision.Message()));
  }

  storage::DataRecord StoreData(const std::string& type, const std::string& bytes,
                                domain::PolicyDecision* decision,
                                domain::CostOutcome* cost = nullptr) {
    std::string file = r_.options_.data_dir + "/tmp/run-" + run_.id + "-" + type;
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out) Fail(ErrorCode::kInternal, "cannot write " + file);
    }
    domain::Upload upload{file, bytes.size(), std::nullopt};
    storage::DataRecord meta;
    meta.data_type = type;
    meta.pipeline_execution_id = run_.pipeline_execution_id;
    meta.provisioner_type = "tf";
    storage::DataRecord stored =
        r_.states_.CreateData(principal_, {run_.org, run_.project}, run_.workspace, upload, meta,
                              "afterTerraformPlan", decision, cost);
    std::error_code ec;
    fs::remove(file, ec);
    return stored;
  }

  // ---- apply ----
  void Apply() {
    if (!fs::exists(plan_file_))
      Fail(ErrorCode::kInternal, "the saved plan is gone (was the data directory cleaned?)");
    storage::WorkspaceRecord w = Workspace();
    json::object config = ParseObjectOrEmpty(w.config_json);
    run_.started = run_.started ? run_.started : NowMillis();
    WorkspaceStatus(WorkspaceStatusWhileRunning(run_.kind));
    PrepareEnvironment(w);
    module_dir_ = StrField(summary_, "module_dir");
    if (module_dir_.empty() || !fs::is_directory(module_dir_))
      Fail(ErrorCode::kInternal, "the run's work directory is gone");
    std::string bin = Provisioner(w, config);
    std::string token = BeginToken();
    WriteRunFiles(token);
    ProcessResult ar =
        Step(std::string(summary_["provisioner"].as_string()) +
                 " apply -input=false -no-color plan.tfplan",
             {bin, "apply", "-input=false", "-no-color", plan_file_}, module_dir_, Timeout());
    EndToken();
    if (ar.exit_code != 0) Fail(ErrorCode::kInvalidArgument, "apply failed");
    if (auto newest = r_.db_.States().NewestState(key_)) {
      summary_["state_data_id"] = newest->id;
      summary_["state_sha256"] = newest->sha256;
    }
    bool destroyed = run_.kind == rk::kDestroy;
    Finish(rs::kApplied, destroyed ? "inactive" : "active", destroyed ? "inactive" : "active",
           "success");
  }

  friend class Runner;
  Runner& r_;
  storage::RunRecord run_;
  std::shared_ptr<Runner::Active> active_;
  storage::WorkspaceKey key_;
  auth::Principal principal_;
  std::string run_dir_, work_dir_, module_dir_, plan_file_;
  json::object summary_;
  std::vector<std::pair<std::string, std::string>> env_;
  std::vector<std::string> secret_values_;
  std::string tfvars_ = "{}";
  int log_fd_ = -1;
  uint64_t log_size_ = 0;
  int64_t claimed_us_ = NowMicros();
  int64_t first_start_us_ = 0;
  int64_t last_exit_us_ = 0;
};

// ---------------------------------------------------------------------------------------

Runner::Runner(storage::Database& db, domain::WorkspaceService& workspaces,
               domain::StateService& states, domain::RunSignals& signals, RunnerOptions options)
    : db_(db),
      workspaces_(workspaces),
      states_(states),
      signals_(signals),
      options_(std::move(options)) {
  if (options_.slots < 1) options_.slots = 1;
}

Runner::~Runner() { Stop(); }

// A binary's version, remembered while the file stays the same (path, size, change time):
// asking costs a provisioner start per run otherwise.
namespace {
std::string BinaryKey(const std::string& bin) {
  struct stat st {};
  if (::stat(bin.c_str(), &st) != 0) return "";
  return bin + "\n" + std::to_string(st.st_size) + "\n" + std::to_string(st.st_ctim.tv_sec) + "." +
         std::to_string(st.st_ctim.tv_nsec);
}
}  // namespace

std::string Runner::CachedVersion(const std::string& bin) {
  std::string key = BinaryKey(bin);
  if (key.empty()) return "";
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = versions_.find(key);
  return it == versions_.end() ? "" : it->second;
}

void Runner::RememberVersion(const std::string& bin, const std::string& version) {
  std::string key = BinaryKey(bin);
  if (version.empty() || key.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (versions_.size() > 64) versions_.clear();
  versions_[key] = version;
}

std::string Runner::LogPath(const std::string& run_id) const {
  return domain::RunLogPath(options_.data_dir, run_id);
}

void Runner::Start() {
  fs::create_directories(options_.data_dir + "/runs");
  Recover();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  for (int i = 0; i < options_.slots; ++i) slots_.emplace_back([this] { SlotLoop(); });
}

void Runner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (slots_.empty()) return;
    stopping_ = true;
    for (auto& [id, active] : active_) {
      active->cancel_requested = true;
      if (active->step) active->step->Cancel();
    }
  }
  wake_.notify_all();
  for (auto& t : slots_) t.join();
  slots_.clear();
}

void Runner::Wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++wakes_;
  }
  wake_.notify_all();
}

bool Runner::CancelRunning(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = active_.find(run_id);
  if (it == active_.end()) return false;
  it->second->cancel_requested = true;
  if (it->second->step) it->second->step->Cancel();
  return true;
}

std::optional<auth::Principal> Runner::AuthenticateRunToken(std::string_view token) const {
  if (token.rfind(kRunTokenPrefix, 0) != 0) return std::nullopt;
  std::string_view rest = token.substr(std::string_view(kRunTokenPrefix).size());
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) Fail(ErrorCode::kUnauthenticated, "malformed run token");
  std::string id(rest.substr(0, dot));
  std::string hash = Sha256Hex({rest.substr(dot + 1)});
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = active_.find(id);
  bool ok = it != active_.end() && it->second->token_valid &&
            it->second->token_hash.size() == hash.size() &&
            CRYPTO_memcmp(hash.data(), it->second->token_hash.data(), hash.size()) == 0;
  if (!ok) Fail(ErrorCode::kUnauthenticated, "the run token is not valid (the run step ended)");
  const storage::RunRecord& run = it->second->run;
  auth::Principal p;
  p.account = run.account;
  p.org = run.org;
  p.project = run.project;
  p.role = auth::Role::kEditor;
  p.token_id = "run:" + run.id;
  p.name = "run " + std::to_string(run.number);
  p.workspace = run.workspace;
  return p;
}

void Runner::Recover() {
  std::vector<storage::RunRecord> stuck =
      db_.Runs().RunsInStatus({rs::kPlanning, rs::kApplying}, 10000);
  for (auto& run : stuck) {
    json::object summary = ParseObjectOrEmpty(run.summary_json);
    if (StrField(summary, "runner") != options_.runner_id) continue;
    storage::WorkspaceKey key{run.account, run.org, run.project, run.workspace};
    std::string was = run.status;
    summary["error"] = "the server stopped while the run was " + was;
    run.summary_json = json::serialize(summary);
    run.status = rs::kInterrupted;
    run.updated = run.finished = NowMillis();
    try {
      run = db_.Runs().UpdateRun(run, {was});
      signals_.Set(run.id, run.status);
    } catch (const Error&) {
      continue;
    }
    try {
      auto lock = db_.States().GetLock(key);
      if (lock && lock->locked_by == "run:" + run.id)
        db_.States().ForceUnlock(key, "statehouse-runner");
      db_.Workspaces().SetWorkspaceStatus(key, "failed");
      db_.Runs().AddEvent(domain::RunEvent(run, "failed", "failure"));
    } catch (const std::exception& e) {
      log::Warn("recovering an interrupted run", {{"run_id", run.id}, {"detail", e.what()}});
    }
    std::error_code ec;
    fs::remove_all(options_.data_dir + "/runs/" + run.id, ec);
    std::ofstream(LogPath(run.id), std::ios::app)
        << "[statehouse] " << Rfc3339Utc(NowMillis())
        << " run interrupted: the server stopped while it was " << was << "\n";
    log::Warn("run interrupted by a restart", {{"run_id", run.id}, {"status", was}});
  }
}

// The next run to work on: an approved run, or the oldest queued run of a workspace whose
// older runs have all ended. Claimed with a compare-and-set, so replicas never share one.
std::optional<Runner::Job> Runner::Claim() {
  std::vector<storage::RunRecord> active =
      db_.Runs().RunsInStatus(domain::ActiveRunStatuses(), 5000);
  // The oldest active run of each workspace holds it.
  std::map<std::string, const storage::RunRecord*> holder;
  for (const auto& run : active) {
    std::string key = run.account + "\n" + run.org + "\n" + run.project + "\n" + run.workspace;
    auto [it, inserted] = holder.emplace(key, &run);
    if (!inserted && run.number < it->second->number) it->second = &run;
  }
  std::vector<const storage::RunRecord*> candidates;
  for (const auto& [key, run] : holder)
    if (run->status == rs::kQueued || run->status == rs::kApproved) candidates.push_back(run);
  std::sort(candidates.begin(), candidates.end(),
            [](const auto* a, const auto* b) { return a->updated < b->updated; });
  for (const auto* candidate : candidates) {
    storage::RunRecord run = *candidate;
    // Known as executing here before the status says so: a cancel in between reaches it.
    // Checked and registered in one step, so two slots never take the same run.
    auto active = std::make_shared<Active>();
    active->run = run;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!active_.emplace(run.id, active).second) continue;
    }
    std::string was = run.status;
    run.status = was == rs::kQueued ? rs::kPlanning : rs::kApplying;
    run.updated = NowMillis();
    if (was == rs::kQueued) run.started = run.updated;
    json::object summary = ParseObjectOrEmpty(run.summary_json);
    summary["runner"] = options_.runner_id;
    run.summary_json = json::serialize(summary);
    try {
      run = db_.Runs().UpdateRun(run, {was});
      signals_.Set(run.id, run.status);
    } catch (const Error&) {
      std::lock_guard<std::mutex> lock(mutex_);
      active_.erase(run.id);  // ours: the emplace above succeeded
      continue;               // taken or changed meanwhile (another replica)
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      active->run = run;
    }
    return Job{std::move(run), std::move(active)};
  }
  return std::nullopt;
}

void Runner::ScheduleDriftChecks() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (now - last_drift_check_ < std::chrono::seconds(2)) return;
    last_drift_check_ = now;
  }
  int64_t now = NowMillis();
  for (auto& config : db_.Runs().DueDriftConfigs(now, 100)) {
    storage::WorkspaceKey key{config.account, config.org, config.project, config.workspace};
    // The next check is due one interval later, whatever happens to this one.
    config.next_run = now + domain::DriftIntervalMillis(config.run_every, config.run_every_unit);
    config.updated = now;
    db_.Runs().PutDriftConfig(config);
    auto w = db_.Workspaces().GetWorkspace(key.account, key.org, key.project, key.workspace);
    if (!w) continue;
    storage::RunListQuery busy;
    busy.statuses = domain::ActiveRunStatuses();
    busy.page.limit = 1;
    if (db_.Runs().ListRuns(key, busy).total > 0) {
      log::Info("drift check skipped: the workspace has an active run",
                {{"workspace", key.workspace}});
      continue;
    }
    // The source: the workspace's repository, else the archive of its last applied run.
    json::object source;
    json::object config_doc = ParseObjectOrEmpty(w->config_json);
    std::string repo = StrField(config_doc, "repository");
    if (!repo.empty()) {
      source = {{"type", "repository"}, {"repository", repo}};
    } else {
      storage::RunListQuery applied;
      applied.statuses = {rs::kApplied};
      applied.page.limit = 1;
      auto last = db_.Runs().ListRuns(key, applied);
      json::object last_summary =
          last.items.empty() ? json::object() : ParseObjectOrEmpty(last.items[0].summary_json);
      const json::value* src = last_summary.if_contains("source");
      std::string sha = src && src->is_object() ? StrField(src->get_object(), "sha256") : "";
      if (sha.empty()) {
        log::Warn("drift check skipped: the workspace has no repository and no applied run",
                  {{"workspace", key.workspace}});
        continue;
      }
      source = {{"type", "archive"}, {"sha256", sha}};
    }
    storage::RunRecord run;
    run.account = key.account;
    run.org = key.org;
    run.project = key.project;
    run.workspace = key.workspace;
    run.id = RandomUuid();
    run.kind = rk::kDrift;
    run.status = rs::kQueued;
    run.message = "scheduled drift check (every " + std::to_string(config.run_every) + " " +
                  config.run_every_unit + ")";
    run.created_by = "drift-schedule";
    run.pipeline_execution_id = run.id;
    run.created = run.updated = now;
    run.summary_json = json::serialize(json::object{{"source", source}});
    try {
      db_.Runs().CreateRun(run, nullptr);
      signals_.Set(run.id, run.status);
      log::Info("drift check queued", {{"workspace", key.workspace}, {"run_id", run.id}});
      Wake();
    } catch (const std::exception& e) {
      log::Warn("drift check not queued", {{"workspace", key.workspace}, {"detail", e.what()}});
    }
  }
}

void Runner::SlotLoop() {
  for (;;) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      seen = wakes_;
    }
    std::optional<Job> job;
    try {
      job = Claim();
    } catch (const std::exception& e) {
      log::Warn("runner could not read the queue", {{"detail", e.what()}});
    }
    if (job) {
      try {
        RunExecution(*this, job->run, job->active).Go();
      } catch (const std::exception& e) {
        log::Error("run failed outside its steps", {{"run_id", job->run.id}, {"detail", e.what()}});
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        active_.erase(job->run.id);
        ++wakes_;  // the workspace may have queued runs
      }
      wake_.notify_all();
      continue;
    }
    try {
      ScheduleDriftChecks();
    } catch (const std::exception& e) {
      log::Warn("drift schedule not read", {{"detail", e.what()}});
    }
    std::unique_lock<std::mutex> lock(mutex_);
    // Also polls now and then: other replicas queue runs, and drift checks come due.
    wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || wakes_ != seen; });
  }
}

}  // namespace statehouse::runs
