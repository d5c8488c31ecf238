#include "app/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "runs/process.h"
#include "storage/backup.h"
#include "storage/sqlite/sqlite_driver.h"

#ifndef STATEHOUSE_VERSION
#define STATEHOUSE_VERSION "unknown"
#endif

extern char** environ;

namespace statehouse::app {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr int64_t kFormatVersion = 1;
constexpr const char* kFormat = "statehouse-backup";
constexpr const char* kManifest = "manifest.json";
constexpr const char* kSqliteFile = "statehouse.db";
constexpr const char* kDumpFile = "statehouse.dump";
constexpr size_t kBuffer = 1 << 20;

std::string Errno() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void FsyncPath(const std::string& path, bool directory) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0)));
  if (fd.get() < 0) Fail(ErrorCode::kUnavailable, "cannot open " + path + ": " + Errno());
  if (::fsync(fd.get()) != 0) Fail(ErrorCode::kUnavailable, "fsync " + path + ": " + Errno());
}

std::string Mib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

std::string SecondsSince(Clock::time_point start) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f",
                std::chrono::duration<double>(Clock::now() - start).count());
  return text;
}

// "blobs 12/40, 3.1 MiB of 10.0 MiB" on the progress stream, at most once a second and once
// at the end.
class Progress {
 public:
  Progress(std::ostream& os, std::string label, int64_t items, int64_t bytes)
      : os_(os), label_(std::move(label)), items_(items), bytes_(bytes) {}
  void Bytes(int64_t n) {
    done_bytes_ += n;
    MaybePrint(false);
  }
  void ItemDone() {
    ++done_items_;
    MaybePrint(done_items_ == items_);
  }

 private:
  void MaybePrint(bool final) {
    auto now = Clock::now();
    if (!final && now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    os_ << label_ << " " << done_items_ << "/" << items_ << ", " << Mib(done_bytes_) << " of "
        << Mib(bytes_) << std::endl;
  }
  std::ostream& os_;
  std::string label_;
  int64_t items_, bytes_;
  int64_t done_items_ = 0, done_bytes_ = 0;
  Clock::time_point last_ = Clock::now();
};

struct Digest {
  std::string sha256;
  int64_t size = 0;
};

// Reads in_fd to its end, writing what it reads to out_fd (when >= 0) and hashing it.
Digest Pump(int in_fd, int out_fd, const std::string& what, Progress* progress) {
  DigestStream digest(DigestStream::Algorithm::kSha256);
  std::vector<char> buffer(kBuffer);
  Digest out;
  for (;;) {
    ssize_t n = ::read(in_fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail(ErrorCode::kUnavailable, "cannot read " + what + ": " + Errno());
    if (n == 0) break;
    digest.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    out.size += n;
    for (ssize_t written = 0; out_fd >= 0 && written < n;) {
      ssize_t w = ::write(out_fd, buffer.data() + written, static_cast<size_t>(n - written));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) Fail(ErrorCode::kUnavailable, "cannot write a copy of " + what + ": " + Errno());
      written += w;
    }
    if (progress) progress->Bytes(n);
  }
  out.sha256 = digest.Hex();
  return out;
}

Digest HashFile(const std::string& path, Progress* progress = nullptr) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0)
    Fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
         "cannot open " + path + ": " + Errno());
  return Pump(in.get(), -1, path, progress);
}

// Copies from to a new file to (never replacing one), fsyncs it and returns the digest of the
// bytes copied.
Digest CopyFile(const std::string& from, const std::string& to, Progress* progress) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0)
    Fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
         "cannot open " + from + ": " + Errno());
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) Fail(ErrorCode::kUnavailable, "cannot create " + to + ": " + Errno());
  Digest d = Pump(in.get(), out.get(), from, progress);
  if (::fsync(out.get()) != 0) Fail(ErrorCode::kUnavailable, "fsync " + to + ": " + Errno());
  return d;
}

void MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    Fail(ErrorCode::kUnavailable, "cannot create " + path + ": " + Errno());
}

std::vector<std::pair<std::string, std::string>> CurrentEnvironment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

// Runs a PostgreSQL client program (pg_dump, pg_restore) to its end; its messages are echoed
// on progress and, when it fails, become the error.
// The connection comes from url through libpq's environment variables, not the command line
// (which any local user can read).
void RunPgTool(const std::vector<std::string>& argv, const std::string& url, std::ostream& progress,
               const std::function<void()>& while_running = {}) {
  runs::ProcessSpec spec;
  spec.argv = argv;
  auto connection = storage::PostgresClientEnvironment(url);
  for (const auto& kv : CurrentEnvironment()) {
    bool replaced = false;
    for (const auto& c : connection) replaced = replaced || c.first == kv.first;
    if (!replaced) spec.env.push_back(kv);
  }
  spec.env.insert(spec.env.end(), connection.begin(), connection.end());
  spec.max_output_bytes = 1 << 20;
  std::unique_ptr<runs::ChildProcess> child;
  try {
    child = runs::ChildProcess::Start(spec);
  } catch (const Error& e) {
    Fail(ErrorCode::kUnavailable, std::string(e.what()) +
                                      " (install the PostgreSQL client programs: "
                                      "postgresql-client, the server's major version or newer)");
  }
  if (while_running) while_running();  // the child is killed if this throws
  std::string output;
  runs::ProcessResult result = child->Wait([&](std::string_view chunk) {
    progress << chunk << std::flush;
    if (output.size() < 4096) output.append(chunk.substr(0, 4096 - output.size()));
  });
  if (result.exit_code != 0) {
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
    std::string how = result.signal ? "was killed by signal " + std::to_string(result.signal)
                                    : "exited with " + std::to_string(result.exit_code);
    Fail(ErrorCode::kUnavailable, argv[0] + " " + how + (output.empty() ? "" : ": " + output));
  }
}

// ---- the manifest ----

struct Manifest {
  std::string backend;  // sqlite | postgres
  int64_t created = 0;
  std::string statehouse_version;
  std::string database_file;
  std::string database_sha256;
  int64_t database_size = 0;
  storage::SnapshotContents contents;
  std::vector<std::string> tables;  // PostgreSQL: the tables of the dumped schema
};

json::object CountsJson(const storage::SnapshotContents& c) {
  return {{"accounts", c.accounts},
          {"orgs", c.orgs},
          {"projects", c.projects},
          {"workspaces", c.workspaces},
          {"state_versions", c.state_versions},
          {"data_records", c.data_records},
          {"remote_executions", c.remote_executions},
          {"runs", c.runs},
          {"blobs", static_cast<int64_t>(c.blobs.size())},
          {"bytes", c.blob_bytes}};
}

std::string ManifestText(const Manifest& m) {
  json::array blobs;
  blobs.reserve(m.contents.blobs.size());
  for (const auto& b : m.contents.blobs)
    blobs.push_back(json::object{{"sha256", b.sha256}, {"size", b.size}});
  json::object doc{
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"backend", m.backend},
      {"created", m.created},
      {"created_at", Rfc3339Utc(m.created)},
      {"statehouse_version", m.statehouse_version},
      {"database", json::object{{"file", m.database_file},
                                {"format", m.backend == "sqlite" ? "sqlite3" : "pg_dump custom"},
                                {"sha256", m.database_sha256},
                                {"size", m.database_size}}},
      {"blobs_location", m.backend == "sqlite" ? "blobs/" : "database"},
      {"counts", CountsJson(m.contents)},
  };
  if (m.backend == "postgres") {
    json::array tables;
    for (const auto& t : m.tables) tables.push_back(json::string(t));
    doc["tables"] = std::move(tables);
  }
  doc["blobs"] = std::move(blobs);
  // One blob per line keeps a large manifest readable and diffable.
  std::string text = json::serialize(doc);
  std::string out;
  out.reserve(text.size() + m.contents.blobs.size() * 2);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 11, "{\"sha256\":\"") == 0) out += "\n  ";
    out += text[i];
  }
  return out + "\n";
}

