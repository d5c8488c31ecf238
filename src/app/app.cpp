#include "app/app.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "api/audit.h"
#include "api/routes.h"
#include "app/process_metrics.h"
#include "common/error.h"
#include "common/log.h"
#include "common/metrics.h"
#include "cost/catalog.h"
#include "domain/credentials.h"
#include "domain/retention.h"
#include "http/router.h"
#include "http/server.h"
#include "runs/runner.h"
#include "storage/postgres/pg_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace statehouse::app {

namespace {

// staleness_ms: PostgreSQL's cache bound (Config::replica_staleness_ms); 0 caches nothing, as
// one-off commands need.
std::unique_ptr<storage::Database> OpenDatabase(const Config& config, size_t pool_size,
                                                int staleness_ms = 0) {
  DatabaseTarget target = ResolveDatabase(config.database, config.data_dir);
  if (target.kind == DatabaseKind::kPostgres)
    return storage::OpenPostgres(target.location, config.data_dir + "/cache", pool_size,
                                 std::chrono::milliseconds(staleness_ms));
  std::filesystem::path parent = std::filesystem::path(target.location).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  return storage::OpenSqlite(target.location, pool_size);
}

// One server per SQLite database: its caches trust that no other process changes the data
// (PostgreSQL is the way to run several). The lock lives as long as the process; the kernel
// drops it when the process dies, however it dies.
void LockSqliteDatabase(const DatabaseTarget& target) {
  if (target.kind != DatabaseKind::kSqlite) return;
  std::filesystem::path parent = std::filesystem::path(target.location).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::string path = target.location + ".server-lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) Fail(ErrorCode::kUnavailable, "cannot create " + path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    Fail(ErrorCode::kUnavailable, "another statehouse server is using " + target.location +
                                      " (one server per SQLite database; use PostgreSQL to "
                                      "run several)");
  }
  // Deliberately never closed.
}

// Retention and sweep settings from the configuration; kInvalidArgument on negative values.
domain::GcOptions GcOptionsOf(const Config& config) {
  if (config.state_versions_keep < 0 || config.state_versions_max_age_days < 0 ||
      config.gc_interval_seconds < 0 || config.gc_grace_seconds < 1)
    Fail(ErrorCode::kInvalidArgument,
         "--state-versions-keep, --state-versions-max-age-days and --gc-interval-seconds must "
         "not be negative, --gc-grace-seconds must be positive");
  domain::GcOptions o;
  o.defaults.keep_versions = config.state_versions_keep;
  o.defaults.max_age_days = config.state_versions_max_age_days;
  o.grace_seconds = config.gc_grace_seconds;
  o.temp_dirs = {config.data_dir + "/tmp"};
  return o;
}

void PrepareDataDir(const std::string& dir) {
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
}

// Written with O_EXCL after unlinking, so the token never sits in a file with wider mode.
void WriteTokenFile(const std::string& path, const std::string& token) {
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) Fail(ErrorCode::kInternal, "cannot create " + path);
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) Fail(ErrorCode::kInternal, "cannot write " + path);
}

// Secret references and values for run variables: a JSON object of strings in a file only its
// owner may read.
std::map<std::string, std::string> LoadSecrets(const std::string& path) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    Fail(ErrorCode::kInvalidArgument, "--secrets-file: cannot read " + path);
  if ((st.st_mode & 077) != 0)
    Fail(ErrorCode::kInvalidArgument,
         "--secrets-file: " + path + " must not be readable by group or others (chmod 600)");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text.str(), ec);
  if (ec || !v.is_object())
    Fail(ErrorCode::kInvalidArgument, "--secrets-file: " + path + " must hold a JSON object");
  for (const auto& kv : v.get_object()) {
    if (!kv.value().is_string())
      Fail(ErrorCode::kInvalidArgument,
           "--secrets-file: the value of '" + std::string(kv.key()) + "' must be a string");
    out[std::string(kv.key())] = std::string(kv.value().get_string());
  }
  return out;
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "statehouse";
  return name;
}

