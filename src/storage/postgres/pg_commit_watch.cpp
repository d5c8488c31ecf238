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

// Notifications received, by channel.
struct Notes {
  uint64_t commits = 0;
  uint64_t credentials = 0;
  uint64_t Total() const { return commits + credentials; }
};

// The listening connection; its lifetime is one stretch of listening.
class Listener {
 public:
  Listener(const std::string& url, bool credentials_generation)
      : credentials_generation_(credentials_generation) {
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
    std::string sql = std::string("LISTEN ") + kCommitChannel;
    if (credentials_generation_) sql += std::string("; LISTEN ") + kCredentialsChannel;
    PGresult* r = PQexec(conn_, sql.c_str());
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (r) PQclear(r);
    return ok && PQsetnonblocking(conn_, 1) == 0;
  }

  // Sends a heartbeat and reads until its answer is complete or deadline passes: the
  // database's transaction snapshot as text (xmin:xmax:running ids) and, with
  // credentials_generation, that row's count, read in the same statement (so under the same
  // snapshot). Counts the notifications that arrived meanwhile; false when the connection
  // failed or timed out.
  bool Heartbeat(SteadyClock::time_point deadline, Notes& notes, std::string& snapshot,
                 std::string& generation) {
    const char* sql = credentials_generation_
                          ? "SELECT pg_current_snapshot()::text, "
                            "(SELECT n FROM credentials_generation WHERE id = 1)::text"
                          : "SELECT pg_current_snapshot()::text, ''";
    if (!PQsendQuery(conn_, sql)) return false;
    snapshot.clear();
    generation.clear();
    while (PQflush(conn_) == 1) {
      if (!Wait(POLLOUT, deadline)) return false;
    }
    for (;;) {
      if (!PQconsumeInput(conn_)) return false;
      Drain(notes);
      while (!PQisBusy(conn_)) {
        PGresult* r = PQgetResult(conn_);
        if (!r) {
          Drain(notes);
          return true;
        }
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        if (ok) {
          snapshot = PQgetvalue(r, 0, 0);
          generation = PQgetvalue(r, 0, 1);
        }
        PQclear(r);
        if (!ok) return false;
      }
      if (!Wait(POLLIN, deadline)) return false;
    }
  }

  // Waits until notifications arrive (returning at once, so they are counted without delay)
  // or deadline passes; false when the connection failed.
  bool Idle(SteadyClock::time_point deadline, Notes& notes) {
    while (SteadyClock::now() < deadline) {
      if (!Wait(POLLIN, deadline)) return true;  // quiet until the deadline
      if (!PQconsumeInput(conn_)) return false;
      Drain(notes);
      if (notes.Total()) return true;
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
  void Drain(Notes& notes) {
    while (PGnotify* note = PQnotifies(conn_)) {
      if (std::string_view(note->relname) == kCredentialsChannel)
        ++notes.credentials;
      else
        ++notes.commits;
      PQfreemem(note);
    }
  }

  PGconn* conn_ = nullptr;
  const bool credentials_generation_;
};

}  // namespace

CommitWatch::CommitWatch(std::string url, std::chrono::milliseconds staleness,
                         bool credentials_generation)
    : url_(std::move(url)),
      clock_(staleness),
      credentials_(staleness),
      credentials_generation_(credentials_generation),
      heartbeat_(std::max<std::chrono::milliseconds>(std::chrono::milliseconds(1), staleness / 5)) {
}

void CommitWatch::Start() {
  std::lock_guard lock(mutex_);
  if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { Run(); });
}

