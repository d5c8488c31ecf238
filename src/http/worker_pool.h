// Threads that run handlers off the network threads, for jobs that compute rather than wait
// (reads of an embedded database). A sleeping thread is woken only when the queue holds more
// jobs than there are threads awake to take them: under load the awake threads keep pulling
// jobs, and a post costs a queue push instead of a futex wake-up and a context switch (asio's
// thread_pool wakes an idle thread on every post; measured on 2 cores, that halved the
// throughput of short reads). While any thread is awake, sleepers stand by on a timer, so a
// job queued behind a slow one waits at most one interval; when all are idle they sleep
// untimed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace statehouse::http {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads,
                      std::chrono::microseconds wake_interval = std::chrono::microseconds(500));
  ~WorkerPool();  // runs what is queued, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Post(std::function<void()> job);
  // Finishes queued jobs and joins the threads; later posts are dropped.
  void Join();

 private:
  void Loop();

  std::chrono::microseconds wake_interval_;
  std::mutex mutex_;
  std::condition_variable idle_wake_;     // sleepers while no thread is awake
  std::condition_variable standby_wake_;  // sleepers on a timer while some thread works
  std::deque<std::function<void()>> jobs_;
  size_t awake_ = 0;  // threads running a job or looking for one
  size_t idle_ = 0;
  size_t standby_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace statehouse::http