void WriteManifest(const std::string& dir, const Manifest& m) {
  std::string text = ManifestText(m);
  std::string tmp = dir + "/" + kManifest + ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) Fail(ErrorCode::kUnavailable, "cannot create " + tmp + ": " + Errno());
    size_t off = 0;
    while (off < text.size()) {
      ssize_t w = ::write(fd.get(), text.data() + off, text.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) Fail(ErrorCode::kUnavailable, "cannot write " + tmp + ": " + Errno());
      off += static_cast<size_t>(w);
    }
    if (::fsync(fd.get()) != 0) Fail(ErrorCode::kUnavailable, "fsync " + tmp + ": " + Errno());
  }
  if (::rename(tmp.c_str(), (dir + "/" + kManifest).c_str()) != 0)
    Fail(ErrorCode::kUnavailable, "cannot rename " + tmp + ": " + Errno());
  FsyncPath(dir, true);
}

[[noreturn]] void BadManifest(const std::string& path, const std::string& why) {
  Fail(ErrorCode::kInvalidArgument, path + " is not a valid backup manifest: " + why);
}

Manifest ReadManifest(const std::string& dir) {
  std::string path = dir + "/" + kManifest;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    Fail(ErrorCode::kInvalidArgument,
         "no " + std::string(kManifest) + " in " + dir +
             ": not a backup, or an unfinished one (the manifest is written last)");
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) BadManifest(path, "not a JSON object");
  const json::object& o = v.get_object();
  auto str = [&](const json::object& obj, const char* key) -> std::string {
    const json::value* f = obj.if_contains(key);
    if (!f || !f->is_string()) BadManifest(path, std::string("'") + key + "' must be a string");
    return std::string(f->get_string());
  };
  auto num = [&](const json::object& obj, const char* key) -> int64_t {
    const json::value* f = obj.if_contains(key);
    if (!f || !f->is_int64() || f->get_int64() < 0)
      BadManifest(path, std::string("'") + key + "' must be a non-negative integer");
    return f->get_int64();
  };
  auto obj = [&](const json::object& parent, const char* key) -> const json::object& {
    const json::value* f = parent.if_contains(key);
    if (!f || !f->is_object()) BadManifest(path, std::string("'") + key + "' must be an object");
    return f->get_object();
  };
  if (str(o, "format") != kFormat) BadManifest(path, "'format' is not " + std::string(kFormat));
  int64_t version = num(o, "format_version");
  if (version != kFormatVersion)
    Fail(ErrorCode::kInvalidArgument, path + " has format version " + std::to_string(version) +
                                          "; this statehouse reads " +
                                          std::to_string(kFormatVersion));
  Manifest m;
  m.backend = str(o, "backend");
  if (m.backend != "sqlite" && m.backend != "postgres")
    BadManifest(path, "unknown backend '" + m.backend + "'");
  m.created = num(o, "created");
  m.statehouse_version = str(o, "statehouse_version");
  const json::object& db = obj(o, "database");
  m.database_file = str(db, "file");
  if (m.database_file != (m.backend == "sqlite" ? kSqliteFile : kDumpFile))
    BadManifest(path, "unexpected database file '" + m.database_file + "'");
  m.database_sha256 = str(db, "sha256");
  m.database_size = num(db, "size");
  const json::object& counts = obj(o, "counts");
  m.contents.accounts = num(counts, "accounts");
  m.contents.orgs = num(counts, "orgs");
  m.contents.projects = num(counts, "projects");
  m.contents.workspaces = num(counts, "workspaces");
  m.contents.state_versions = num(counts, "state_versions");
  m.contents.data_records = num(counts, "data_records");
  m.contents.remote_executions = num(counts, "remote_executions");
  m.contents.runs = num(counts, "runs");
  m.contents.blob_bytes = num(counts, "bytes");
  const json::value* blobs = o.if_contains("blobs");
  if (!blobs || !blobs->is_array()) BadManifest(path, "'blobs' must be an array");
  std::string previous;
  for (const json::value& b : blobs->get_array()) {
    if (!b.is_object()) BadManifest(path, "'blobs' must hold objects");
    storage::BlobRef ref{str(b.get_object(), "sha256"), num(b.get_object(), "size")};
    if (!IsSha256Hex(ref.sha256) || ref.sha256 <= previous)
      BadManifest(path, "blob names must be SHA-256 hex digests, sorted, each once");
    previous = ref.sha256;
    m.contents.blobs.push_back(std::move(ref));
  }
  if (num(counts, "blobs") != static_cast<int64_t>(m.contents.blobs.size()))
    BadManifest(path, "'counts.blobs' does not match the blob list");
  if (const json::value* tables = o.if_contains("tables")) {
    if (!tables->is_array()) BadManifest(path, "'tables' must be an array");
    for (const json::value& t : tables->get_array()) {
      if (!t.is_string()) BadManifest(path, "'tables' must hold strings");
      m.tables.emplace_back(t.get_string());
    }
  }
  return m;
}

