#include "domain/retention.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <ctime>
#include <filesystem>

#include "common/log.h"
#include "common/util.h"
#include "domain/body_reader.h"

namespace statehouse::domain {
namespace json = boost::json;

RetentionPolicy EffectiveRetention(const RetentionPolicy& defaults, std::string_view config_json) {
  RetentionPolicy out = defaults;
  json::object config = ParseObjectOrEmpty(config_json);
  const json::value* r = config.if_contains("state_retention");
  if (!r || !r->is_object()) return out;
  auto read = [&](const char* name, int64_t& into) {
    const json::value* v = r->get_object().if_contains(name);
    if (v && v->is_int64() && v->get_int64() >= 0) into = v->get_int64();
    if (v && v->is_uint64())
      into = static_cast<int64_t>(std::min<uint64_t>(v->get_uint64(), INT64_MAX));
  };
  read("keep_versions", out.keep_versions);
  read("max_age_days", out.max_age_days);
  return out;
}

GarbageCollector::GarbageCollector(storage::Database& db, GcOptions options)
    : db_(db), options_(std::move(options)) {}

GarbageCollector::~GarbageCollector() { Stop(); }

void GarbageCollector::SetMetrics(metrics::Registry* registry) {
  if (!registry) return;
  runs_ = &registry
               ->AddCounter("statehouse_gc_runs_total",
                            "Garbage collection sweeps (retention, then blobs) completed", {})
               .With({});
  reclaimed_bytes_ =
      &registry
           ->AddCounter("statehouse_gc_reclaimed_bytes_total",
                        "Bytes of unreferenced blobs and abandoned temporary files removed", {})
           .With({});
  removed_blobs_ =
      &registry->AddCounter("statehouse_gc_removed_blobs_total", "Unreferenced blobs removed", {})
           .With({});
  versions_expired_ = &registry
                           ->AddCounter("statehouse_state_versions_expired_total",
                                        "State versions deleted by retention", {})
                           .With({});
}

namespace {

// Regular files directly in dir last written more than abandon_seconds ago.
void SweepTemp(const std::string& dir, int64_t abandon_seconds,
               storage::BlobStore::SweepResult& out) {
  namespace fs = std::filesystem;
  const time_t now = ::time(nullptr);
  std::error_code ec;
  for (fs::directory_iterator f(dir, ec), end; !ec && f != end; f.increment(ec)) {
    struct stat st {};
    if (::lstat(f->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (now - st.st_mtime < abandon_seconds) continue;
    if (::unlink(f->path().c_str()) == 0) {
      ++out.removed_temp_files;
      out.removed_temp_bytes += static_cast<int64_t>(st.st_size);
    }
  }
}

}  // namespace

GcReport GarbageCollector::RunOnce() {
  std::lock_guard<std::mutex> one_at_a_time(run_mutex_);
  auto started = std::chrono::steady_clock::now();
  GcReport report;
  storage::MaintenanceStore& m = db_.Maintenance();
  const int64_t now = NowMillis();
  storage::WorkspaceKey after;
  for (;;) {
    auto page = m.WorkspacesAfter(after, 500);
    for (const auto& w : page) {
      ++report.workspaces;
      RetentionPolicy p = EffectiveRetention(options_.defaults, w.config_json);
      if (p.keep_versions <= 0 && p.max_age_days <= 0) continue;
      int64_t before = p.max_age_days > 0 ? now - p.max_age_days * 86400000 : 0;
      auto expired = m.ExpireStateVersions(w.key, p.keep_versions, before);
      report.versions_expired += static_cast<int64_t>(expired.size());
      for (const auto& d : expired) report.version_bytes_expired += d.size;
      if (!expired.empty())
        log::Write(log::Level::kDebug, "state versions expired",
                   {{"workspace", w.key.org + "/" + w.key.project + "/" + w.key.workspace},
                    {"count", static_cast<int64_t>(expired.size())}});
    }
    if (page.size() < 500) break;
    after = page.back().key;
  }
  if (versions_expired_) versions_expired_->Inc(static_cast<uint64_t>(report.versions_expired));
  report.sweep = db_.Blobs().Sweep([&m](std::string_view sha) { return m.BlobReferenced(sha); },
                                   options_.grace_seconds, options_.abandon_seconds);
  for (const auto& dir : options_.temp_dirs) SweepTemp(dir, options_.abandon_seconds, report.sweep);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto& s = report.sweep;
  if (runs_) runs_->Inc();
  if (removed_blobs_) removed_blobs_->Inc(static_cast<uint64_t>(s.removed_blobs));
  if (reclaimed_bytes_)
    reclaimed_bytes_->Inc(static_cast<uint64_t>(s.removed_bytes + s.removed_temp_bytes));
  log::Info("garbage collection", {{"workspaces", report.workspaces},
                                   {"versions_expired", report.versions_expired},
                                   {"version_bytes_expired", report.version_bytes_expired},
                                   {"blobs_removed", s.removed_blobs},
                                   {"blob_bytes_reclaimed", s.removed_bytes},
                                   {"temp_files_removed", s.removed_temp_files},
                                   {"temp_bytes_reclaimed", s.removed_temp_bytes},
                                   {"seconds", report.seconds}});
  return report;
}

void GarbageCollector::Start(std::chrono::seconds interval) {
  if (interval.count() <= 0 || thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(wake_mutex_);
    for (;;) {
      if (wake_.wait_for(lock, interval, [this] { return stopping_; })) return;
      lock.unlock();
      try {
        RunOnce();
      } catch (const std::exception& e) {
        log::Error("garbage collection failed", {{"error", e.what()}});
      }
      lock.lock();
    }
  });
}

void GarbageCollector::Stop() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace statehouse::domain
