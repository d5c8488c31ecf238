#include "storage/sqlite/sqlite_driver.h"

// Declares sqlite3_preupdate_hook (Debian's SQLite is built with it, for its session extension).
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include "common/error.h"
#include "storage/sqlite/wal_write_batching.h"

namespace statehouse::storage::sqlite {
namespace {

[[noreturn]] void ThrowSqlite(int rc, sqlite3* db, std::string_view what) {
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

// Statement journals stay in memory up to this size. A group commit runs each write in a
// savepoint, which journals the pages it changes; past SQLite's default of 64 KiB the journal
// went to a temporary file, two pwrites per page (54,000 in 6 s of 64 clients locking),
// ~10 us more per grouped write. sqlite3_config must come before SQLite initializes: static
// initialization, before main.
constexpr int kStatementJournalInMemory = 16 << 20;
[[maybe_unused]] const int statement_journal_configured =
    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kStatementJournalInMemory);

class SqliteConnection;
void CountCommit(SqliteConnection* connection);

class SqliteStatement final : public sql::StatementImpl {
 public:
  SqliteStatement(sqlite3_stmt* stmt, SqliteConnection* connection)
      : stmt_(stmt), connection_(connection) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }

  void BindText(int i, std::string_view text) override {
    Check(
        sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  void BindInt(int i, int64_t v) override { Check(sqlite3_bind_int64(stmt_, i, v)); }
  void BindBlob(int i, std::string_view bytes) override {
    Check(sqlite3_bind_blob64(stmt_, i, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
  }
  void BindNull(int i) override { Check(sqlite3_bind_null(stmt_, i)); }
  bool Step() override {
    int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_ROW) CountCommit(connection_);  // an autocommit write ends here
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    ThrowSqlite(rc, sqlite3_db_handle(stmt_), "step");
  }
  std::string Text(int col) const override {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n))
             : std::string();
  }
  std::string Blob(int col) const override {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) ThrowSqlite(rc, sqlite3_db_handle(stmt_), "bind");
  }
  sqlite3_stmt* stmt_;
  SqliteConnection* connection_;
};

// One per database file in this process. SQLite admits one writer at a time; waiting here,
// in line, beats SQLite's busy handler, which sleeps and retries (writers would poll).
struct SharedFile {
  std::mutex writer;
  CommitClock commits;      // exact: this process is the file's only writer
  CommitClock credentials;  // the commits among them that changed a token row
};

std::shared_ptr<SharedFile> SharedFileFor(const std::string& path) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<SharedFile>> registry;
  std::lock_guard lock(registry_mutex);
  auto& slot = registry[path];
  auto existing = slot.lock();
  if (existing) return existing;
  auto created = std::make_shared<SharedFile>();
  slot = created;
  return created;
}