std::string CountsLine(const storage::SnapshotContents& c) {
  return std::to_string(c.workspaces) + " workspaces, " + std::to_string(c.state_versions) +
         " state versions, " + std::to_string(c.data_records) + " data records, " +
         std::to_string(c.blobs.size()) + " blobs (" + Mib(c.blob_bytes) + ")";
}

// What the restored (or copied) database holds must be what the manifest describes.
void CheckContents(const storage::SnapshotContents& got, const Manifest& m,
                   const std::string& what) {
  const storage::SnapshotContents& want = m.contents;
  auto differ = [&](const char* name, int64_t a, int64_t b) {
    if (a != b)
      Fail(ErrorCode::kInvalidArgument, what + " holds " + std::to_string(a) + " " + name +
                                            ", the manifest says " + std::to_string(b));
  };
  differ("accounts", got.accounts, want.accounts);
  differ("orgs", got.orgs, want.orgs);
  differ("projects", got.projects, want.projects);
  differ("workspaces", got.workspaces, want.workspaces);
  differ("state versions", got.state_versions, want.state_versions);
  differ("data records", got.data_records, want.data_records);
  differ("remote executions", got.remote_executions, want.remote_executions);
  differ("runs", got.runs, want.runs);
  differ("blobs", static_cast<int64_t>(got.blobs.size()), static_cast<int64_t>(want.blobs.size()));
  for (size_t i = 0; i < got.blobs.size(); ++i) {
    if (got.blobs[i].sha256 != want.blobs[i].sha256)
      Fail(ErrorCode::kInvalidArgument,
           what + " names the blob " + got.blobs[i].sha256 + ", which the manifest does not list");
    if (got.blobs[i].size != want.blobs[i].size)
      Fail(ErrorCode::kInvalidArgument,
           what + " gives blob " + got.blobs[i].sha256 + " another size than the manifest");
  }
}

void CheckDigest(const Digest& d, const storage::BlobRef& ref, const std::string& where) {
  if (d.sha256 != ref.sha256)
    Fail(ErrorCode::kInvalidArgument, "blob " + ref.sha256 + " in " + where +
                                          " is damaged: its content has SHA-256 " + d.sha256);
  if (d.size != ref.size)
    Fail(ErrorCode::kInvalidArgument, "blob " + ref.sha256 + " in " + where + " has " +
                                          std::to_string(d.size) + " bytes, expected " +
                                          std::to_string(ref.size));
}

// ---- backup ----

