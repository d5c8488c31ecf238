#include "http/server.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "http/codec.h"
#include "http/error_map.h"
#include "http/worker_pool.h"

namespace statehouse::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

// Starts work that answers later, from any thread, and resumes the calling coroutine on its
// own executor with the answer: start gets resume, a copyable function to call once with the
// answer's values (an exception_ptr first is thrown in the coroutine, as asio does).
template <typename... Values, typename Start>
auto AwaitAnswer(Start start) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Values...)>(
      [start = std::move(start)](auto handler) mutable {
        // Job queues hold copyable functions; the completion handler is move-only.
        using Handler = decltype(handler);
        struct Pending {
          Handler handler;
          asio::executor_work_guard<asio::associated_executor_t<Handler>> work;
        };
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        auto pending = std::make_shared<Pending>(Pending{std::move(handler), std::move(work)});
        start([pending](Values... values) {
          auto executor = pending->work.get_executor();
          asio::post(executor, [pending, ... values = std::move(values)]() mutable {
            std::move(pending->handler)(std::move(values)...);
          });
        });
      },
      asio::use_awaitable);
}

// Runs fn on a WorkerPool and resumes the calling coroutine on its own executor with the
// result (or fn's exception).
template <typename Result, typename Fn>
awaitable<Result> RunOn(WorkerPool& pool, Fn& fn) {
  return AwaitAnswer<std::exception_ptr, Result>([&pool, &fn](auto resume) {
    pool.Post([&fn, resume] {
      std::exception_ptr error;
      Result result{};
      try {
        result = fn();
      } catch (...) {
        error = std::current_exception();
      }
      resume(error, std::move(result));
    });
  });
}

// A server context for TLS 1.2 and 1.3 only, with the PEM certificate chain and key.
std::shared_ptr<asio::ssl::context> MakeTlsContext(const std::string& cert_file,
                                                   const std::string& key_file) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) Fail(ErrorCode::kInvalidArgument, "--tls-cert " + cert_file + ": " + ec.message());
  context->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) Fail(ErrorCode::kInvalidArgument, "--tls-key " + key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(context->native_handle()) != 1)
    Fail(ErrorCode::kInvalidArgument, "--tls-key does not match the certificate of --tls-cert");
  return context;
}

// How often a stream's source is polled when it had nothing to give.
constexpr std::chrono::milliseconds kStreamPoll{50};

// How a streamed reply ended, for the request log.
struct StreamResult {
  boost::system::error_code ec;  // set when the connection must close
  uint64_t bytes = 0;
  const char* end = "complete";  // complete, client_gone, max_duration, shutdown, source_failed
};

// A connection's shared bookkeeping, touched only on the connection's strand.
struct Connection {
  asio::strand<asio::io_context::executor_type> strand;
  beast::tcp_stream* stream = nullptr;
  bool idle = true;  // waiting for the next request: safe to close on shutdown
  explicit Connection(asio::strand<asio::io_context::executor_type> s) : strand(std::move(s)) {}
};

std::string RequestIdOf(const bhttp::request_header<>& h) {
  auto it = h.find("x-request-id");
  if (it != h.end()) {
    std::string_view v(it->value().data(), it->value().size());
    bool ok = !v.empty() && v.size() <= 64;
    for (char c : v)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_');
    if (ok) return std::string(v);
  }
  return RandomHex(8);
}

