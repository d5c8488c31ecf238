#include "storage/postgres/pg_commit_watch.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <string_view>

#include "common/log.h"

namespace statehouse::storage::postgres {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string ErrorOf(PGconn* conn) {
  std::string msg = conn ? PQerrorMessage(conn) : "out of memory";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

// The listening connection; its lifetime is one stretch of listening.
class Listener {
 public:
  explicit Listener(const std::string& url) {
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {url.c_str(), "5", "statehouse-commit-watch", nullptr};
    conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  }
  ~Listener() {
    if (conn_) PQfinish(conn_);
  }
  bool Connected() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }
  std::string Error() const { return ErrorOf(conn_); }

  bool Listen() {
    PGresult* r = PQexec(conn_, (std::string("LISTEN ") + kCommitChannel).c_str());
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (r) PQclear(r);
    return ok && PQsetnonblocking(conn_, 1) == 0;
  }

  // Sends a heartbeat and reads until its answer is complete or deadline passes. Counts the
  // notifications that arrived meanwhile; false when the connection failed or timed out.
  bool Heartbeat(SteadyClock::time_point deadline, uint64_t& notifications) {
    if (!PQsendQuery(conn_, "SELECT 1")) return false;
    while (PQflush(conn_) == 1) {
      if (!Wait(POLLOUT, deadline)) return false;
    }
    for (;;) {
      if (!PQconsumeInput(conn_)) return false;
      notifications += Drain();
      while (!PQisBusy(conn_)) {
        PGresult* r = PQgetResult(conn_);
        if (!r) {
          notifications += Drain();
          return true;
        }
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok) return false;
      }
      if (!Wait(POLLIN, deadline)) return false;
    }
  }

  // Waits until notifications arrive (returning at once, so they are counted without delay)
  // or deadline passes; false when the connection failed.
  bool Idle(SteadyClock::time_point deadline, uint64_t& notifications) {
    while (SteadyClock::now() < deadline) {
      if (!Wait(POLLIN, deadline)) return true;  // quiet until the deadline
      if (!PQconsumeInput(conn_)) return false;
      notifications += Drain();
      if (notifications) return true;
    }
    return true;
  }

 private:
  // true when the socket is ready before deadline.
  bool Wait(short events, SteadyClock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return false;
    pollfd p{PQsocket(conn_), events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count())));
    return n > 0;
  }
  uint64_t Drain() {
    uint64_t n = 0;
    while (PGnotify* note = PQnotifies(conn_)) {
      PQfreemem(note);
      ++n;
    }
    return n;
  }

  PGconn* conn_ = nullptr;
};

}  // namespace

CommitWatch::CommitWatch(std::string url, std::chrono::milliseconds staleness)
    : url_(std::move(url)),
      clock_(staleness),
      heartbeat_(std::max<std::chrono::milliseconds>(std::chrono::milliseconds(1), staleness / 5)) {
  thread_ = std::thread([this] { Run(); });
}

CommitWatch::~CommitWatch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_.store(true);
  wake_.notify_all();
  thread_.join();
}

bool CommitWatch::Sleep(SteadyClock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_until(lock, deadline, [&] { return stopping_; });
}

void CommitWatch::Run() {
  bool reported = false;  // one warning per outage...
  // ... and at most one a minute when heartbeats keep timing out on a slow database (each
  // timeout is an outage that ends at once).
  SteadyClock::time_point quiet_until{};
  bool logged = false;  // this outage's warning was written: its end will be too
  auto warn = [&](std::string_view message, std::string_view error) {
    reported = true;
    if (SteadyClock::now() < quiet_until) return;
    quiet_until = SteadyClock::now() + std::chrono::minutes(1);
    logged = true;
    if (error.empty()) {
      log::Warn(message);
    } else {
      log::Warn(message, {{"error", error}});
    }
  };
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_.load()) {
    Listener listener(url_);
    if (!listener.Connected() || !listener.Listen()) {
      if (!reported)
        warn("cannot listen for other replicas' commits; their answers are read afresh",
             listener.Error());
      if (!Sleep(SteadyClock::now() + backoff)) return;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    if (logged) log::Info("listening for other replicas' commits again");
    reported = logged = false;
    backoff = std::chrono::milliseconds(100);
    connects_.fetch_add(1, std::memory_order_relaxed);
    // Commits made while nobody listened went unseen: everything kept before is stale.
    clock_.Tick();
    while (!stop_.load()) {
      auto sent = SteadyClock::now();
      uint64_t notes = 0;
      bool alive = listener.Heartbeat(sent + clock_.Staleness(), notes);
      if (notes) {
        notifications_.fetch_add(notes, std::memory_order_relaxed);
        clock_.Tick();
      }
      if (!alive) break;
      // Every commit made before `sent` has notified this connection by now.
      clock_.Confirm(sent);
      auto next = sent + heartbeat_;
      // Idle in short slices, so a stop is noticed quickly.
      while (!stop_.load() && SteadyClock::now() < next) {
        uint64_t idle_notes = 0;
        alive = listener.Idle(std::min(next, SteadyClock::now() + std::chrono::milliseconds(50)),
                              idle_notes);
        if (idle_notes) {
          notifications_.fetch_add(idle_notes, std::memory_order_relaxed);
          clock_.Tick();
        }
        if (!alive) break;
      }
      if (!alive) break;
    }
    if (!stop_.load())
      warn("lost the connection that listens for other replicas' commits; reconnecting", "");
  }
}

}  // namespace statehouse::storage::postgres
