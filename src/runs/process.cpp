#include "runs/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "common/error.h"

namespace statehouse::runs {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long descendants may keep the output pipe open after the child itself exited.
constexpr auto kDrainAfterExit = std::chrono::seconds(2);
// Poll slices: short enough to notice Cancel() and the child's exit promptly.
constexpr auto kPollSlice = milliseconds(50);
constexpr auto kPollSliceAfterEof = milliseconds(5);
// Reads per loop turn, so a child flooding the pipe cannot starve the deadline checks.
constexpr int kReadsPerTurn = 16;
constexpr size_t kReadSize = 64 * 1024;

std::string ErrnoText(int error) { return std::generic_category().message(error); }

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

// What the child reports through the status pipe when it cannot exec.
enum ChildStage : int32_t { kStageSetup = 1, kStageChdir, kStageRlimit, kStageExec };
struct ChildFailure {
  int32_t stage;
  int32_t error;
};

// Everything the child needs, prepared before fork: between fork and exec only
// async-signal-safe calls are allowed, so no allocation and no formatting there.
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: stay
  struct Limit {
    int resource;
    rlim_t value;
  };
  Limit limits[4];
  int limit_count;
  int stdin_fd;
  int output_fd;
  int status_fd;
  int max_fd;  // for the last-resort fd sweep
};

// Marks every fd from 3 up close-on-exec: they vanish at exec, while the status pipe (already
// close-on-exec) stays usable until then to report a failure.
void MarkExtraFdsCloexec(int max_fd) {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Kernels before 5.11: walk /proc/self/fd with raw getdents64 (opendir would allocate).
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    alignas(8) char buf[4096];
    for (;;) {
      long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
        unsigned short reclen;
        __builtin_memcpy(&reclen, buf + off + 16, sizeof reclen);
        const char* name = buf + off + 19;
        int fd = 0;
        bool numeric = *name != '\0';
        for (const char* c = name; *c; ++c) {
          if (*c < '0' || *c > '9') numeric = false;
          fd = fd * 10 + (*c - '0');
        }
        if (numeric && fd >= 3 && fd != dir) fcntl(fd, F_SETFD, FD_CLOEXEC);
        off += reclen;
      }
    }
    close(dir);
    return;
  }
  for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

// Keeps fds the child is about to dup2 over 0..2 out of that range, so that no dup2 clobbers
// another source and none is a no-op that would leave close-on-exec set.
int AboveStdio(int fd) {
  if (fd >= 3) return fd;
  return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

[[noreturn]] void RunChild(const ChildPlan& plan) {
  int status_fd = plan.status_fd;
  auto fail = [&status_fd](ChildStage stage) {
    ChildFailure failure{stage, errno};
    if (status_fd >= 0) (void)!write(status_fd, &failure, sizeof failure);
    _exit(127);
  };

  if (setpgid(0, 0) != 0) fail(kStageSetup);

  // Ignored signals survive exec (the server ignores SIGPIPE); handlers would be reset anyway.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }

  status_fd = AboveStdio(status_fd);
  int stdin_fd = AboveStdio(plan.stdin_fd);
  int output_fd = AboveStdio(plan.output_fd);
  if (status_fd < 0 || stdin_fd < 0 || output_fd < 0) fail(kStageSetup);
  if (dup2(stdin_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(output_fd, 2) < 0) {
    fail(kStageSetup);
  }
  MarkExtraFdsCloexec(plan.max_fd);

  if (plan.cwd && chdir(plan.cwd) != 0) fail(kStageChdir);

  for (int i = 0; i < plan.limit_count; ++i) {
    struct rlimit current;
    if (getrlimit(plan.limits[i].resource, &current) != 0) fail(kStageRlimit);
    rlim_t value = plan.limits[i].value;
    // Unprivileged processes cannot raise the hard limit: a lower one already binds.
    if (current.rlim_max != RLIM_INFINITY && value > current.rlim_max) value = current.rlim_max;
    // Soft and hard, so the provisioner cannot raise it again.
    struct rlimit limit = {value, value};
    if (setrlimit(plan.limits[i].resource, &limit) != 0) fail(kStageRlimit);
  }

  // The parent blocked everything around fork; the provisioner starts with a clean mask.
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);

  execve(plan.path, plan.argv, plan.envp);
  fail(kStageExec);
  _exit(127);  // not reached
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

void Validate(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    Fail(ErrorCode::kInvalidArgument, "no program to run");
  }
  for (const std::string& arg : spec.argv) {
    if (HasNul(arg)) Fail(ErrorCode::kInvalidArgument, "argument contains a NUL byte");
  }
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find('=') != std::string::npos || HasNul(name) || HasNul(value)) {
      Fail(ErrorCode::kInvalidArgument, "invalid environment variable name '" + name + "'");
    }
  }
  if (HasNul(spec.cwd)) Fail(ErrorCode::kInvalidArgument, "working directory contains a NUL byte");
}

