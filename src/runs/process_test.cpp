#include "runs/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/error.h"

namespace statehouse::runs {
namespace {

using namespace std::chrono_literals;

ProcessSpec Sh(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  return spec;
}

struct Outcome {
  ProcessResult result;
  std::string output;
  pid_t pid = 0;
};

Outcome RunToEnd(const ProcessSpec& spec) {
  Outcome outcome;
  auto child = ChildProcess::Start(spec);
  outcome.pid = child->pid();
  outcome.result = child->Wait([&](std::string_view chunk) { outcome.output.append(chunk); });
  return outcome;
}

// A fresh directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "process_test.XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Orphaned grandchildren are normally reaped by init, whenever it gets to it; as a subreaper
// the test inherits them and can reap them itself, so "the group is gone" is checked promptly.
class SubreaperScope {
 public:
  SubreaperScope() { prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~SubreaperScope() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

bool GroupGone(pid_t pgid) {
  const auto until = std::chrono::steady_clock::now() + 2s;
  do {
    while (waitpid(-pgid, nullptr, WNOHANG) > 0) {
    }
    if (kill(-pgid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(5ms);
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

ErrorCode StartError(const ProcessSpec& spec, std::string* message) {
  try {
    ChildProcess::Start(spec);
  } catch (const Error& e) {
    *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "Start did not throw";
  return ErrorCode::kInternal;
}

TEST(ChildProcessTest, CapturesExitCodeAndMergedOutput) {
  SubreaperScope reaper;
  Outcome o = RunToEnd(Sh("echo out; echo err >&2; echo out2; echo err2 >&2"));
  EXPECT_EQ(o.output, "out\nerr\nout2\nerr2\n");
  EXPECT_EQ(o.result.exit_code, 0);
  EXPECT_EQ(o.result.signal, 0);
  EXPECT_FALSE(o.result.timed_out);
  EXPECT_FALSE(o.result.cancelled);
  EXPECT_EQ(o.result.output_bytes, o.output.size());
  EXPECT_LT(o.result.duration, 2s);
  EXPECT_TRUE(GroupGone(o.pid));
}

TEST(ChildProcessTest, ReportsNonZeroExit) {
  Outcome o = RunToEnd(Sh("exit 7"));
  EXPECT_EQ(o.result.exit_code, 7);
  EXPECT_EQ(o.result.signal, 0);
}

TEST(ChildProcessTest, ReportsDeathBySignal) {
  Outcome o = RunToEnd(Sh("kill -TERM $$; sleep 5"));
  EXPECT_EQ(o.result.exit_code, -1);
  EXPECT_EQ(o.result.signal, SIGTERM);
}

TEST(ChildProcessTest, EnvironmentIsExactlyTheGivenOne) {
  ASSERT_EQ(setenv("STATEHOUSE_PROCESS_TEST_LEAK", "leaked", 1), 0);
  ProcessSpec spec;
  spec.argv = {"/usr/bin/env"};
  spec.env = {{"A", "1"}, {"B", "two words"}};
  Outcome o = RunToEnd(spec);
  unsetenv("STATEHOUSE_PROCESS_TEST_LEAK");
  EXPECT_EQ(o.output, "A=1\nB=two words\n");
  EXPECT_EQ(o.result.exit_code, 0);
}

TEST(ChildProcessTest, LooksUpNamesInThePathOfTheEnvironmentOrElseTheServers) {
  ProcessSpec spec;
  spec.argv = {"sh", "-c", "echo \"$PATH\""};
  spec.env = {{"PATH", "relative:/nonexistent:/bin"}};
  EXPECT_EQ(RunToEnd(spec).output, "relative:/nonexistent:/bin\n");

  // No PATH in env: found through the server's PATH, which is still not passed on.
  spec.argv = {"env"};
  spec.env = {{"X", "y"}};
  EXPECT_EQ(RunToEnd(spec).output, "X=y\n");
}

TEST(ChildProcessTest, HonoursWorkingDirectory) {
  TempDir dir;
  ProcessSpec spec = Sh("pwd");
  spec.cwd = dir.path();
  EXPECT_EQ(RunToEnd(spec).output, std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(ChildProcessTest, StdinIsDevNullAndOtherFdsAreClosed) {
  int leaked = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 3);
  ProcessSpec spec;
  spec.argv = {"/bin/ls", "/proc/self/fd"};
  Outcome o = RunToEnd(spec);
  close(leaked);
  EXPECT_EQ(o.output, "0\n1\n2\n3\n");  // 3: the directory ls is listing

  spec.argv = {"/bin/readlink", "/proc/self/fd/0"};
  EXPECT_EQ(RunToEnd(spec).output, "/dev/null\n");
}

TEST(ChildProcessTest, ResetsIgnoredAndBlockedSignals) {
  // Like the server, which ignores SIGPIPE.
  struct sigaction ignore = {}, saved_action;
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &saved_action);
  sigset_t usr1, saved_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, &saved_mask);

  ProcessSpec spec;
  spec.argv = {"/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"};
  Outcome o = RunToEnd(spec);
  pthread_sigmask(SIG_SETMASK, &saved_mask, nullptr);
  sigaction(SIGPIPE, &saved_action, nullptr);
  // The signals the server set are reset. (glibc's own real-time signals 32 and 33 cannot be
  // reset through sigaction and may be ignored by whoever started the tests: not checked.)
  auto mask = [&](const std::string& name) -> uint64_t {
    size_t at = o.output.find(name + ":\t");
    if (at == std::string::npos) return ~uint64_t{0};
    return std::stoull(o.output.substr(at + name.size() + 2, 16), nullptr, 16);
  };
  EXPECT_EQ(mask("SigBlk") & (uint64_t{1} << (SIGUSR1 - 1)), 0u) << o.output;
  EXPECT_EQ(mask("SigIgn") & (uint64_t{1} << (SIGPIPE - 1)), 0u) << o.output;
  EXPECT_EQ(mask("SigIgn") & ((uint64_t{1} << 31) - 1), 0u) << o.output;
}

TEST(ChildProcessTest, UnrunnableProgramsThrowInvalidArgument) {
  std::string message;
  ProcessSpec spec;
  spec.argv = {"statehouse-no-such-program"};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  EXPECT_EQ(StartError(spec, &message), ErrorCode::kInvalidArgument);
  EXPECT_EQ(message, "cannot run 'statehouse-no-such-program': No such file or directory");

  // An absolute path goes to execve, whose failure comes back through the status pipe.
  spec.argv = {"/nonexistent/terraform", "plan"};
  EXPECT_EQ(StartError(spec, &message), ErrorCode::kInvalidArgument);
  EXPECT_EQ(message, "cannot run '/nonexistent/terraform': No such file or directory");

  TempDir dir;
  const std::string script = dir.path() + "/not-executable";
  std::ofstream(script) << "#!/bin/sh\necho hi\n";
  spec.argv = {script};
  EXPECT_EQ(StartError(spec, &message), ErrorCode::kInvalidArgument);
  EXPECT_EQ(message, "cannot run '" + script + "': Permission denied");

  spec = Sh("true");
  spec.cwd = dir.path() + "/missing";
  EXPECT_EQ(StartError(spec, &message), ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find(spec.cwd), std::string::npos) << message;

  spec = Sh("true");
  spec.argv.clear();
  EXPECT_EQ(StartError(spec, &message), ErrorCode::kInvalidArgument);
  spec = Sh("true");
  spec.env.push_back({"BAD=NAME", "x"});
  EXPECT_EQ(StartError(spec, &message), ErrorCode::kInvalidArgument);
}

TEST(ChildProcessTest, TimeoutStopsTheChildQuickly) {
  ProcessSpec spec = Sh("");
  spec.argv = {"sleep", "600"};
  spec.timeout = 200ms;
  spec.grace = 100ms;
  const auto begin = std::chrono::steady_clock::now();
  Outcome o = RunToEnd(spec);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  EXPECT_TRUE(o.result.timed_out);
  EXPECT_FALSE(o.result.cancelled);
  EXPECT_EQ(o.result.signal, SIGINT);
  EXPECT_GE(o.result.duration, 200ms);
}

// Runs the script, and calls Cancel() from another thread once it printed "ready".
Outcome RunAndCancel(ProcessSpec spec) {
  spec.grace = 100ms;
  auto child = ChildProcess::Start(spec);
  std::atomic<bool> ready{false};
  std::thread canceller([&] {
    while (!ready.load()) std::this_thread::sleep_for(1ms);
    child->Cancel();
    child->Cancel();  // idempotent
  });
  Outcome o;
  o.pid = child->pid();
  o.result = child->Wait([&](std::string_view chunk) {
    o.output.append(chunk);
    if (o.output.find("ready") != std::string::npos) ready.store(true);
  });
  ready.store(true);  // never leave the thread spinning
  canceller.join();
  child->Cancel();  // after Wait: harmless
  return o;
}

TEST(ChildProcessTest, CancelEscalatesToSigtermWhenSigintIsIgnored) {
  SubreaperScope reaper;
  const auto begin = std::chrono::steady_clock::now();
  Outcome o = RunAndCancel(Sh("trap '' INT; echo ready; sleep 600"));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  EXPECT_TRUE(o.result.cancelled);
  EXPECT_FALSE(o.result.timed_out);
  EXPECT_EQ(o.result.signal, SIGTERM);
  EXPECT_TRUE(GroupGone(o.pid));
}

TEST(ChildProcessTest, CancelEscalatesToSigkill) {
  SubreaperScope reaper;
  const auto begin = std::chrono::steady_clock::now();
  Outcome o = RunAndCancel(Sh("trap '' INT TERM; echo ready; sleep 600"));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  EXPECT_TRUE(o.result.cancelled);
  EXPECT_EQ(o.result.signal, SIGKILL);
  EXPECT_TRUE(GroupGone(o.pid));
}

TEST(ChildProcessTest, CancelledChildMayExitCleanly) {
  // Short sleeps: a SIGINT that lands before the shell started its sleep would otherwise only be
  // handled once that sleep ends.
  Outcome o = RunAndCancel(
      Sh("trap 'echo interrupted; exit 0' INT; echo ready; while :; do sleep 0.01; done"));
  EXPECT_TRUE(o.result.cancelled);
  EXPECT_EQ(o.result.exit_code, 0);
  EXPECT_EQ(o.result.signal, 0);
  EXPECT_EQ(o.output, "ready\ninterrupted\n");
}

TEST(ChildProcessTest, CancelBeforeWait) {
  // Not through sh: "sh -c" catches SIGINT itself and may lose it while it execs the command.
  ProcessSpec spec = Sh("");
  spec.argv = {"sleep", "600"};
  auto child = ChildProcess::Start(spec);
  child->Cancel();
  ProcessResult r = child->Wait(nullptr);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.signal, SIGINT);
  EXPECT_EQ(child->Wait(nullptr).signal, SIGINT);  // a second Wait repeats the result
}

TEST(ChildProcessTest, GrandchildHoldingThePipeDoesNotHangWait) {
  SubreaperScope reaper;
  const auto begin = std::chrono::steady_clock::now();
  Outcome o = RunToEnd(Sh("sleep 600 & echo started"));
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_GE(took, 1500ms);  // the drain period
  EXPECT_LT(took, 3500ms);
  EXPECT_EQ(o.result.exit_code, 0);
  EXPECT_EQ(o.output, "started\n");
  EXPECT_TRUE(GroupGone(o.pid));
}

TEST(ChildProcessTest, LeftoversThatClosedThePipeAreKilledToo) {
  SubreaperScope reaper;
  Outcome o = RunToEnd(Sh("sleep 600 >/dev/null 2>&1 & echo done"));
  EXPECT_EQ(o.output, "done\n");
  EXPECT_TRUE(GroupGone(o.pid));
}

TEST(ChildProcessTest, DestructorKillsAndReapsARunningChild) {
  SubreaperScope reaper;
  pid_t pid;
  {
    auto child = ChildProcess::Start(Sh("sleep 600 & sleep 600"));
    pid = child->pid();
  }
  EXPECT_NE(waitpid(pid, nullptr, WNOHANG), pid);  // already reaped: not ours to wait for
  EXPECT_TRUE(GroupGone(pid));
}

TEST(ChildProcessTest, MaxOutputBytesTruncatesWithASingleNote) {
  ProcessSpec spec = Sh("i=0; while [ $i -lt 100 ]; do echo 0123456789012345678; i=$((i+1)); done");
  spec.max_output_bytes = 250;
  Outcome o = RunToEnd(spec);
  const std::string note = "\n[output truncated: limit of 250 bytes reached]\n";
  ASSERT_EQ(o.output.size(), 250 + note.size());
  EXPECT_EQ(o.output.substr(250), note);
  EXPECT_EQ(o.output.find("[output truncated"), 250u + 1);  // only once
  EXPECT_EQ(o.result.output_bytes, 2000u);
  EXPECT_EQ(o.result.exit_code, 0);
}

TEST(ChildProcessTest, FileSizeLimitMakesABigWriteFail) {
  TempDir dir;
  ProcessSpec spec = Sh("head -c 100000 /dev/zero > big; echo rc=$?");
  spec.cwd = dir.path();
  spec.rlimit_file_size = 4096;
  Outcome o = RunToEnd(spec);
  // head dies of SIGXFSZ (the shell may also say so on stderr).
  EXPECT_NE(o.output.find("rc="), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("rc=0"), std::string::npos) << o.output;
  EXPECT_LE(std::filesystem::file_size(dir.path() + "/big"), 4096u);
}

TEST(ChildProcessTest, AppliesResourceLimits) {
  ProcessSpec spec = Sh("ulimit -n; ulimit -t; ulimit -v");
  spec.rlimit_open_files = 64;
  spec.rlimit_cpu_seconds = 100;
  spec.rlimit_address_space = uint64_t{4} << 30;
  EXPECT_EQ(RunToEnd(spec).output, "64\n100\n4194304\n");  // -v is in KiB
}

std::string MaskAll(SecretMasker& masker, const std::vector<std::string>& chunks) {
  std::string out;
  for (const std::string& chunk : chunks) out += masker.Feed(chunk);
  return out + masker.Flush();
}

TEST(SecretMaskerTest, MasksWholeSecrets) {
  SecretMasker masker({"hunter22"});
  EXPECT_EQ(masker.Feed("pw=hunter22 and hunter22!"), "pw=*** and ***!");
  EXPECT_EQ(masker.Flush(), "");
}

TEST(SecretMaskerTest, MasksSecretsSplitAcrossChunks) {
  SecretMasker two({"secret123"});
  EXPECT_EQ(two.Feed("token=secr"), "token=");
  EXPECT_EQ(two.Feed("et123 end"), "*** end");

  SecretMasker three({"bcdefghij"});
  EXPECT_EQ(MaskAll(three, {"abc", "defgh", "ijk"}), "a***k");

  // Every way of cutting the stream gives the same result.
  const std::string text = "x=hunter22;y=hunter2;z=hunter22hunter22.";
  const std::string expected = "x=***;y=hunter2;z=******.";
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      SecretMasker masker({"hunter22"});
      EXPECT_EQ(MaskAll(masker, {text.substr(0, a), text.substr(a, b - a), text.substr(b)}),
                expected)
          << a << " " << b;
    }
  }
}

TEST(SecretMaskerTest, HoldsBackAtMostTheLongestSecretMinusOne) {
  SecretMasker masker({"aaaab"});
  EXPECT_EQ(masker.Feed("aaaaaaaa"), "aaaa");
  EXPECT_EQ(masker.Feed("b"), "***");
  EXPECT_EQ(masker.Feed("no candidates here"), "no candidates here");
}

TEST(SecretMaskerTest, PrefersTheLongestOfOverlappingSecrets) {
  SecretMasker prefix({"password", "password123"});
  EXPECT_EQ(MaskAll(prefix, {"x password123 y password z"}), "x *** y *** z");
  // "password" alone is complete, but the next chunk might still make it the longer one.
  EXPECT_EQ(prefix.Feed("password"), "");
  EXPECT_EQ(prefix.Feed("12"), "");
  EXPECT_EQ(prefix.Feed("3!"), "***!");

  SecretMasker shifted({"abcdef", "defghi"});
  EXPECT_EQ(MaskAll(shifted, {"abcdefghi"}), "***ghi");
  SecretMasker inner({"secret", "mysecretvalue"});
  EXPECT_EQ(MaskAll(inner, {"mysecretvalue xsecretx"}), "*** x***x");
}

TEST(SecretMaskerTest, IgnoresShortSecrets) {
  SecretMasker masker({"a", "abc", ""});
  EXPECT_EQ(masker.Feed("abc a cab"), "abc a cab");  // nothing held back either
  EXPECT_EQ(masker.Flush(), "");
}

TEST(SecretMaskerTest, FlushReleasesTheTail) {
  SecretMasker masker({"supersecret"});
  EXPECT_EQ(masker.Feed("text supers"), "text ");
  EXPECT_EQ(masker.Flush(), "supers");
  EXPECT_EQ(masker.Feed("supersecret"), "***");  // usable after a flush
}

}  // namespace
}  // namespace statehouse::runs
