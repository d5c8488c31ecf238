#include "cli/run_cli.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <thread>

#include "common/util.h"
#include "runs/archive.h"

namespace statehouse::cli {

const char* const kRemoteRunHelp =
    "Authentication: the API token is taken from STATEHOUSE_TOKEN or, when that is unset, from\n"
    "the credentials file $XDG_CONFIG_HOME/statehouse/credentials (by default\n"
    "~/.config/statehouse/credentials). The file must have mode 0600 and holds JSON mapping\n"
    "server URLs (as given to --server, without a trailing slash) to tokens:\n"
    "  {\"tokens\": {\"http://127.0.0.1:8080\": \"<token>\"}}\n"
    "Only http:// servers are supported for now.\n"
    "\n"
    "Exit status: 0 the run ended planned, applied or no_drift (plan with --detailed-exitcode:\n"
    "0 no changes, 2 changes); 1 the run failed, was refused by a policy, discarded or\n"
    "cancelled, or the server refused a request or could not be reached; 2 usage errors;\n"
    "130 interrupted (Ctrl-C cancels the run on the server).";

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kConnectTimeoutSeconds = 10;
constexpr int kRequestTimeoutSeconds = 60;  // longest wait for one read or write
constexpr size_t kMaxLine = 64 * 1024;      // status line, header line, chunk size line
constexpr size_t kMaxHeaders = 200;
constexpr size_t kMaxCollectedBody = size_t{64} << 20;

// An error that ends the command with exit_code (1: the run or the server; 2: usage).
struct CliError : std::runtime_error {
  CliError(int code, const std::string& message) : std::runtime_error(message), exit_code(code) {}
  int exit_code;
};
// The connection broke after it was made (the server went away, or ended a stream early).
struct ConnectionLost : CliError {
  explicit ConnectionLost(const std::string& message) : CliError(1, message) {}
};
// Ctrl-C.
struct Interrupted {};

[[noreturn]] void Usage(const std::string& message) { throw CliError(2, message); }
[[noreturn]] void Failure(const std::string& message) { throw CliError(1, message); }

// ---- SIGINT: a flag that the waits check ----------------------------------------------------

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void OnSigint(int) {
  g_interrupted = 1;
  // A second Ctrl-C ends the process at once.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGINT, &dfl, nullptr);
}

class SigintGuard {
 public:
  SigintGuard() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = OnSigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns EINTR
    ::sigaction(SIGINT, &sa, &old_);
  }
  ~SigintGuard() { ::sigaction(SIGINT, &old_, nullptr); }
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;

 private:
  struct sigaction old_ {};
};

void CheckInterrupt(bool interruptible) {
  if (interruptible && g_interrupted) throw Interrupted{};
}

// ---- small helpers --------------------------------------------------------------------------

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A private directory for the archive, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/statehouse-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
      Failure("cannot create a temporary directory in " + fs::path(tmpl).parent_path().string() +
              ": " + std::strerror(errno));
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string FormatBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

// "\r[#####     ]  50%  1.0 MiB / 2.0 MiB" on stderr when it is a terminal; silent otherwise.
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, std::string label)
      : err_(err), label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() { Done(); }
  void Update(uint64_t done, uint64_t total) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    constexpr int kWidth = 30;
    double f = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / total);
    int filled = static_cast<int>(f * kWidth);
    char pct[8];
    std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(f * 100));
    err_ << '\r' << label_ << " [" << std::string(filled, '#') << std::string(kWidth - filled, ' ')
         << "] " << pct << "  " << FormatBytes(done) << " / " << FormatBytes(total) << "   "
         << std::flush;
  }
  void Done() {
    if (drawn_) err_ << '\n' << std::flush;
    drawn_ = false;
  }

 private:
  std::ostream& err_;
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point last_;
};

std::string PercentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// ---- the server URL -------------------------------------------------------------------------

struct ServerUrl {
  std::string text;  // as given, without trailing slashes (also the credentials file's key)
  std::string host;
  std::string port;
  std::string prefix;  // a path before /iacm/..., usually empty
  std::string host_header;
};