// Looks the program up like execvp would, but in the child's PATH, and before fork so that the
// child only has to execve.
std::string ResolveExecutable(const ProcessSpec& spec) {
  const std::string& name = spec.argv[0];
  if (name.find('/') != std::string::npos) return name;  // execve reports any problem

  std::string search_path;
  bool found = false;
  for (const auto& [key, value] : spec.env) {
    if (key == "PATH") {
      search_path = value;
      found = true;
      break;
    }
  }
  if (!found) {
    const char* server_path = std::getenv("PATH");
    search_path = server_path ? server_path : "/usr/local/bin:/usr/bin:/bin";
  }

  int error = ENOENT;
  const std::string_view dirs = search_path;
  for (size_t start = 0;;) {
    const size_t colon = dirs.find(':', start);
    const std::string_view dir = dirs.substr(start, colon - start);
    // Relative entries (and the empty one, meaning ".") would resolve against the server's
    // directory here but the child's after chdir: skip them rather than guess.
    if (!dir.empty() && dir.front() == '/') {
      std::string candidate(dir);
      if (candidate.back() != '/') candidate.push_back('/');
      candidate += name;
      struct stat st;
      if (stat(candidate.c_str(), &st) == 0) {
        if (S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) return candidate;
        error = EACCES;
      } else if (errno == EACCES) {
        error = EACCES;
      }
    }
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  Fail(ErrorCode::kInvalidArgument, "cannot run '" + name + "': " + ErrnoText(error));
}

void ReapBlocking(pid_t pid, int* status) {
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::Start(const ProcessSpec& spec) {
  Validate(spec);
  const std::string path = ResolveExecutable(spec);

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  env_strings.reserve(spec.env.size());
  for (const auto& [name, value] : spec.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  ChildPlan plan = {};
  plan.path = path.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  const std::pair<int, uint64_t> limits[] = {{RLIMIT_CPU, spec.rlimit_cpu_seconds},
                                             {RLIMIT_AS, spec.rlimit_address_space},
                                             {RLIMIT_FSIZE, spec.rlimit_file_size},
                                             {RLIMIT_NOFILE, spec.rlimit_open_files}};
  for (const auto& [resource, value] : limits) {
    if (value > 0) plan.limits[plan.limit_count++] = {resource, static_cast<rlim_t>(value)};
  }
  struct rlimit nofile;
  plan.max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                    ? static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20))
                    : 1 << 16;

  UniqueFd dev_null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (dev_null.get() < 0) Fail(ErrorCode::kInternal, "cannot open /dev/null: " + ErrnoText(errno));
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) Fail(ErrorCode::kInternal, "pipe failed: " + ErrnoText(errno));
  UniqueFd output_read(fds[0]), output_write(fds[1]);
  if (pipe2(fds, O_CLOEXEC) != 0) Fail(ErrorCode::kInternal, "pipe failed: " + ErrnoText(errno));
  UniqueFd status_read(fds[0]), status_write(fds[1]);
  // Only our end is non-blocking: the child's writes must block on a full pipe.
  if (fcntl(output_read.get(), F_SETFL, O_NONBLOCK) != 0) {
    Fail(ErrorCode::kInternal, "fcntl failed: " + ErrnoText(errno));
  }
  plan.stdin_fd = dev_null.get();
  plan.output_fd = output_write.get();
  plan.status_fd = status_write.get();

  // No server signal handler may run in the child before it resets the dispositions.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  const Clock::time_point started = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) RunChild(plan);
  const int fork_error = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) Fail(ErrorCode::kInternal, "fork failed: " + ErrnoText(fork_error));

  // Our copies of the child's ends must go, or EOF would never come.
  dev_null.Reset();
  output_write.Reset();
  status_write.Reset();

  // EOF means exec succeeded (the pipe is close-on-exec); a record means it did not.
  ChildFailure failure = {};
  ssize_t n;
  do {
    n = read(status_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n != 0) {
    const int read_error = errno;
    if (n != static_cast<ssize_t>(sizeof failure)) kill(pid, SIGKILL);
    ReapBlocking(pid, nullptr);
    if (n != static_cast<ssize_t>(sizeof failure)) {
      Fail(ErrorCode::kInternal,
           "cannot read the child's start status: " + (n < 0 ? ErrnoText(read_error) : "short"));
    }
    const std::string reason = ErrnoText(failure.error);
    switch (failure.stage) {
      case kStageExec:
        Fail(ErrorCode::kInvalidArgument, "cannot run '" + spec.argv[0] + "': " + reason);
      case kStageChdir:
        Fail(ErrorCode::kInvalidArgument,
             "cannot change to directory '" + spec.cwd + "': " + reason);
      case kStageRlimit:
        Fail(ErrorCode::kInternal, "cannot set resource limits for the child: " + reason);
      default:
        Fail(ErrorCode::kInternal, "cannot set up the child process: " + reason);
    }
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, output_read.Release(), spec, started));
}

