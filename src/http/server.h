// The HTTP/1.1 listener: one coroutine per connection (Boost.Beast), handlers run on
// separate worker pools so network threads never wait on the database. This header keeps Beast
// out of every other translation unit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "http/router.h"

namespace statehouse::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int io_threads = 2;
  // Reads (GET/HEAD) and writes run on separate pools. Reads are short and CPU-bound on an
  // embedded database: about one thread per core, since idle threads in a larger pool cost a
  // futex wake-up per request (measured: 8 threads halved throughput on 2 cores). Writes wait
  // on fsync and the single writer, so a larger pool keeps them from queueing behind reads.
  int read_threads = 2;
  int write_threads = 8;
  // Reads wait on a network database (PostgreSQL): they share a pool that wakes a thread
  // for every job, like writes.
  bool reads_wait = false;
  size_t header_limit = 16 * 1024;
  std::chrono::seconds header_timeout{30};  // a whole request header must arrive in this time
  std::chrono::seconds idle_timeout{75};    // keep-alive connections with no request
  std::chrono::seconds body_timeout{60};    // plus one second per MiB of declared body
  std::chrono::seconds shutdown_grace{30};  // in-flight requests get this long after a signal
  // A streamed reply (live logs) may last this long; then the connection is closed. The other
  // timeouts do not apply while a stream waits for its source (each write still gets
  // body_timeout).
  std::chrono::seconds stream_max_seconds{3600};
  size_t max_connections = 20000;
  std::string spool_dir;  // where spooled request bodies (state uploads) are written
  // HTTPS: PEM certificate chain and private key (both or neither). TLS 1.2 and 1.3 only;
  // SIGHUP reloads them.
  std::string tls_cert_file;
  std::string tls_key_file;
  bool Tls() const { return !tls_cert_file.empty(); }
  // Request latency by route, method and status; in-flight requests, open connections and
  // handler queue depths (none when null).
  metrics::Registry* metrics = nullptr;
};

class Server {
 public:
  Server(ServerOptions options, const Dispatcher& dispatcher);
  ~Server();

  // Binds the listener; throws on failure. Returns the bound port (useful with port 0).
  uint16_t Bind();
  // Serves until SIGTERM/SIGINT (or Stop()), then stops accepting, lets in-flight requests
  // finish, closes idle connections and returns.
  void Run();
  void Stop();
  // Reads the TLS certificate and key again (what SIGHUP does); false without TLS or when the
  // new files are bad (the old ones stay in use).
  bool ReloadCertificates();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace statehouse::http
