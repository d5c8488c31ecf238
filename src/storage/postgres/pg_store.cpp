#include "storage/postgres/pg_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/util.h"
#include "storage/postgres/pg_commit_watch.h"
#include "storage/postgres/pg_driver.h"
#include "storage/sql/sql_stores.h"

namespace statehouse::storage {
namespace {

constexpr size_t kChunk = 1 << 20;

// Blobs as 1 MiB rows in PostgreSQL, so every replica reads what any replica wrote. A blob is
// inserted with its chunks in one transaction: readers see all of it or none. Sends go through
// a local, content-addressed cache file (a blob never changes, so the cache never goes stale).
class PgBlobStore final : public BlobStore {
 public:
  PgBlobStore(sql::ConnectionPool& pool, std::string cache_dir)
      : pool_(pool), cache_(std::move(cache_dir)) {}

  void Put(std::string_view sha256, const std::string& spool_path) override {
    int fd = ::open(spool_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail(ErrorCode::kInternal, "cannot reopen the uploaded body");
    try {
      Insert(sha256, [&](std::string& chunk) {
        chunk.resize(kChunk);
        size_t got = 0;
        while (got < kChunk) {
          ssize_t n = ::read(fd, chunk.data() + got, kChunk - got);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) Fail(ErrorCode::kInternal, "cannot read the uploaded body");
          if (n == 0) break;
          got += static_cast<size_t>(n);
        }
        chunk.resize(got);
        return got > 0;
      });
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }

  void PutBytes(std::string_view sha256, std::string_view bytes) override {
    size_t offset = 0;
    Insert(sha256, [&](std::string& chunk) {
      if (offset >= bytes.size()) return false;
      chunk.assign(bytes.substr(offset, kChunk));
      offset += chunk.size();
      return true;
    });
  }

  std::optional<std::string> LocalPath(std::string_view sha256) override {
    if (!IsSha256Hex(sha256)) return std::nullopt;
    std::string path = cache_ + "/" + std::string(sha256);
    if (::access(path.c_str(), R_OK) == 0) return path;
    // Materialise chunk by chunk (memory stays flat), then rename into place.
    std::error_code ec;
    std::filesystem::create_directories(cache_ + "/.incoming", ec);
    std::string tmp = cache_ + "/.incoming/" + RandomHex(12);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return std::nullopt;
    bool ok = true;
    try {
      ForEachChunk(sha256, [&](const std::string& data) {
        const char* p = data.data();
        size_t left = data.size();
        while (left > 0 && ok) {
          ssize_t w = ::write(fd, p, left);
          if (w < 0 && errno == EINTR) continue;
          ok = w > 0;
          if (ok) {
            p += w;
            left -= static_cast<size_t>(w);
          }
        }
      });
    } catch (...) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw;
    }
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
      ::unlink(tmp.c_str());
      return std::nullopt;
    }
    return path;
  }

  std::string Read(std::string_view sha256) override {
    std::string out;
    ForEachChunk(sha256, [&](const std::string& data) { out += data; });
    return out;
  }

