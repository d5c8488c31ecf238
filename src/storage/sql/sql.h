// The SQL layer the stores are written against once, with a driver per database (SQLite,
// PostgreSQL). Statements use '?' placeholders; drivers translate. Driver failures become
// statehouse::Error here and nowhere above.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace statehouse::storage::sql {

// A driver's prepared statement. Owned and cached by its connection.
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void BindText(int index, std::string_view text) = 0;
  virtual void BindInt(int index, int64_t value) = 0;
  virtual void BindBlob(int index, std::string_view bytes) = 0;
  virtual void BindNull(int index) = 0;
  virtual bool Step() = 0;  // executes on the first call; true while a row is available
  virtual std::string Text(int col) const = 0;
  virtual std::string Blob(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual bool IsNull(int col) const = 0;
  virtual void Reset() = 0;  // clears bindings and results for reuse
};

// A statement handle; resets its cached statement when it goes out of scope.
class Statement {
 public:
  explicit Statement(StatementImpl* impl) : impl_(impl) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { impl_->Reset(); }

  Statement& Bind(int index, std::string_view text) {
    impl_->BindText(index, text);
    return *this;
  }
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, std::string_view(text));
  }
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, int64_t value) {
    impl_->BindInt(index, value);
    return *this;
  }
  Statement& Bind(int index, std::optional<int64_t> value) {
    if (value)
      impl_->BindInt(index, *value);
    else
      impl_->BindNull(index);
    return *this;
  }
  Statement& BindBlob(int index, std::string_view bytes) {
    impl_->BindBlob(index, bytes);
    return *this;
  }
  Statement& BindNull(int index) {
    impl_->BindNull(index);
    return *this;
  }
  bool Step() { return impl_->Step(); }
  void Run() {
    while (Step()) {
    }
  }
  std::string Text(int col) const { return impl_->Text(col); }
  std::string Blob(int col) const { return impl_->Blob(col); }
  int64_t Int(int col) const { return impl_->Int(col); }
  std::optional<int64_t> OptInt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  bool IsNull(int col) const { return impl_->IsNull(col); }

 private:
  StatementImpl* impl_;
};

class Connection {
 public:
  virtual ~Connection() = default;
  Statement Prepare(const std::string& sql) { return Statement(PrepareImpl(sql)); }
  // Runs one or more statements without results (migrations, pragmas).
  virtual void Exec(const std::string& sql) = 0;
  // Rows changed by the last statement.
  virtual int64_t Changes() const = 0;
  // The rowid of the newest INSERT on this connection where the database has one (SQLite):
  // there an insert need not say RETURNING, which makes SQLite gather the returned rows in a
  // temporary table before the first is read. nullopt elsewhere (use RETURNING).
  virtual std::optional<int64_t> LastInsertRowid() const { return std::nullopt; }
  virtual void BeginWrite() = 0;  // serialises writers where the database needs it
  // Opens a write that sends exactly one statement (ConnectionPool::SingleStatementWrite):
  // where a lone statement commits by itself (PostgreSQL), no BEGIN or COMMIT is sent and a
  // second statement fails with kInternal; elsewhere it is BeginWrite.
  virtual void BeginSingleStatementWrite() { BeginWrite(); }
  virtual void BeginRead() = 0;  // a consistent snapshot
  virtual void Commit() = 0;
  virtual void Rollback() noexcept = 0;
  // " FOR UPDATE" where the database locks rows that way, "" where writers are serialised.
  virtual const char* ForUpdate() const = 0;
  // True where a WITH clause may hold INSERTs (PostgreSQL): statements that would take one
  // round trip each are then sent as one.
  virtual bool DataModifyingWith() const { return false; }
  // Serialises schema migrations across processes starting together (held to the end of the
  // current transaction).
  virtual void LockMigrations() = 0;
  // False once the connection is broken; the pool then drops it.
  virtual bool Healthy() const = 0;
  // The current write transaction changes token rows. Where the process cannot see which rows
  // a commit changed (PostgreSQL), its end then moves Database::CredentialsCounter; SQLite's
  // row hook sees them without being told.
  virtual void ChangesCredentials() {}

