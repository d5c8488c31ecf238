#include "http/server.h"

#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "http/error_map.h"

namespace statehouse::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

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

}  // namespace

struct Server::Impl {
  ServerOptions options;
  const Dispatcher& dispatcher;
  asio::io_context ioc;
  asio::thread_pool workers;
  tcp::acceptor acceptor;
  std::atomic<bool> stopping{false};
  std::mutex connections_mutex;
  std::list<std::shared_ptr<Connection>> connections;
  std::atomic<size_t> open_connections{0};

  Impl(ServerOptions opts, const Dispatcher& d)
      : options(std::move(opts)),
        dispatcher(d),
        ioc(options.io_threads),
        workers(static_cast<size_t>(options.worker_threads)),
        acceptor(ioc) {}

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
      auto strand = asio::make_strand(ioc);
      auto [ec, socket] = co_await acceptor.async_accept(strand, kTuple);
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        log::Warn("accept failed", {{"error", ec.message()}});
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
      asio::co_spawn(strand, Session(std::move(socket), conn),
                     [this, it](std::exception_ptr e) {
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

  // Writes an error decided before a handler ran (framing, limits) and asks to close.
  // The client may still be sending: half-close and drain for a moment, so it can read the
  // answer instead of hitting a reset.
  awaitable<void> WriteEarlyError(beast::tcp_stream& stream, const Request& req, ErrorCode code,
                                  std::string_view message) {
    Response res = dispatcher.ErrorFor(req, code, message);
    auto out = ToBeast(std::move(res), 11, false, req.request_id);
    stream.expires_after(std::chrono::seconds(10));
    auto [wec, wn] = co_await bhttp::async_write(stream, out, kTuple);
    if (wec) co_return;
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> sink;
    size_t drained = 0;
    while (drained < (64u << 20)) {
      auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
      if (rec) break;
      drained += rn;
    }
    log::Info("request refused early", {{"request_id", req.request_id},
                                        {"method", req.method},
                                        {"status", StatusOf(code)}});
  }

  awaitable<void> Session(tcp::socket socket, std::shared_ptr<Connection> conn) {
    beast::tcp_stream stream(std::move(socket));
    conn->stream = &stream;
    beast::flat_buffer buffer;
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = stream.socket().remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    for (;;) {
      conn->idle = true;
      if (stopping) break;
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      // The real limit depends on the route, known only once the header is in; until then
      // Beast must not judge Content-Length against its 1 MiB default.
      parser.body_limit(boost::none);
      stream.expires_after(buffer.size() > 0 ? options.header_timeout : options.idle_timeout);
      // The header timeout also applies once the first byte has arrived (slowloris).
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
        req.headers.emplace_back(ToLower(std::string_view(field.name_string().data(),
                                                          field.name_string().size())),
                                 std::string(field.value()));
      }
      size_t limit = dispatcher.BodyLimitFor(req.method, req.target);
      auto declared = parser.content_length();
      if (declared && *declared > limit) {
        co_await WriteEarlyError(stream, req, ErrorCode::kPayloadTooLarge,
                                 "request body of " + std::to_string(*declared) +
                                     " bytes exceeds the limit of " + std::to_string(limit) +
                                     " bytes for this endpoint");
        break;
      }
      parser.body_limit(limit);
      if (!parser.is_done()) {
        auto expect = header.find(bhttp::field::expect);
        if (expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
          bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header.version()};
          co_await bhttp::async_write(stream, cont, kTuple);
        }
        size_t mib = declared ? static_cast<size_t>(*declared >> 20) : limit >> 20;
        stream.expires_after(options.body_timeout + std::chrono::seconds(mib));
        auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
        if (bec) {
          if (bec == bhttp::error::body_limit) {
            co_await WriteEarlyError(stream, req, ErrorCode::kPayloadTooLarge,
                                     "request body exceeds the limit of " + std::to_string(limit) +
                                         " bytes for this endpoint");
          } else if (bec != beast::error::timeout && bec != asio::error::eof &&
                     bec != bhttp::error::end_of_stream && bec != asio::error::connection_reset &&
                     bec != asio::error::operation_aborted) {
            co_await WriteEarlyError(stream, req, ErrorCode::kInvalidArgument,
                                     "malformed HTTP request body: " + bec.message());
          }
          break;
        }
      }
      bool keep_alive = parser.get().keep_alive();
      unsigned version = parser.get().version();
      req.body = std::move(parser.get().body());
      Response res;
      if (!ParseTarget(req.target, req.path, req.query)) {
        res = dispatcher.ErrorFor(req, ErrorCode::kInvalidArgument, "malformed request target");
      } else {
        // Handlers (and so the database) run on the worker pool.
        res = co_await asio::co_spawn(
            workers.get_executor(),
            [this, &req]() -> awaitable<Response> { co_return dispatcher.Handle(req); },
            use_awaitable);
      }
      int status = res.status;
      keep_alive = keep_alive && !stopping;
      auto out = ToBeast(std::move(res), version, keep_alive, req.request_id);
      stream.expires_after(options.body_timeout + std::chrono::seconds(out.body().size() >> 20));
      auto [wec, wn] = co_await bhttp::async_write(stream, out, kTuple);
      auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
      if (log::Enabled(log::Level::kInfo)) {
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
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
  }

  void BeginShutdown() {
    if (stopping.exchange(true)) return;
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
  impl_->workers.join();
}

uint16_t Server::Bind() { return impl_->Bind(); }

void Server::Stop() { impl_->BeginShutdown(); }

void Server::Run() {
  Impl& s = *impl_;
  asio::signal_set signals(s.ioc, SIGINT, SIGTERM);
  signals.async_wait([&s](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::Info("signal received", {{"signal", signo}});
    s.BeginShutdown();
  });
  asio::co_spawn(s.ioc, s.Accept(), asio::detached);
  // Once stopping, a watchdog ends the loop when the last connection closes or the grace
  // period runs out.
  std::atomic<bool> done{false};
  std::thread watchdog([&s, &done, &signals] {
    while (!s.stopping && !done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    asio::post(s.ioc, [&signals] { signals.cancel(); });
    auto deadline = std::chrono::steady_clock::now() + s.options.shutdown_grace;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      if (s.open_connections.load() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!done && s.open_connections.load() > 0)
      log::Warn("shutdown grace period over; closing remaining connections",
                {{"connections", static_cast<int64_t>(s.open_connections.load())}});
    s.ioc.stop();
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < s.options.io_threads; ++i) threads.emplace_back([&s] { s.ioc.run(); });
  s.ioc.run();
  for (auto& t : threads) t.join();
  done = true;
  watchdog.join();
  s.workers.join();
  log::Info("server stopped");
}

}  // namespace statehouse::http
