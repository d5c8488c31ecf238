#include "storage/sql/sql.h"

#include <algorithm>
#include <chrono>

#include "common/error.h"

namespace statehouse::storage::sql {

ConnectionPool::ConnectionPool(Factory factory, size_t size, int64_t acquire_timeout_ms)
    : factory_(std::move(factory)),
      size_(size == 0 ? 1 : size),
      acquire_timeout_ms_(acquire_timeout_ms) {}

void ConnectionPool::ThrowContention() {
  Fail(ErrorCode::kUnavailable, "the database is busy with conflicting writes; try again");
}

ConnectionPool::Lease::Lease(ConnectionPool& p) : pool(p) {
  std::unique_lock lock(p.mutex_);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(p.acquire_timeout_ms_);
  for (;;) {
    if (!p.idle_.empty()) {
      conn = std::move(p.idle_.back());
      p.idle_.pop_back();
      return;
    }
    if (p.created_ < p.size_) {
      ++p.created_;
      lock.unlock();
      try {
        conn = p.factory_();
      } catch (...) {
        std::lock_guard relock(p.mutex_);
        --p.created_;
        p.available_.notify_one();
        throw;
      }
      return;
    }
    if (p.available_.wait_until(lock, deadline) == std::cv_status::timeout && p.idle_.empty() &&
        p.created_ >= p.size_)
      Fail(ErrorCode::kUnavailable, "all database connections are busy; try again");
  }
}

ConnectionPool::Lease::~Lease() {
  if (!conn) return;
  std::lock_guard lock(pool.mutex_);
  if (conn->Healthy()) {
    pool.idle_.push_back(std::move(conn));
  } else {
    // A broken connection is dropped; the next caller opens a fresh one.
    conn.reset();
    --pool.created_;
  }
  pool.available_.notify_one();
}

ConnectionPool::GroupCommitCounts ConnectionPool::GroupCommits() const {
  return {group_commits_.load(std::memory_order_relaxed),
          group_writes_.load(std::memory_order_relaxed)};
}

void ConnectionPool::RunGrouped(GroupedWrite& write) {
  // Waits on the write's own signal until its outcome is final or it is asked to lead.
  auto await_signal = [&write](bool lead_too) {
    std::unique_lock own(write.signal_mutex);
    write.wake.wait(own, [&] { return write.done || (lead_too && write.lead); });
    write.lead = false;
    return write.done;
  };
  auto outcome = [&write] {
    if (write.error) std::rethrow_exception(write.error);
  };

  std::unique_lock lock(group_mutex_);
  group_queue_.push_back(&write);
  write.queued = true;
  while (group_leader_ && write.queued) {
    lock.unlock();
    if (await_signal(true)) return outcome();
    lock.lock();
  }
  if (!write.queued) {  // a leader took it meanwhile: its outcome follows
    lock.unlock();
    await_signal(false);
    return outcome();
  }

  // Lead until this write has run, and past it while the queue starts with writes nobody
  // waits on (SubmitWrite's), then hand over to the oldest writer still waiting.
  Lead(lock, &write, [this, &write] {
    return write.queued || (!group_queue_.empty() && group_queue_.front()->on_done);
  });
  lock.unlock();
  outcome();
}

void ConnectionPool::SubmitWrite(std::function<void(Connection&)> work,
                                 std::function<void(std::exception_ptr)> done) {
  if (!group_commit_) {
    std::exception_ptr error;
    try {
      WriteTransaction(work);
    } catch (...) {
      error = std::current_exception();
    }
    done(error);
    return;
  }
  auto* write = new GroupedWrite(std::move(work));
  write->on_done = std::move(done);
  write->submitted = std::chrono::steady_clock::now();
  std::unique_lock lock(group_mutex_);
  group_queue_.push_back(write);
  write->queued = true;
  if (group_leader_) return;  // the leader runs it (it leads while such writes are queued)
  // Nobody leads: this thread does, until nothing is queued.
  Lead(lock, nullptr, [this] { return !group_queue_.empty(); });
}

void ConnectionPool::Lead(std::unique_lock<std::mutex>& lock, GroupedWrite* self,
                          const std::function<bool()>& keep_leading) {
  group_leader_ = true;
  std::vector<GroupedWrite*> finished;
  while (keep_leading()) {
    size_t n = std::min(group_queue_.size(), max_batch_);
    std::vector<GroupedWrite*> batch(group_queue_.begin(), group_queue_.begin() + n);
    group_queue_.erase(group_queue_.begin(), group_queue_.begin() + n);
    for (GroupedWrite* w : batch) w->queued = false;
    lock.unlock();
    std::vector<GroupedWrite*> requeue;
    CommitBatch(batch, requeue);
    lock.lock();
    group_queue_.insert(group_queue_.begin(), requeue.begin(), requeue.end());
    for (GroupedWrite* w : requeue) w->queued = true;
    finished.clear();
    for (GroupedWrite* w : batch)
      if (w->ran && w != self) finished.push_back(w);
    lock.unlock();
    for (GroupedWrite* w : finished) Finish(w);
    lock.lock();
  }
  group_leader_ = false;
  if (!group_queue_.empty()) {
    // Signalled under group_mutex_: while queued, no leader can finish it and let it return.
    // (A write at the front here has a waiter: keep_leading holds while one without does.)
    GroupedWrite* next = group_queue_.front();
    std::lock_guard own(next->signal_mutex);
    next->lead = true;
    next->wake.notify_one();
  }
}

void ConnectionPool::Finish(GroupedWrite* write) {
  if (!write->on_done) {
    // The waiter cannot return before its done is set here, so it is alive.
    std::lock_guard own(write->signal_mutex);
    write->done = true;
    write->wake.notify_one();
    return;
  }
  std::unique_ptr<GroupedWrite> owned(write);
  if (observer)
    observer(
        true,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - owned->submitted).count());
  auto done = std::move(owned->on_done);
  std::exception_ptr error = owned->error;
  owned.reset();
  try {
    done(error);
  } catch (...) {
    // done must not throw; nothing here could answer for it, and the commit stands.
  }
}