ServerUrl ParseServerUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  ServerUrl u;
  u.text = url;
  std::string lower = ToLower(url);
  if (lower.starts_with("https://"))
    Usage("--server " + url +
          ": https:// is not supported yet; use an http:// URL (e.g. a local TLS-terminating "
          "proxy)");
  if (!lower.starts_with("http://"))
    Usage("--server must be an http:// URL such as http://127.0.0.1:8080 (got '" + url + "')");
  std::string rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.prefix = rest.substr(slash);
  if (authority.find('@') != std::string::npos || u.prefix.find_first_of("?#") != std::string::npos)
    Usage("--server " + url + ": a URL with user info, query or fragment is not supported");
  std::string port;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string::npos) Usage("--server " + url + ": unterminated IPv6 address");
    u.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') Usage("--server " + url + ": bad host");
    if (!after.empty()) port = after.substr(1);
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) Usage("--server " + url + ": no host");
  int64_t port_number = 80;
  if (!port.empty() && (!ParseInt64(port, port_number) || port_number < 1 || port_number > 65535))
    Usage("--server " + url + ": bad port '" + port + "'");
  u.port = std::to_string(port_number);
  bool v6 = u.host.find(':') != std::string::npos;
  u.host_header = (v6 ? "[" + u.host + "]" : u.host) + (port.empty() ? "" : ":" + u.port);
  return u;
}

// ---- a small blocking HTTP/1.1 client -------------------------------------------------------

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query
  std::string content_type;
  std::string body;
  std::string body_file;  // when set, the body is streamed from this file instead
  Headers headers;
  int timeout_seconds = kRequestTimeoutSeconds;  // longest wait for the socket; 0: none
  bool interruptible = true;                     // Ctrl-C ends a wait with Interrupted
  // When set, a 2xx response body goes here as it arrives (else it is collected).
  std::function<void(std::string_view)> on_body;
  std::function<void(uint64_t sent, uint64_t total)> on_upload;
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // names in lowercase
  std::string body;
  std::optional<std::string> Header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return std::nullopt;
  }
};

// Waits until fd is ready for events; false on timeout (timeout_seconds 0: none). Polls in
// slices so that a Ctrl-C is seen even when it arrives just before poll().
bool WaitReady(int fd, short events, int timeout_seconds, bool interruptible) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds);
  for (;;) {
    CheckInterrupt(interruptible);
    int slice = 250;
    if (timeout_seconds > 0) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      slice = static_cast<int>(std::min<int64_t>(slice, left));
    }
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, slice);
    if (n > 0 || (n < 0 && errno != EINTR)) return true;  // the next call reports any error
  }
}

class HttpClient {
 public:
  HttpClient(ServerUrl url, std::string token) : url_(std::move(url)), token_(std::move(token)) {}
  const ServerUrl& url() const { return url_; }