// True when it created the directory.
bool PrepareBackupDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec))
      Fail(ErrorCode::kInvalidArgument, "--to " + dir + " exists and is not a directory");
    if (!fs::is_empty(dir, ec))
      Fail(ErrorCode::kConflict,
           "--to " + dir + " is not empty: back up into a new or empty directory");
    return false;
  }
  fs::create_directories(dir, ec);
  if (ec) Fail(ErrorCode::kUnavailable, "cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  fs::path path = fs::absolute(dir).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "dir/"
  FsyncPath(path.parent_path().string(), true);
  return true;
}

void BackupSqlite(const std::string& db_path, const std::string& dir, Manifest& m,
                  std::ostream& progress) {
  auto started = Clock::now();
  std::string from_dir = storage::SqliteBlobDirectory(db_path);
  // From before the snapshot until the last blob is linked or copied, no sweep removes a blob
  // (one that is running now is waited for).
  storage::BlobSweepLock no_sweep = storage::BlobSweepLock::ForBackup(from_dir);
  std::string copy = dir + "/" + kSqliteFile;
  storage::sqlite::OnlineBackup(db_path, copy);
  ::chmod(copy.c_str(), 0600);
  FsyncPath(copy, false);
  Digest db = HashFile(copy);
  m.database_file = kSqliteFile;
  m.database_sha256 = db.sha256;
  m.database_size = db.size;
  m.contents = storage::ReadSqliteFileContents(copy);
  progress << "backup: database snapshot " << Mib(db.size) << " in " << SecondsSince(started)
           << " s: " << CountsLine(m.contents) << std::endl;

  // The blobs the snapshot names: hard links where the file system allows, else copies; each
  // read back through SHA-256 either way.
  std::string to_dir = dir + "/blobs";
  MakeDirectory(to_dir);
  std::set<std::string> subdirs;
  Progress p(progress, "backup: blobs", static_cast<int64_t>(m.contents.blobs.size()),
             m.contents.blob_bytes);
  int64_t linked = 0, copied = 0;
  for (const storage::BlobRef& ref : m.contents.blobs) {
    std::string sub = to_dir + "/" + ref.sha256.substr(0, 2);
    if (subdirs.insert(sub).second) MakeDirectory(sub);
    std::string from = storage::BlobFilePath(from_dir, ref.sha256);
    std::string to = storage::BlobFilePath(to_dir, ref.sha256);
    Digest d;
    if (::link(from.c_str(), to.c_str()) == 0) {
      d = HashFile(to, &p);
      FsyncPath(to, false);
      ++linked;
    } else if (errno == ENOENT) {
      Fail(ErrorCode::kInternal,
           "blob " + ref.sha256 + ", named by the database, is missing from " + from_dir);
    } else {  // EXDEV (another file system), EPERM, EMLINK, ...: copy
      d = CopyFile(from, to, &p);
      ++copied;
    }
    CheckDigest(d, ref, from_dir);
    p.ItemDone();
  }
  for (const std::string& sub : subdirs) FsyncPath(sub, true);
  FsyncPath(to_dir, true);
  progress << "backup: " << linked << " blobs hard-linked, " << copied << " copied" << std::endl;
}

