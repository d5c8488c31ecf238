#include "storage/sqlite/sqlite_db.h"

#include "common/error.h"

namespace statehouse::storage::sqlite {

void ThrowSqlite(int rc, sqlite3* db, std::string_view what) {
  std::string detail = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      Fail(ErrorCode::kUnavailable, "database busy: " + detail);
    case SQLITE_CONSTRAINT:
      Fail(ErrorCode::kConflict, "constraint violated: " + detail);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      Fail(ErrorCode::kUnavailable, "database unavailable: " + detail);
    default:
      Fail(ErrorCode::kInternal, "sqlite error: " + detail);
  }
}

Statement::~Statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Statement& Statement::Bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                             SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) ThrowSqlite(rc, sqlite3_db_handle(stmt_), "bind");
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) ThrowSqlite(rc, sqlite3_db_handle(stmt_), "bind");
  return *this;
}

Statement& Statement::Bind(int index, std::optional<int64_t> value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) ThrowSqlite(rc, sqlite3_db_handle(stmt_), "bind");
  return *this;
}

bool Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  ThrowSqlite(rc, sqlite3_db_handle(stmt_), "step");
}

std::string Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::optional<int64_t> Statement::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Connection::Connection(const std::string& path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
    Fail(ErrorCode::kUnavailable, "cannot open database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 10000);
  // WAL lets readers run beside the writer; synchronous=FULL makes a COMMIT durable before it
  // returns, which is what "acknowledged only once durable" requires.
  Exec("PRAGMA journal_mode=WAL");
  Exec("PRAGMA synchronous=FULL");
  Exec("PRAGMA foreign_keys=ON");
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  if (db_) sqlite3_close(db_);
}

Statement Connection::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Statement(it->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) ThrowSqlite(rc, db_, "prepare");
  cache_.emplace(sql, stmt);
  return Statement(stmt);
}

void Connection::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) ThrowSqlite(rc, db_, "exec");
}

ConnectionPool::ConnectionPool(std::string path, size_t size)
    : path_(std::move(path)), size_(size == 0 ? 1 : size) {
  // Open one connection eagerly so a bad path fails at start, not on the first request.
  idle_.push_back(std::make_unique<Connection>(path_));
  created_ = 1;
}

ConnectionPool::Lease::Lease(ConnectionPool& p) : pool(p) {
  std::unique_lock lock(p.mutex_);
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
        conn = std::make_unique<Connection>(p.path_);
      } catch (...) {
        std::lock_guard relock(p.mutex_);
        --p.created_;
        throw;
      }
      return;
    }
    p.available_.wait(lock);
  }
}

ConnectionPool::Lease::~Lease() {
  if (!conn) return;
  {
    std::lock_guard lock(pool.mutex_);
    pool.idle_.push_back(std::move(conn));
  }
  pool.available_.notify_one();
}

}  // namespace statehouse::storage::sqlite
