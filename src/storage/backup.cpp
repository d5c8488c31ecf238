#include "storage/backup.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/util.h"
#include "storage/postgres/pg_driver.h"
#include "storage/sql/sql.h"
#include "storage/sqlite/sqlite_driver.h"

namespace statehouse::storage {
namespace {

int64_t Count(sql::Connection& c, const std::string& query) {
  sql::Statement s = c.Prepare(query);
  return s.Step() ? s.Int(0) : 0;
}

}  // namespace

SnapshotContents ReadSnapshotContents(sql::Connection& c) {
  SnapshotContents out;
  out.accounts = Count(c, "SELECT count(*) FROM accounts");
  out.orgs = Count(c, "SELECT count(*) FROM orgs");
  out.projects = Count(c, "SELECT count(*) FROM projects");
  out.workspaces = Count(c, "SELECT count(*) FROM workspaces");
  out.state_versions =
      Count(c, "SELECT count(*) FROM workspace_data WHERE data_type = 'state_raw'");
  out.data_records = Count(c, "SELECT count(*) FROM workspace_data");
  out.remote_executions = Count(c, "SELECT count(*) FROM remote_executions");
  out.runs = Count(c, "SELECT count(*) FROM runs");
  // Every column naming a blob. An upload not received yet has sha256 ''.
  sql::Statement s = c.Prepare(
      "SELECT sha256, MAX(size) FROM ("
      "SELECT sha256, size FROM workspace_data "
      "UNION ALL SELECT sha256, size FROM remote_executions WHERE sha256 <> ''"
      ") AS refs GROUP BY sha256 ORDER BY sha256");
  while (s.Step()) {
    BlobRef ref{s.Text(0), s.Int(1)};
    if (!IsSha256Hex(ref.sha256))
      Fail(ErrorCode::kInternal, "a row names the blob '" + ref.sha256 + "', not a SHA-256");
    out.blob_bytes += ref.size;
    out.blobs.push_back(std::move(ref));
  }
  return out;
}

std::string SqliteBlobDirectory(const std::string& db_path) {
  std::filesystem::path dir = std::filesystem::path(db_path).parent_path();
  return (dir.empty() ? std::string(".") : dir.string()) + "/blobs";
}

std::string BlobFilePath(const std::string& blob_directory, std::string_view sha256) {
  return blob_directory + "/" + std::string(sha256.substr(0, 2)) + "/" + std::string(sha256);
}

namespace {

int OpenSweepLock(const std::string& blob_directory) {
  std::string path = blob_directory + "/.sweep.lock";
  // Read-only is enough for flock, and 0644 lets a backup run as another user than the server.
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) Fail(ErrorCode::kUnavailable, "cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

}  // namespace

BlobSweepLock BlobSweepLock::ForBackup(const std::string& blob_directory) {
  std::error_code ec;
  std::filesystem::create_directories(blob_directory, ec);
  int fd = OpenSweepLock(blob_directory);
  int rc;
  do {
    rc = ::flock(fd, LOCK_SH);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    Fail(ErrorCode::kUnavailable, "cannot lock " + blob_directory + "/.sweep.lock: " + why);
  }
  return BlobSweepLock(fd);
}

std::optional<BlobSweepLock> BlobSweepLock::TryForSweep(const std::string& blob_directory) {
  int fd = OpenSweepLock(blob_directory);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return BlobSweepLock(fd);
}

BlobSweepLock::~BlobSweepLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock
}

SnapshotContents ReadSqliteFileContents(const std::string& db_path) {
  auto c = sqlite::ConnectReadOnly(db_path);
  c->BeginRead();
  try {
    SnapshotContents out = ReadSnapshotContents(*c);
    c->Commit();
    return out;
  } catch (...) {
    c->Rollback();
    throw;
  }
}

PostgresSnapshot::PostgresSnapshot(const std::string& url) : conn_(postgres::Connect(url)) {
  conn_->Exec("SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0");
  conn_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  sql::Statement s = conn_->Prepare("SELECT pg_export_snapshot(), current_database()");
  if (!s.Step()) Fail(ErrorCode::kInternal, "pg_export_snapshot returned nothing");
  snapshot_id_ = s.Text(0);
  database_ = s.Text(1);
}

PostgresSnapshot::~PostgresSnapshot() {
  if (conn_) conn_->Rollback();
}

SnapshotContents PostgresSnapshot::Contents() { return ReadSnapshotContents(*conn_); }

std::vector<std::string> PostgresSnapshot::Tables() {
  std::vector<std::string> out;
  sql::Statement s = conn_->Prepare(
      "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1");
  while (s.Step()) out.push_back(s.Text(0));
  return out;
}

void PostgresSnapshot::ReadBlob(std::string_view sha256,
                                const std::function<void(std::string_view)>& sink) {
  int64_t chunks = 0;
  {
    sql::Statement s = conn_->Prepare("SELECT chunks FROM blobs WHERE sha256 = ?");
    s.Bind(1, sha256);
    if (!s.Step()) Fail(ErrorCode::kNotFound, "blob " + std::string(sha256) + " is missing");
    chunks = s.Int(0);
  }
  for (int64_t i = 0; i < chunks; ++i) {
    sql::Statement s =
        conn_->Prepare("SELECT data FROM blob_chunks WHERE sha256 = ? AND chunk = ?");
    s.Bind(1, sha256).Bind(2, i);
    if (!s.Step())
      Fail(ErrorCode::kInternal,
           "blob " + std::string(sha256) + " lacks chunk " + std::to_string(i));
    sink(s.Blob(0));
  }
}

std::vector<std::pair<std::string, std::string>> PostgresClientEnvironment(const std::string& url) {
  std::map<std::string, std::string> variable_of;
  if (PQconninfoOption* defaults = PQconndefaults()) {
    for (PQconninfoOption* o = defaults; o->keyword; ++o)
      if (o->envvar) variable_of[o->keyword] = o->envvar;
    PQconninfoFree(defaults);
  }
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &error);
  if (!parsed) {
    std::string why = error ? error : "out of memory";
    if (error) PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    Fail(ErrorCode::kInvalidArgument, "--database: not a PostgreSQL connection string: " + why);
  }
  std::vector<std::pair<std::string, std::string>> out;
  std::string missing;
  for (PQconninfoOption* o = parsed; o->keyword; ++o) {
    if (!o->val || !*o->val) continue;
    auto it = variable_of.find(o->keyword);
    if (it == variable_of.end()) {
      missing = o->keyword;
      break;
    }
    out.emplace_back(it->second, o->val);
  }
  PQconninfoFree(parsed);
  if (!missing.empty())
    Fail(ErrorCode::kInvalidArgument, "--database: the connection parameter '" + missing +
                                          "' cannot be handed to pg_dump / pg_restore");
  return out;
}

}  // namespace statehouse::storage