void BackupPostgres(const std::string& url, const std::string& dir, Manifest& m,
                    std::ostream& progress) {
  auto started = Clock::now();
  storage::PostgresSnapshot snapshot(url);
  std::string dump = dir + "/" + kDumpFile;
  m.database_file = kDumpFile;
  // pg_dump reads the exported snapshot, while this process reads the same snapshot to count
  // the rows and check every blob's chunks against its name. Compression level 1: bytea goes
  // through COPY as hex text, which the default level (6) compresses far slower for little
  // gain (42 MiB of states: 32 s and 27 MiB at 6, 1.4 s and 31 MiB at 1), and a shorter dump
  // holds the snapshot, and so vacuum's horizon, for less time.
  RunPgTool({"pg_dump", "--format=custom", "--compress=1", "--no-owner",
             "--snapshot=" + snapshot.ExportedId(), "--file=" + dump,
             "--dbname=" + snapshot.DatabaseName()},
            url, progress, [&] {
              m.contents = snapshot.Contents();
              m.tables = snapshot.Tables();
              progress << "backup: snapshot " << snapshot.ExportedId() << ": "
                       << CountsLine(m.contents) << "; pg_dump running" << std::endl;
              Progress p(progress, "backup: blobs checked",
                         static_cast<int64_t>(m.contents.blobs.size()), m.contents.blob_bytes);
              for (const storage::BlobRef& ref : m.contents.blobs) {
                DigestStream digest(DigestStream::Algorithm::kSha256);
                Digest d;
                snapshot.ReadBlob(ref.sha256, [&](std::string_view chunk) {
                  digest.Update(chunk);
                  d.size += static_cast<int64_t>(chunk.size());
                  p.Bytes(static_cast<int64_t>(chunk.size()));
                });
                d.sha256 = digest.Hex();
                CheckDigest(d, ref, "the database");
                p.ItemDone();
              }
            });
  ::chmod(dump.c_str(), 0600);
  FsyncPath(dump, false);
  Digest d = HashFile(dump);
  m.database_sha256 = d.sha256;
  m.database_size = d.size;
  progress << "backup: pg_dump wrote " << Mib(d.size) << " in " << SecondsSince(started) << " s"
           << std::endl;
}

// ---- restore ----

// Blob files (<2 hex>/<sha256>); lock files and empty directories do not count.
bool HasBlobs(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return false;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_directory(ec) && IsSha256Hex(it->path().filename().string())) return true;
  }
  return false;
}

void RestoreSqlite(const std::string& db_path, const std::string& from, const Manifest& m,
                   std::ostream& progress) {
  std::string blob_dir = storage::SqliteBlobDirectory(db_path);
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (fs::exists(db_path + suffix, ec))
      Fail(ErrorCode::kConflict, "cannot restore over existing data: " + db_path + suffix +
                                     " exists (restore needs an empty data directory)");
  }
  if (HasBlobs(blob_dir))
    Fail(ErrorCode::kConflict, "cannot restore over existing data: " + blob_dir +
                                   " holds blobs (restore needs an empty data directory)");

  // The backup, checked before anything is written: the database file against the manifest,
  // and what that database names against the manifest's blob list.
  std::string source_db = from + "/" + kSqliteFile;
  Digest db = HashFile(source_db);
  if (db.sha256 != m.database_sha256 || db.size != m.database_size)
    Fail(ErrorCode::kInvalidArgument, source_db + " is damaged: SHA-256 " + db.sha256 +
                                          ", the manifest says " + m.database_sha256);
  CheckContents(storage::ReadSqliteFileContents(source_db), m, source_db);

  fs::path parent = fs::path(db_path).parent_path();
  if (parent.empty()) parent = ".";
  bool parent_existed = fs::exists(parent, ec);
  fs::create_directories(parent, ec);
  if (ec) Fail(ErrorCode::kUnavailable, "cannot create " + parent.string() + ": " + ec.message());
  if (!parent_existed) ::chmod(parent.c_str(), 0700);
  MakeDirectory(blob_dir);
  MakeDirectory(blob_dir + "/.incoming");

  // What this restore wrote, removed again if it fails: the directory stays empty.
  std::vector<std::string> written;
  try {
    std::set<std::string> subdirs;
    Progress p(progress, "restore: blobs", static_cast<int64_t>(m.contents.blobs.size()),
               m.contents.blob_bytes);
    for (const storage::BlobRef& ref : m.contents.blobs) {
      std::string sub = blob_dir + "/" + ref.sha256.substr(0, 2);
      if (subdirs.insert(sub).second) MakeDirectory(sub);
      std::string tmp = blob_dir + "/.incoming/restore-" + RandomHex(12);
      written.push_back(tmp);
      Digest d = CopyFile(storage::BlobFilePath(from + "/blobs", ref.sha256), tmp, &p);
      CheckDigest(d, ref, from + "/blobs");
      std::string target = storage::BlobFilePath(blob_dir, ref.sha256);
      if (::rename(tmp.c_str(), target.c_str()) != 0)
        Fail(ErrorCode::kUnavailable, "cannot move " + tmp + " to " + target + ": " + Errno());
      written.back() = target;
      p.ItemDone();
    }
    for (const std::string& sub : subdirs) FsyncPath(sub, true);
    FsyncPath(blob_dir, true);
    // The database last: until it is in place, the data directory holds no database.
    std::string tmp = db_path + ".restoring";
    ::unlink(tmp.c_str());  // a leftover of an interrupted restore
    written.push_back(tmp);
    Digest copied = CopyFile(source_db, tmp, nullptr);
    if (copied.sha256 != m.database_sha256)
      Fail(ErrorCode::kInvalidArgument, source_db + " changed while it was restored");
    if (::rename(tmp.c_str(), db_path.c_str()) != 0)
      Fail(ErrorCode::kUnavailable, "cannot move " + tmp + " to " + db_path + ": " + Errno());
    written.back() = db_path;
    FsyncPath(parent.string(), true);
  } catch (...) {
    for (const std::string& path : written) ::unlink(path.c_str());
    progress << "restore: failed; removed the " << written.size() << " files it had written"
             << std::endl;
    throw;
  }
}

