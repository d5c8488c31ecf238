// WorkerPool: every job runs once, a job queued behind a slow one is taken by another thread,
// Join drains the queue, posts after Join are dropped, and idle pools shut down.
//
// No assertion depends on timing: waits have generous timeouts that only catch hangs.
#include "http/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace statehouse::http {
namespace {

using namespace std::chrono_literals;

constexpr auto kHang = 5s;  // only a hang takes this long

// Counts finished jobs; waits for a number of them.
class Tally {
 public:
  void Add() {
    std::lock_guard lock(mutex_);
    ++done_;
    cv_.notify_all();
  }
  bool WaitFor(size_t n, std::chrono::seconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return done_ >= n; });
  }
  size_t Count() {
    std::lock_guard lock(mutex_);
    return done_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t done_ = 0;
};

// A job that blocks until released; tells when it has started.
struct Blocker {
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released{release.get_future().share()};
  std::atomic<bool> finished{false};

  std::function<void()> Job() {
    return [this] {
      started.set_value();
      released.wait();
      finished = true;
    };
  }
};

TEST(WorkerPoolTest, EveryPostedJobRunsExactlyOnce) {
  constexpr size_t kPosters = 4;
  constexpr size_t kPerPoster = 2500;
  constexpr size_t kJobs = kPosters * kPerPoster;
  std::vector<std::atomic<int>> runs(kJobs);
  for (auto& r : runs) r = 0;
  Tally tally;
  WorkerPool pool(3);
  std::vector<std::thread> posters;
  for (size_t p = 0; p < kPosters; ++p) {
    posters.emplace_back([&, p] {
      for (size_t i = 0; i < kPerPoster; ++i) {
        size_t index = p * kPerPoster + i;
        pool.Post([&, index] {
          runs[index].fetch_add(1);
          tally.Add();
        });
      }
    });
  }
  for (auto& t : posters) t.join();
  // All run without Join's help (the pool does not need shutting down to make progress).
  ASSERT_TRUE(tally.WaitFor(kJobs, 30s)) << "only " << tally.Count() << " of " << kJobs << " ran";
  pool.Join();
  EXPECT_EQ(tally.Count(), kJobs);
  size_t wrong = 0;
  for (size_t i = 0; i < kJobs; ++i)
    if (runs[i].load() != 1) ++wrong;
  EXPECT_EQ(wrong, 0u) << "jobs that did not run exactly once";
}

TEST(WorkerPoolTest, JobsPostedInBurstsWithPausesAllRun) {
  // Between bursts the threads go idle; every burst must still be taken up.
  WorkerPool pool(2);
  Tally tally;
  size_t posted = 0;
  for (int burst = 0; burst < 50; ++burst) {
    for (int i = 0; i < burst % 5 + 1; ++i) {
      pool.Post([&] { tally.Add(); });
      ++posted;
    }
    ASSERT_TRUE(tally.WaitFor(posted, kHang)) << "burst " << burst << " was not taken up";
  }
}

TEST(WorkerPoolTest, ZeroThreadsStillRunsJobs) {
  WorkerPool pool(0);
  std::promise<void> ran;
  auto done = ran.get_future();
  pool.Post([&] { ran.set_value(); });
  EXPECT_EQ(done.wait_for(kHang), std::future_status::ready);
}

TEST(WorkerPoolTest, JobQueuedBehindSlowJobIsTakenByTheOtherThread) {
  WorkerPool pool(2);
  Blocker slow;
  auto slow_started = slow.started.get_future();
  pool.Post(slow.Job());
  ASSERT_EQ(slow_started.wait_for(kHang), std::future_status::ready);

  std::promise<void> fast_done;
  auto fast = fast_done.get_future();
  pool.Post([&] { fast_done.set_value(); });
  auto status = fast.wait_for(kHang);
  bool slow_still_blocked = !slow.finished.load();
  slow.release.set_value();  // never leave the pool blocked, whatever happened
  EXPECT_EQ(status, std::future_status::ready)
      << "a job posted while the only awake thread runs a slow job waited for the slow job";
  EXPECT_TRUE(slow_still_blocked);
  pool.Join();
  EXPECT_TRUE(slow.finished.load());
}

