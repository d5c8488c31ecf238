// Thin RAII layer over the SQLite C API: connections with a statement cache, a small pool, and
// transactions. SQLite result codes become statehouse::Error here and nowhere else.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace statehouse::storage::sqlite {

class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();  // resets and clears bindings so the cached statement can be reused

  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::optional<int64_t> value);
  Statement& BindNull(int index);
  // Steps once; true while a row is available.
  bool Step();
  void Run() {
    while (Step()) {
    }
  }
  std::string Text(int col) const;
  int64_t Int(int col) const;
  std::optional<int64_t> OptInt(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3_stmt* stmt_;
};

class Connection {
 public:
  explicit Connection(const std::string& path);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Returns a cached prepared statement for sql (sql must outlive nothing: it is copied).
  Statement Prepare(const std::string& sql);
  void Exec(const std::string& sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// Throws the Error matching an SQLite result code (never leaks SQLite text to clients: the
// message is logged with an id by the HTTP layer when it is kInternal).
[[noreturn]] void ThrowSqlite(int rc, sqlite3* db, std::string_view what);

class ConnectionPool {
 public:
  ConnectionPool(std::string path, size_t size);

  // Runs fn with a connection of its own.
  template <typename Fn>
  auto With(Fn&& fn) {
    Lease lease(*this);
    return fn(*lease.conn);
  }

  // Runs fn inside BEGIN IMMEDIATE ... COMMIT; rolls back if fn throws.
  template <typename Fn>
  auto WriteTransaction(Fn&& fn) {
    Lease lease(*this);
    Connection& c = *lease.conn;
    c.Exec("BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(fn(c))>) {
        fn(c);
        c.Exec("COMMIT");
      } else {
        auto result = fn(c);
        c.Exec("COMMIT");
        return result;
      }
    } catch (...) {
      sqlite3_exec(c.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  // Read transaction: a consistent snapshot across several statements.
  template <typename Fn>
  auto ReadTransaction(Fn&& fn) {
    Lease lease(*this);
    Connection& c = *lease.conn;
    c.Exec("BEGIN");
    try {
      if constexpr (std::is_void_v<decltype(fn(c))>) {
        fn(c);
        c.Exec("COMMIT");
      } else {
        auto result = fn(c);
        c.Exec("COMMIT");
        return result;
      }
    } catch (...) {
      sqlite3_exec(c.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

 private:
  struct Lease {
    explicit Lease(ConnectionPool& p);
    ~Lease();
    ConnectionPool& pool;
    std::unique_ptr<Connection> conn;
  };
  std::string path_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t created_ = 0;
  size_t size_;
};

}  // namespace statehouse::storage::sqlite
