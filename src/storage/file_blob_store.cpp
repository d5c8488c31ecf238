#include "storage/file_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>

#include "common/error.h"
#include "common/util.h"
#include "storage/backup.h"

namespace statehouse::storage {
namespace {

void SyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) Fail(ErrorCode::kUnavailable, "cannot open " + path + " to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) Fail(ErrorCode::kUnavailable, "fsync failed for " + path);
}

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    std::filesystem::create_directories(dir_ + "/.incoming");
  }

  void Put(std::string_view sha256, const std::string& spool_path) override {
    std::string target = Target(sha256);
    SyncPath(spool_path, O_RDONLY);
    Publish(sha256, spool_path, target);
  }

  void Stage(const std::string& spool_path) override { SyncPath(spool_path, O_RDONLY); }

  void PutBytes(std::string_view sha256, std::string_view bytes) override {
    std::string target = Target(sha256);
    std::string tmp = dir_ + "/.incoming/" + RandomHex(12);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) Fail(ErrorCode::kUnavailable, "cannot create a blob file");
    const char* p = bytes.data();
    size_t left = bytes.size();
    bool ok = true;
    while (left > 0 && ok) {
      ssize_t w = ::write(fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      ok = w > 0;
      if (ok) {
        p += w;
        left -= static_cast<size_t>(w);
      }
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(tmp.c_str());
      Fail(ErrorCode::kUnavailable, "cannot write a blob file (disk full?)");
    }
    Publish(sha256, tmp, target);
  }

  void Backdate(std::string_view sha256, int64_t seconds) override {
    if (!IsSha256Hex(sha256)) return;
    std::string path = Path(sha256);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return;
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = st.st_mtime - seconds;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    ::utimensat(AT_FDCWD, path.c_str(), times, 0);
  }

  std::optional<std::string> LocalPath(std::string_view sha256) override {
    if (!IsSha256Hex(sha256)) return std::nullopt;
    return Path(sha256);
  }

  std::string Read(std::string_view sha256) override {
    if (!IsSha256Hex(sha256)) Fail(ErrorCode::kNotFound, "no such blob");
    std::string path = Path(sha256);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail(ErrorCode::kNotFound, "blob " + std::string(sha256) + " is missing");
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) == 0) out.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

 private:
  std::string Path(std::string_view sha256) const {
    return dir_ + "/" + std::string(sha256.substr(0, 2)) + "/" + std::string(sha256);
  }

  std::string Target(std::string_view sha256) {
    if (!IsSha256Hex(sha256)) Fail(ErrorCode::kInternal, "blob names are SHA-256 hex digests");
    std::string sub = dir_ + "/" + std::string(sha256.substr(0, 2));
    if (::mkdir(sub.c_str(), 0700) == 0) SyncPath(dir_, O_RDONLY | O_DIRECTORY);
    return Path(sha256);
  }

  // rename() is atomic: readers see no blob or the whole blob. Same content, same name, so a
  // concurrent identical upload replacing it is harmless. Under the blob's stripe lock, with
  // the mtime set to now: the sweep (which checks and unlinks under the same lock, and only
  // blobs whose mtime is older than its grace period) then cannot remove what this Put
  // published, and the caller has the grace period to insert the row that references it.
  void Publish(std::string_view sha256, const std::string& from, const std::string& to) {
    {
      std::lock_guard<std::mutex> hold(Stripe(sha256));
      if (::rename(from.c_str(), to.c_str()) != 0)
        Fail(ErrorCode::kUnavailable, "cannot move a blob into place");
      ::utimensat(AT_FDCWD, to.c_str(), nullptr, 0);  // now (rename keeps the spool's mtime)
    }
    SyncPath(to.substr(0, to.rfind('/')), O_RDONLY | O_DIRECTORY);
  }

  std::mutex& Stripe(std::string_view sha256) {
    unsigned h = 0;
    for (size_t i = 0; i < 4 && i < sha256.size(); ++i) h = h * 16 + HexValue(sha256[i]);
    return stripes_[h % stripes_.size()];
  }
  static unsigned HexValue(char c) {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
    return 0;
  }

 public:
  SweepResult Sweep(const std::function<bool(std::string_view)>& still_referenced,
                    int64_t grace_seconds, int64_t abandon_seconds) override {
    SweepResult out;
    // Not while a backup copies this directory's blobs (storage/backup.h): its snapshot may
    // name blobs that the live rows no longer do. The next sweep catches up.
    std::optional<BlobSweepLock> no_backup = BlobSweepLock::TryForSweep(dir_);
    if (!no_backup) {
      SweepTemporary(dir_ + "/.incoming", abandon_seconds, out);
      return out;
    }
    namespace fs = std::filesystem;
    const time_t now = ::time(nullptr);
    std::error_code ec;
    for (fs::directory_iterator sub(dir_, ec), end; !ec && sub != end; sub.increment(ec)) {
      std::string name = sub->path().filename().string();
      if (name.size() != 2 || !sub->is_directory(ec)) continue;
      std::error_code ec2;
      for (fs::directory_iterator f(sub->path(), ec2); !ec2 && f != end; f.increment(ec2)) {
        std::string sha = f->path().filename().string();
        if (!IsSha256Hex(sha) || sha.compare(0, 2, name) != 0) continue;
        std::string path = f->path().string();
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (now - st.st_mtime < grace_seconds) continue;  // stored recently: keep
        // The decision and the unlink happen under the lock Put publishes under, on facts
        // read under it: a Put either finished before (fresh mtime, or a row already
        // references it) or starts after (and writes the file anew).
        std::lock_guard<std::mutex> hold(Stripe(sha));
        if (::lstat(path.c_str(), &st) != 0 || ::time(nullptr) - st.st_mtime < grace_seconds)
          continue;
        if (still_referenced(sha)) continue;
        if (::unlink(path.c_str()) == 0) {
          ++out.removed_blobs;
          out.removed_bytes += static_cast<int64_t>(st.st_size);
        }
      }
    }
    SweepTemporary(dir_ + "/.incoming", abandon_seconds, out);
    return out;
  }

  // Files in dir last written more than abandon_seconds ago: writes that never finished.
  static void SweepTemporary(const std::string& dir, int64_t abandon_seconds, SweepResult& out) {
    namespace fs = std::filesystem;
    const time_t now = ::time(nullptr);
    std::error_code ec;
    for (fs::directory_iterator f(dir, ec), end; !ec && f != end; f.increment(ec)) {
      std::string path = f->path().string();
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (now - st.st_mtime < abandon_seconds) continue;
      if (::unlink(path.c_str()) == 0) {
        ++out.removed_temp_files;
        out.removed_temp_bytes += static_cast<int64_t>(st.st_size);
      }
    }
  }

 private:
  std::string dir_;
  std::array<std::mutex, 256> stripes_;
};

}  // namespace

std::unique_ptr<BlobStore> OpenFileBlobStore(const std::string& directory) {
  return std::make_unique<FileBlobStore>(directory);
}

}  // namespace statehouse::storage