  // One statement per batch: it deletes blobs untouched for the grace period that no row
  // references, with their chunks. A Put of the same blob refreshes touched under the row
  // lock, which the DELETE re-checks (touched is on the DELETE itself, not only in its
  // subquery), so every replica and `admin gc` may sweep at any time.
  SweepResult Sweep(const std::function<bool(std::string_view)>&, int64_t grace_seconds,
                    int64_t abandon_seconds) override {
    SweepResult out;
    const int64_t before = NowMillis() - grace_seconds * 1000;
    constexpr int64_t kBatch = 1000;
    for (;;) {
      std::vector<std::pair<std::string, int64_t>> gone =
          pool_.WriteTransaction([&](sql::Connection& c) {
            sql::Statement del = c.Prepare(
                "WITH gone AS (DELETE FROM blobs b WHERE b.touched < ? AND b.sha256 IN ("
                "SELECT x.sha256 FROM blobs x WHERE x.touched < ? AND NOT EXISTS (SELECT 1 FROM "
                "workspace_data d WHERE d.sha256 = x.sha256) AND NOT EXISTS (SELECT 1 FROM "
                "remote_executions r WHERE r.sha256 = x.sha256) LIMIT ?) "
                "AND NOT EXISTS (SELECT 1 FROM workspace_data d WHERE d.sha256 = b.sha256) "
                "AND NOT EXISTS (SELECT 1 FROM remote_executions r WHERE r.sha256 = b.sha256) "
                "RETURNING b.sha256, b.size), "
                "chunks AS (DELETE FROM blob_chunks k USING gone WHERE k.sha256 = gone.sha256) "
                "SELECT sha256, size FROM gone");
            del.Bind(1, before).Bind(2, before).Bind(3, kBatch);
            std::vector<std::pair<std::string, int64_t>> rows;
            while (del.Step()) rows.emplace_back(del.Text(0), del.Int(1));
            return rows;
          });
      for (const auto& [sha, size] : gone) {
        ++out.removed_blobs;
        out.removed_bytes += size;
        ::unlink((cache_ + "/" + sha).c_str());  // this replica's copy
      }
      if (static_cast<int64_t>(gone.size()) < kBatch) break;
    }
    SweepCache(grace_seconds, abandon_seconds, out);
    return out;
  }

  void Backdate(std::string_view sha256, int64_t seconds) override {
    pool_.WriteTransaction([&](sql::Connection& c) {
      sql::Statement s = c.Prepare("UPDATE blobs SET touched = touched - ? WHERE sha256 = ?");
      s.Bind(1, seconds * 1000).Bind(2, sha256).Run();
    });
  }

 private:
  template <typename Next>
  void Insert(std::string_view sha256, Next&& next) {
    if (!IsSha256Hex(sha256)) Fail(ErrorCode::kInternal, "blob names are SHA-256 hex digests");
    pool_.WriteTransaction([&](sql::Connection& c) {
      // Content-addressed: already stored, so refresh it. The UPDATE takes the row lock the
      // sweep's DELETE takes: it waits for a sweep deleting this blob (and then finds nothing,
      // so stores it anew) or makes the sweep wait and re-check touched (and keep it).
      sql::Statement touch = c.Prepare("UPDATE blobs SET touched = ? WHERE sha256 = ?");
      touch.Bind(1, NowMillis()).Bind(2, sha256).Run();
      if (c.Changes() == 1) return;
      std::string chunk;
      int64_t n = 0, size = 0;
      while (next(chunk)) {
        // Identical uploads may race (client retries): the loser waits on the winner's rows
        // and skips them.
        sql::Statement ins = c.Prepare(
            "INSERT INTO blob_chunks(sha256, chunk, data) VALUES(?,?,?) ON CONFLICT DO NOTHING");
        ins.Bind(1, sha256).Bind(2, n++).BindBlob(3, chunk).Run();
        size += static_cast<int64_t>(chunk.size());
      }
      sql::Statement meta = c.Prepare(
          "INSERT INTO blobs(sha256, size, chunks, touched) VALUES(?,?,?,?) ON CONFLICT (sha256) "
          "DO UPDATE SET touched = excluded.touched");
      meta.Bind(1, sha256).Bind(2, size).Bind(3, n).Bind(4, NowMillis()).Run();
    });
  }

