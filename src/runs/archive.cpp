#include "runs/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/error.h"

namespace statehouse::runs {
namespace {

constexpr size_t kChunk = 64 * 1024;
// Below this total the ratio guard does not apply: tiny archives of repetitive text compress
// far beyond any sane ratio without being bombs.
constexpr uint64_t kRatioFloorBytes = 1ull << 20;
// Longer entry paths or link targets are refused; this also bounds the per-entry work.
constexpr size_t kMaxPathBytes = 4096;
constexpr uint64_t kProgressStep = 1ull << 20;

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

struct ReadArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ReadArchiveDeleter>;
using WriteArchive = std::unique_ptr<archive, WriteArchiveDeleter>;
using Entry = std::unique_ptr<archive_entry, EntryDeleter>;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string ArchiveErrorText(archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown libarchive error";
}

// Entry names come from the uploader and end up in logs and API errors: keep them printable
// and bounded.
std::string Printable(std::string_view s) {
  constexpr size_t kMax = 200;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (s.size() > kMax) out += "...";
  return out;
}

[[noreturn]] void Refuse(std::string_view name, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument, "archive entry '" + Printable(name) + "': " + std::string(why));
}

// A failure of the local file system rather than of the archive, except for names too long
// for it, which are the archive's fault.
[[noreturn]] void EntryIoFail(std::string_view name, std::string_view what, int err) {
  Fail(err == ENAMETOOLONG ? ErrorCode::kInvalidArgument : ErrorCode::kInternal,
       "archive entry '" + Printable(name) + "': " + std::string(what) + ": " + ErrnoText(err));
}

[[noreturn]] void PathIoFail(std::string_view what, const std::string& path, int err) {
  Fail(ErrorCode::kInternal, std::string(what) + " '" + path + "': " + ErrnoText(err));
}

enum class Kind { kDir, kFile, kSymlink };
// Normalised relative path ("a/b") -> what is there. A std::map allows string_view lookups.
using PathKinds = std::map<std::string, Kind, std::less<>>;

struct SplitPath {
  std::vector<std::string_view> parts;  // without "" and "." components; ".." kept
  bool absolute = false;
  bool has_dotdot = false;
  bool escapes = false;  // resolving the ".."s lexically climbs above the start
};

SplitPath Split(std::string_view path) {
  SplitPath out;
  out.absolute = !path.empty() && path.front() == '/';
  int depth = 0;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      out.has_dotdot = true;
      if (--depth < 0) out.escapes = true;
    } else {
      ++depth;
    }
    out.parts.push_back(part);
  }
  return out;
}

std::string Join(const std::vector<std::string_view>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i) out.push_back('/');
    out.append(parts[i]);
  }
  return out;
}