  HttpResponse Send(const HttpRequest& req) {
    Exchange x(Connect(req), req, url_);
    std::string head =
        req.method + " " + url_.prefix + req.target + " HTTP/1.1\r\nHost: " + url_.host_header +
        "\r\nUser-Agent: statehouse-cli\r\nConnection: close\r\nx-api-key: " + token_ + "\r\n";
    for (const auto& [k, v] : req.headers) head += k + ": " + v + "\r\n";
    if (!req.content_type.empty()) head += "Content-Type: " + req.content_type + "\r\n";
    UniqueFd file;
    uint64_t size = req.body.size();
    if (!req.body_file.empty()) {
      file = UniqueFd(::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC));
      struct stat st {};
      if (!file || ::fstat(file.get(), &st) != 0)
        Failure("cannot read " + req.body_file + ": " + std::strerror(errno));
      size = static_cast<uint64_t>(st.st_size);
    }
    if (req.method != "GET" || size > 0) head += "Content-Length: " + std::to_string(size) + "\r\n";
    head += "\r\n";
    // The server may answer early (401, 413) and close while the body is still on its way:
    // the answer is read all the same.
    if (x.Send(head)) {
      if (file) {
        std::vector<char> buf(256 * 1024);
        uint64_t sent = 0;
        if (req.on_upload) req.on_upload(0, size);
        while (sent < size) {
          ssize_t n = ::read(file.get(), buf.data(), buf.size());
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) Failure("cannot read " + req.body_file + ": file changed while sending");
          if (!x.Send(std::string_view(buf.data(), static_cast<size_t>(n)))) break;
          sent += static_cast<uint64_t>(n);
          if (req.on_upload) req.on_upload(sent, size);
        }
      } else if (!req.body.empty()) {
        x.Send(req.body);
      }
    }
    return x.ReadResponse();
  }

 private:
  // One request and its response on one connection.
  class Exchange {
   public:
    Exchange(UniqueFd fd, const HttpRequest& req, const ServerUrl& url)
        : fd_(std::move(fd)), req_(req), url_(url) {}

    // False when the server closed its side (its response may still be readable).
    bool Send(std::string_view data) {
      while (!data.empty()) {
        ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
          data.remove_prefix(static_cast<size_t>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          if (!WaitReady(fd_.get(), POLLOUT, req_.timeout_seconds, req_.interruptible)) TimedOut();
          continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return false;
        Lost(std::strerror(errno));
      }
      return true;
    }

    HttpResponse ReadResponse() {
      HttpResponse r;
      for (;;) {  // 1xx interim responses are skipped
        std::string status_line = ReadLine();
        int64_t status = 0;
        if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") ||
            status_line[8] != ' ' || !ParseInt64(status_line.substr(9, 3), status))
          Lost("not an HTTP/1.1 response: '" + status_line.substr(0, 80) + "'");
        r.status = static_cast<int>(status);
        r.headers.clear();
        for (;;) {
          std::string line = ReadLine();
          if (line.empty()) break;
          if (r.headers.size() >= kMaxHeaders) Lost("too many response headers");
          size_t colon = line.find(':');
          if (colon == std::string::npos) Lost("malformed response header");
          r.headers.emplace_back(ToLower(Trim(std::string_view(line).substr(0, colon))),
                                 std::string(Trim(std::string_view(line).substr(colon + 1))));
        }
        if (r.status >= 200 || r.status == 101) break;
      }
      bool stream = req_.on_body && r.status / 100 == 2;
      auto sink = [&](std::string_view data) {
        if (stream) {
          req_.on_body(data);
        } else {
          if (r.body.size() + data.size() > kMaxCollectedBody) Lost("response body too large");
          r.body.append(data);
        }
      };
      if (req_.method == "HEAD" || r.status == 204 || r.status == 304) return r;
      std::string te = ToLower(r.Header("transfer-encoding").value_or(""));
      if (te.find("chunked") != std::string::npos) {
        for (;;) {
          std::string line = ReadLine();
          std::string hex(Trim(std::string_view(line).substr(0, line.find(';'))));
          char* end = nullptr;
          errno = 0;
          unsigned long long size = std::strtoull(hex.c_str(), &end, 16);
          if (hex.empty() || *end != '\0' || errno != 0) Lost("malformed chunked encoding");
          if (size == 0) {
            while (!ReadLine().empty()) {
            }  // trailers
            break;
          }
          Copy(size, sink);
          if (!ReadLine().empty()) Lost("malformed chunked encoding");
        }
      } else if (auto cl = r.Header("content-length")) {
        int64_t n = 0;
        if (!ParseInt64(*cl, n) || n < 0) Lost("bad Content-Length");
        Copy(static_cast<uint64_t>(n), sink);
      } else {
        for (;;) {  // the body ends with the connection
          if (pos_ < in_.size()) sink(std::string_view(in_).substr(pos_));
          pos_ = in_.size();
          if (!Fill()) break;
        }
      }
      return r;
    }

   private:
    [[noreturn]] void TimedOut() {
      Failure("the server at " + url_.text + " did not answer within " +
              std::to_string(req_.timeout_seconds) + " s");
    }
    [[noreturn]] void Lost(const std::string& why) {
      throw ConnectionLost("lost the connection to the server at " + url_.text + ": " + why);
    }

    // Reads more into in_; false at the end of the stream.
    bool Fill() {
      if (pos_ > 0) {
        in_.erase(0, pos_);
        pos_ = 0;
      }
      char buf[64 * 1024];
      for (;;) {
        ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (n > 0) {
          in_.append(buf, static_cast<size_t>(n));
          return true;
        }
        if (n == 0) return false;
        if (errno == EINTR) {
          CheckInterrupt(req_.interruptible);
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if (!WaitReady(fd_.get(), POLLIN, req_.timeout_seconds, req_.interruptible)) TimedOut();
          continue;
        }
        Lost(std::strerror(errno));
      }
    }

    std::string ReadLine() {
      for (;;) {
        size_t eol = in_.find("\r\n", pos_);
        if (eol != std::string::npos) {
          std::string line = in_.substr(pos_, eol - pos_);
          pos_ = eol + 2;
          return line;
        }
        if (in_.size() - pos_ > kMaxLine) Lost("response line too long");
        if (!Fill()) Lost("the server closed the connection before the response ended");
      }
    }

    template <typename Sink>
    void Copy(uint64_t n, Sink& sink) {
      while (n > 0) {
        if (pos_ == in_.size() && !Fill())
          Lost("the server closed the connection before the response ended");
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, in_.size() - pos_));
        sink(std::string_view(in_).substr(pos_, take));
        pos_ += take;
        n -= take;
      }
    }

    UniqueFd fd_;
    const HttpRequest& req_;
    const ServerUrl& url_;
    std::string in_;
    size_t pos_ = 0;
  };

  UniqueFd Connect(const HttpRequest& req) {
    std::string prefix = "cannot reach the server at " + url_.text + ": ";
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(url_.host.c_str(), url_.port.c_str(), &hints, &found);
    if (rc != 0) Failure(prefix + "cannot resolve '" + url_.host + "': " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
    std::string last = "no address";
    for (addrinfo* ai = found; ai; ai = ai->ai_next) {
      UniqueFd fd(
          ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
      if (!fd) {
        last = std::strerror(errno);
        continue;
      }
      if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd;
      if (errno != EINPROGRESS) {
        last = std::strerror(errno);
        continue;
      }
      if (!WaitReady(fd.get(), POLLOUT, kConnectTimeoutSeconds, req.interruptible)) {
        last = "no answer within " + std::to_string(kConnectTimeoutSeconds) + " s";
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error == 0) return fd;
      last = std::strerror(so_error);
    }
    Failure(prefix + last);
  }

  ServerUrl url_;
  std::string token_;
};

// ---- credentials ----------------------------------------------------------------------------

std::string CredentialsPath() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return std::string(xdg) + "/statehouse/credentials";
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    const passwd* pw = ::getpwuid(::getuid());
    home = pw ? pw->pw_dir : nullptr;
  }
  if (!home || !*home) return "";
  return std::string(home) + "/.config/statehouse/credentials";
}

