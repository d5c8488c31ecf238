#include "storage/file_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.h"
#include "common/util.h"

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
    Publish(spool_path, target);
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
    Publish(tmp, target);
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
  // concurrent identical upload replacing it is harmless.
  void Publish(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0)
      Fail(ErrorCode::kUnavailable, "cannot move a blob into place");
    SyncPath(to.substr(0, to.rfind('/')), O_RDONLY | O_DIRECTORY);
  }

  std::string dir_;
};

}  // namespace

std::unique_ptr<BlobStore> OpenFileBlobStore(const std::string& directory) {
  return std::make_unique<FileBlobStore>(directory);
}

}  // namespace statehouse::storage