ChildProcess::ChildProcess(pid_t pid, int output_fd, const ProcessSpec& spec,
                           Clock::time_point started)
    : pid_(pid),
      output_fd_(output_fd),
      timeout_(spec.timeout),
      grace_(spec.grace),
      max_output_bytes_(spec.max_output_bytes),
      started_(started) {}

ChildProcess::~ChildProcess() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!reaped_) {
      kill(-pid_, SIGKILL);
      ReapBlocking(pid_, nullptr);
      reaped_ = true;
    }
  }
  if (output_fd_ >= 0) close(output_fd_);
}

void ChildProcess::SignalGroup(int sig) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!reaped_) kill(-pid_, sig);
}

void ChildProcess::Cancel() {
  if (cancel_requested_.exchange(true)) return;
  SignalGroup(SIGINT);
}

ProcessResult ChildProcess::Wait(const std::function<void(std::string_view chunk)>& on_output) {
  if (waited_) return result_;
  waited_ = true;

  ProcessResult result;
  const Clock::time_point deadline =
      timeout_.count() > 0 ? started_ + timeout_ : Clock::time_point::max();
  bool eof = false;
  bool exited = false;
  bool status_lost = false;
  Clock::time_point exited_at, drain_until;
  bool escalating = false;
  int next_signal = 0;  // after SIGINT: SIGTERM, then SIGKILL, then 0 (done)
  Clock::time_point next_step;
  uint64_t delivered = 0;
  bool truncated = false;
  bool ends_with_newline = true;
  std::string buffer(kReadSize, '\0');

  auto emit = [&](std::string_view chunk) {
    if (chunk.empty()) return;
    delivered += chunk.size();
    ends_with_newline = chunk.back() == '\n';
    if (on_output) on_output(chunk);
  };
  auto deliver = [&](std::string_view chunk) {
    result.output_bytes += chunk.size();
    if (max_output_bytes_ > 0 && chunk.size() > max_output_bytes_ - delivered) {
      emit(chunk.substr(0, max_output_bytes_ - delivered));
      if (!truncated) {
        truncated = true;
        std::string note = ends_with_newline ? "" : "\n";
        note += "[output truncated: limit of " + std::to_string(max_output_bytes_) +
                " bytes reached]\n";
        if (on_output) on_output(note);
      }
      return;
    }
    emit(chunk);
  };
  auto read_available = [&] {
    for (int i = 0; i < kReadsPerTurn && !eof; ++i) {
      ssize_t n = read(output_fd_, buffer.data(), buffer.size());
      if (n > 0) {
        deliver(std::string_view(buffer.data(), static_cast<size_t>(n)));
      } else if (n == 0) {
        eof = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      } else if (errno != EINTR) {
        eof = true;  // EIO and the like: nothing more will come
      }
    }
  };
  auto start_escalation = [&](Clock::time_point now) {
    escalating = true;
    next_signal = SIGTERM;
    next_step = now + grace_;
  };

  for (;;) {
    Clock::time_point now = Clock::now();
    if (!exited && !escalating && now >= deadline) {
      result.timed_out = true;
      SignalGroup(SIGINT);
      start_escalation(now);
    }
    // Cancel() already sent the SIGINT; the grace periods count from when we notice.
    if (!escalating && cancel_requested_.load()) start_escalation(now);
    if (escalating && next_signal != 0 && now >= next_step) {
      SignalGroup(next_signal);
      next_signal = next_signal == SIGTERM ? SIGKILL : 0;
      next_step = now + grace_;
    }
    if (exited && now >= drain_until) {
      // Descendants still hold the pipe: keep what is buffered, then they go with the group.
      SignalGroup(SIGKILL);
      read_available();
      break;
    }

    Clock::time_point wake = now + (eof ? kPollSliceAfterEof : kPollSlice);
    if (!exited && !escalating) wake = std::min(wake, deadline);
    if (escalating && next_signal != 0) wake = std::min(wake, next_step);
    if (exited) wake = std::min(wake, drain_until);
    const int timeout_ms =
        static_cast<int>(std::max<int64_t>(0, std::chrono::ceil<milliseconds>(wake - now).count()));
    struct pollfd pfd = {eof ? -1 : output_fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno != EINTR) Fail(ErrorCode::kInternal, "poll failed: " + ErrnoText(errno));
    if (ready > 0) read_available();

    if (!exited) {
      // WNOWAIT leaves the child a zombie: its pid, and so the group id we signal, cannot be
      // reused before we reap it at the end.
      siginfo_t info = {};
      const int rc = waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
      if (rc < 0 && errno == ECHILD) {
        // Reaped behind our back (SIGCHLD set to SIG_IGN): the status is lost, the pid free.
        std::lock_guard<std::mutex> lock(mutex_);
        reaped_ = true;
        status_lost = true;
      } else if (rc < 0 && errno != EINTR) {
        Fail(ErrorCode::kInternal, "waitid failed: " + ErrnoText(errno));
      }
      if (status_lost || (rc == 0 && info.si_pid == pid_)) {
        exited = true;
        exited_at = Clock::now();
        drain_until = exited_at + kDrainAfterExit;
        result.cancelled = cancel_requested_.load();
      }
    }
    if (exited && eof) break;
  }

  // Leftovers of the group that already closed the pipe go too: nothing of a run outlives it.
  SignalGroup(SIGKILL);
  int status = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!reaped_) {
      ReapBlocking(pid_, &status);
      reaped_ = true;
    }
  }
  close(output_fd_);
  output_fd_ = -1;

  if (!status_lost) {
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  }
  result.duration = std::chrono::duration_cast<milliseconds>(exited_at - started_);
  result_ = result;
  return result;
}

