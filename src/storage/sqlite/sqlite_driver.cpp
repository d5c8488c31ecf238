#include "storage/sqlite/sqlite_driver.h"

// Declares sqlite3_preupdate_hook (Debian's SQLite is built with it, for its session extension).
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/error.h"
#include "common/log.h"
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

// Copies the WAL back into the database file (a checkpoint) on a thread of its own, so that no
// request waits for it. SQLite's default runs a checkpoint inside the commit that takes the
// WAL past 1,000 pages: that writer (and, under group commit, every write of its batch) waited
// for up to 1,000 page copies and the database file's fsync (about 1.3 ms, README) once every
// few dozen commits. Writers now only wake this thread (the WAL hook, after their commit); past
// kWriterCheckpointFrames, when this thread cannot keep up, a writer checkpoints itself as
// SQLite would. Durability is SQLite's: the checkpoint is its own, with synchronous=FULL.
//
// A checkpoint copies the frames committed when it began; the WAL is written again from its
// start only once every frame is copied. Under steady writes that never happens by itself, so
// the frames committed meanwhile (few) are copied with this process's writers held back
// (writer_mutex), and the next write starts the WAL over: it stays near the mark in size.
class Checkpointer {
 public:
  static constexpr int kCheckpointFrames = 1000;  // SQLite's default auto-checkpoint
  static constexpr int kWriterCheckpointFrames = 8 * kCheckpointFrames;
  static constexpr int kBusyAttempts = 50;
  static constexpr std::chrono::milliseconds kBusyPause{2};

  Checkpointer(std::string path, std::mutex& writer_mutex)
      : path_(std::move(path)), writer_mutex_(writer_mutex) {}
  ~Checkpointer() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  // After a commit left frames in the WAL (the WAL hook; any thread).
  void Committed(sqlite3* db, const char* schema, int frames) {
    if (frames >= kWriterCheckpointFrames) {
      writer_runs_.fetch_add(1, std::memory_order_relaxed);
      sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      return;
    }
    if (frames < kCheckpointFrames) return;
    // A WAL that could not start over (a reader was in it) is checkpointed again only once
    // it has grown by a quarter of the mark, not after every commit.
    int last = checkpointed_frames_.load(std::memory_order_relaxed);
    if (frames >= last && frames - last < kCheckpointFrames / 4) return;
    {
      std::lock_guard lock(mutex_);
      if (pending_ || stop_) return;
      pending_ = true;
      // Started at the first checkpoint: files only read, or written little, need none.
      if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
    }
    wake_.notify_one();
  }
  WalCheckpointCounts Counts() const {
    return {background_runs_.load(std::memory_order_relaxed),
            writer_runs_.load(std::memory_order_relaxed)};
  }

 private:
  void Run() {
    sqlite3* db = nullptr;
    bool warned = false;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return pending_ || stop_; });
        if (stop_) break;
        pending_ = false;
      }
      if (!db && !Open(db)) {
        if (!warned) log::Warn("cannot open the database for checkpoints; writers will run them");
        warned = true;
        continue;
      }
      // Busy: another checkpoint (a writer's, another process's) or a lock taken in passing;
      // tried again shortly rather than at the next commit, which may be far off.
      int rc = SQLITE_BUSY;
      for (int attempt = 0; attempt < kBusyAttempts && (rc & 0xff) == SQLITE_BUSY; ++attempt) {
        if (attempt > 0) {
          std::unique_lock lock(mutex_);
          if (wake_.wait_for(lock, kBusyPause, [this] { return stop_; })) break;
        }
        rc = Checkpoint(db);
      }
      background_runs_.fetch_add(1, std::memory_order_relaxed);
      if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY && !warned) {
        log::Warn("WAL checkpoint failed", {{"error", sqlite3_errmsg(db)}});
        warned = true;
      }
    }
    if (db) sqlite3_close(db);
  }
  int Checkpoint(sqlite3* db) {
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK) return rc;
    // No write transaction runs meanwhile, so the next one begins on a WAL copied whole.
    std::lock_guard held(writer_mutex_);
    int frames = 0;
    rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, nullptr);
    checkpointed_frames_.store(frames, std::memory_order_relaxed);
    return rc;
  }
  bool Open(sqlite3*& db) {
    int rc = sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             WalWriteBatchingVfs());
    // The checkpoint syncs the WAL before copying and the file after, as synchronous says.
    if (rc == SQLITE_OK) {
      sqlite3_busy_timeout(db, 1000);
      rc = sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
    }
    if (rc == SQLITE_OK) return true;
    sqlite3_close(db);
    db = nullptr;
    return false;
  }

  const std::string path_;
  std::mutex& writer_mutex_;  // SharedFile::writer
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;  // under mutex_
  bool stop_ = false;     // under mutex_
  std::atomic<uint64_t> background_runs_{0}, writer_runs_{0};
  std::atomic<int> checkpointed_frames_{0};  // frames in the WAL at the last checkpoint
  std::thread thread_;                       // under mutex_
};

// One per database file in this process. SQLite admits one writer at a time; waiting here,
// in line, beats SQLite's busy handler, which sleeps and retries (writers would poll).
struct SharedFile {
  explicit SharedFile(const std::string& path) : checkpointer(path, writer) {}
  std::mutex writer;        // held by a write transaction from its BEGIN to its end
  CommitClock commits;      // exact: this process is the file's only writer
  CommitClock credentials;  // the commits among them that changed a token row
  Checkpointer checkpointer;
};

std::shared_ptr<SharedFile> SharedFileFor(const std::string& path) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<SharedFile>> registry;
  std::lock_guard lock(registry_mutex);
  auto& slot = registry[path];
  auto existing = slot.lock();
  if (existing) return existing;
  auto created = std::make_shared<SharedFile>(path);
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
    // Replaces SQLite's auto-checkpoint (itself a WAL hook): checkpoints run on the file's
    // Checkpointer thread, not in the committing request.
    sqlite3_wal_hook(
        db_,
        [](void* shared, sqlite3* db, const char* schema, int frames) {
          static_cast<SharedFile*>(shared)->checkpointer.Committed(db, schema, frames);
          return SQLITE_OK;
        },
        shared_.get());
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

WalCheckpointCounts WalCheckpoints(const std::string& path) {
  return SharedFileFor(path)->checkpointer.Counts();
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
