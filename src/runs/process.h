// The provisioner (terraform / tofu) as a child process: started in its own process group with
// exactly the environment the runner chose, its merged output streamed to a callback, bounded
// in time, output and resources, and stoppable from another thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace statehouse::runs {

struct ProcessSpec {
  // argv[0] is an absolute path, or a name looked up in the PATH of `env` (or the server's PATH
  // when env has none). Relative PATH entries are skipped.
  std::vector<std::string> argv;
  std::string cwd;  // working directory; empty: the server's
  // The complete environment of the child: nothing is inherited from the server.
  std::vector<std::pair<std::string, std::string>> env;
  std::chrono::milliseconds timeout{0};  // 0: none. On expiry: the same escalation as Cancel()
  // SIGINT -> (grace) -> SIGTERM -> (grace) -> SIGKILL
  std::chrono::milliseconds grace{3000};
  // 0: none. Beyond it output is dropped, and on_output gets a single note
  // "[output truncated: limit of N bytes reached]" instead.
  uint64_t max_output_bytes = 0;
  // Resource limits set in the child with setrlimit, soft and hard (0 = leave as is).
  uint64_t rlimit_cpu_seconds = 0, rlimit_address_space = 0, rlimit_file_size = 0,
           rlimit_open_files = 0;
};

struct ProcessResult {
  int exit_code = -1;         // when it exited normally
  int signal = 0;             // when a signal ended it
  bool timed_out = false;     // the timeout expired before the child exited
  bool cancelled = false;     // Cancel() was called before the child exited
  uint64_t output_bytes = 0;  // all the child wrote, including what max_output_bytes dropped
  std::chrono::milliseconds duration{0};  // from Start() until the exit was seen
};

class ChildProcess {
 public:
  // Forks and execs. The child leads its own process group, so signals reach everything it
  // starts; stdin is /dev/null, stdout and stderr share one pipe, all other fds are closed and
  // signal dispositions and mask are reset. Throws kInvalidArgument when the binary cannot be
  // run ("cannot run 'terraform': No such file or directory") or cwd is unusable, reported by
  // the child before exec rather than as exit code 127; kInternal when fork/pipe fail.
  static std::unique_ptr<ChildProcess> Start(const ProcessSpec& spec);

  // If still running: kills the whole group (SIGKILL) and reaps; never leaves a zombie.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads the merged output until the child has exited and the pipe is closed, calling
  // on_output (may be empty) from this thread for each chunk as it arrives. Enforces timeout
  // and max_output_bytes, and reaps the child. Descendants that keep the pipe open get ~2 s
  // after the child's exit; then, as any other leftover of the group, they are killed.
  // Exceptions from on_output propagate (the destructor then cleans up). Call once; later
  // calls return the same result.
  ProcessResult Wait(const std::function<void(std::string_view chunk)>& on_output);

  // Thread-safe and idempotent, also while another thread is in Wait(): sends SIGINT to the
  // group and has Wait() escalate to SIGTERM and SIGKILL after each grace period.
  void Cancel();

  pid_t pid() const { return pid_; }  // also the process group id

 private:
  ChildProcess(pid_t pid, int output_fd, const ProcessSpec& spec,
               std::chrono::steady_clock::time_point started);
  void SignalGroup(int sig);

  const pid_t pid_;
  int output_fd_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds grace_;
  const uint64_t max_output_bytes_;
  const std::chrono::steady_clock::time_point started_;

  std::atomic<bool> cancel_requested_{false};
  // Guards reaped_: once the child is reaped its pid (and so the group id) may be reused, so
  // no signal may be sent after that.
  std::mutex mutex_;
  bool reaped_ = false;

  bool waited_ = false;
  ProcessResult result_;
};

// Replaces each secret in a stream of chunks by "***", also when a secret is split across
// chunks, by holding back at most (longest secret - 1) bytes between calls. Secrets shorter
// than 4 bytes are ignored: masking "a" would destroy the log. Where secrets overlap, the
// leftmost match wins, and among matches at one position the longest.
class SecretMasker {
 public:
  explicit SecretMasker(std::vector<std::string> secrets);
  std::string Feed(std::string_view chunk);  // what can be released now, masked
  std::string Flush();                       // the held-back tail, masked

 private:
  std::string Process(bool final);

  std::vector<std::string> secrets_;  // longest first
  bool first_byte_[256] = {};         // quick rejection of positions no secret starts with
  std::string pending_;
};

}  // namespace statehouse::runs
