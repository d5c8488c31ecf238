// Server configuration: defaults < YAML config file < environment < command-line flags.
#pragma once

#include <cstdint>
#include <string>

namespace statehouse::app {

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  std::string database;  // empty: <data_dir>/statehouse.db
  std::string log_level = "info";
  uint64_t max_body_bytes = 1 << 20;  // metadata routes
  int io_threads = 0;                 // 0: number of cores
  int worker_threads = 8;             // writes (they wait on fsync and the single writer)
  int read_threads = 0;               // 0: one per core on SQLite, worker_threads on PostgreSQL
  uint64_t max_state_bytes = uint64_t{2} << 30;  // state uploads
  int header_timeout_seconds = 30;               // a request header must arrive within this
  int idle_timeout_seconds = 75;                 // keep-alive connections without a request
  int body_timeout_seconds = 60;                 // plus one second per MiB of body
  int max_connections = 20000;
  // PostgreSQL replicas: answers and token rows are cached, and a read reflects every write
  // acknowledged by any replica at least this long before it (0: nothing cached, every read
  // goes to the database). See storage::CommitClock.
  int replica_staleness_ms = 100;
  // Runs.
  int runner_slots = 2;  // runs executing at once
  std::string terraform_bin = "terraform";
  std::string tofu_bin = "tofu";
  int run_timeout_seconds = 3600;  // per provisioner step
  std::string secrets_file;        // JSON {"account.ref": "value"}, mode 0600
  std::string runner_id;           // empty: the host name
  // Cost estimation: catalog documents (`statehouse pricing import`) over the shipped prices.
  std::string pricing_dir;  // empty: <data_dir>/pricing
  std::string ui_dir;       // empty: the console built into the binary
  // HTTPS on the listener (PEM files; both or neither). SIGHUP reloads them.
  std::string tls_cert;
  std::string tls_key;
  // GET /metrics without a token on this HOST:PORT too (empty: only on the API port, admins).
  std::string metrics_listen;
  // Retention of state versions (0: no limit) and the blob sweep (0: no sweeps).
  int64_t state_versions_keep = 0;
  int64_t state_versions_max_age_days = 0;
  int64_t gc_interval_seconds = 3600;
  int64_t gc_grace_seconds = 600;  // blobs stored more recently than this are never removed
};

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
// "HOST:PORT", "[v6]:PORT" or ":PORT"; throws kInvalidArgument.
ListenAddress ParseListen(const std::string& text);

enum class DatabaseKind { kSqlite, kPostgres };
struct DatabaseTarget {
  DatabaseKind kind = DatabaseKind::kSqlite;
  std::string location;  // file path for SQLite, URL for PostgreSQL
};
// "" -> <data_dir>/statehouse.db; "sqlite:///abs", "sqlite://rel", "sqlite:path", or a plain
// path; "postgres://..." / "postgresql://...". Throws kInvalidArgument otherwise.
DatabaseTarget ResolveDatabase(const std::string& url, const std::string& data_dir);

// Applies keys of a YAML config file to fields the caller has not set otherwise.
// is_set(name) says whether a flag or environment variable already gave that value.
template <typename IsSet>
void ApplyConfigFile(const std::string& path, Config& config, IsSet is_set);

void ApplyConfigFileImpl(const std::string& path, Config& config,
                         bool (*is_set)(const char*, void*), void* ctx);

template <typename IsSet>
void ApplyConfigFile(const std::string& path, Config& config, IsSet is_set) {
  ApplyConfigFileImpl(
      path, config, [](const char* name, void* c) { return (*static_cast<IsSet*>(c))(name); },
      &is_set);
}

}  // namespace statehouse::app