std::string CheckedToken(std::string token, const std::string& source) {
  token = std::string(Trim(token));
  if (token.empty()) Usage(source + ": the token is empty");
  for (unsigned char c : token)
    if (c < 0x21 || c == 0x7f) Usage(source + ": the token contains spaces or control characters");
  return token;
}

std::string LoadToken(const ServerUrl& url) {
  if (const char* t = std::getenv("STATEHOUSE_TOKEN"); t && *t)
    return CheckedToken(t, "STATEHOUSE_TOKEN");
  std::string path = CredentialsPath();
  const std::string how = "set STATEHOUSE_TOKEN or write the credentials file (see --help)";
  if (path.empty()) Usage("no API token: " + how);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    if (errno == ENOENT) Usage("no API token: " + how + "; " + path + " does not exist");
    Usage("cannot read the credentials file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    Usage("the credentials file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    Usage("the credentials file " + path + " has mode " + mode +
          ": it must be readable by its owner only (mode 0600; run chmod 0600 " + path + ")");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Usage("cannot read the credentials file " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1 << 20)) Usage("the credentials file " + path + " is too large");
  }
  // Parse errors are reported without the text: it holds tokens.
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  const json::object* tokens = nullptr;
  if (!ec && doc.is_object())
    if (const json::value* t = doc.get_object().if_contains("tokens"); t && t->is_object())
      tokens = &t->get_object();
  if (!tokens)
    Usage("the credentials file " + path +
          " must be JSON like {\"tokens\": {\"<server url>\": \"<token>\"}}");
  for (const auto& [key, value] : *tokens) {
    std::string k(key);
    while (!k.empty() && k.back() == '/') k.pop_back();
    if (k != url.text) continue;
    if (!value.is_string()) Usage(path + ": the token for " + url.text + " must be a string");
    return CheckedToken(std::string(value.get_string()), path);
  }
  Usage("the credentials file " + path + " has no token for " + url.text + "; " + how);
}

