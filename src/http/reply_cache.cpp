#include "http/reply_cache.h"

namespace statehouse::http {

ReplyCache::ReplyCache(const storage::CommitClock* commits, size_t max_bytes)
    : commits_(commits), max_bytes_(max_bytes) {}

std::optional<Response> ReplyCache::Find(const std::string& key) {
  std::optional<uint64_t> now = commits_ ? Snapshot() : std::nullopt;
  if (!now) return std::nullopt;
  std::shared_ptr<const Response> hit;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    if (it->second.commits != *now) {
      bytes_ -= it->second.bytes;
      entries_.erase(it);
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    hit = it->second.response;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return *hit;  // copied outside the lock
}

void ReplyCache::Store(const std::string& key, const Response& response,
                       std::optional<uint64_t> snapshot) {
  if (!commits_ || !snapshot) return;
  // A file answer is kept by name: blob files are named by their content and never rewritten.
  size_t bytes =
      key.size() + response.body.size() + response.body_file.size() + response.content_type.size();
  for (const auto& [k, v] : response.headers) bytes += k.size() + v.size();
  if (bytes > max_bytes_ / 16) return;  // large answers would crowd out the rest
  auto stored = std::make_shared<const Response>(response);
  std::lock_guard lock(mutex_);
  // Wholesale eviction when full: stale entries otherwise leave only when looked up.
  if (bytes_ + bytes > max_bytes_) {
    entries_.clear();
    bytes_ = 0;
  }
  auto [it, inserted] = entries_.try_emplace(key);
  if (!inserted) bytes_ -= it->second.bytes;
  it->second = Entry{std::move(stored), *snapshot, bytes};
  bytes_ += bytes;
}

}  // namespace statehouse::http
