// The count of committed writes that caches of read answers compare: an answer (or a token
// row) read while the count stood at n is still right while the count is still n.
//
// Two kinds:
// - exact (SQLite: this process is the only writer): every commit ticks the count after it is
//   durable and before it is acknowledged, so the count is always current;
// - bounded (PostgreSQL replicas): other processes' commits reach the count late, through a
//   watcher (LISTEN/NOTIFY). The watcher confirms from time to time that every commit made
//   before some instant has been counted; the count is vouched for only while the newest such
//   instant is at most `staleness` old. Otherwise Now() says nothing and caches are bypassed.
//   So a read reflects every write acknowledged at least `staleness` before it started, and,
//   since this process ticks after its own commits, every write made through this process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace statehouse::storage {

class CommitClock {
 public:
  using Clock = std::chrono::steady_clock;

  // An exact clock.
  CommitClock() = default;
  // A bounded one; nothing is vouched for until the first Confirm.
  explicit CommitClock(std::chrono::milliseconds staleness)
      : staleness_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(staleness).count()),
        confirmed_ns_(kNever) {}

  bool Exact() const { return staleness_ns_ == 0; }
  std::chrono::milliseconds Staleness() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(staleness_ns_));
  }

  // The count, or nullopt when it cannot be vouched for (bounded clocks only).
  std::optional<uint64_t> Now() const {
    if (staleness_ns_ != 0) {
      // The confirmation first: a count read after it includes every tick it covered.
      int64_t confirmed = confirmed_ns_.load(std::memory_order_acquire);
      if (confirmed == kNever || NowNs() - confirmed > staleness_ns_) return std::nullopt;
    }
    return count_.load(std::memory_order_acquire);
  }
  // Raw count (tests and metrics).
  uint64_t Count() const { return count_.load(std::memory_order_acquire); }

  // A commit happened (or may have: a tick too many costs only cache misses).
  void Tick() { count_.fetch_add(1, std::memory_order_acq_rel); }
  // Every commit made before `sent` has been ticked. Confirmations never move backwards.
  void Confirm(Clock::time_point sent) {
    int64_t ns = ToNs(sent);
    int64_t seen = confirmed_ns_.load(std::memory_order_relaxed);
    while ((seen == kNever || ns > seen) &&
           !confirmed_ns_.compare_exchange_weak(seen, ns, std::memory_order_release,
                                                std::memory_order_relaxed)) {
    }
  }

 private:
  static constexpr int64_t kNever = INT64_MIN;
  static int64_t ToNs(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  static int64_t NowNs() { return ToNs(Clock::now()); }

  int64_t staleness_ns_ = 0;
  std::atomic<int64_t> confirmed_ns_{0};
  std::atomic<uint64_t> count_{0};
};

}  // namespace statehouse::storage