// ---- documents ------------------------------------------------------------------------------

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::object& Obj(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? v->get_object() : kEmpty;
}

int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  return 0;
}

// "message (HTTP 404)" from an error response.
std::string ErrorText(const HttpResponse& r) {
  std::string message;
  boost::system::error_code ec;
  json::value doc = json::parse(r.body, ec);
  if (!ec && doc.is_object()) message = Str(doc.get_object(), "message");
  if (message.empty()) message = std::string(Trim(r.body.substr(0, 300)));
  if (message.empty()) message = "no details";
  std::string hint;
  if (r.status == 401) hint = "; check STATEHOUSE_TOKEN or the credentials file";
  return message + " (HTTP " + std::to_string(r.status) + hint + ")";
}

json::object JsonObject(const HttpResponse& r, const std::string& what) {
  if (r.status / 100 != 2) Failure(what + ": " + ErrorText(r));
  boost::system::error_code ec;
  json::value doc = json::parse(r.body, ec);
  if (ec || !doc.is_object()) Failure(what + ": the server's answer is not a JSON object");
  return std::move(doc.get_object());
}

// The log stream ends when the run is final (the document says so) or waits for someone.
bool Idle(const json::object& run) {
  const json::value* final = run.if_contains("final");
  return (final && final->is_bool() && final->get_bool()) ||
         Str(run, "status") == "awaiting_approval";
}

// ---- the command ----------------------------------------------------------------------------

class RemoteRunner {
 public:
  RemoteRunner(const RemoteRunOptions& o, std::ostream& out, std::ostream& err)
      : o_(o), out_(out), err_(err) {}

  int Run() {
    ServerUrl url = ParseServerUrl(o_.server);
    std::string ws_path = WorkspaceBase(o_.workspace);
    std::error_code ec;
    if (!fs::is_directory(o_.dir, ec)) Usage("--dir " + o_.dir + " is not a directory");
    http_.emplace(url, LoadToken(url));
    base_ = ws_path;
    // Reachable, the token valid, the workspace there: known before packing.
    Call("GET", "", {}, "reading workspace " + o_.workspace);

    // Pack, digest, upload.
    TempDir tmp;
    std::string archive = tmp.path() + "/source.tar.gz";
    {
      ProgressBar bar(err_, "Packing  ");
      try {
        runs::PackDirectory(o_.dir, archive, [&](uint64_t done, uint64_t total) {
          CheckInterrupt(true);
          bar.Update(done, total);
        });
      } catch (const std::exception& e) {
        Failure("cannot pack " + o_.dir + ": " + e.what());
      }
    }
    CheckInterrupt(true);
    std::string digest = Sha256Base64(archive);

    json::object args;
    if (!o_.targets.empty()) {
      json::array targets;
      for (const auto& t : o_.targets) targets.emplace_back(t);
      args["-target"] = std::move(targets);
    }
    json::object created =
        Call("POST", "/remote-executions", json::object{{"custom_arguments", args}},
             "creating the remote execution");
    std::string execution = Str(created, "id");
    if (execution.empty()) Failure("creating the remote execution: the answer has no id");
    {
      ProgressBar bar(err_, "Uploading");
      HttpRequest req;
      req.method = "POST";
      req.target = base_ + "/remote-executions/" + PercentEncode(execution) + "/upload";
      req.content_type = "application/octet-stream";
      req.body_file = archive;
      req.headers.emplace_back("Content-Digest", "sha-256=:" + digest + ":");
      req.on_upload = [&](uint64_t sent, uint64_t total) { bar.Update(sent, total); };
      JsonObject(http_->Send(req), "uploading the configuration");
    }
    CheckInterrupt(true);

    // Execute; from here on a Ctrl-C cancels the run.
    json::object execute{
        {"kind", o_.apply ? "apply" : "plan"},
        {"auto_apply", o_.apply && o_.auto_approve},
        {"message", o_.message.empty() ? "Queued from the statehouse CLI" : o_.message}};
    HttpRequest req =
        JsonRequest("POST", "/remote-executions/" + PercentEncode(execution) + "/execute", execute);
    req.interruptible = false;
    json::object executed = JsonObject(http_->Send(req), "starting the run");
    run_id_ = Str(executed, "run_id");
    if (run_id_.empty()) Failure("starting the run: the answer has no run_id");
    err_ << "Run " << run_id_ << " (" << (o_.apply ? "apply" : "plan") << ") queued in workspace "
         << o_.workspace << "; its output streams here. Ctrl-C cancels the run.\n"
         << std::flush;
    try {
      CheckInterrupt(true);
      return Watch();
    } catch (const Interrupted&) {
      err_ << "\nInterrupted: cancelling run " << run_id_ << "...\n" << std::flush;
      try {
        HttpRequest cancel = JsonRequest("POST", RunPath("/cancel"), json::object{});
        cancel.interruptible = false;
        cancel.timeout_seconds = 15;
        json::object run = JsonObject(http_->Send(cancel), "cancelling the run");
        err_ << "Run " << run_id_ << " " << Str(run, "status") << ".\n";
      } catch (const CliError& e) {
        err_ << "statehouse: " << e.what() << "\n";
      }
      return 130;
    }
  }