// Returns the name of the database restored into.
std::string RestorePostgres(const std::string& url, const std::string& from, const Manifest& m,
                            std::ostream& progress) {
  std::string dbname;
  {
    storage::PostgresSnapshot target(url);
    dbname = target.DatabaseName();
    std::vector<std::string> existing = target.Tables();
    std::vector<std::string> clash;
    for (const std::string& t : existing)
      if (m.tables.empty() || std::find(m.tables.begin(), m.tables.end(), t) != m.tables.end())
        clash.push_back(t);
    if (!clash.empty()) {
      std::string names;
      for (size_t i = 0; i < clash.size() && i < 5; ++i) names += (i ? ", " : "") + clash[i];
      if (clash.size() > 5) names += ", ...";
      Fail(ErrorCode::kConflict,
           "cannot restore over existing data: the database already has Statehouse tables (" +
               names + "); restore needs an empty database (createdb a new one)");
    }
  }
  std::string dump = from + "/" + kDumpFile;
  Digest d = HashFile(dump);
  if (d.sha256 != m.database_sha256 || d.size != m.database_size)
    Fail(ErrorCode::kInvalidArgument,
         dump + " is damaged: SHA-256 " + d.sha256 + ", the manifest says " + m.database_sha256);
  auto started = Clock::now();
  progress << "restore: pg_restore of " << Mib(d.size) << std::endl;
  // --dbname is only the database's name (what the URL resolved to); host, user, password and
  // the rest come from the environment.
  RunPgTool({"pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
             "--single-transaction", "--dbname=" + dbname, dump},
            url, progress);
  progress << "restore: pg_restore done in " << SecondsSince(started) << " s; verifying"
           << std::endl;
  try {
    storage::PostgresSnapshot restored(url);
    CheckContents(restored.Contents(), m, "the restored database");
    Progress p(progress, "restore: blobs verified", static_cast<int64_t>(m.contents.blobs.size()),
               m.contents.blob_bytes);
    for (const storage::BlobRef& ref : m.contents.blobs) {
      DigestStream digest(DigestStream::Algorithm::kSha256);
      Digest got;
      restored.ReadBlob(ref.sha256, [&](std::string_view chunk) {
        digest.Update(chunk);
        got.size += static_cast<int64_t>(chunk.size());
        p.Bytes(static_cast<int64_t>(chunk.size()));
      });
      got.sha256 = digest.Hex();
      CheckDigest(got, ref, "the restored database");
      p.ItemDone();
    }
  } catch (const Error& e) {
    Fail(e.code(), std::string(e.what()) +
                       " (the database was restored but failed verification: drop it and "
                       "restore into a new one)");
  }
  return dbname;
}

}  // namespace