void ConnectionPool::RunAlone(GroupedWrite& write) {
  write.error = nullptr;
  try {
    Transaction(write.work, true);
  } catch (...) {
    write.error = std::current_exception();
  }
  write.ran = true;
  group_commits_.fetch_add(1, std::memory_order_relaxed);
  group_writes_.fetch_add(1, std::memory_order_relaxed);
}

void ConnectionPool::CommitBatch(std::vector<GroupedWrite*>& batch,
                                 std::vector<GroupedWrite*>& requeue) {
  if (batch.size() == 1) return RunAlone(*batch.front());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_batch_ms_);
  size_t ran = 0;
  try {
    Lease lease(*this);
    Connection& c = *lease.conn;
    c.BeginWrite();
    try {
      for (GroupedWrite* w : batch) {
        // The time bound: what is left waits for the next commit.
        if (ran > 0 && max_batch_ms_ > 0 && std::chrono::steady_clock::now() > deadline) break;
        c.Exec("SAVEPOINT grouped_write");
        try {
          w->work(c);
        } catch (...) {
          w->error = std::current_exception();
          c.Exec("ROLLBACK TO grouped_write");  // throws if the transaction is gone
        }
        c.Exec("RELEASE grouped_write");
        ++ran;
      }
      c.Commit();
    } catch (...) {
      c.Rollback();
      throw;
    }
  } catch (...) {
    // Nothing of the shared transaction was committed (its commit failed, or a write left it
    // unusable): each write runs again alone, for an outcome of its own.
    for (GroupedWrite* w : batch) RunAlone(*w);
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i < ran)
      batch[i]->ran = true;
    else
      requeue.push_back(batch[i]);
  }
  group_commits_.fetch_add(1, std::memory_order_relaxed);
  group_writes_.fetch_add(ran, std::memory_order_relaxed);
}

}  // namespace statehouse::storage::sql