CommitWatch::~CommitWatch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_.store(true);
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
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
  // What the notifications heard say: a commit somewhere, or a change of token rows (also a
  // commit).
  auto heard = [&](const Notes& notes) {
    if (!notes.Total()) return;
    notifications_.fetch_add(notes.Total(), std::memory_order_relaxed);
    clock_.Tick();
    if (notes.credentials) credentials_.Tick();
  };
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_.load()) {
    Listener listener(url_, credentials_generation_);
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
    credentials_.Tick();
    std::string last_snapshot, last_generation;  // none yet on this connection
    while (!stop_.load()) {
      auto sent = SteadyClock::now();
      Notes notes;
      std::string snapshot, generation;
      bool alive = listener.Heartbeat(sent + clock_.Staleness(), notes, snapshot, generation);
      heard(notes);
      if (!alive) break;
      // A transaction that finished since the last heartbeat's snapshot either was running
      // then (listed) or started after it (at or above its xmax): either way this snapshot
      // differs. The first one on a connection has nothing to compare with, so it ticks, which
      // covers every commit before it.
      if (snapshot != last_snapshot) {
        if (!last_snapshot.empty()) snapshot_changes_.fetch_add(1, std::memory_order_relaxed);
        clock_.Tick();
        last_snapshot = std::move(snapshot);
      }
      // The generation row moves inside every transaction that changes token rows, so one
      // that committed before this snapshot shows here. The first heartbeat ticks as above; so
      // does every one while the row reads empty (missing: nothing to rely on).
      if (credentials_generation_ && (generation != last_generation || generation.empty())) {
        if (!last_generation.empty()) credentials_changes_.fetch_add(1, std::memory_order_relaxed);
        credentials_.Tick();
        last_generation = std::move(generation);
      }
      // Every commit acknowledged before `sent` finished before this heartbeat's snapshot was
      // taken, and has been counted by now.
      clock_.Confirm(sent);
      credentials_.Confirm(sent);
      auto next = sent + heartbeat_;
      // Idle in short slices, so a stop is noticed quickly.
      while (!stop_.load() && SteadyClock::now() < next) {
        Notes idle_notes;
        alive = listener.Idle(std::min(next, SteadyClock::now() + std::chrono::milliseconds(50)),
                              idle_notes);
        heard(idle_notes);
        if (!alive) break;
      }
      if (!alive) break;
    }
    if (!stop_.load())
      warn("lost the connection that listens for other replicas' commits; reconnecting", "");
  }
}

CommitNotifier::CommitNotifier(std::string url) : url_(std::move(url)) {
  thread_ = std::thread([this] { Run(); });
}

CommitNotifier::~CommitNotifier() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void CommitNotifier::Poke() {
  // Only the poke that finds nothing pending wakes the thread; the others ride along.
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard lock(mutex_);
  wake_.notify_one();
}

void CommitNotifier::Run() {
  PGconn* conn = nullptr;
  auto close = [&] {
    if (conn) PQfinish(conn);
    conn = nullptr;
  };
  SteadyClock::time_point retry_at{};  // after a failure, no new connection before this
  bool warned = false;                 // one warning per outage
  bool retried = false;                // the last NOTIFY failed and was sent again
  // Gives up on this notification: the others see the commit at their next heartbeat.
  auto fail = [&] {
    if (!warned)
      log::Warn("cannot notify other replicas of commits; they see them at their next heartbeat",
                {{"error", ErrorOf(conn)}});
    warned = true;
    close();
    retry_at = SteadyClock::now() + std::chrono::seconds(1);
  };
  SteadyClock::time_point not_before{};  // the previous NOTIFY + kNotifyInterval
  for (;;) {
    bool stopping;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || pending_.load(std::memory_order_acquire); });
      // The commits of the next kNotifyInterval share this notification.
      wake_.wait_until(lock, not_before, [&] { return stopping_; });
      stopping = stopping_;
    }
    if (!pending_.exchange(false, std::memory_order_acq_rel)) {
      if (stopping) break;
      continue;
    }
    if (!conn && SteadyClock::now() >= retry_at) {
      const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
      const char* values[] = {url_.c_str(), "5", "statehouse-commit-notify", nullptr};
      conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
      PGresult* r =
          PQstatus(conn) == CONNECTION_OK ? PQexec(conn, "SET synchronous_commit = off") : nullptr;
      bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
      if (r) PQclear(r);
      if (!ok) fail();
    }
    if (conn) {
      not_before = SteadyClock::now() + kNotifyInterval;
      PGresult* r = PQexec(conn, (std::string("NOTIFY ") + kCommitChannel).c_str());
      bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
      if (r) PQclear(r);
      if (ok) {
        sent_.fetch_add(1, std::memory_order_relaxed);
        if (warned) log::Info("notifying other replicas of commits again");
        warned = retried = false;
      } else if (!retried && !stopping) {
        // Most often a connection the database closed while it was idle (a restart): connect
        // again at once and send again, once.
        close();
        retried = true;
        pending_.store(true, std::memory_order_release);
      } else {
        fail();
      }
    }
    if (stopping) break;
  }
  close();
}

}  // namespace statehouse::storage::postgres