// The shipped prices, then the operator's imported catalog files over them. A bad file stops
// the start: estimating with half a catalog would be quietly wrong.
cost::PriceCatalog LoadPriceCatalog(const Config& config) {
  auto started = std::chrono::steady_clock::now();
  cost::PriceCatalog catalog = cost::PriceCatalog::Shipped();
  std::string dir = config.pricing_dir.empty() ? config.data_dir + "/pricing" : config.pricing_dir;
  catalog.AddDirectory(dir);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
  std::string files;
  for (const auto& s : catalog.sources())
    files += (files.empty() ? "" : ", ") + s.origin + " (" + s.effective_date + ")";
  log::Info("price catalog loaded", {{"prices", std::to_string(catalog.size())},
                                     {"files", files},
                                     {"load_ms", std::to_string(micros / 1000.0)}});
  return catalog;
}

// GET /metrics in Prometheus' text format: server-wide figures (no account's names or ids).
http::Route MetricsRoute(metrics::Registry& registry, http::Access access) {
  return {"GET", "/metrics", access, [&registry](http::Context&) {
            http::Reply reply;
            reply.raw_body = registry.Render();
            reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
            return reply;
          }};
}

int ReportFailure(const std::exception& e) {
  std::cerr << "statehouse: " << e.what() << "\n";
  return 1;
}

}  // namespace