  template <typename Sink>
  void ForEachChunk(std::string_view sha256, Sink&& sink) {
    if (!IsSha256Hex(sha256)) Fail(ErrorCode::kNotFound, "no such blob");
    int64_t chunks = pool_.With([&](sql::Connection& c) {
      sql::Statement s = c.Prepare("SELECT chunks FROM blobs WHERE sha256 = ?");
      s.Bind(1, sha256);
      if (!s.Step()) Fail(ErrorCode::kNotFound, "blob " + std::string(sha256) + " is missing");
      return s.Int(0);
    });
    // One chunk per query keeps memory at one chunk whatever the blob's size.
    for (int64_t i = 0; i < chunks; ++i) {
      std::string data = pool_.With([&](sql::Connection& c) {
        sql::Statement s = c.Prepare("SELECT data FROM blob_chunks WHERE sha256 = ? AND chunk = ?");
        s.Bind(1, sha256).Bind(2, i);
        if (!s.Step()) Fail(ErrorCode::kInternal, "blob " + std::string(sha256) + " is incomplete");
        return s.Blob(0);
      });
      sink(data);
    }
  }

  // Cached copies of blobs deleted by another replica's sweep, and abandoned cache writes.
  void SweepCache(int64_t grace_seconds, int64_t abandon_seconds, SweepResult& out) {
    namespace fs = std::filesystem;
    const time_t now = ::time(nullptr);
    std::error_code ec;
    for (fs::directory_iterator f(cache_, ec), end; !ec && f != end; f.increment(ec)) {
      std::string sha = f->path().filename().string();
      if (!IsSha256Hex(sha)) continue;
      struct stat st {};
      if (::lstat(f->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (now - st.st_mtime < grace_seconds) continue;
      bool exists = pool_.With([&](sql::Connection& c) {
        sql::Statement s = c.Prepare("SELECT 1 FROM blobs WHERE sha256 = ?");
        s.Bind(1, sha);
        return s.Step();
      });
      if (!exists) ::unlink(f->path().c_str());
    }
    for (fs::directory_iterator f(cache_ + "/.incoming", ec), end; !ec && f != end;
         f.increment(ec)) {
      struct stat st {};
      if (::lstat(f->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (now - st.st_mtime < abandon_seconds) continue;
      if (::unlink(f->path().c_str()) == 0) {
        ++out.removed_temp_files;
        out.removed_temp_bytes += static_cast<int64_t>(st.st_size);
      }
    }
  }

  sql::ConnectionPool& pool_;
  std::string cache_;
};

}  // namespace

std::unique_ptr<Database> OpenPostgres(const std::string& url, const std::string& cache_dir,
                                       size_t pool_size, std::chrono::milliseconds staleness) {
  std::shared_ptr<postgres::CommitWatch> watch =
      staleness.count() > 0
          ? std::make_shared<postgres::CommitWatch>(url, staleness, /*credentials_generation=*/true)
          : nullptr;
  // The connections hold the clocks (and so the watch) for as long as they live.
  std::shared_ptr<CommitClock> clock = watch ? std::shared_ptr<CommitClock>(watch, &watch->Clock())
                                             : std::make_shared<CommitClock>();
  std::shared_ptr<CommitClock> credentials =
      watch ? std::shared_ptr<CommitClock>(watch, &watch->Credentials()) : nullptr;
  // Other replicas may cache even when this one does not: commits are always announced.
  auto notifier = std::make_shared<postgres::CommitNotifier>(url);
  auto pool = std::make_unique<sql::ConnectionPool>(
      [url, clock, notifier, credentials] {
        return postgres::Connect(url, clock.get(), notifier.get(), credentials.get());
      },
      pool_size,
      /*acquire_timeout_ms=*/5000);
  auto db = sql::MakeDatabase(
      "postgres", std::move(pool), PostgresMigrations(),
      [cache_dir](sql::ConnectionPool& p) { return std::make_unique<PgBlobStore>(p, cache_dir); },
      watch ? clock : nullptr,
      [watch, notifier] {
        Database::ReplicaSignalCounts counts;
        counts.notifications_sent = notifier->Sent();
        if (watch) {
          counts.notifications_received = watch->Notifications();
          counts.snapshot_changes = watch->SnapshotChanges();
        }
        return counts;
      },
      credentials);
  // The heartbeat reads the credentials_generation row: listen once the migrations are in.
  if (watch) watch->Start();
  return db;
}

}  // namespace statehouse::storage
