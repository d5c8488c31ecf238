#include "http/worker_pool.h"

namespace statehouse::http {

WorkerPool::WorkerPool(size_t threads, std::chrono::microseconds wake_interval)
    : wake_interval_(wake_interval) {
  if (threads == 0) threads = 1;
  awake_ = threads;  // each starts by looking for a job
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() { Join(); }

void WorkerPool::Post(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  jobs_.push_back(std::move(job));
  if (jobs_.size() > awake_) {
    if (standby_ > 0)
      standby_wake_.notify_one();
    else if (idle_ > 0)
      idle_wake_.notify_one();
  } else if (idle_ > 0) {
    // An idle sleeper does not watch the queue: wake it so it stands by (or takes the job)
    // in case the awake threads are busy with something slow.
    idle_wake_.notify_one();
  }
}

void WorkerPool::Join() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  idle_wake_.notify_all();
  standby_wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
}

void WorkerPool::Loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!jobs_.empty()) {
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      job = nullptr;  // its captures die outside the lock
      lock.lock();
      continue;
    }
    if (stopping_) break;
    --awake_;
    while (jobs_.empty() && !stopping_) {
      if (awake_ == 0) {
        ++idle_;
        idle_wake_.wait(lock);
        --idle_;
      } else {
        ++standby_;
        standby_wake_.wait_for(lock, wake_interval_);
        --standby_;
      }
    }
    ++awake_;
  }
  --awake_;
}

}  // namespace statehouse::http