// Why the symlink at link_parts (a clean relative path) may not point at target, or "" if it
// may. Lexical resolution is only sound while every component walked so far is a real
// directory, so a '..' after a component that is a symlink in `kinds` is refused as well;
// callers check again once all entries are known, since the symlink may come later.
std::string SymlinkProblem(const std::vector<std::string_view>& link_parts, std::string_view target,
                           const PathKinds& kinds) {
  if (target.empty()) return "symlink target is empty";
  if (target.size() > kMaxPathBytes) return "symlink target is too long";
  if (target.front() == '/') return "symlink target '" + Printable(target) + "' is absolute";
  std::string cur = Join(link_parts, link_parts.size() - 1);
  std::vector<size_t> lengths;  // cur's length before each component pushed by the target
  size_t depth = link_parts.size() - 1;
  bool through_symlink = false;
  for (std::string_view part : Split(target).parts) {
    if (part == "..") {
      if (through_symlink) {
        return "symlink target '" + Printable(target) +
               "' has '..' after a component that is a symlink";
      }
      if (depth == 0) return "symlink target '" + Printable(target) + "' leaves the directory";
      --depth;
      if (!lengths.empty()) {
        cur.resize(lengths.back());
        lengths.pop_back();
      } else {
        size_t slash = cur.rfind('/');
        cur.resize(slash == std::string::npos ? 0 : slash);
      }
      continue;
    }
    lengths.push_back(cur.size());
    if (!cur.empty()) cur.push_back('/');
    cur.append(part);
    ++depth;
    auto it = kinds.find(cur);
    if (it != kinds.end() && it->second == Kind::kSymlink) through_symlink = true;
  }
  return "";
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Removes everything inside dir (not dir itself), never following symlinks.
void RemoveContents(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    children.push_back(it->path());
  for (const fs::path& child : children) fs::remove_all(child, ec);
}

class Extractor {
 public:
  Extractor(int root_fd, const ExtractLimits& limits, uint64_t archive_size)
      : root_fd_(root_fd), limits_(limits), buffer_(kChunk) {
    double allowed = limits.max_ratio * static_cast<double>(archive_size);
    if (!(allowed > 0)) {  // also NaN
      ratio_bytes_ = 0;
    } else if (allowed >= 1.8e19) {
      ratio_bytes_ = UINT64_MAX;
    } else {
      ratio_bytes_ = static_cast<uint64_t>(allowed);
    }
    ratio_bytes_ = std::max(ratio_bytes_, kRatioFloorBytes);
  }

  ExtractResult Run(archive* a) {
    uint64_t headers = 0;
    for (;;) {
      archive_entry* entry = nullptr;
      int rc = archive_read_next_header(a, &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        Fail(ErrorCode::kInvalidArgument, (headers == 0 ? "not a tar or tar.gz archive: "
                                                        : "archive is corrupt or truncated: ") +
                                              ArchiveErrorText(a));
      }
      ++headers;
      const char* raw = archive_entry_pathname(entry);
      if (!raw) raw = archive_entry_pathname_utf8(entry);
      std::string name = raw ? raw : "";
      if (headers > limits_.max_entries)
        Refuse(name, "more than " + std::to_string(limits_.max_entries) + " entries");
      ExtractEntry(a, entry, name);
    }
    // A symlink that came later may have changed how an earlier link resolves.
    for (const auto& [name, path, target] : symlinks_) {
      std::string problem = SymlinkProblem(Split(path).parts, target, kinds_);
      if (!problem.empty()) Refuse(name, problem);
    }
    return result_;
  }

 private:
  void ExtractEntry(archive* a, archive_entry* entry, const std::string& name) {
    if (name.size() > kMaxPathBytes) Refuse(name, "path is too long");
    SplitPath split = Split(name);
    if (split.absolute) Refuse(name, "absolute path");
    if (split.escapes) Refuse(name, "path leaves the directory");
    if (split.has_dotdot) Refuse(name, "path has a '..' component");
    const char* hardlink = archive_entry_hardlink(entry);
    if (!hardlink) hardlink = archive_entry_hardlink_utf8(entry);
    mode_t type = archive_entry_filetype(entry);
    if (split.parts.empty()) {
      // "./" stands for dir itself, whose mode stays the caller's.
      if (!hardlink && type == AE_IFDIR) return;
      Refuse(name, "empty path");
    }
    std::string path = Join(split.parts, split.parts.size());
    auto existing = kinds_.find(path);
    if (existing != kinds_.end() &&
        !(existing->second == Kind::kDir && type == AE_IFDIR && !hardlink))
      Refuse(name, "duplicate entry");

    if (hardlink) return ExtractHardlink(name, split.parts, path, hardlink);
    switch (type) {
      case AE_IFREG:
        return ExtractFile(a, entry, name, split.parts, path);
      case AE_IFDIR:
        return ExtractDir(entry, name, split.parts, path);
      case AE_IFLNK:
        return ExtractSymlink(entry, name, split.parts, path);
      case AE_IFCHR:
      case AE_IFBLK:
        Refuse(name, "device entries are not allowed");
      case AE_IFIFO:
        Refuse(name, "fifo entries are not allowed");
      case AE_IFSOCK:
        Refuse(name, "socket entries are not allowed");
      default:
        Refuse(name, "unsupported entry type");
    }
  }

  void CheckLimits(const std::string& name, uint64_t entry_bytes, uint64_t total_bytes) const {
    if (entry_bytes > limits_.max_entry_bytes) {
      Refuse(name, "file is larger than the limit of " + std::to_string(limits_.max_entry_bytes) +
                       " bytes");
    }
    if (total_bytes > limits_.max_total_bytes) {
      Refuse(name, "archive expands to more than the limit of " +
                       std::to_string(limits_.max_total_bytes) + " bytes");
    }
    if (total_bytes > ratio_bytes_) {
      Refuse(name, "archive expands to more than " + std::to_string(ratio_bytes_) +
                       " bytes, above the allowed compression ratio (decompression bomb?)");
    }
  }

  // Opens the directory that will hold the entry, creating missing directories on the way.
  // Every step is checked against what was extracted and opened with O_NOFOLLOW, so nothing
  // is ever written through a symlink.
  UniqueFd OpenParent(const std::string& name, const std::vector<std::string_view>& parts) {
    UniqueFd dir(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
    if (!dir) EntryIoFail(name, "cannot duplicate directory descriptor", errno);
    std::string prefix;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (i) prefix.push_back('/');
      prefix.append(parts[i]);
      std::string component(parts[i]);
      bool created = false;
      auto it = kinds_.find(prefix);
      if (it == kinds_.end()) {
        if (::mkdirat(dir.get(), component.c_str(), 0700) != 0)
          EntryIoFail(name, "cannot create directory '" + Printable(prefix) + "'", errno);
        kinds_.emplace(prefix, Kind::kDir);
        created = true;
      } else if (it->second == Kind::kSymlink) {
        Refuse(name, "path passes through the symlink '" + Printable(prefix) + "'");
      } else if (it->second == Kind::kFile) {
        Refuse(name, "path passes through the file '" + Printable(prefix) + "'");
      }
      UniqueFd next(
          ::openat(dir.get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next) EntryIoFail(name, "cannot open directory '" + Printable(prefix) + "'", errno);
      if (created && ::fchmod(next.get(), 0755) != 0)
        EntryIoFail(name, "cannot set the mode of '" + Printable(prefix) + "'", errno);
      dir = std::move(next);
    }
    return dir;
  }

  void ExtractFile(archive* a, archive_entry* entry, const std::string& name,
                   const std::vector<std::string_view>& parts, const std::string& path) {
    // Tar headers state the size up front: refuse a bomb before writing any of it.
    int64_t declared = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    uint64_t size = declared > 0 ? static_cast<uint64_t>(declared) : 0;
    CheckLimits(name, size, result_.bytes + size);

    UniqueFd parent = OpenParent(name, parts);
    std::string leaf(parts.back());
    kinds_.emplace(path, Kind::kFile);
    UniqueFd out(::openat(parent.get(), leaf.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) EntryIoFail(name, "cannot create file", errno);
    // Counted again while streaming, in case the data does not match the header.
    uint64_t written = 0;
    for (;;) {
      la_ssize_t n = archive_read_data(a, buffer_.data(), buffer_.size());
      if (n == 0) break;
      if (n < 0) {
        Fail(ErrorCode::kInvalidArgument,
             "archive entry '" + Printable(name) +
                 "': archive is corrupt or truncated: " + ArchiveErrorText(a));
      }
      auto count = static_cast<uint64_t>(n);
      CheckLimits(name, written + count, result_.bytes + count);
      if (!WriteAll(out.get(), buffer_.data(), static_cast<size_t>(n)))
        EntryIoFail(name, "cannot write file", errno);
      written += count;
      result_.bytes += count;
    }
    if (::fchmod(out.get(), archive_entry_perm(entry) & 0755) != 0)
      EntryIoFail(name, "cannot set the mode", errno);
    if (archive_entry_mtime_is_set(entry)) {
      // Best effort: an odd timestamp is no reason to refuse the archive.
      timespec times[2] = {{0, UTIME_OMIT},
                           {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}};
      ::futimens(out.get(), times);
    }
    if (::close(out.Release()) != 0) EntryIoFail(name, "cannot write file", errno);
    ++result_.entries;
  }

  void ExtractDir(archive_entry* entry, const std::string& name,
                  const std::vector<std::string_view>& parts, const std::string& path) {
    UniqueFd parent = OpenParent(name, parts);
    std::string leaf(parts.back());
    if (!kinds_.count(path)) {
      if (::mkdirat(parent.get(), leaf.c_str(), 0700) != 0)
        EntryIoFail(name, "cannot create directory", errno);
      kinds_.emplace(path, Kind::kDir);
    }
    UniqueFd dir(
        ::openat(parent.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) EntryIoFail(name, "cannot open directory", errno);
    // The owner keeps full access so that later entries and a cleanup can always get in.
    if (::fchmod(dir.get(), (archive_entry_perm(entry) & 0755) | 0700) != 0)
      EntryIoFail(name, "cannot set the mode", errno);
    ++result_.entries;
  }

  void ExtractSymlink(archive_entry* entry, const std::string& name,
                      const std::vector<std::string_view>& parts, const std::string& path) {
    const char* raw = archive_entry_symlink(entry);
    if (!raw) raw = archive_entry_symlink_utf8(entry);
    std::string target = raw ? raw : "";
    std::string problem = SymlinkProblem(parts, target, kinds_);
    if (!problem.empty()) Refuse(name, problem);
    UniqueFd parent = OpenParent(name, parts);
    std::string leaf(parts.back());
    kinds_.emplace(path, Kind::kSymlink);
    if (::symlinkat(target.c_str(), parent.get(), leaf.c_str()) != 0)
      EntryIoFail(name, "cannot create symlink", errno);
    symlinks_.push_back({name, path, std::move(target)});
    ++result_.entries;
  }

  void ExtractHardlink(const std::string& name, const std::vector<std::string_view>& parts,
                       const std::string& path, std::string_view target_name) {
    SplitPath target = Split(target_name);
    if (target.absolute || target.has_dotdot || target.parts.empty()) {
      Refuse(name, "hard link target '" + Printable(target_name) + "' is outside the directory");
    }
    std::string target_path = Join(target.parts, target.parts.size());
    auto it = kinds_.find(target_path);
    if (it == kinds_.end() || it->second != Kind::kFile) {
      Refuse(name,
             "hard link target '" + Printable(target_name) + "' is not an earlier extracted file");
    }
    UniqueFd parent = OpenParent(name, parts);
    std::string leaf(parts.back());
    kinds_.emplace(path, Kind::kFile);
    // The target's parents are directories this extraction created, so nothing is followed.
    if (::linkat(root_fd_, target_path.c_str(), parent.get(), leaf.c_str(), 0) != 0)
      EntryIoFail(name, "cannot create hard link", errno);
    ++result_.entries;
  }

  struct Symlink {
    std::string name;
    std::string path;
    std::string target;
  };

  int root_fd_;
  ExtractLimits limits_;
  uint64_t ratio_bytes_ = 0;
  std::vector<char> buffer_;
  PathKinds kinds_;
  std::vector<Symlink> symlinks_;
  ExtractResult result_;
};

// --- .terraformignore ------------------------------------------------------------------------

// One rule, compiled the way go-slug turns a pattern into a regular expression: '*' and '?'
// stay within a path component, "**/" (or "**" mid-pattern) is "(.*/)?", a final "**" is ".*".
class IgnoreRule {
 public:
  IgnoreRule(std::string_view pattern, bool negated) : negated_(negated) { Compile(pattern); }

  bool negated() const { return negated_; }
  bool negations_after = false;

  bool Matches(std::string_view s) const {
    // dp[t][i]: tokens t.. match s[i..]. Rows are filled from the last token backwards.
    const size_t n = s.size(), count = tokens_.size();
    std::vector<char> next(n + 1, 0), cur(n + 1, 0);
    next[n] = 1;
    for (size_t t = count; t-- > 0;) {
      const Token& tok = tokens_[t];
      bool any_slash_then_next = false;  // exists j >= i with s[j] == '/' && next[j + 1]
      for (size_t i = n + 1; i-- > 0;) {
        bool ok = false;
        switch (tok.type) {
          case Token::kLiteral:
            ok = i < n && s[i] == tok.c && next[i + 1];
            break;
          case Token::kOne:
            ok = i < n && s[i] != '/' && next[i + 1];
            break;
          case Token::kClass:
            ok = i < n && s[i] != '/' && tok.InClass(s[i]) && next[i + 1];
            break;
          case Token::kStar:
            ok = next[i] || (i < n && s[i] != '/' && cur[i + 1]);
            break;
          case Token::kAll:
            ok = next[i] || (i < n && cur[i + 1]);
            break;
          case Token::kDirs:
            if (i < n && s[i] == '/' && next[i + 1]) any_slash_then_next = true;
            ok = next[i] || any_slash_then_next;
            break;
        }
        cur[i] = ok;
      }
      std::swap(cur, next);
    }
    return next[0];
  }

 private:
  struct Token {
    enum Type { kLiteral, kOne, kClass, kStar, kAll, kDirs };
    explicit Token(Type t, char ch = 0) : type(t), c(ch) {}

    Type type;
    char c;
    std::vector<std::pair<unsigned char, unsigned char>> ranges;
    bool negate = false;

    bool InClass(char ch) const {
      auto u = static_cast<unsigned char>(ch);
      bool in = std::any_of(ranges.begin(), ranges.end(),
                            [u](const auto& r) { return r.first <= u && u <= r.second; });
      return in != negate;
    }
  };

  void Compile(std::string_view p) {
    for (size_t i = 0; i < p.size(); ++i) {
      char ch = p[i];
      if (ch == '*') {
        if (i + 1 < p.size() && p[i + 1] == '*') {
          ++i;
          if (i + 1 < p.size() && p[i + 1] == '/') ++i;
          tokens_.emplace_back(i + 1 == p.size() ? Token::kAll : Token::kDirs);
        } else {
          tokens_.emplace_back(Token::kStar);
        }
      } else if (ch == '?') {
        tokens_.emplace_back(Token::kOne);
      } else if (ch == '\\') {
        tokens_.emplace_back(Token::kLiteral, i + 1 < p.size() ? p[++i] : '\\');
      } else if (ch == '[' && CompileClass(p, i)) {
        // CompileClass advanced i to the closing ']'.
      } else {
        tokens_.emplace_back(Token::kLiteral, ch);
      }
    }
  }

  // Parses "[...]" starting at p[i] == '['; false (and nothing consumed) if it is unclosed.
  bool CompileClass(std::string_view p, size_t& i) {
    Token tok(Token::kClass);
    size_t j = i + 1;
    if (j < p.size() && (p[j] == '^' || p[j] == '!')) {
      tok.negate = true;
      ++j;
    }
    bool first = true;
    for (; j < p.size(); ++j) {
      if (p[j] == ']' && !first) {
        tokens_.push_back(std::move(tok));
        i = j;
        return true;
      }
      first = false;
      unsigned char lo = static_cast<unsigned char>(p[j]);
      if (p[j] == '\\' && j + 1 < p.size()) lo = static_cast<unsigned char>(p[++j]);
      unsigned char hi = lo;
      if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
        j += 2;
        if (p[j] == '\\' && j + 1 < p.size()) ++j;
        hi = static_cast<unsigned char>(p[j]);
      }
      tok.ranges.emplace_back(lo, hi);
    }
    return false;
  }

  std::vector<Token> tokens_;
  bool negated_;
};

struct IgnoreResult {
  bool excluded = false;
  bool dominating = false;  // excluded and no negation follows: nothing below can come back
};

class IgnoreRules {
 public:
  // go-slug's rules: the defaults first, then the file's, if it exists.
  static IgnoreRules Load(int root_fd, const std::string& dir) {
    IgnoreRules rules;
    rules.rules_.emplace_back("**/.git/**", false);
    rules.rules_.emplace_back("**/.terraform/**", false);
    rules.rules_.emplace_back("**/.terraform/modules/**", true);
    const std::string display = dir + "/.terraformignore";
    UniqueFd fd(::openat(root_fd, ".terraformignore", O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno != ENOENT) PathIoFail("cannot read", display, errno);
    } else {
      std::string text;
      std::vector<char> buf(kChunk);
      for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) PathIoFail("cannot read", display, errno);
        if (n == 0) break;
        text.append(buf.data(), static_cast<size_t>(n));
      }
      rules.Parse(text);
    }
    bool negation_after = false;
    for (size_t i = rules.rules_.size(); i-- > 0;) {
      rules.rules_[i].negations_after = negation_after;
      if (rules.rules_[i].negated()) negation_after = true;
    }
    return rules;
  }

  // The last matching rule decides, as in go-slug.
  IgnoreResult Excludes(std::string_view path) const {
    IgnoreResult result;
    for (const IgnoreRule& rule : rules_) {
      if (!rule.Matches(path)) continue;
      result.excluded = !rule.negated();
      result.dominating = result.excluded && !rule.negations_after;
    }
    return result;
  }

 private:
  void Parse(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      constexpr std::string_view kSpace = " \t\r\v\f";
      size_t first = line.find_first_not_of(kSpace);
      if (first == std::string_view::npos) continue;
      line = line.substr(first, line.find_last_not_of(kSpace) - first + 1);
      if (line.front() == '#') continue;
      bool negated = line.front() == '!';
      if (negated) line.remove_prefix(1);
      if (line.empty()) continue;
      std::string pattern(line);
      if (pattern.back() == '/') pattern += "**";
      if (pattern.front() == '/') {
        pattern.erase(0, 1);
      } else {
        pattern.insert(0, "**/");
      }
      rules_.emplace_back(pattern, negated);
    }
  }

  std::vector<IgnoreRule> rules_;
};