int Serve(const Config& config) {
  // A peer that goes away mid-response must cost an error code, not the process
  // (sendfile(2) has no MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  try {
    log::Level level;
    if (!log::ParseLevel(config.log_level, level))
      Fail(ErrorCode::kInvalidArgument, "--log-level: expected debug, info, warn, error or off");
    log::SetLevel(level);
    ListenAddress listen = ParseListen(config.listen);
    if (config.max_body_bytes < 1024)
      Fail(ErrorCode::kInvalidArgument, "--max-body-bytes: must be at least 1024");
    PrepareDataDir(config.data_dir);
    DatabaseTarget target = ResolveDatabase(config.database, config.data_dir);
    LockSqliteDatabase(target);
    int workers = config.worker_threads > 0 ? config.worker_threads : 8;
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    if (cores <= 0) cores = 2;
    bool on_postgres = target.kind == DatabaseKind::kPostgres;
    // PostgreSQL reads wait on a round trip, SQLite reads on nothing but the CPU.
    int readers = config.read_threads > 0 ? config.read_threads : on_postgres ? workers : cores;
    if (config.replica_staleness_ms < 0 || config.replica_staleness_ms > 60000)
      Fail(ErrorCode::kInvalidArgument, "replica-staleness-ms must be between 0 and 60000");
    auto db =
        OpenDatabase(config, static_cast<size_t>(workers + readers), config.replica_staleness_ms);

    if (auto token = domain::BootstrapIfEmpty(*db)) {
      std::string path = config.data_dir + "/admin.token";
      WriteTokenFile(path, *token);
      std::cout << "Created account 'default' with an admin token (shown once; also saved to "
                << path << "):\n"
                << *token << std::endl;
    }

    for (int v : {config.header_timeout_seconds, config.idle_timeout_seconds,
                  config.body_timeout_seconds, config.max_connections})
      if (v <= 0)
        Fail(ErrorCode::kInvalidArgument, "timeouts and --max-connections must be positive");
    api::Services services(*db, static_cast<size_t>(config.max_state_bytes));
    cost::PriceCatalog catalog = LoadPriceCatalog(config);
    services.states.SetPriceCatalog(&catalog);
    metrics::Registry registry;
    services.states.SetMetrics(&registry);
    AddProcessCollector(registry);
    AddDatabaseMetrics(registry, *db);
    http::Router router;
    api::RegisterAllRoutes(router, services);
    router.Add(MetricsRoute(registry, http::Access::kAdmin));
    api::RegisterUiRoutes(router, config.ui_dir);
    // The runner starts once the port is known; its tokens work from then on.
    std::atomic<runs::Runner*> runner_ref{nullptr};
    http::DispatcherOptions dispatch_options;
    dispatch_options.default_body_limit = static_cast<size_t>(config.max_body_bytes);
    dispatch_options.commit_counter = db->CommitCounter();
    dispatch_options.credentials_counter = db->CredentialsCounter();
    dispatch_options.run_tokens =
        [&runner_ref](std::string_view token) -> std::optional<auth::Principal> {
      runs::Runner* r = runner_ref.load();
      return r ? r->AuthenticateRunToken(token) : std::nullopt;
    };
    dispatch_options.audit = api::AuditHook(services.audit);
    http::Dispatcher dispatcher(router, *db, dispatch_options);
    AddCacheCollector(registry, dispatcher);

    http::ServerOptions options;
    options.host = listen.host;
    options.port = listen.port;
    options.io_threads = config.io_threads > 0 ? config.io_threads : cores;
    options.read_threads = readers;
    options.write_threads = workers;
    options.reads_wait = on_postgres;
    options.header_timeout = std::chrono::seconds(config.header_timeout_seconds);
    options.idle_timeout = std::chrono::seconds(config.idle_timeout_seconds);
    options.body_timeout = std::chrono::seconds(config.body_timeout_seconds);
    options.max_connections = static_cast<size_t>(config.max_connections);
    // Each connection is a descriptor: take the hard limit, and keep head-room below it for
    // the database, spool files and blobs being sent.
    struct rlimit files {};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
      files.rlim_cur = files.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &files);
      ::getrlimit(RLIMIT_NOFILE, &files);
      if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur > 256 &&
          options.max_connections > files.rlim_cur - 256) {
        options.max_connections = files.rlim_cur - 256;
        log::Warn("connection limit lowered to fit the descriptor limit",
                  {{"max_connections", static_cast<int64_t>(options.max_connections)}});
      }
    }
    // Spooled uploads live beside the data so a rename into the blob store stays on one disk.
    options.spool_dir = config.data_dir + "/tmp";
    if (config.tls_cert.empty() != config.tls_key.empty())
      Fail(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together");
    options.tls_cert_file = config.tls_cert;
    options.tls_key_file = config.tls_key;
    std::filesystem::remove_all(options.spool_dir);  // leftovers of a crash mid-upload
    std::filesystem::create_directories(options.spool_dir);
    options.metrics = &registry;
    http::Server server(options, dispatcher);
    uint16_t port = server.Bind();
    // --metrics-listen: /metrics without a token on a port of its own (for a scraper on a
    // private network), served by its own small listener.
    http::Router metrics_router;
    metrics_router.Add(MetricsRoute(registry, http::Access::kPublic));
    http::Dispatcher metrics_dispatcher(metrics_router, *db, http::DispatcherOptions{});
    std::unique_ptr<http::Server> metrics_server;
    std::thread metrics_thread;
    if (!config.metrics_listen.empty()) {
      ListenAddress where = ParseListen(config.metrics_listen);
      http::ServerOptions mo;
      mo.host = where.host;
      mo.port = where.port;
      mo.io_threads = 1;
      mo.read_threads = 1;
      mo.write_threads = 1;
      mo.spool_dir = options.spool_dir;
      metrics_server = std::make_unique<http::Server>(mo, metrics_dispatcher);
      uint16_t metrics_port = metrics_server->Bind();
      log::Info("metrics listening", {{"host", where.host}, {"port", metrics_port}});
      metrics_thread = std::thread([&metrics_server] { metrics_server->Run(); });
    }
    if (config.runner_slots < 1 || config.run_timeout_seconds < 1)
      Fail(ErrorCode::kInvalidArgument,
           "--runner-slots and --run-timeout-seconds must be positive");
    runs::RunnerOptions runner_options;
    runner_options.slots = config.runner_slots;
    runner_options.data_dir = config.data_dir;
    runner_options.terraform_bin = config.terraform_bin;
    runner_options.tofu_bin = config.tofu_bin;
    runner_options.run_timeout = std::chrono::seconds(config.run_timeout_seconds);
    runner_options.secrets = LoadSecrets(config.secrets_file);
    runner_options.runner_id = config.runner_id.empty() ? HostName() : config.runner_id;
    // The provisioner reaches the server on loopback when it listens on every address.
    std::string host = listen.host;
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    runner_options.backend_url =
        (options.Tls() ? "https://" : "http://") + host + ":" + std::to_string(port);
    runner_options.backend_skip_cert_verification = options.Tls();
    runs::Runner runner(*db, services.workspaces, services.states, services.runs.Signals(),
                        runner_options);
    services.runs.SetDataDir(config.data_dir);
    services.runs.SetExecutor(&runner);
    runner_ref.store(&runner);
    runner.Start();
    // Retention and blob garbage collection, every --gc-interval-seconds.
    domain::GarbageCollector collector(*db, GcOptionsOf(config));
    collector.SetMetrics(&registry);
    collector.Start(std::chrono::seconds(config.gc_interval_seconds));
    log::Info("listening", {{"host", listen.host},
                            {"port", port},
                            {"tls", options.Tls()},
                            {"database", db->BackendName()},
                            {"data_dir", config.data_dir}});
    server.Run();
    collector.Stop();
    if (metrics_server) {
      metrics_server->Stop();
      metrics_thread.join();
    }
    runner.Stop();
    runner_ref.store(nullptr);
    services.runs.SetExecutor(nullptr);
    services.audit.Stop();  // stores the records still queued
    return 0;
  } catch (const std::exception& e) {
    log::Error("startup failed", {{"detail", e.what()}});
    return ReportFailure(e);
  }
}