bhttp::response<bhttp::string_body> ToBeast(Response&& res, unsigned version, bool keep_alive,
                                            const std::string& request_id) {
  bhttp::response<bhttp::string_body> out;
  out.version(version);
  out.result(static_cast<unsigned>(res.status));
  out.set(bhttp::field::server, "statehouse");
  out.set("X-Request-Id", request_id);
  if (!res.content_type.empty()) out.set(bhttp::field::content_type, res.content_type);
  for (auto& [k, v] : res.headers) out.insert(k, v);
  out.body() = std::move(res.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

// A request body written to disk as it arrives. The file is removed when the request is
// done unless the handler moved it (a rename into the blob store).
class SpoolFile {
 public:
  explicit SpoolFile(const std::string& dir) {
    path_ = dir + "/upload-" + RandomHex(12);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) Fail(ErrorCode::kUnavailable, "cannot create a spool file in " + dir);
  }
  ~SpoolFile() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  bool Write(const char* data, size_t n) {
    size_ += n;
    while (n > 0) {
      ssize_t w = ::write(fd_, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  // Closes the file: everything has arrived.
  void Finish() {
    ::close(fd_);
    fd_ = -1;
  }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace

std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int threads) {
  std::vector<std::unique_ptr<asio::io_context>> out;
  for (int i = 0; i < std::max(threads, 1); ++i)
    out.push_back(std::make_unique<asio::io_context>(1));
  return out;
}

struct Server::Impl {
  ServerOptions options;
  const Dispatcher& dispatcher;
  // One event loop per network thread; a connection lives on one of them, handed out in
  // turn. Threads sharing one io_context hand events to each other through its lock and
  // condition variable: measured, that cost up to a third of a cached GET's CPU.
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  asio::io_context& ioc;  // contexts[0]: the acceptor and the signals
  size_t next_context = 0;
  WorkerPool read_workers;            // reads that compute (SQLite)
  asio::thread_pool waiting_workers;  // writes, and reads that wait on a network database
  tcp::acceptor acceptor;
  std::atomic<bool> stopping{false};
  std::mutex connections_mutex;
  std::list<std::shared_ptr<Connection>> connections;
  std::atomic<size_t> open_connections{0};
  std::chrono::steady_clock::time_point last_accept_warning{};
  std::mutex stop_mutex;
  std::condition_variable stop_requested;
  // TLS: the context new connections take; SIGHUP replaces it (connections keep the one they
  // started with, so none is dropped).
  std::mutex tls_mutex;
  std::shared_ptr<asio::ssl::context> tls_context;
  // Metrics (null without a registry).
  metrics::Family<metrics::Histogram>* request_seconds = nullptr;
  metrics::Gauge* in_flight = nullptr;
  metrics::Gauge* read_queue = nullptr;
  metrics::Gauge* write_queue = nullptr;

  Impl(ServerOptions opts, const Dispatcher& d)
      : options(std::move(opts)),
        dispatcher(d),
        contexts(MakeContexts(options.io_threads)),
        ioc(*contexts[0]),
        read_workers(options.reads_wait ? 0 : static_cast<size_t>(options.read_threads)),
        waiting_workers(static_cast<size_t>(options.reads_wait
                                                ? options.read_threads + options.write_threads
                                                : options.write_threads)),
        acceptor(ioc) {
    for (auto& c : contexts) keep_running.push_back(asio::make_work_guard(*c));
    if (options.Tls()) tls_context = MakeTlsContext(options.tls_cert_file, options.tls_key_file);
    if (options.metrics) {
      metrics::Registry& m = *options.metrics;
      request_seconds = &m.AddHistogram("statehouse_http_request_duration_seconds",
                                        "Time from a request's header to the end of its reply",
                                        {"route", "method", "status"});
      in_flight = &m.AddGauge("statehouse_http_requests_in_flight",
                              "Requests read and not yet answered", {})
                       .With({});
      auto& queues = m.AddGauge("statehouse_handler_queue_depth",
                                "Requests waiting for a handler thread, by pool", {"pool"});
      read_queue = &queues.With({"read"});
      write_queue = &queues.With({"write"});
      m.AddCollector([this](std::string& out) {
        metrics::WriteHeader(out, "statehouse_http_connections_open", "Open client connections",
                             metrics::Type::kGauge);
        metrics::WriteSample(out, "statehouse_http_connections_open", "",
                             static_cast<double>(open_connections.load()));
      });
    }
  }

  // Methods outside this list are counted as "other": the label must not take any value a
  // client sends.
  static std::string_view MethodLabel(std::string_view method) {
    for (std::string_view known :
         {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "LOCK", "UNLOCK", "OPTIONS"})
      if (method == known) return known;
    return "other";
  }

  void ObserveRequest(std::string_view route, std::string_view method, int status, double seconds) {
    if (!request_seconds) return;
    char code[8];
    auto [end, ec] = std::to_chars(code, code + sizeof code, status);
    request_seconds
        ->With({route.empty() ? std::string_view("unmatched") : route, MethodLabel(method),
                std::string_view(code, static_cast<size_t>(end - code))})
        .Observe(seconds);
  }

  std::shared_ptr<asio::ssl::context> CurrentTlsContext() {
    std::lock_guard lock(tls_mutex);
    return tls_context;
  }

  bool ReloadTls() {
    if (!options.Tls()) return false;
    try {
      auto fresh = MakeTlsContext(options.tls_cert_file, options.tls_key_file);
      std::lock_guard lock(tls_mutex);
      tls_context = std::move(fresh);
    } catch (const std::exception& e) {
      log::Error("TLS certificate reload failed; the previous certificate stays in use",
                 {{"detail", e.what()}});
      return false;
    }
    log::Info("TLS certificate reloaded", {{"cert", options.tls_cert_file}});
    return true;
  }

  uint16_t Bind() {
    asio::ip::address address = asio::ip::make_address(options.host);
    tcp::endpoint endpoint(address, options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    return acceptor.local_endpoint().port();
  }

  awaitable<void> Accept() {
    for (;;) {
      auto strand = asio::make_strand(*contexts[next_context++ % contexts.size()]);
      auto [ec, socket] = co_await acceptor.async_accept(strand, kTuple);
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        // Out of descriptors (or another transient failure): back off instead of spinning,
        // and say so once in a while rather than on every attempt.
        auto now = std::chrono::steady_clock::now();
        if (now - last_accept_warning > std::chrono::seconds(5)) {
          last_accept_warning = now;
          log::Warn("accept failed; backing off", {{"error", ec.message()}});
        }
        asio::steady_timer pause(ioc, std::chrono::milliseconds(50));
        co_await pause.async_wait(kTuple);
        continue;
      }
      if (open_connections.load() >= options.max_connections) {
        log::Warn("connection limit reached; refusing a connection");
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
      auto conn = std::make_shared<Connection>(strand);
      std::list<std::shared_ptr<Connection>>::iterator it;
      {
        std::lock_guard lock(connections_mutex);
        it = connections.insert(connections.end(), conn);
      }
      ++open_connections;
      auto session = options.Tls() ? TlsSession(std::move(socket), conn)
                                   : PlainSession(std::move(socket), conn);
      asio::co_spawn(strand, std::move(session), [this, it](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log::Error("connection failed", {{"detail", ex.what()}});
          }
        }
        std::lock_guard lock(connections_mutex);
        connections.erase(it);
        --open_connections;
      });
    }
  }

  // Reads that compute go to read_workers; everything else to waiting_workers.
  template <typename Result, typename Fn>
  awaitable<Result> RunHandler(bool read_only, Fn& fn) {
    bool on_readers = read_only && !options.reads_wait;
    metrics::Gauge* queue = on_readers ? read_queue : write_queue;
    if (queue) queue->Add(1);
    auto counted = [&fn, queue]() -> Result {
      if (queue) queue->Add(-1);  // started: no longer waiting
      return fn();
    };
    if (on_readers) co_return co_await RunOn<Result>(read_workers, counted);
    co_return co_await asio::co_spawn(
        waiting_workers.get_executor(), [&counted]() -> awaitable<Result> { co_return counted(); },
        use_awaitable);
  }

  // A request that may write, on waiting_workers: its answer can come later than the
  // handler's return, from the thread that commits its write (Dispatcher::HandleLater), so a
  // worker does not wait for a commit that others lead.
  awaitable<Response> RunWrite(const Request& req) {
    if (write_queue) write_queue->Add(1);
    return AwaitAnswer<Response>([this, &req](auto resume) {
      asio::post(waiting_workers, [this, &req, resume] {
        if (write_queue) write_queue->Add(-1);  // started: no longer waiting
        dispatcher.HandleLater(req, resume);
      });
    });
  }

  // Writes an error decided before a handler ran (framing, limits) and asks to close.
  // The client may still be sending: half-close and drain for a moment, so it can read the
  // answer instead of hitting a reset.
  template <typename Stream>
  awaitable<void> WriteEarlyError(Stream& stream, const Request& req, ErrorCode code,
                                  std::string_view message) {
    Response res = dispatcher.ErrorFor(req, code, message);
    auto out = ToBeast(std::move(res), 11, false, req.request_id);
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(std::chrono::seconds(10));
    auto [wec, wn] = co_await bhttp::async_write(stream, out, kTuple);
    if (wec) co_return;
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> sink;
    size_t drained = 0;
    while (drained < (64u << 20)) {
      auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      drained += rn;
    }
    log::Info("request refused early",
              {{"request_id", req.request_id}, {"method", req.method}, {"status", StatusOf(code)}});
  }

  // Sends a file as the body with sendfile(2): the kernel copies from the page cache to the
  // socket, nothing passes through user space. Over TLS the bytes must be encrypted, so they
  // are read and written in pieces instead.
  template <typename Stream>
  awaitable<boost::system::error_code> WriteFile(Stream& stream, Response&& res, unsigned version,
                                                 bool keep_alive, const Request& req) {
    const std::string& request_id = req.request_id;
    int fd = ::open(res.body_file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      if (fd >= 0) ::close(fd);
      log::Error("cannot open a stored blob", {{"request_id", request_id}});
      auto err =
          ToBeast(dispatcher.ErrorFor(req, ErrorCode::kInternal, ""), version, false, request_id);
      co_await bhttp::async_write(stream, err, kTuple);
      co_return asio::error::not_found;
    }
    bhttp::response<bhttp::empty_body> head;
    head.version(version);
    head.result(static_cast<unsigned>(res.status));
    head.set(bhttp::field::server, "statehouse");
    head.set("X-Request-Id", request_id);
    if (!res.content_type.empty()) head.set(bhttp::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) head.insert(k, v);
    head.keep_alive(keep_alive);
    head.content_length(static_cast<uint64_t>(st.st_size));
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(options.body_timeout + std::chrono::seconds(st.st_size >> 20));
    bhttp::response_serializer<bhttp::empty_body> sr{head};
    auto [hec, hn] = co_await bhttp::async_write_header(stream, sr, kTuple);
    boost::system::error_code ec = hec;
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      std::vector<char> piece(256 * 1024);
      off_t at = 0;
      while (!ec && at < st.st_size) {
        ssize_t n = ::pread(fd, piece.data(), piece.size(), at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ec = n == 0 ? asio::error::eof
                      : boost::system::error_code(errno, boost::system::system_category());
          break;
        }
        auto [wec, wn] =
            co_await asio::async_write(stream, asio::buffer(piece.data(), size_t(n)), kTuple);
        ec = wec;
        at += n;
      }
      ::close(fd);
      co_return ec;
    }
    off_t offset = 0;
    auto& sock = lowest.socket();
    sock.native_non_blocking(true, ec);
    // The same deadline as any other write: a client that stops reading is dropped.
    auto deadline = std::chrono::steady_clock::now() + options.body_timeout +
                    std::chrono::seconds(st.st_size >> 20);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!ec && offset < st.st_size) {
      ssize_t n =
          ::sendfile(sock.native_handle(), fd, &offset, static_cast<size_t>(st.st_size - offset));
      if (n > 0) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        using namespace asio::experimental::awaitable_operators;
        timer.expires_at(deadline);
        auto which =
            co_await (sock.async_wait(tcp::socket::wait_write, kTuple) || timer.async_wait(kTuple));
        if (which.index() == 1)
          ec = beast::error::timeout;
        else
          ec = std::get<0>(std::get<0>(which));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      ec = n == 0 ? asio::error::eof
                  : boost::system::error_code(errno, boost::system::system_category());
    }
    ::close(fd);
    co_return ec;
  }

  // Sends a body pulled from res.stream while it is produced: chunked for HTTP/1.1 (the
  // connection stays usable afterwards), raw bytes until the connection closes for HTTP/1.0.
  // Each piece is written as soon as it is pulled; when the source has nothing, the loop waits
  // kStreamPoll or until the client closes its end, whichever comes first. Ends early, closing
  // the connection, when the client goes away, the stream outlives stream_max_seconds or the
  // server shuts down.
  template <typename Stream>
  awaitable<StreamResult> WriteStream(Stream& stream, Response&& res, unsigned version,
                                      bool& keep_alive, const Request& req) {
    StreamResult result;
    std::shared_ptr<ChunkSource> source = std::move(res.stream);
    bool chunked = version >= 11;
    if (!chunked) keep_alive = false;  // HTTP/1.0: the body ends with the connection
    bhttp::response<bhttp::empty_body> head;
    head.version(version);
    head.result(static_cast<unsigned>(res.status));
    head.set(bhttp::field::server, "statehouse");
    head.set("X-Request-Id", req.request_id);
    if (!res.content_type.empty()) head.set(bhttp::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) head.insert(k, v);
    head.erase(bhttp::field::content_length);
    head.keep_alive(keep_alive);
    if (chunked) head.chunked(true);
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    auto& sock = lowest.socket();
    boost::system::error_code ignored;
    // Pieces are small and must not wait for the previous one's acknowledgement (Nagle).
    sock.set_option(tcp::no_delay(true), ignored);
    bhttp::response_serializer<bhttp::empty_body> sr{head};
    lowest.expires_after(options.body_timeout);
    auto [hec, hn] = co_await bhttp::async_write_header(stream, sr, kTuple);
    // Waiting for the source is not idleness: only writes have a deadline.
    lowest.expires_never();
    if (hec) {
      result.ec = hec;
      result.end = "client_gone";
      co_return result;
    }
    if (req.method == "HEAD") co_return result;  // the header alone
    auto deadline = std::chrono::steady_clock::now() + options.stream_max_seconds;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    bool watch_peer = true;
    std::string piece;
    for (;;) {
      piece.clear();
      bool more = false;
      try {
        more = source->Pull(piece);
      } catch (const std::exception& e) {
        log::Error("stream source failed", {{"request_id", req.request_id}, {"detail", e.what()}});
        result.ec = asio::error::fault;
        result.end = "source_failed";
        break;
      }
      if (!piece.empty()) {
        lowest.expires_after(options.body_timeout + std::chrono::seconds(piece.size() >> 20));
        boost::system::error_code wec;
        if (chunked) {
          auto [ec, n] =
              co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(piece)), kTuple);
          wec = ec;
        } else {
          auto [ec, n] = co_await asio::async_write(stream, asio::buffer(piece), kTuple);
          wec = ec;
        }
        lowest.expires_never();
        if (wec) {
          result.ec = wec;
          result.end = "client_gone";
          break;
        }
        result.bytes += piece.size();
      }
      if (!more) {
        if (chunked) {
          lowest.expires_after(options.body_timeout);
          auto [ec, n] = co_await asio::async_write(stream, bhttp::make_chunk_last(), kTuple);
          lowest.expires_never();
          if (ec) {
            result.ec = ec;
            result.end = "client_gone";
            break;
          }
        }
        result.end = "complete";
        break;
      }
      if (stopping) {
        result.ec = asio::error::shut_down;
        result.end = "shutdown";
        break;
      }
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        result.ec = beast::error::timeout;
        result.end = "max_duration";
        break;
      }
      if (!piece.empty()) continue;  // there may be more already
      timer.expires_at(std::min(now + kStreamPoll, deadline));
      if (!watch_peer) {
        co_await timer.async_wait(kTuple);
        continue;
      }
      using namespace asio::experimental::awaitable_operators;
      auto which =
          co_await (sock.async_wait(tcp::socket::wait_read, kTuple) || timer.async_wait(kTuple));
      if (which.index() == 1) continue;
      if (auto ec = std::get<0>(std::get<0>(which))) {
        result.ec = ec;
        result.end = "client_gone";
        break;
      }
      // Readable: the client closed (or reset) its end, or sent its next request early.
      char probe;
      ssize_t n = ::recv(sock.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        result.ec = n == 0 ? asio::error::eof
                           : boost::system::error_code(errno, boost::system::system_category());
        result.end = "client_gone";
        break;
      }
      // A pipelined request stays unread until the stream ends; from now on only a failed
      // write tells that the client left.
      if (n > 0) watch_peer = false;
    }
    co_return result;
  }

  awaitable<void> PlainSession(tcp::socket socket, std::shared_ptr<Connection> conn) {
    beast::tcp_stream stream(std::move(socket));
    conn->stream = &stream;
    co_await Serve(stream, conn, beast::flat_buffer());
  }

  // A TLS connection: a client speaking plain HTTP to the TLS port gets a 400 saying so (as
  // nginx and Go's net/http answer) in clear, then the handshake must complete within the
  // header timeout.
  awaitable<void> TlsSession(tcp::socket socket, std::shared_ptr<Connection> conn) {
    beast::tcp_stream plain(std::move(socket));
    conn->stream = &plain;
    beast::flat_buffer buffer;
    plain.expires_after(options.header_timeout);
    auto [dec, is_tls] = co_await beast::async_detect_ssl(plain, buffer, kTuple);
    boost::system::error_code ignored;
    if (dec) {
      conn->stream = nullptr;
      plain.socket().close(ignored);
      co_return;
    }
    if (!is_tls) {
      Request req;
      req.request_id = RandomHex(8);
      co_await WriteEarlyError(plain, req, ErrorCode::kInvalidArgument,
                               "this port speaks HTTPS only: a plain HTTP request was sent to it "
                               "(use https://)");
      conn->stream = nullptr;
      plain.socket().close(ignored);
      co_return;
    }
    std::shared_ptr<asio::ssl::context> context = CurrentTlsContext();
    beast::ssl_stream<beast::tcp_stream> stream(std::move(plain), *context);
    conn->stream = &beast::get_lowest_layer(stream);
    beast::get_lowest_layer(stream).expires_after(options.header_timeout);
    auto [hec, used] =
        co_await stream.async_handshake(asio::ssl::stream_base::server, buffer.data(), kTuple);
    if (hec) {
      log::Write(log::Level::kDebug, "TLS handshake failed", {{"detail", hec.message()}});
      conn->stream = nullptr;
      beast::get_lowest_layer(stream).socket().close(ignored);
      co_return;
    }
    buffer.consume(used);
    co_await Serve(stream, conn, std::move(buffer));
  }

  // The request loop of one connection, plain or TLS.
  template <typename Stream>
  awaitable<void> Serve(Stream& stream, std::shared_ptr<Connection> conn,
                        beast::flat_buffer buffer) {
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = lowest.socket().remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    for (;;) {
      conn->idle = true;
      if (stopping) break;
      bhttp::request_parser<bhttp::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      // The real limit depends on the route, known only once the header is in; until then
      // Beast must not judge Content-Length against its 1 MiB default.
      parser.body_limit(boost::none);
      if (buffer.size() == 0) {
        // Idle until the next request's first byte arrives ...
        lowest.expires_after(options.idle_timeout);
        auto [iec, in] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
        if (iec) break;
        buffer.commit(in);
      }
      // ... then the whole header must follow within the header timeout (slowloris).
      lowest.expires_after(options.header_timeout);
      auto [hec, hn] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
      conn->idle = false;
      auto start = std::chrono::steady_clock::now();
      Request req;
      req.remote_address = remote;
      if (hec) {
        if (hec == bhttp::error::end_of_stream || hec == asio::error::operation_aborted ||
            hec == beast::error::timeout || hec == asio::error::connection_reset ||
            hec == asio::error::eof || hec == asio::error::bad_descriptor)
          break;
        req.request_id = RandomHex(8);
        if (hec == bhttp::error::header_limit || hec == bhttp::error::body_limit)
          co_await WriteEarlyError(stream, req, ErrorCode::kPayloadTooLarge,
                                   "request header too large");
        else
          co_await WriteEarlyError(stream, req, ErrorCode::kInvalidArgument,
                                   "malformed HTTP request: " + hec.message());
        break;
      }
      const auto& header = parser.get();
      req.request_id = RequestIdOf(header);
      req.method = std::string(header.method_string());
      req.target = std::string(header.target());
      for (const auto& field : header) {
        req.headers.emplace_back(
            ToLower(std::string_view(field.name_string().data(), field.name_string().size())),
            std::string(field.value()));
      }
      BodyPolicy policy = dispatcher.PolicyFor(req.method, req.target);
      size_t limit = policy.limit;
      auto declared = parser.content_length();
      if (declared && *declared > limit) {
        co_await WriteEarlyError(stream, req, ErrorCode::kPayloadTooLarge,
                                 "request body of " + std::to_string(*declared) +
                                     " bytes exceeds the limit of " + std::to_string(limit) +
                                     " bytes for this endpoint");
        break;
      }
      bool keep_alive = parser.get().keep_alive();
      unsigned version = parser.get().version();
      if (policy.spool && !parser.is_done()) {
        // Refuse unauthenticated or unauthorised uploads before taking their bytes.
        bool target_ok = ParseTarget(req.target, req.path, req.query);
        std::optional<Response> refusal;
        if (target_ok) {
          auto preflight = [this, &req] { return dispatcher.Preflight(req); };
          refusal = co_await RunHandler<std::optional<Response>>(true, preflight);
        }
        if (refusal) {
          log::Info("request", {{"request_id", req.request_id},
                                {"method", req.method},
                                {"path", req.path},
                                {"status", refusal->status},
                                {"remote", remote}});
          auto out = ToBeast(std::move(*refusal), version, false, req.request_id);
          lowest.expires_after(std::chrono::seconds(10));
          co_await bhttp::async_write(stream, out, kTuple);
          break;
        }
        req.path.clear();
        req.query.clear();
      }
      std::unique_ptr<SpoolFile> spool;
      if (!parser.is_done()) {
        auto expect = header.find(bhttp::field::expect);
        if (expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
          bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header.version()};
          co_await bhttp::async_write(stream, cont, kTuple);
        }
        size_t mib = declared ? static_cast<size_t>(*declared >> 20) : limit >> 20;
        lowest.expires_after(options.body_timeout + std::chrono::seconds(mib));
        boost::system::error_code bec;
        if (policy.spool) {
          // Stream to disk in fixed-size pieces: memory stays flat whatever the body's size.
          bool spool_failed = false;
          try {
            spool = std::make_unique<SpoolFile>(options.spool_dir);
          } catch (const Error& e) {
            log::Error("spooling failed", {{"request_id", req.request_id}, {"detail", e.what()}});
            spool_failed = true;
          }
          if (spool_failed) {
            co_await WriteEarlyError(stream, req, ErrorCode::kUnavailable,
                                     "the server cannot accept uploads right now");
            break;
          }
          bhttp::request_parser<bhttp::buffer_body> body_parser{std::move(parser)};
          body_parser.body_limit(limit);
          // Read in pieces of up to 256 KiB, no bigger than the body: small uploads (most
          // states) then stay below malloc's mmap threshold and cost no page faults. Not
          // zeroed: every byte read is written first.
          const size_t piece = static_cast<size_t>(std::clamp<uint64_t>(
              body_parser.content_length().value_or(256 * 1024), 16 * 1024, 256 * 1024));
          auto chunk_bytes = std::make_unique_for_overwrite<char[]>(piece);
          std::span<char> chunk(chunk_bytes.get(), piece);
          // Beast reads at most the buffer's free capacity per call: make room for large reads
          // while the body streams, and give it back afterwards (idle connections stay small).
          buffer.reserve(piece);
          while (!body_parser.is_done()) {
            body_parser.get().body().data = chunk.data();
            body_parser.get().body().size = chunk.size();
            auto [ec, n] = co_await bhttp::async_read(stream, buffer, body_parser, kTuple);
            if (ec == bhttp::error::need_buffer) ec = {};
            if (ec) {
              bec = ec;
              break;
            }
            size_t got = chunk.size() - body_parser.get().body().size;
            if (got > 0 && !spool->Write(chunk.data(), got)) {
              co_await WriteEarlyError(stream, req, ErrorCode::kUnavailable,
                                       "the server could not store the upload (disk full?)");
              bec = boost::system::errc::make_error_code(boost::system::errc::no_space_on_device);
              break;
            }
          }
          buffer.shrink_to_fit();
          if (!bec) {
            spool->Finish();
            req.body_size = spool->size();
            req.body_file = spool->path();
          }
        } else {
          bhttp::request_parser<bhttp::string_body> body_parser{std::move(parser)};
          body_parser.body_limit(limit);
          auto [ec, n] = co_await bhttp::async_read(stream, buffer, body_parser, kTuple);
          bec = ec;
          if (!ec) req.body = std::move(body_parser.get().body());
        }
        if (bec) {
          if (bec == boost::system::errc::make_error_code(boost::system::errc::no_space_on_device))
            break;
          if (bec == bhttp::error::body_limit) {
            co_await WriteEarlyError(stream, req, ErrorCode::kPayloadTooLarge,
                                     "request body exceeds the limit of " + std::to_string(limit) +
                                         " bytes for this endpoint");
          } else if (bec != beast::error::timeout && bec != asio::error::eof &&
                     bec != bhttp::error::end_of_stream && bec != asio::error::connection_reset &&
                     bec != asio::error::operation_aborted &&
                     bec != bhttp::error::partial_message) {
            co_await WriteEarlyError(stream, req, ErrorCode::kInvalidArgument,
                                     "malformed HTTP request body: " + bec.message());
          }
          break;
        }
      }
      if (in_flight) in_flight->Add(1);
      Response res;
      if (!ParseTarget(req.target, req.path, req.query)) {
        res = dispatcher.ErrorFor(req, ErrorCode::kInvalidArgument, "malformed request target");
      } else {
        // Handlers (and so the database) run on a worker pool; answers kept in memory since
        // the last write are sent from here, without the round trip to a worker.
        bool read_only = req.method == "GET" || req.method == "HEAD";
        std::optional<Response> kept;
        if (read_only) kept = dispatcher.FromMemory(req);
        if (kept) {
          res = std::move(*kept);
        } else {
          if (read_only) {
            auto handle = [this, &req] { return dispatcher.Handle(req); };
            res = co_await RunHandler<Response>(read_only, handle);
          } else {
            res = co_await RunWrite(req);
          }
        }
      }
      int status = res.status;
      std::string_view route = res.route;
      keep_alive = keep_alive && !stopping;
      boost::system::error_code wec;
      std::optional<StreamResult> streamed;
      if (res.stream) {
        streamed = co_await WriteStream(stream, std::move(res), version, keep_alive, req);
        wec = streamed->ec;
      } else if (!res.body_file.empty()) {
        wec = co_await WriteFile(stream, std::move(res), version, keep_alive, req);
      } else {
        auto out = ToBeast(std::move(res), version, keep_alive, req.request_id);
        lowest.expires_after(options.body_timeout + std::chrono::seconds(out.body().size() >> 20));
        auto [ec, wn] = co_await bhttp::async_write(stream, out, kTuple);
        wec = ec;
      }
      auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
      if (in_flight) in_flight->Add(-1);
      ObserveRequest(route, req.method, status, static_cast<double>(micros) / 1e6);
      if (streamed && log::Enabled(log::Level::kInfo)) {
        log::Info("request", {{"request_id", req.request_id},
                              {"method", req.method},
                              {"path", req.path},
                              {"status", status},
                              {"duration_ms", static_cast<double>(micros) / 1000.0},
                              {"remote", remote},
                              {"streamed_bytes", streamed->bytes},
                              {"stream_end", streamed->end}});
      } else if (log::Enabled(log::Level::kInfo)) {
        log::Info("request", {{"request_id", req.request_id},
                              {"method", req.method},
                              {"path", req.path.empty() ? std::string("-") : req.path},
                              {"status", status},
                              {"duration_ms", static_cast<double>(micros) / 1000.0},
                              {"remote", remote}});
      }
      if (wec || !keep_alive) break;
    }
    conn->idle = false;
    conn->stream = nullptr;
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest.socket().close(ignored);
  }

  void BeginShutdown() {
    {
      std::lock_guard lock(stop_mutex);
      if (stopping.exchange(true)) return;
    }
    stop_requested.notify_all();
    log::Info("shutting down: no new connections; finishing in-flight requests");
    asio::post(ioc, [this] {
      boost::system::error_code ignored;
      acceptor.close(ignored);
    });
    std::lock_guard lock(connections_mutex);
    for (auto& conn : connections) {
      asio::post(conn->strand, [conn] {
        if (conn->idle && conn->stream) conn->stream->socket().cancel();
      });
    }
  }
};