 private:
  // "org/project/ws" -> the API path of the workspace.
  static std::string WorkspaceBase(const std::string& path) {
    if (path.empty())
      Usage("--workspace ORG/PROJECT/WORKSPACE is required (or set STATEHOUSE_WORKSPACE)");
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
      size_t slash = path.find('/', start);
      parts.push_back(path.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    bool ok = parts.size() == 3;
    for (const auto& p : parts) ok = ok && !p.empty();
    if (!ok)
      Usage("--workspace must be ORG/PROJECT/WORKSPACE, e.g. acme/platform/network (got '" + path +
            "'); it may also come from STATEHOUSE_WORKSPACE");
    return "/iacm/api/orgs/" + PercentEncode(parts[0]) + "/projects/" + PercentEncode(parts[1]) +
           "/workspaces/" + PercentEncode(parts[2]);
  }

  static std::string Sha256Base64(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) Failure("cannot read " + path + ": " + std::strerror(errno));
    DigestStream digest(DigestStream::Algorithm::kSha256);
    std::vector<char> buf(256 * 1024);
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Failure("cannot read " + path + ": " + std::strerror(errno));
      if (n == 0) break;
      digest.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
    return digest.Base64();
  }

  std::string RunPath(const std::string& suffix) const {
    return "/runs/" + PercentEncode(run_id_) + suffix;
  }

  HttpRequest JsonRequest(const std::string& method, const std::string& path,
                          const json::object& body) const {
    HttpRequest req;
    req.method = method;
    req.target = base_ + path;
    if (method != "GET") {
      req.content_type = "application/json";
      req.body = json::serialize(body);
    }
    return req;
  }

  json::object Call(const std::string& method, const std::string& path, const json::object& body,
                    const std::string& what) {
    return JsonObject(http_->Send(JsonRequest(method, path, body)), what);
  }

  json::object GetRun() { return Call("GET", RunPath(""), {}, "reading the run"); }

  void Write(std::string_view data) {
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
    out_.flush();
    offset_ += data.size();
  }

