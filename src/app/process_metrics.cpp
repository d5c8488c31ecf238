#include "app/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "domain/runs.h"

namespace statehouse::app {

namespace {

using metrics::Type;
using metrics::WriteHeader;
using metrics::WriteSample;

void One(std::string& out, const char* name, const char* help, Type type, double value) {
  WriteHeader(out, name, help, type);
  WriteSample(out, name, "", value);
}

// The fields of /proc/self/stat, fields[n - 1] being field n of proc(5): utime (14), stime (15),
// starttime (22), vsize (23), rss (24).
bool ReadStat(std::vector<std::string>& fields) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t close = line.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  fields = {"pid", "comm"};  // fields 1 and 2; the rest start at field 3
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields.size() > 24;
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

void AddProcessCollector(metrics::Registry& registry) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double boot = BootTimeSeconds();
  registry.AddCollector([ticks, page, boot](std::string& out) {
    std::vector<std::string> f;
    if (ReadStat(f)) {
      One(out, "process_cpu_seconds_total", "User and system CPU time spent, in seconds",
          Type::kCounter, (std::stod(f[13]) + std::stod(f[14])) / ticks);
      One(out, "process_virtual_memory_bytes", "Virtual memory size in bytes", Type::kGauge,
          std::stod(f[22]));
      One(out, "process_resident_memory_bytes", "Resident memory size in bytes", Type::kGauge,
          std::stod(f[23]) * page);
      One(out, "process_start_time_seconds", "Start time of the process since the Unix epoch",
          Type::kGauge, boot + std::stod(f[21]) / ticks);
    }
    std::error_code ec;
    double fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++fds;
    One(out, "process_open_fds", "Open file descriptors", Type::kGauge, fds);
    struct rlimit limit {};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
      One(out, "process_max_fds", "Limit on open file descriptors", Type::kGauge,
          static_cast<double>(limit.rlim_cur));
  });
}

void AddCacheCollector(metrics::Registry& registry, const http::Dispatcher& dispatcher) {
  registry.AddCollector([&dispatcher](std::string& out) {
    http::Dispatcher::CacheCounts c = dispatcher.Caches();
    WriteHeader(out, "statehouse_cache_lookups_total",
                "Reply and token cache lookups, answered from memory (hit) or not (miss)",
                Type::kCounter);
    WriteSample(out, "statehouse_cache_lookups_total",
                metrics::Labels({{"cache", "reply"}, {"result", "hit"}}),
                static_cast<double>(c.reply_hits));
    WriteSample(out, "statehouse_cache_lookups_total",
                metrics::Labels({{"cache", "reply"}, {"result", "miss"}}),
                static_cast<double>(c.reply_misses));
    WriteSample(out, "statehouse_cache_lookups_total",
                metrics::Labels({{"cache", "token"}, {"result", "hit"}}),
                static_cast<double>(c.token_hits));
    WriteSample(out, "statehouse_cache_lookups_total",
                metrics::Labels({{"cache", "token"}, {"result", "miss"}}),
                static_cast<double>(c.token_misses));
  });
}

void AddDatabaseMetrics(metrics::Registry& registry, storage::Database& db) {
  auto& transactions = registry.AddHistogram(
      "statehouse_db_transaction_duration_seconds",
      "Database work per call, from waiting for a connection to the commit, by kind", {"kind"});
  metrics::Histogram* reads = &transactions.With({"read"});
  metrics::Histogram* writes = &transactions.With({"write"});
  db.SetTransactionObserver(
      [reads, writes](bool write, double seconds) { (write ? writes : reads)->Observe(seconds); });

  registry.AddCollector([&db](std::string& out) {
    auto grouped = db.GroupCommits();
    One(out, "statehouse_db_group_commits_total",
        "Commits of SQLite's group commit (0 on PostgreSQL)", Type::kCounter,
        static_cast<double>(grouped.commits));
    One(out, "statehouse_db_group_committed_writes_total",
        "Write transactions those commits covered", Type::kCounter,
        static_cast<double>(grouped.writes));
    auto checkpoints = db.WalCheckpoints();
    One(out, "statehouse_db_wal_checkpoints_total",
        "SQLite WAL checkpoints run off the request path (0 on PostgreSQL)", Type::kCounter,
        static_cast<double>(checkpoints.background));
    One(out, "statehouse_db_wal_writer_checkpoints_total",
        "SQLite WAL checkpoints a writer ran itself, the WAL having outgrown the checkpoint "
        "thread (0 on PostgreSQL)",
        Type::kCounter, static_cast<double>(checkpoints.by_writers));
    auto signals = db.ReplicaSignals();
    One(out, "statehouse_db_commit_notifications_sent_total",
        "NOTIFYs this replica sent for its commits (PostgreSQL; commits close together share one)",
        Type::kCounter, static_cast<double>(signals.notifications_sent));
    One(out, "statehouse_db_commit_notifications_received_total",
        "Commit notifications this replica heard (PostgreSQL)", Type::kCounter,
        static_cast<double>(signals.notifications_received));
    One(out, "statehouse_db_commit_snapshot_changes_total",
        "Heartbeats that found PostgreSQL's transaction snapshot changed (PostgreSQL)",
        Type::kCounter, static_cast<double>(signals.snapshot_changes));
  });

  // Totals are counted at each scrape (scrapes are rare and admin-only); one at a time.
  auto reading = std::make_shared<std::mutex>();
  registry.AddCollector([&db, reading](std::string& out) {
    std::lock_guard lock(*reading);
    storage::Database::Totals t;
    try {
      t = db.ReadTotals();
    } catch (const std::exception& e) {
      log::Warn("metrics: database totals not read", {{"detail", e.what()}});
      return;
    }
    One(out, "statehouse_state_versions", "Stored state versions", Type::kGauge,
        static_cast<double>(t.state_versions));
    One(out, "statehouse_state_bytes", "Bytes of every stored state version", Type::kGauge,
        static_cast<double>(t.state_bytes));
    One(out, "statehouse_blobs", "Stored blobs (one per distinct content)", Type::kGauge,
        static_cast<double>(t.blobs));
    One(out, "statehouse_blob_bytes", "Bytes of the stored blobs", Type::kGauge,
        static_cast<double>(t.blob_bytes));
    WriteHeader(out, "statehouse_runs", "Runs by status", Type::kGauge);
    for (const std::string& status : domain::RunStatuses()) {
      int64_t n = 0;
      for (const auto& [s, count] : t.runs_by_status)
        if (s == status) n = count;
      WriteSample(out, "statehouse_runs", metrics::Labels({{"status", status}}),
                  static_cast<double>(n));
    }
  });
}

}  // namespace statehouse::app