TEST(WorkerPoolTest, JobQueuedBehindSlowJobIsTakenWhicheverStateTheOtherThreadIsIn) {
  // A fresh pool's second thread is usually standing by on its timer; after a pause with
  // nothing to do both threads sleep untimed, and only a wake-up from Post brings the second
  // one back. The pauses are not synchronization: the assertions hold for any thread state,
  // they only make each state the likely one in some round.
  for (auto pause : {0ms, 1ms, 20ms, 100ms}) {
    SCOPED_TRACE("pause " + std::to_string(pause.count()) + " ms");
    WorkerPool pool(2, std::chrono::microseconds(100));
    Tally warm;
    pool.Post([&] { warm.Add(); });
    ASSERT_TRUE(warm.WaitFor(1, kHang));
    std::this_thread::sleep_for(pause);

    Blocker slow;
    auto slow_started = slow.started.get_future();
    pool.Post(slow.Job());
    ASSERT_EQ(slow_started.wait_for(kHang), std::future_status::ready);
    std::promise<void> fast_done;
    auto fast = fast_done.get_future();
    pool.Post([&] { fast_done.set_value(); });
    auto status = fast.wait_for(kHang);
    bool slow_still_blocked = !slow.finished.load();
    slow.release.set_value();
    EXPECT_EQ(status, std::future_status::ready) << "the fast job waited for the slow one";
    EXPECT_TRUE(slow_still_blocked);
    pool.Join();
  }
}

TEST(WorkerPoolTest, JobsKeepFlowingWhileOneThreadIsStuck) {
  // After the first fast job the free thread finds the queue empty while the other is still
  // busy, so it stands by rather than sleeping: each later job must still be taken up.
  WorkerPool pool(2);
  Blocker slow;
  auto slow_started = slow.started.get_future();
  pool.Post(slow.Job());
  ASSERT_EQ(slow_started.wait_for(kHang), std::future_status::ready);

  int completed = 0;
  for (int i = 0; i < 20; ++i) {
    std::promise<void> done;
    auto f = done.get_future();
    pool.Post([&] { done.set_value(); });
    if (f.wait_for(kHang) != std::future_status::ready) break;
    ++completed;
  }
  bool slow_still_blocked = !slow.finished.load();
  slow.release.set_value();
  pool.Join();  // before slow goes: its job still reads the promise it waits on
  EXPECT_EQ(completed, 20) << "job " << completed << " waited behind the slow job";
  EXPECT_TRUE(slow_still_blocked);
}

TEST(WorkerPoolTest, BurstQueuedBehindSlowJobAllRunOnTheOtherThread) {
  WorkerPool pool(2);
  Blocker slow;
  auto slow_started = slow.started.get_future();
  pool.Post(slow.Job());
  ASSERT_EQ(slow_started.wait_for(kHang), std::future_status::ready);
  Tally tally;
  for (int i = 0; i < 100; ++i) pool.Post([&] { tally.Add(); });
  bool all = tally.WaitFor(100, kHang);
  bool slow_still_blocked = !slow.finished.load();
  slow.release.set_value();
  pool.Join();  // before slow and tally go: the jobs still touch them
  EXPECT_TRUE(all) << tally.Count() << " of 100 ran while the slow job was blocked";
  EXPECT_TRUE(slow_still_blocked);
}

// Called from a job: returns once Join has begun, which shows in posts being dropped (a
// dropped job's captures die in Post; a queued one keeps them). Probes posted before that are
// queued and harmless. False if Join did not begin in time.
bool WaitUntilJoinBegins(WorkerPool& pool) {
  auto deadline = std::chrono::steady_clock::now() + kHang;
  while (std::chrono::steady_clock::now() < deadline) {
    auto probe = std::make_shared<int>(0);
    std::weak_ptr<int> watch = probe;
    pool.Post([probe] {});
    probe.reset();
    if (watch.expired()) return true;
    std::this_thread::yield();
  }
  return false;
}

TEST(WorkerPoolTest, JoinRunsJobsStillQueued) {
  WorkerPool pool(1);
  std::promise<void> started;
  auto started_f = started.get_future();
  std::atomic<bool> saw_join{false};
  // The only thread is held until Join has begun, so the jobs below are still queued then.
  pool.Post([&] {
    started.set_value();
    saw_join = WaitUntilJoinBegins(pool);
  });
  ASSERT_EQ(started_f.wait_for(kHang), std::future_status::ready);
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i) pool.Post([&] { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 0) << "the only thread is busy: nothing else can have run yet";

  auto joined = std::make_shared<std::promise<void>>();
  auto joined_f = joined->get_future();
  std::thread joiner([&pool, joined] {
    pool.Join();
    joined->set_value();
  });
  ASSERT_EQ(joined_f.wait_for(2 * kHang), std::future_status::ready) << "Join hung";
  joiner.join();
  EXPECT_TRUE(saw_join.load());
  EXPECT_EQ(ran.load(), 10) << "Join must run the jobs still queued";
}

