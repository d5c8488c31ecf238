#include "domain/audit.h"

#include <utility>
#include <vector>

#include "common/error.h"
#include "common/log.h"

namespace statehouse::domain {

AuditTrail::AuditTrail(storage::AuditStore& store, Options options)
    : store_(store), options_(options) {
  writer_ = std::thread([this] { Loop(); });
}

AuditTrail::~AuditTrail() {
  Stop();
  // Records queued after Stop (none in the server: it stops after the listener): one last
  // try.
  std::unique_lock<std::mutex> lock(mutex_);
  while (!queue_.empty() && FlushSome(lock)) {
  }
  if (!queue_.empty())
    log::Error("audit records lost at exit", {{"records", static_cast<int64_t>(queue_.size())}});
}

void AuditTrail::Record(storage::AuditRecord record) {
  uint64_t dropped = 0;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= options_.max_queued) {
      queue_.pop_front();
      dropped = ++dropped_;
    }
    queue_.push_back({next_seq_++, std::move(record)});
    // The writer waits for a first record, then for the flush interval or a full batch: waking
    // it for anything else would cost a context switch per write.
    wake = queue_.size() == 1 || queue_.size() == options_.max_batch;
  }
  if (wake) wake_.notify_one();
  if (dropped == 1 || (dropped > 0 && dropped % 1000 == 0))
    log::Error("audit queue full: oldest records dropped (is the database refusing writes?)",
               {{"dropped", static_cast<int64_t>(dropped)}});
}

uint64_t AuditTrail::Dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

void AuditTrail::Sync() {
  std::unique_lock<std::mutex> lock(mutex_);
  uint64_t mine = next_seq_ - 1;
  uint64_t failures = failures_;
  auto stored = [&] {
    // Everything up to mine has left the queue and is not in the batch being appended.
    return (queue_.empty() || queue_.front().seq > mine) && (!writing_ || handled_seq_ >= mine);
  };
  if (stored()) return;
  urgent_ = true;
  wake_.notify_one();
  done_.wait_for(lock, std::chrono::seconds(5),
                 [&] { return stored() || failures_ > failures || stopping_; });
}

void AuditTrail::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

storage::Page<storage::AuditRecord> AuditTrail::List(const auth::Principal& who,
                                                     const storage::AuditListQuery& query) {
  if (!who.HasRole(auth::Role::kAdmin) || !who.org.empty() || !who.workspace.empty())
    Fail(ErrorCode::kPermissionDenied,
         "the audit trail needs an admin token of the whole account (not limited to an org or "
         "project)");
  Sync();
  return store_.List(who.account, query);
}

bool AuditTrail::FlushSome(std::unique_lock<std::mutex>& lock) {
  std::vector<storage::AuditRecord> batch;
  size_t n = std::min(queue_.size(), options_.max_batch);
  batch.reserve(n);
  uint64_t first = queue_.front().seq;
  uint64_t last = first;
  for (size_t i = 0; i < n; ++i) {
    last = queue_.front().seq;
    batch.push_back(std::move(queue_.front().record));
    queue_.pop_front();
  }
  writing_ = true;
  handled_seq_ = first - 1;  // what Sync may rely on while this batch is out
  lock.unlock();
  bool ok = true;
  try {
    store_.Append(batch);
  } catch (const std::exception& e) {
    ok = false;
    log::Error("audit append failed; will retry",
               {{"records", static_cast<int64_t>(batch.size())}, {"detail", e.what()}});
  }
  lock.lock();
  writing_ = false;
  if (ok) {
    handled_seq_ = last;
  } else {
    ++failures_;
    // Back to the front, in order, unless newer records filled the queue meanwhile.
    for (size_t i = batch.size(); i-- > 0;) {
      if (queue_.size() >= options_.max_queued) {
        ++dropped_;
        continue;
      }
      queue_.push_front({first + i, std::move(batch[i])});
    }
  }
  done_.notify_all();
  return ok;
}

void AuditTrail::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, nothing left
    if (!stopping_ && !urgent_) {
      // Let records gather: one commit for all of them.
      wake_.wait_for(lock, options_.flush_interval,
                     [&] { return stopping_ || urgent_ || queue_.size() >= options_.max_batch; });
    }
    urgent_ = false;
    bool failed = false;
    while (!queue_.empty() && !failed) failed = !FlushSome(lock);
    if (failed) {
      if (stopping_) {
        log::Error("audit records lost at stop: the database refuses them",
                   {{"records", static_cast<int64_t>(queue_.size())}});
        break;
      }
      wake_.wait_for(lock, options_.retry_interval, [&] { return stopping_; });
    }
  }
  done_.notify_all();
}

}  // namespace statehouse::domain
