// The audit trail's writer and reader. A request to a write route queues its record (memory
// only, no database) just before its answer is sent; one thread appends what is queued in
// batches, each in one transaction of its own, after a short wait that lets records gather.
// So the write path pays for a queue push, not a commit, and the trail costs a commit per batch
// rather than one per write.
//
// Not in the write's transaction: a crash (kill -9, power loss) loses the records still queued,
// at most the last flush interval's (plus the batch being committed), although their writes
// were committed. A clean stop (SIGTERM) stores everything queued. When the database refuses
// an append the batch stays queued and is retried; past max_queued records the oldest are
// dropped, and the log says how many.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "auth/auth.h"
#include "storage/records.h"
#include "storage/store.h"

namespace statehouse::domain {

class AuditTrail {
 public:
  struct Options {
    // How long the first queued record waits for others before a batch is stored.
    std::chrono::milliseconds flush_interval{50};
    size_t max_batch = 1000;     // records per transaction
    size_t max_queued = 100000;  // beyond this the oldest queued records are dropped
    std::chrono::milliseconds retry_interval{1000};  // after a failed append
  };

  explicit AuditTrail(storage::AuditStore& store) : AuditTrail(store, Options()) {}
  AuditTrail(storage::AuditStore& store, Options options);
  ~AuditTrail();
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  // Queues a record. Never blocks on the database, never throws.
  void Record(storage::AuditRecord record);

  // Stores what was queued before the call, now, and waits for it (up to a few seconds when
  // the database refuses): a list that follows sees every write answered before it.
  void Sync();

  // Stores everything queued and stops the writer; later records are stored by Sync or the
  // destructor. Idempotent.
  void Stop();

  // The caller's account's records, newest first, after a Sync. Needs an account-wide admin
  // token (kPermissionDenied otherwise): the trail spans every org.
  storage::Page<storage::AuditRecord> List(const auth::Principal& who,
                                           const storage::AuditListQuery& query);

  // Records dropped because the queue was full (metrics, tests).
  uint64_t Dropped() const;

 private:
  struct Queued {
    uint64_t seq;
    storage::AuditRecord record;
  };
  void Loop();
  // Takes up to max_batch records and appends them; false when the append failed (the records
  // go back to the queue's front). Called with lock held; releases it around the append.
  bool FlushSome(std::unique_lock<std::mutex>& lock);

  storage::AuditStore& store_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the writer: records queued, sync asked, stop
  std::condition_variable done_;  // Sync callers: records stored
  std::deque<Queued> queue_;
  uint64_t next_seq_ = 1;
  uint64_t handled_seq_ = 0;  // every record up to this one is stored (or was dropped)
  uint64_t failures_ = 0;     // appends that failed
  uint64_t dropped_ = 0;
  bool urgent_ = false;  // a Sync waits: skip the flush interval
  bool stopping_ = false;
  bool writing_ = false;  // an append is in progress (outside the lock)
  std::thread writer_;
};

}  // namespace statehouse::domain