 protected:
  virtual StatementImpl* PrepareImpl(const std::string& sql) = 0;
};

// Whether an error is worth retrying the whole transaction for (serialisation failures,
// deadlocks); drivers throw this type for those.
class RetryableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConnectionPool {
 public:
  using Factory = std::function<std::unique_ptr<Connection>()>;
  // At most size connections; a caller waits up to acquire_timeout_ms for one, then gets
  // kUnavailable.
  ConnectionPool(Factory factory, size_t size, int64_t acquire_timeout_ms = 5000);

  // Runs fn with a connection of its own. A connection found broken (the database restarted
  // since it was last used) is replaced and fn tried once more.
  template <typename Fn>
  auto With(Fn&& fn) {
    Timed timed(*this, false);
    for (int attempt = 1;; ++attempt) {
      Lease lease(*this);
      try {
        return fn(*lease.conn);
      } catch (...) {
        if (attempt > 1 || lease.conn->Healthy()) throw;
      }
    }
  }

  // Told the duration of every transaction and every single-statement read, with whether it
  // wrote (metrics). Set once, before the pool is used.
  std::function<void(bool write, double seconds)> observer;

  // Runs fn in a write transaction; rolls back if it throws; retries a few times when the
  // database reports a serialisation failure or deadlock. With group commit, fn runs in a
  // savepoint of a transaction it may share with the writes queued beside it, and returns
  // once the commit that covers it is durable.
  template <typename Fn>
  auto WriteTransaction(Fn&& fn) {
    if (!group_commit_) return Transaction(fn, true);
    Timed timed(*this, true);
    using Result = decltype(fn(std::declval<Connection&>()));
    if constexpr (std::is_void_v<Result>) {
      GroupedWrite write([&fn](Connection& c) { fn(c); });
      RunGrouped(write);
    } else {
      std::optional<Result> result;
      GroupedWrite write([&fn, &result](Connection& c) { result.emplace(fn(c)); });
      RunGrouped(write);
      return std::move(*result);
    }
  }

  // WriteTransaction that does not wait for its commit. Under group commit, work joins the
  // queue and this returns; if no commit is being led, the caller leads, and runs what is
  // queued until the queue is empty, before it returns. done(error) runs once the commit that
  // covers work is durable (error null), or when work failed (its error; nothing it did was
  // kept), on the thread that led that commit: it must not throw, should be brief (the next
  // commit waits for it), and must not write through this pool (that write would wait for
  // the leader, which is waiting for done). Without group commit, the transaction runs here,
  // then done.
  // A request whose thread would otherwise sleep until its commit leaves that thread free for
  // the next request, and batches are not bounded by the number of threads.
  void SubmitWrite(std::function<void(Connection&)> work,
                   std::function<void(std::exception_ptr)> done);
  bool GroupCommitEnabled() const { return group_commit_; }

  // Group commit (for databases with one writer at a time, where a commit costs an fsync):
  // concurrent WriteTransactions are gathered into one transaction and one commit, each in
  // its own savepoint, so one that fails rolls back only its own changes. The first writer to
  // arrive leads: it runs what is queued, at most max_batch writes or max_batch_ms of work per
  // commit, while later ones wait; a lone writer waits for nobody. Set once, before use.
  void EnableGroupCommit(size_t max_batch, int64_t max_batch_ms) {
    group_commit_ = true;
    max_batch_ = max_batch == 0 ? 1 : max_batch;
    max_batch_ms_ = max_batch_ms;
  }
  // Commits and writes per commit since the start (metrics, tests).
  struct GroupCommitCounts {
    uint64_t commits = 0, writes = 0;
  };
  GroupCommitCounts GroupCommits() const;
  template <typename Fn>
  auto ReadTransaction(Fn&& fn) {
    return Transaction(fn, false);
  }
  // WriteTransaction for work that is one statement where the database can run it so
  // (Connection::BeginSingleStatementWrite: PostgreSQL, one round trip instead of three);
  // elsewhere, and under group commit, it is WriteTransaction and fn may send several. There
  // nothing rolls the statement back: fn may throw only when it changed nothing.
  template <typename Fn>
  auto SingleStatementWrite(Fn&& fn) {
    if (group_commit_) return WriteTransaction(fn);
    return Transaction(fn, true, /*single_statement=*/true);
  }