TEST(WorkerPoolTest, DestructorRunsJobsStillQueued) {
  std::atomic<int> ran{0};
  std::atomic<bool> saw_join{false};
  auto* pool = new WorkerPool(2);
  std::promise<void> started[2];
  std::future<void> started_f[2] = {started[0].get_future(), started[1].get_future()};
  // Both threads held until the destructor's Join has begun.
  for (int t = 0; t < 2; ++t)
    pool->Post([&, t] {
      started[t].set_value();
      bool seen = WaitUntilJoinBegins(*pool);
      if (t == 0) saw_join = seen;
    });
  for (auto& f : started_f) ASSERT_EQ(f.wait_for(kHang), std::future_status::ready);
  for (int i = 0; i < 10; ++i) pool->Post([&] { ran.fetch_add(1); });
  auto done = std::make_shared<std::promise<void>>();
  auto done_f = done->get_future();
  std::thread destroyer([pool, done] {
    delete pool;
    done->set_value();
  });
  ASSERT_EQ(done_f.wait_for(2 * kHang), std::future_status::ready) << "destruction hung";
  destroyer.join();
  EXPECT_TRUE(saw_join.load());
  EXPECT_EQ(ran.load(), 10) << "destroying the pool must run the jobs still queued";
}

TEST(WorkerPoolTest, PostAfterJoinIsDroppedWithoutCrashing) {
  WorkerPool pool(2);
  Tally tally;
  pool.Post([&] { tally.Add(); });
  pool.Join();
  EXPECT_EQ(tally.Count(), 1u);
  std::atomic<int> late{0};
  for (int i = 0; i < 100; ++i) pool.Post([&] { late.fetch_add(1); });
  pool.Join();  // a second Join is harmless
  EXPECT_EQ(late.load(), 0) << "posts after Join must not run";
}

TEST(WorkerPoolTest, PostAfterJoinReleasesTheJobsCaptures) {
  WorkerPool pool(1);
  pool.Join();
  auto token = std::make_shared<int>(7);
  std::weak_ptr<int> watch = token;
  pool.Post([token] { (void)*token; });
  token.reset();
  EXPECT_TRUE(watch.expired()) << "a dropped job must not be kept";
}

// Destroys a heap pool on another thread; false if that did not finish in time (the pool is
// then leaked rather than blocking the test binary).
bool DestroysPromptly(WorkerPool* pool) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  std::thread([pool, done] {
    delete pool;
    done->set_value();
  }).detach();
  return f.wait_for(kHang) == std::future_status::ready;
}

TEST(WorkerPoolTest, DestroyingAnIdlePoolReturnsPromptly) {
  EXPECT_TRUE(DestroysPromptly(new WorkerPool(4)));
}

TEST(WorkerPoolTest, DestroyingAPoolWhoseThreadsWentIdleReturnsPromptly) {
  auto* pool = new WorkerPool(4, std::chrono::microseconds(200));
  Tally tally;
  for (int i = 0; i < 50; ++i) pool->Post([&] { tally.Add(); });
  ASSERT_TRUE(tally.WaitFor(50, kHang));
  EXPECT_TRUE(DestroysPromptly(pool));
}

TEST(WorkerPoolTest, DestroyingWhileAThreadStandsByReturnsPromptly) {
  // One thread busy, the other standing by on its timer: a long interval must not delay exit.
  auto* pool = new WorkerPool(2, std::chrono::hours(1));
  Blocker slow;
  auto slow_started = slow.started.get_future();
  pool->Post(slow.Job());
  ASSERT_EQ(slow_started.wait_for(kHang), std::future_status::ready);
  slow.release.set_value();
  EXPECT_TRUE(DestroysPromptly(pool));
}

TEST(WorkerPoolTest, JobsMayPostMoreJobs) {
  WorkerPool pool(2);
  Tally tally;
  std::function<void(int)> chain = [&](int left) {
    tally.Add();
    if (left > 0) pool.Post([&, left] { chain(left - 1); });
  };
  pool.Post([&] { chain(99); });
  EXPECT_TRUE(tally.WaitFor(100, kHang)) << tally.Count() << " of 100 chained jobs ran";
  pool.Join();
}

}  // namespace
}  // namespace statehouse::http
