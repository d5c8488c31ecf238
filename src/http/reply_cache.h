// Rendered responses of read-only routes, kept while the database's commit counter stands
// still. A GET answer depends on the caller's authority, the request target, the reply
// format and the data; the first three make the key, and the counter vouches for the data:
// any committed write, anywhere, makes every entry stale. Answers sent from a file (state
// downloads) are kept by the file's name: blob files are named by content, never rewritten. Only
// databases this process alone writes (SQLite) have a counter; without one nothing is kept.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "http/message.h"
#include "storage/commit_clock.h"

namespace statehouse::http {

class ReplyCache {
 public:
  explicit ReplyCache(const storage::CommitClock* commits, size_t max_bytes = 8 << 20);

  bool Enabled() const { return commits_ != nullptr; }
  // The count before a handler reads; pass it to Store with what the handler answered.
  // nullopt when the count cannot be vouched for (then nothing is found or kept).
  std::optional<uint64_t> Snapshot() const { return commits_->Now(); }
  std::optional<Response> Find(const std::string& key);
  void Store(const std::string& key, const Response& response, std::optional<uint64_t> snapshot);
  // Lookups answered from memory, and lookups that were not (metrics).
  uint64_t Hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t Misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::shared_ptr<const Response> response;
    uint64_t commits = 0;
    size_t bytes = 0;
  };

  const storage::CommitClock* commits_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  size_t max_bytes_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  size_t bytes_ = 0;
};

}  // namespace statehouse::http