void Backup(const Config& config, const std::string& to_dir, std::ostream& out,
            std::ostream& progress) {
  if (to_dir.empty()) Fail(ErrorCode::kInvalidArgument, "--to: a directory is required");
  DatabaseTarget target = ResolveDatabase(config.database, config.data_dir);
  struct stat st {};
  if (target.kind == DatabaseKind::kSqlite && ::stat(target.location.c_str(), &st) != 0)
    Fail(ErrorCode::kNotFound, "no database at " + target.location +
                                   " (give the --data-dir or --database of the server to back up)");
  bool created = PrepareBackupDirectory(to_dir);
  auto started = Clock::now();
  Manifest m;
  m.created = NowMillis();
  m.statehouse_version = STATEHOUSE_VERSION;
  try {
    if (target.kind == DatabaseKind::kSqlite) {
      m.backend = "sqlite";
      BackupSqlite(target.location, to_dir, m, progress);
    } else {
      m.backend = "postgres";
      BackupPostgres(target.location, to_dir, m, progress);
    }
    WriteManifest(to_dir, m);
  } catch (...) {
    // The directory was empty (or new): what is in it now is this backup's, unfinished. Hard
    // links go, the live blobs they shared stay.
    std::error_code ec;
    if (created) {
      fs::remove_all(to_dir, ec);
    } else {
      for (auto& entry : fs::directory_iterator(to_dir, ec)) fs::remove_all(entry.path(), ec);
    }
    progress << "backup: failed; removed the unfinished backup" << std::endl;
    throw;
  }
  out << "backup of the " << m.backend << " database written to " << to_dir << " in "
      << SecondsSince(started) << " s\n"
      << "  " << CountsLine(m.contents) << "\n"
      << "  " << m.database_file << " sha256 " << m.database_sha256 << std::endl;
}

void Restore(const Config& config, const std::string& from_dir, std::ostream& out,
             std::ostream& progress) {
  if (from_dir.empty()) Fail(ErrorCode::kInvalidArgument, "--from: a directory is required");
  Manifest m = ReadManifest(from_dir);
  DatabaseTarget target = ResolveDatabase(config.database, config.data_dir);
  bool sqlite = target.kind == DatabaseKind::kSqlite;
  if (sqlite != (m.backend == "sqlite"))
    Fail(ErrorCode::kInvalidArgument,
         "this is a backup of a " + m.backend + " database; restore it into " +
             (m.backend == "sqlite" ? "a SQLite data directory (--data-dir, no postgres:// "
                                      "--database)"
                                    : "a PostgreSQL database (--database postgres://...)"));
  auto started = Clock::now();
  std::string into = target.location;
  if (sqlite)
    RestoreSqlite(target.location, from_dir, m, progress);
  else
    into = "the PostgreSQL database " + RestorePostgres(target.location, from_dir, m, progress);
  out << "restored the backup of " << Rfc3339Utc(m.created) << " (statehouse "
      << m.statehouse_version << ") into " << into << " in " << SecondsSince(started) << " s\n"
      << "  " << CountsLine(m.contents) << ", every blob verified\n";
}

int AdminBackup(const Config& config, const std::string& to_dir) {
  try {
    log::SetLevel(log::Level::kWarn);
    Backup(config, to_dir, std::cout, std::cerr);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "statehouse: backup failed: " << e.what() << "\n";
    return 1;
  }
}

int AdminRestore(const Config& config, const std::string& from_dir) {
  try {
    log::SetLevel(log::Level::kWarn);
    Restore(config, from_dir, std::cout, std::cerr);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "statehouse: restore failed: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace statehouse::app