Server::Server(ServerOptions options, const Dispatcher& dispatcher)
    : impl_(std::make_unique<Impl>(std::move(options), dispatcher)) {}

Server::~Server() {
  impl_->read_workers.Join();
  impl_->waiting_workers.join();
}

uint16_t Server::Bind() { return impl_->Bind(); }

void Server::Stop() { impl_->BeginShutdown(); }

bool Server::ReloadCertificates() { return impl_->ReloadTls(); }

void Server::Run() {
  Impl& s = *impl_;
  asio::signal_set signals(s.ioc, SIGINT, SIGTERM);
  signals.async_wait([&s](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::Info("signal received", {{"signal", signo}});
    s.BeginShutdown();
  });
  // SIGHUP reloads the TLS certificate and key (without TLS there is nothing to reload).
  asio::signal_set reload(s.ioc, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_reload =
      [&s, &reload, &on_reload](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (!s.ReloadTls()) log::Info("SIGHUP: no TLS certificate to reload");
        reload.async_wait(on_reload);
      };
  reload.async_wait(on_reload);
  asio::co_spawn(s.ioc, s.Accept(), asio::detached);
  // Once stopping, a watchdog ends the loop when the last connection closes or the grace
  // period runs out.
  std::atomic<bool> done{false};
  std::thread watchdog([&s, &done, &signals, &reload] {
    {
      std::unique_lock lock(s.stop_mutex);
      s.stop_requested.wait(lock, [&] { return s.stopping.load() || done.load(); });
    }
    asio::post(s.ioc, [&signals, &reload] {
      signals.cancel();
      reload.cancel();
    });
    auto deadline = std::chrono::steady_clock::now() + s.options.shutdown_grace;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      if (s.open_connections.load() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!done && s.open_connections.load() > 0)
      log::Warn("shutdown grace period over; closing remaining connections",
                {{"connections", static_cast<int64_t>(s.open_connections.load())}});
    for (auto& c : s.contexts) c->stop();
  });
  std::vector<std::thread> threads;
  for (size_t i = 1; i < s.contexts.size(); ++i)
    threads.emplace_back([&s, i] { s.contexts[i]->run(); });
  s.ioc.run();
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(s.stop_mutex);
    done = true;
  }
  s.stop_requested.notify_all();
  watchdog.join();
  s.read_workers.Join();
  s.waiting_workers.join();
  log::Info("server stopped");
}

}  // namespace statehouse::http