// --- Packing ----------------------------------------------------------------------------------

struct PackItem {
  std::string path;
  Kind kind;
  struct stat st;
  std::string target;  // symlinks
};

class Packer {
 public:
  Packer(const std::string& dir, int root_fd, const IgnoreRules& rules, dev_t skip_dev,
         ino_t skip_ino)
      : dir_(dir), root_fd_(root_fd), rules_(rules), skip_dev_(skip_dev), skip_ino_(skip_ino) {}

  // Walks like go-slug's filepath.Walk: lexical order, a directory before its contents.
  // Everything is opened relative to dir, so the recursion holds no descriptors.
  void Walk(const std::string& prefix) {
    UniqueFd fd(::openat(root_fd_, prefix.empty() ? "." : prefix.c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    DIR* d = fd ? ::fdopendir(fd.get()) : nullptr;
    if (!d) PathIoFail("cannot read directory", Display(prefix), errno);
    fd.Release();
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err) PathIoFail("cannot read directory", Display(prefix), err);
    std::sort(names.begin(), names.end());

    for (const std::string& name : names) {
      std::string path = prefix.empty() ? name : prefix + "/" + name;
      struct stat st;
      if (::fstatat(root_fd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        PathIoFail("cannot stat", Display(path), errno);
      if (st.st_dev == skip_dev_ && st.st_ino == skip_ino_) continue;  // our own output
      bool excluded = rules_.Excludes(path).excluded;
      if (S_ISDIR(st.st_mode)) {
        // As in go-slug: a match without the slash drops only the directory's own entry; a
        // match with it drops the subtree when no later negation could bring something back.
        bool descend = true;
        if (!excluded) {
          IgnoreResult as_dir = rules_.Excludes(path + "/");
          excluded = as_dir.excluded;
          descend = !as_dir.dominating;
        }
        if (!excluded) items_.push_back({path, Kind::kDir, st, {}});
        if (descend) Walk(path);
      } else if (excluded) {
        continue;
      } else if (S_ISREG(st.st_mode)) {
        total_bytes_ += static_cast<uint64_t>(st.st_size);
        items_.push_back({path, Kind::kFile, st, {}});
      } else if (S_ISLNK(st.st_mode)) {
        items_.push_back({path, Kind::kSymlink, st, ReadLink(path)});
      }
      // Sockets, fifos and devices are not packed.
    }
  }

  // Refuses symlinks that ExtractArchive would refuse, so every pack can be unpacked.
  void CheckSymlinks() const {
    PathKinds kinds;
    for (const PackItem& item : items_) kinds.emplace(item.path, item.kind);
    for (const PackItem& item : items_) {
      if (item.kind != Kind::kSymlink) continue;
      std::string problem = SymlinkProblem(Split(item.path).parts, item.target, kinds);
      if (!problem.empty())
        Fail(ErrorCode::kInvalidArgument, "cannot pack '" + Display(item.path) + "': " + problem);
    }
  }

  PackResult Write(archive* a, const PackProgress& progress) {
    PackResult result;
    uint64_t reported = 0;
    auto report = [&](bool force) {
      if (!progress) return;
      if (!force && result.bytes - reported < kProgressStep) return;
      reported = result.bytes;
      progress(result.bytes, std::max(total_bytes_, result.bytes));
    };
    report(true);
    std::vector<char> buffer(kChunk);
    for (const PackItem& item : items_) {
      Entry entry(archive_entry_new());
      if (!entry) Fail(ErrorCode::kInternal, "out of memory");
      archive_entry_copy_pathname(entry.get(), item.path.c_str());
      archive_entry_set_mtime(entry.get(), item.st.st_mtim.tv_sec, item.st.st_mtim.tv_nsec);
      archive_entry_set_uid(entry.get(), 0);
      archive_entry_set_gid(entry.get(), 0);
      UniqueFd in;
      uint64_t size = 0;
      switch (item.kind) {
        case Kind::kDir:
          archive_entry_set_filetype(entry.get(), AE_IFDIR);
          archive_entry_set_perm(entry.get(), item.st.st_mode & 0777);
          break;
        case Kind::kSymlink:
          archive_entry_set_filetype(entry.get(), AE_IFLNK);
          archive_entry_set_perm(entry.get(), 0777);
          archive_entry_copy_symlink(entry.get(), item.target.c_str());
          break;
        case Kind::kFile: {
          // O_NONBLOCK: should the file have become a fifo meanwhile, fail instead of hanging.
          in = UniqueFd(::openat(root_fd_, item.path.c_str(),
                                 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
          if (!in) PathIoFail("cannot open", Display(item.path), errno);
          struct stat st;
          if (::fstat(in.get(), &st) != 0) PathIoFail("cannot stat", Display(item.path), errno);
          if (!S_ISREG(st.st_mode))
            Fail(ErrorCode::kInternal, "'" + Display(item.path) + "' changed while packing");
          size = static_cast<uint64_t>(st.st_size);
          archive_entry_set_filetype(entry.get(), AE_IFREG);
          archive_entry_set_perm(entry.get(), st.st_mode & 0777);
          archive_entry_set_size(entry.get(), st.st_size);
          archive_entry_set_mtime(entry.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
          break;
        }
      }
      if (archive_write_header(a, entry.get()) < ARCHIVE_WARN) {
        Fail(ErrorCode::kInternal,
             "cannot pack '" + Display(item.path) + "': " + ArchiveErrorText(a));
      }
      ++result.entries;
      uint64_t left = size;
      while (left > 0) {
        ssize_t n = ::read(in.get(), buffer.data(), std::min<uint64_t>(left, buffer.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) PathIoFail("cannot read", Display(item.path), errno);
        if (n == 0) Fail(ErrorCode::kInternal, "'" + Display(item.path) + "' shrank while packing");
        if (archive_write_data(a, buffer.data(), static_cast<size_t>(n)) != n) {
          Fail(ErrorCode::kInternal,
               "cannot pack '" + Display(item.path) + "': " + ArchiveErrorText(a));
        }
        left -= static_cast<uint64_t>(n);
        result.bytes += static_cast<uint64_t>(n);
        report(false);
      }
    }
    report(true);
    return result;
  }

 private:
  std::string Display(const std::string& path) const {
    return path.empty() ? dir_ : dir_ + "/" + path;
  }

  std::string ReadLink(const std::string& path) const {
    std::string target(256, '\0');
    for (;;) {
      ssize_t n = ::readlinkat(root_fd_, path.c_str(), target.data(), target.size());
      if (n < 0) PathIoFail("cannot read symlink", Display(path), errno);
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        return target;
      }
      target.resize(target.size() * 2);
    }
  }

  const std::string& dir_;
  int root_fd_;
  const IgnoreRules& rules_;
  dev_t skip_dev_;
  ino_t skip_ino_;
  std::vector<PackItem> items_;
  uint64_t total_bytes_ = 0;
};

// Deletes the temp file unless it was renamed into place.
class TempFile {
 public:
  explicit TempFile(const std::string& out_path) : path_(out_path + ".tmp-XXXXXX") {
    fd_ = UniqueFd(::mkostemp(path_.data(), O_CLOEXEC));
    if (!fd_) PathIoFail("cannot create", path_, errno);
  }
  ~TempFile() {
    fd_.Reset();
    if (!committed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_.get(); }
  void Commit(const std::string& out_path) {
    if (::fsync(fd_.get()) != 0) PathIoFail("cannot write", path_, errno);
    if (::close(fd_.Release()) != 0) PathIoFail("cannot write", path_, errno);
    if (::rename(path_.c_str(), out_path.c_str()) != 0)
      PathIoFail("cannot rename to '" + out_path + "'", path_, errno);
    committed_ = true;
  }

 private:
  std::string path_;
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace

ExtractResult ExtractArchive(const std::string& archive_path, const std::string& dir,
                             const ExtractLimits& limits) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) PathIoFail("cannot open extraction directory", dir, errno);
  std::error_code ec;
  bool empty = std::filesystem::is_empty(dir, ec);
  if (ec) PathIoFail("cannot read extraction directory", dir, ec.value());
  if (!empty) Fail(ErrorCode::kInternal, "extraction directory '" + dir + "' is not empty");

  UniqueFd file(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) PathIoFail("cannot open archive", archive_path, errno);
  struct stat st;
  if (::fstat(file.get(), &st) != 0) PathIoFail("cannot stat archive", archive_path, errno);
  if (!S_ISREG(st.st_mode)) Fail(ErrorCode::kInternal, "'" + archive_path + "' is not a file");

  ReadArchive a(archive_read_new());
  if (!a) Fail(ErrorCode::kInternal, "out of memory");
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  try {
    if (archive_read_open_fd(a.get(), file.get(), kChunk) != ARCHIVE_OK) {
      Fail(ErrorCode::kInvalidArgument,
           "not a tar or tar.gz archive: " + ArchiveErrorText(a.get()));
    }
    Extractor extractor(root.get(), limits, static_cast<uint64_t>(st.st_size));
    return extractor.Run(a.get());
  } catch (...) {
    RemoveContents(dir);
    throw;
  }
}

PackResult PackDirectory(const std::string& dir, const std::string& out_path,
                         const PackProgress& progress) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) PathIoFail("cannot open directory", dir, errno);
  IgnoreRules rules = IgnoreRules::Load(root.get(), dir);

  // Created first so that, should out_path lie inside dir, the walk can skip it.
  TempFile temp(out_path);
  struct stat temp_st;
  if (::fstat(temp.fd(), &temp_st) != 0) PathIoFail("cannot stat", out_path, errno);

  Packer packer(dir, root.get(), rules, temp_st.st_dev, temp_st.st_ino);
  packer.Walk("");
  packer.CheckSymlinks();

  WriteArchive a(archive_write_new());
  if (!a) Fail(ErrorCode::kInternal, "out of memory");
  if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      // No padding after the gzip stream: strict readers (Go's) reject trailing zeros.
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open_fd(a.get(), temp.fd()) != ARCHIVE_OK) {
    Fail(ErrorCode::kInternal, "cannot write '" + out_path + "': " + ArchiveErrorText(a.get()));
  }
  PackResult result = packer.Write(a.get(), progress);
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    Fail(ErrorCode::kInternal, "cannot write '" + out_path + "': " + ArchiveErrorText(a.get()));
  temp.Commit(out_path);
  return result;
}

}  // namespace statehouse::runs