int AdminCreateAccount(const Config& config, const std::string& account) {
  try {
    log::SetLevel(log::Level::kWarn);
    auto db = OpenDatabase(config, 1);
    domain::CreateAccount(*db, account);
    std::cout << "created account " << account << std::endl;
    return 0;
  } catch (const std::exception& e) {
    return ReportFailure(e);
  }
}

int AdminCreateToken(const Config& config, const std::string& account, const std::string& role,
                     const std::string& org, const std::string& project) {
  try {
    log::SetLevel(log::Level::kWarn);
    auto parsed = auth::ParseRole(role);
    if (!parsed) Fail(ErrorCode::kInvalidArgument, "--role: expected viewer, editor or admin");
    auto db = OpenDatabase(config, 1);
    std::string token = domain::CreateOperatorToken(*db, account, *parsed, org, project);
    std::cout << "token for account " << account << " (role " << auth::RoleName(*parsed)
              << "; shown once): " << token << std::endl;
    return 0;
  } catch (const std::exception& e) {
    return ReportFailure(e);
  }
}

// On SQLite the sweep's safety against uploads rests on a lock inside the server process, so
// `admin gc` runs only while no server holds the database (it takes the server's lock, which
// also keeps a server from starting meanwhile). On PostgreSQL the sweep is one SQL statement
// per batch that concurrent uploads cannot lose to, so it runs beside any number of replicas.
int AdminGc(const Config& config) {
  try {
    log::SetLevel(log::Level::kWarn);
    domain::GcOptions options = GcOptionsOf(config);
    DatabaseTarget target = ResolveDatabase(config.database, config.data_dir);
    if (target.kind == DatabaseKind::kSqlite) {
      try {
        LockSqliteDatabase(target);
      } catch (const Error&) {
        Fail(ErrorCode::kUnavailable,
             "a statehouse server is running on " + target.location +
                 "; it collects garbage itself every --gc-interval-seconds (stop it to run "
                 "admin gc)");
      }
      options.temp_dirs = {};  // the server clears its spool at start
    } else {
      options.temp_dirs = {};  // other replicas' spools are theirs; this one sweeps nothing local
    }
    auto db = OpenDatabase(config, 2);
    domain::GarbageCollector collector(*db, options);
    domain::GcReport r = collector.RunOnce();
    std::cout << "expired " << r.versions_expired << " state versions (" << r.version_bytes_expired
              << " bytes) in " << r.workspaces << " workspaces; removed " << r.sweep.removed_blobs
              << " blobs (" << r.sweep.removed_bytes << " bytes) and " << r.sweep.removed_temp_files
              << " abandoned temporary files (" << r.sweep.removed_temp_bytes << " bytes)"
              << std::endl;
    return 0;
  } catch (const std::exception& e) {
    return ReportFailure(e);
  }
}

}  // namespace statehouse::app