  // Streams the log from offset_ until the run is final or awaits approval; returns the run.
  // A stream that breaks off (a server restart, its longest-stream limit) is resumed.
  json::object Follow() {
    for (;;) {
      uint64_t before = offset_;
      HttpRequest req;
      req.target = base_ + RunPath("/logs") + "?follow=true&offset=" + std::to_string(offset_);
      req.timeout_seconds = 0;  // a quiet run sends nothing for a long time
      req.on_body = [&](std::string_view d) { Write(d); };
      try {
        HttpResponse r = http_->Send(req);
        if (r.status != 200) Failure("reading the run's log: " + ErrorText(r));
      } catch (const ConnectionLost&) {
        // Resumed below if the run still runs.
      }
      json::object run = GetRun();
      if (Idle(run)) {
        // The last lines may land just after the stream saw the status change.
        HttpRequest rest;
        rest.target = base_ + RunPath("/logs") + "?offset=" + std::to_string(offset_);
        rest.on_body = [&](std::string_view d) { Write(d); };
        http_->Send(rest);
        return run;
      }
      if (offset_ == before) {
        for (int i = 0; i < 10; ++i) {
          CheckInterrupt(true);
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    }
  }

  void PrintPolicy(const json::object& run) {
    const json::object& policy = Obj(Obj(run, "summary"), "policy");
    if (policy.empty() || policy_printed_) return;
    policy_printed_ = true;
    err_ << "Policy check: " << Str(policy, "status") << "\n";
    if (std::string m = Str(policy, "message"); !m.empty()) err_ << m << "\n";
  }

  void Discard() {
    try {
      HttpRequest req = JsonRequest("POST", RunPath("/discard"), json::object{});
      req.interruptible = false;
      JsonObject(http_->Send(req), "discarding the run");
    } catch (const CliError& e) {
      err_ << "statehouse: " << e.what() << "\n";
    }
  }

  // A line from the terminal; Ctrl-C interrupts the wait.
  static std::string ReadAnswer() {
    std::string line;
    for (;;) {
      char c;
      ssize_t n = ::read(STDIN_FILENO, &c, 1);
      if (n == 1) {
        if (c == '\n') break;
        if (line.size() < 1024) line.push_back(c);
        continue;
      }
      if (n < 0 && errno == EINTR) {
        CheckInterrupt(true);
        continue;
      }
      break;  // end of input or an error: no answer
    }
    return std::string(Trim(line));
  }

  int Watch() {
    json::object run = Follow();
    if (o_.apply && Str(run, "status") == "awaiting_approval") {
      const json::object& changes = Obj(Obj(run, "summary"), "resource_changes");
      err_ << "\nPlan: " << Int(changes, "add") << " to add, " << Int(changes, "change")
           << " to change, " << Int(changes, "destroy") << " to destroy.\n";
      PrintPolicy(run);
      if (!o_.auto_approve) {
        if (::isatty(STDIN_FILENO) != 1) {
          Discard();
          err_ << "statehouse: run " << run_id_
               << " needs approval, but stdin is not a terminal to ask on: the run was "
                  "discarded. Use --auto-approve to apply without a prompt.\n";
          return 1;
        }
        err_ << "\nDo you want to perform these actions? Only 'yes' will be accepted to "
                "approve.\n  Enter a value: "
             << std::flush;
        if (ReadAnswer() != "yes") {
          Discard();
          err_ << "\nApply discarded: run " << run_id_ << " was not approved.\n";
          return 1;
        }
      }
      HttpRequest approve = JsonRequest("POST", RunPath("/approve"), json::object{});
      approve.interruptible = false;
      JsonObject(http_->Send(approve), "approving the run");
      run = Follow();
    }
    return Report(run);
  }

  int Report(const json::object& run) {
    std::string status = Str(run, "status");
    const json::object& summary = Obj(run, "summary");
    PrintPolicy(run);
    if (std::string error = Str(summary, "error"); !error.empty())
      err_ << "Error: " << error << "\n";
    if (status == "planned" || status == "applied" || status == "no_drift") {
      const json::value* changes = summary.if_contains("has_changes");
      if (!o_.apply && o_.detailed_exitcode && changes && changes->is_bool() && changes->get_bool())
        return 2;
      return 0;
    }
    err_ << "statehouse: run " << run_id_ << " ended " << (status.empty() ? "?" : status) << "\n";
    return 1;
  }

  const RemoteRunOptions& o_;
  std::ostream& out_;
  std::ostream& err_;
  std::optional<HttpClient> http_;
  std::string base_;
  std::string run_id_;
  uint64_t offset_ = 0;
  bool policy_printed_ = false;
};

}  // namespace

int RemoteRun(const RemoteRunOptions& options, std::ostream& out, std::ostream& err) {
  SigintGuard sigint;
  try {
    return RemoteRunner(options, out, err).Run();
  } catch (const CliError& e) {
    err << "statehouse: " << e.what() << "\n";
    return e.exit_code;
  } catch (const Interrupted&) {
    err << "\nstatehouse: interrupted\n";
    return 130;
  } catch (const std::exception& e) {
    err << "statehouse: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace statehouse::cli
