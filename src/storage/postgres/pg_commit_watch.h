// The commit clock of a PostgreSQL replica, and how replicas tell each other of commits.
//
// After each write transaction commits, this process ticks its own clock and pokes its
// CommitNotifier, which sends NOTIFY on the channel below from a connection of its own. A
// CommitWatch thread holds one more connection that LISTENs: each notification ticks the clock.
// Notifications are only the fast path. What the guarantee rests on is the watch's heartbeat:
// a query that reads PostgreSQL's transaction snapshot (the highest finished transaction id
// and those still running). Any transaction that finished between two heartbeats changes it,
// so a changed snapshot ticks the clock, and the clock is then confirmed as of the heartbeat's
// sending; it vouches for its count only while that confirmation is younger than the staleness
// bound. If the connection drops, the confirmation ages out, caches are bypassed, and the
// clock ticks again once listening resumes.
//
// Verified token rows have a clock of their own (Credentials): with credentials_generation, the
// heartbeat also reads the credentials_generation row, which every statement that changes token
// rows moves in its transaction (migration 0012's trigger, which also notifies on the channel
// below), so the other commits leave token rows remembered. Without it, that clock is the
// commit clock.
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
inline constexpr const char* kCredentialsChannel = "statehouse_credentials";

// Sends NOTIFY for this process's commits, outside the writers' transactions. PostgreSQL
// serializes notifying transactions on one cluster-wide lock held until their commit is
// flushed: a NOTIFY inside each write transaction held it across every write's WAL flush.
// Here the notifying transaction is empty and does not wait for its flush
// (synchronous_commit off), writers do not wait for it, and commits that arrive while one is
// being sent share the next, and so do those of the next kNotifyInterval after a send: under
// 3,300 commits/s a NOTIFY went out for every 2-3 of them (1,300/s), each a transaction that
// every listening replica wakes up for; one per 2 ms took 64 clients' LOCK+UNLOCK from
// ~1,780 to ~2,000 pairs/s. A notification that is lost (database unreachable) only delays
// other replicas until their next heartbeat.
inline constexpr std::chrono::milliseconds kNotifyInterval{2};

class CommitNotifier {
 public:
  explicit CommitNotifier(std::string url);
  // Sends what is pending (one attempt), then stops.
  ~CommitNotifier();
  CommitNotifier(const CommitNotifier&) = delete;
  CommitNotifier& operator=(const CommitNotifier&) = delete;

  // A write transaction of this process committed (or may have).
  void Poke();
  // Notifications sent (tests and metrics).
  uint64_t Sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  void Run();

  const std::string url_;
  std::atomic<bool> pending_{false};
  std::atomic<uint64_t> sent_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

class CommitWatch {
 public:
  // staleness: the bound (> 0); heartbeats are sent five times within it.
  // credentials_generation: the database has migration 0012's credentials_generation row by
  // the time Start is called.
  CommitWatch(std::string url, std::chrono::milliseconds staleness,
              bool credentials_generation = false);
  ~CommitWatch();
  CommitWatch(const CommitWatch&) = delete;
  CommitWatch& operator=(const CommitWatch&) = delete;

  // Starts listening (once). Nothing is vouched for before.
  void Start();

  CommitClock& Clock() { return clock_; }
  CommitClock& Credentials() { return credentials_generation_ ? credentials_ : clock_; }
  // Notifications received, heartbeats that found the snapshot changed, and times listening
  // (re)started (tests and logs).
  uint64_t Notifications() const { return notifications_.load(std::memory_order_relaxed); }
  uint64_t SnapshotChanges() const { return snapshot_changes_.load(std::memory_order_relaxed); }
  uint64_t Connects() const { return connects_.load(std::memory_order_relaxed); }
  // Heartbeats that found the credentials generation moved (tests).
  uint64_t CredentialsChanges() const {
    return credentials_changes_.load(std::memory_order_relaxed);
  }

 private:
  void Run();
  // Waits until deadline or Stop; false when stopping.
  bool Sleep(std::chrono::steady_clock::time_point deadline);

  const std::string url_;
  CommitClock clock_;
  CommitClock credentials_;
  const bool credentials_generation_;
  const std::chrono::milliseconds heartbeat_;
  std::atomic<uint64_t> notifications_{0};
  std::atomic<uint64_t> snapshot_changes_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> credentials_changes_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace statehouse::storage::postgres