class SqliteConnection final : public sql::Connection {
 public:
  // read_only: an existing file opened as it is (no journal-mode change), e.g. a backup copy.
  explicit SqliteConnection(const std::string& path, bool read_only = false)
      : shared_(SharedFileFor(path)) {
    int flags = read_only ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    // Writers batch their WAL writes (wal_write_batching.h; it relies on synchronous=FULL).
    int rc =
        sqlite3_open_v2(path.c_str(), &db_, flags, read_only ? nullptr : WalWriteBatchingVfs());
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      if (db_) sqlite3_close(db_);
      db_ = nullptr;
      Fail(ErrorCode::kUnavailable, "cannot open database " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
    if (read_only) return;
    // WAL lets readers run beside the writer; synchronous=FULL makes a COMMIT durable before it
    // returns, which is what "acknowledged only once durable" requires.
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=FULL");
    Exec("PRAGMA foreign_keys=ON");
    // Marks a commit in progress; the counter moves once the statement that commits has
    // returned, so no reader can see the new count before the new data.
    sqlite3_commit_hook(
        db_,
        [](void* self) {
          static_cast<SqliteConnection*>(self)->committing_ = true;
          return 0;
        },
        this);
    // Every row change, whatever statement made it (a foreign-key cascade from api_keys too),
    // passes here: a token row changed in this transaction moves the credentials clock when
    // it commits. Kept per connection and by table name, so no schema change can lose it.
    sqlite3_preupdate_hook(
        db_,
        [](void* self, sqlite3*, int, const char*, const char* table, sqlite3_int64,
           sqlite3_int64) {
          if (std::strcmp(table, "tokens") == 0)
            static_cast<SqliteConnection*>(self)->tokens_changed_ = true;
        },
        this);
  }
  ~SqliteConnection() override {
    cache_.clear();
    if (db_) sqlite3_close(db_);
  }

  void Exec(const std::string& sql) override {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    CountCommit();
    if (err) sqlite3_free(err);
    if (rc != SQLITE_OK) ThrowSqlite(rc, db_, "exec");
  }
  int64_t Changes() const override { return sqlite3_changes64(db_); }
  std::optional<int64_t> LastInsertRowid() const override { return sqlite3_last_insert_rowid(db_); }
  // One writer at a time, taken up front so a transaction never upgrades a read lock. Writers
  // of this process queue on writer_; other processes (admin commands) meet the busy timeout.
  void BeginWrite() override {
    writing_ = std::unique_lock<std::mutex>(shared_->writer);
    try {
      Exec("BEGIN IMMEDIATE");
    } catch (...) {
      writing_ = {};
      throw;
    }
  }
  void BeginRead() override { Exec("BEGIN"); }
  void Commit() override {
    Exec("COMMIT");
    writing_ = {};
  }
  void Rollback() noexcept override {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    committing_ = false;
    tokens_changed_ = false;
    writing_ = {};
  }
  // After any statement: a commit happened (or was attempted; counting one too many only
  // costs a cache miss).
  // A token row changed by a savepoint rolled back later still counts: one tick too many.
  void CountCommit() {
    if (!committing_) return;
    committing_ = false;
    shared_->commits.Tick();
    if (tokens_changed_) {
      tokens_changed_ = false;
      shared_->credentials.Tick();
    }
  }
  const char* ForUpdate() const override { return ""; }
  void LockMigrations() override {}  // BEGIN IMMEDIATE already excludes other writers
  bool Healthy() const override { return db_ != nullptr; }

 protected:
  sql::StatementImpl* PrepareImpl(const std::string& sql) override {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second.get();
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) ThrowSqlite(rc, db_, "prepare");
    auto owned = std::make_unique<SqliteStatement>(stmt, this);
    auto* raw = owned.get();
    cache_.emplace(sql, std::move(owned));
    return raw;
  }

 private:
  std::shared_ptr<SharedFile> shared_;
  std::unique_lock<std::mutex> writing_;
  bool committing_ = false;
  bool tokens_changed_ = false;  // since the last commit or rollback
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> cache_;
};

void CountCommit(SqliteConnection* connection) { connection->CountCommit(); }

}  // namespace

std::shared_ptr<const CommitClock> CommitCounter(const std::string& path) {
  auto shared = SharedFileFor(path);
  return {shared, &shared->commits};
}

std::shared_ptr<const CommitClock> CredentialsCounter(const std::string& path) {
  auto shared = SharedFileFor(path);
  return {shared, &shared->credentials};
}

std::unique_ptr<sql::Connection> Connect(const std::string& path) {
  return std::make_unique<SqliteConnection>(path);
}

std::unique_ptr<sql::Connection> ConnectReadOnly(const std::string& path) {
  return std::make_unique<SqliteConnection>(path, /*read_only=*/true);
}

void OnlineBackup(const std::string& source_path, const std::string& dest_path) {
  struct Handle {
    sqlite3* db = nullptr;
    ~Handle() {
      if (db) sqlite3_close(db);
    }
  } src, dst;
  // Read-write without CREATE: a missing file is an error, and a WAL database needs its -shm.
  int rc = sqlite3_open_v2(source_path.c_str(), &src.db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) ThrowSqlite(rc, src.db, "cannot open database " + source_path);
  sqlite3_busy_timeout(src.db, 10000);
  rc = sqlite3_open_v2(dest_path.c_str(), &dst.db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) ThrowSqlite(rc, dst.db, "cannot create " + dest_path);
  sqlite3_backup* backup = sqlite3_backup_init(dst.db, "main", src.db, "main");
  if (!backup) ThrowSqlite(sqlite3_errcode(dst.db), dst.db, "backup");
  // All pages in one step: one read transaction on the source, hence one snapshot. Under WAL
  // the server's writers go on meanwhile; only a rollback-journal writer mid-commit makes the
  // step busy, and then it is tried again.
  for (int attempt = 0;; ++attempt) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc == SQLITE_DONE) break;
    bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    if (!busy || attempt >= 200) {
      sqlite3_backup_finish(backup);
      ThrowSqlite(rc, dst.db, "backup step");
    }
    sqlite3_sleep(50);
  }
  rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_OK) ThrowSqlite(rc, dst.db, "backup");
  // The copy carries the source's WAL flag; make it one self-contained file.
  char* err = nullptr;
  rc = sqlite3_exec(dst.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) ThrowSqlite(rc, dst.db, "journal_mode of the copy");
}

}  // namespace statehouse::storage::sqlite
