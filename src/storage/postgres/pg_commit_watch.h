// The commit clock of a PostgreSQL replica. Every write transaction sends NOTIFY on the channel
// below as part of its COMMIT, and this process ticks its clock after its own commits. A watcher
// thread holds one more connection that LISTENs: each notification ticks the clock. Every
// heartbeat (a query on that connection) proves that all notifications committed before it was
// sent have arrived, and confirms the clock as of the heartbeat's sending; the clock vouches for
// its count only while that confirmation is younger than the staleness bound. If the connection
// drops, the confirmation ages out, caches are bypassed, and the clock ticks again once
// listening resumes (notifications sent meanwhile were lost).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "storage/commit_clock.h"

namespace statehouse::storage::postgres {

inline constexpr const char* kCommitChannel = "statehouse_commits";

class CommitWatch {
 public:
  // staleness: the bound (> 0); heartbeats are sent five times within it.
  CommitWatch(std::string url, std::chrono::milliseconds staleness);
  ~CommitWatch();
  CommitWatch(const CommitWatch&) = delete;
  CommitWatch& operator=(const CommitWatch&) = delete;

  CommitClock& Clock() { return clock_; }
  // Notifications received and times listening (re)started (tests and logs).
  uint64_t Notifications() const { return notifications_.load(std::memory_order_relaxed); }
  uint64_t Connects() const { return connects_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // Waits until deadline or Stop; false when stopping.
  bool Sleep(std::chrono::steady_clock::time_point deadline);

  const std::string url_;
  CommitClock clock_;
  const std::chrono::milliseconds heartbeat_;
  std::atomic<uint64_t> notifications_{0};
  std::atomic<uint64_t> connects_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace statehouse::storage::postgres
