#include "storage/sql/sql.h"

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

}  // namespace statehouse::storage::sql