 private:
  // Reports the lifetime of a scope to the observer (from waiting for a connection to the
  // commit: what the caller waited).
  struct Timed {
    Timed(ConnectionPool& p, bool w)
        : pool(p),
          write(w),
          start(pool.observer ? std::chrono::steady_clock::now()
                              : std::chrono::steady_clock::time_point()) {}
    ~Timed() {
      if (pool.observer)
        pool.observer(
            write, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    ConnectionPool& pool;
    bool write;
    std::chrono::steady_clock::time_point start;
  };

  template <typename Fn>
  auto Transaction(Fn& fn, bool write, bool single_statement = false) {
    Timed timed(*this, write);
    for (int attempt = 1;; ++attempt) {
      Lease lease(*this);
      Connection& c = *lease.conn;
      try {
        if (single_statement)
          c.BeginSingleStatementWrite();
        else if (write)
          c.BeginWrite();
        else
          c.BeginRead();
        if constexpr (std::is_void_v<decltype(fn(c))>) {
          fn(c);
          c.Commit();
          return;
        } else {
          auto result = fn(c);
          c.Commit();
          return result;
        }
      } catch (const RetryableError&) {
        c.Rollback();
        if (attempt >= 5) ThrowContention();
      } catch (...) {
        c.Rollback();
        // A stale connection fails on its first use: retry once on a fresh one (nothing was
        // committed).
        if (attempt > 1 || c.Healthy()) throw;
      }
    }
  }
  [[noreturn]] static void ThrowContention();

  // One queued write of a group commit: its work and, once done, its outcome.
  struct GroupedWrite {
    explicit GroupedWrite(std::function<void(Connection&)> w) : work(std::move(w)) {}
    std::function<void(Connection&)> work;
    std::exception_ptr error;
    bool ran = false;     // its savepoint was released or rolled back (the leader's)
    bool queued = false;  // in group_queue_, no leader has taken it (under group_mutex_)
    // Its own signal, so a waiter woken does not queue on group_mutex_ behind the leader
    // that is still waking the others. Under signal_mutex:
    std::mutex signal_mutex;
    std::condition_variable wake;
    bool done = false;  // its outcome is final (committed, or error set)
    bool lead = false;  // asked to lead the next commit
    // A SubmitWrite's: nobody waits on the signal; the leader calls this and deletes the
    // write once its outcome is final.
    std::function<void(std::exception_ptr)> on_done;
    std::chrono::steady_clock::time_point submitted;
  };
  void RunGrouped(GroupedWrite& write);
  // Under group_mutex_ (held by lock on entry and on return): leads commits while
  // keep_leading() holds, then hands the lead to the writer at the front of the queue, if
  // any. self: the leader's own write (it returns by itself; the others are finished here).
  void Lead(std::unique_lock<std::mutex>& lock, GroupedWrite* self,
            const std::function<bool()>& keep_leading);
  // A write whose outcome is final: its waiter woken, or a SubmitWrite's done called.
  void Finish(GroupedWrite* write);
  void CommitBatch(std::vector<GroupedWrite*>& batch, std::vector<GroupedWrite*>& requeue);
  void RunAlone(GroupedWrite& write);

  bool group_commit_ = false;
  size_t max_batch_ = 1;
  int64_t max_batch_ms_ = 0;
  std::mutex group_mutex_;
  std::vector<GroupedWrite*> group_queue_;
  bool group_leader_ = false;
  std::atomic<uint64_t> group_commits_{0}, group_writes_{0};

  struct Lease {
    explicit Lease(ConnectionPool& p);
    ~Lease();
    ConnectionPool& pool;
    std::unique_ptr<Connection> conn;
  };
  Factory factory_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t created_ = 0;
  size_t size_;
  int64_t acquire_timeout_ms_;
};

}  // namespace statehouse::storage::sql