SecretMasker::SecretMasker(std::vector<std::string> secrets) {
  for (std::string& secret : secrets) {
    if (secret.size() >= 4) secrets_.push_back(std::move(secret));
  }
  std::sort(secrets_.begin(), secrets_.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  secrets_.erase(std::unique(secrets_.begin(), secrets_.end()), secrets_.end());
  for (const std::string& secret : secrets_)
    first_byte_[static_cast<unsigned char>(secret[0])] = true;
}

std::string SecretMasker::Feed(std::string_view chunk) {
  if (secrets_.empty()) return std::string(chunk);
  pending_.append(chunk);
  return Process(false);
}

std::string SecretMasker::Flush() { return Process(true); }

std::string SecretMasker::Process(bool final) {
  const std::string_view in = pending_;
  std::string out;
  out.reserve(in.size());
  size_t literal_from = 0;  // start of the bytes not yet copied to out
  size_t i = 0;
  while (i < in.size()) {
    if (!first_byte_[static_cast<unsigned char>(in[i])]) {
      ++i;
      continue;
    }
    const std::string_view rest = in.substr(i);
    size_t match = 0;
    bool maybe_longer = false;
    for (const std::string& secret : secrets_) {  // longest first
      if (rest.size() >= secret.size()) {
        if (rest.compare(0, secret.size(), secret) == 0) {
          match = secret.size();
          break;
        }
      } else if (!final && secret.compare(0, rest.size(), rest) == 0) {
        // The next chunk may complete this secret (or a longer one than any match here).
        maybe_longer = true;
        break;
      }
    }
    if (maybe_longer) break;
    if (match == 0) {
      ++i;
      continue;
    }
    out.append(in.substr(literal_from, i - literal_from));
    out += "***";
    i += match;
    literal_from = i;
  }
  out.append(in.substr(literal_from, i - literal_from));
  pending_.erase(0, i);
  return out;
}

}  // namespace statehouse::runs
