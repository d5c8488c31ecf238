// Retention of state versions and garbage collection of blobs.
//
// Retention: a default (server flags) and a per-workspace override (the workspace's
// "state_retention": {"keep_versions": N, "max_age_days": D}; a field given there replaces the
// default's, 0 means no limit) decide which state versions expire; the store deletes their rows
// in one transaction per workspace and never the newest version, the newest v4 version, nor a
// version a rollback points at (storage::MaintenanceStore::ExpireStateVersions).
//
// Collection: blobs that no row references any more (expired versions, deleted workspaces and
// their remote-execution archives) and temporary files of abandoned writes are removed by the
// blob store's sweep (storage::BlobStore::Sweep), which is safe against a concurrent upload of
// the same content: see store.h.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "storage/store.h"

namespace statehouse::domain {

struct RetentionPolicy {
  int64_t keep_versions = 0;  // 0: no count limit
  int64_t max_age_days = 0;   // 0: no age limit
};

// The workspace's "state_retention" (in its configuration document) over the defaults.
RetentionPolicy EffectiveRetention(const RetentionPolicy& defaults, std::string_view config_json);

struct GcOptions {
  RetentionPolicy defaults;
  int64_t grace_seconds = 600;         // blobs stored more recently are never removed
  int64_t abandon_seconds = 86400;     // temporary files older than this are abandoned writes
  std::vector<std::string> temp_dirs;  // spool directories of uploads (e.g. <data-dir>/tmp)
};

struct GcReport {
  int64_t workspaces = 0;
  int64_t versions_expired = 0;
  int64_t version_bytes_expired = 0;
  storage::BlobStore::SweepResult sweep;  // temp files of the spool dirs counted in too
  double seconds = 0;
};

class GarbageCollector {
 public:
  GarbageCollector(storage::Database& db, GcOptions options);
  ~GarbageCollector();
  GarbageCollector(const GarbageCollector&) = delete;
  GarbageCollector& operator=(const GarbageCollector&) = delete;

  // statehouse_gc_* and statehouse_state_versions_expired_total.
  void SetMetrics(metrics::Registry* registry);
  // Retention of every workspace, then the sweep; logs one info line. One at a time.
  GcReport RunOnce();
  // Runs RunOnce every interval on a thread of its own (errors are logged, not fatal).
  void Start(std::chrono::seconds interval);
  void Stop();

 private:
  storage::Database& db_;
  GcOptions options_;
  std::mutex run_mutex_;
  metrics::Counter* runs_ = nullptr;
  metrics::Counter* reclaimed_bytes_ = nullptr;
  metrics::Counter* removed_blobs_ = nullptr;
  metrics::Counter* versions_expired_ = nullptr;
  std::thread thread_;
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace statehouse::domain
