// Streamed replies (ChunkSource) through a real http::Server on 127.0.0.1, read with plain
// sockets: the body is chunked and live (a piece reaches the client before the source has the
// next one), the connection stays usable afterwards, HTTP/1.0 gets the bytes until the
// connection closes, and the server stops pulling when the client leaves or the stream
// outlives its limit. The dispatcher never keeps a streamed reply in its cache.
//
// Waits have generous timeouts that only catch hangs; no assertion needs a fast machine
// except that a departed client is noticed within a few seconds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "http/router.h"
#include "http/server.h"
#include "storage/sqlite/sqlite_store.h"

namespace statehouse::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// What the test hands to the source, and what it learns about the source's life.
struct Feed {
  std::mutex mutex;
  std::string pending;
  bool done = false;
  std::atomic<int> pulls{0};
  std::atomic<bool> destroyed{false};

  void Push(const std::string& bytes, bool last = false) {
    std::lock_guard lock(mutex);
    pending += bytes;
    done = done || last;
  }
};

class FeedSource : public ChunkSource {
 public:
  explicit FeedSource(std::shared_ptr<Feed> feed) : feed_(std::move(feed)) {}
  ~FeedSource() override { feed_->destroyed = true; }
  bool Pull(std::string& out) override {
    ++feed_->pulls;
    std::lock_guard lock(feed_->mutex);
    out += feed_->pending;
    feed_->pending.clear();
    return !feed_->done;
  }

 private:
  std::shared_ptr<Feed> feed_;
};

// A blocking TCP client with a deadline on every read.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool Send(const std::string& text) {
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = ::send(fd_, text.data() + off, text.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads once (waiting up to timeout); false on timeout, EOF or error (eof() tells).
  bool ReadSome(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    data_.append(buf, static_cast<size_t>(n));
    return true;
  }
  // Reads until pred(data()) holds, EOF, or the deadline.
  template <typename Pred>
  bool ReadUntil(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    while (!pred(data_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms || eof_) return false;
      ReadSome(left);
    }
    return true;
  }
  // Reads until the peer closes; false if it does not within timeout.
  bool ReadToEof(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    while (!eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return false;
      ReadSome(left);
    }
    return true;
  }
  // Reads a response header; returns it and leaves what followed in data().
  std::optional<std::string> ReadHead() {
    if (!ReadUntil([](const std::string& d) { return d.find("\r\n\r\n") != std::string::npos; }))
      return std::nullopt;
    size_t end = data_.find("\r\n\r\n") + 4;
    std::string head = data_.substr(0, end);
    data_.erase(0, end);
    return head;
  }
  std::string& data() { return data_; }
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string data_;
};

// Decodes a chunked body from the front of text: the bytes so far, whether the last chunk
// was seen, and how many bytes of text it used.
struct Chunked {
  std::string body;
  bool complete = false;
  bool malformed = false;
  size_t used = 0;
};
Chunked DecodeChunked(const std::string& text) {
  Chunked out;
  size_t pos = 0;
  for (;;) {
    size_t eol = text.find("\r\n", pos);
    if (eol == std::string::npos) break;
    size_t size = 0;
    try {
      size = std::stoul(text.substr(pos, eol - pos), nullptr, 16);
    } catch (...) {
      out.malformed = true;
      break;
    }
    if (size == 0) {
      if (text.size() < eol + 4) break;
      out.malformed = text.compare(eol + 2, 2, "\r\n") != 0;
      out.complete = !out.malformed;
      out.used = eol + 4;
      break;
    }
    if (text.size() < eol + 2 + size + 2) break;
    out.body.append(text, eol + 2, size);
    pos = eol + 2 + size + 2;
    out.used = pos;
  }
  return out;
}

bool HasHeader(const std::string& head, const std::string& line) {
  std::string lower_head = head, lower_line = line;
  for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : lower_line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower_head.find("\r\n" + lower_line) != std::string::npos;
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-stream-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = storage::OpenSqlite((dir_ / "test.db").string(), 2);
    router_.Add({"GET", "/live", Access::kPublic, [this](Context&) {
                   Reply r;
                   r.content_type = "text/plain; charset=utf-8";
                   r.stream = std::make_shared<FeedSource>(feed_);
                   return r;
                 }});
    // HEAD is routed by its own method: a route that streams may be registered for it too.
    router_.Add({"HEAD", "/live", Access::kPublic, [this](Context&) {
                   Reply r;
                   r.stream = std::make_shared<FeedSource>(feed_);
                   return r;
                 }});
    router_.Add(Cacheable({"GET", "/live-cacheable", Access::kPublic, [this](Context&) {
                             ++cacheable_runs_;
                             Reply r;
                             r.stream = std::make_shared<FeedSource>(std::make_shared<Feed>());
                             return r;
                           }}));
    router_.Add({"GET", "/healthz", Access::kPublic, [](Context&) {
                   return Reply::Of(200, boost::json::object{{"status", "ok"}});
                 }});
    dispatcher_ = std::make_unique<Dispatcher>(
        router_, *db_, DispatcherOptions{1 << 20, db_->CommitCounter(), {}});
  }

  void Start(std::chrono::seconds stream_max = 3600s) {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.io_threads = 1;
    options.read_threads = 1;
    options.write_threads = 1;
    options.shutdown_grace = 2s;
    options.spool_dir = dir_.string();
    options.stream_max_seconds = stream_max;
    server_ = std::make_unique<Server>(options, *dispatcher_);
    port_ = server_->Bind();
    runner_ = std::thread([this] { server_->Run(); });
  }

  void TearDown() override {
    if (server_) {
      server_->Stop();
      runner_.join();
      server_.reset();
    }
    dispatcher_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<Feed> feed_ = std::make_shared<Feed>();
  int cacheable_runs_ = 0;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  Router router_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
  uint16_t port_ = 0;
};

TEST_F(StreamTest, ChunkedLiveBodyThenKeepAlive) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.connected());
  feed_->Push("a");
  ASSERT_TRUE(c.Send("GET /live HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = c.ReadHead();
  ASSERT_TRUE(head) << c.data();
  EXPECT_EQ(head->rfind("HTTP/1.1 200", 0), 0u) << *head;
  EXPECT_TRUE(HasHeader(*head, "Transfer-Encoding: chunked")) << *head;
  EXPECT_FALSE(HasHeader(*head, "Content-Length:")) << *head;
  EXPECT_TRUE(HasHeader(*head, "Content-Type: text/plain; charset=utf-8")) << *head;

  // The first piece arrives while the source still has more to give.
  ASSERT_TRUE(c.ReadUntil([](const std::string& d) { return DecodeChunked(d).body == "a"; }))
      << c.data();
  EXPECT_FALSE(DecodeChunked(c.data()).complete);
  EXPECT_FALSE(feed_->destroyed);

  feed_->Push("b", true);
  ASSERT_TRUE(c.ReadUntil([](const std::string& d) { return DecodeChunked(d).complete; }))
      << c.data();
  Chunked body = DecodeChunked(c.data());
  EXPECT_FALSE(body.malformed);
  EXPECT_EQ(body.body, "ab");
  EXPECT_EQ(body.used, c.data().size()) << "bytes after the last chunk: " << c.data();
  EXPECT_TRUE(Eventually([&] { return feed_->destroyed.load(); }, 2000ms));

  // The same connection answers the next request.
  c.data().clear();
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head2 = c.ReadHead();
  ASSERT_TRUE(head2) << c.data();
  EXPECT_EQ(head2->rfind("HTTP/1.1 200", 0), 0u) << *head2;
  ASSERT_TRUE(c.ReadUntil([](const std::string& d) { return d.find("\"ok\"") != d.npos; }))
      << c.data();
  EXPECT_FALSE(c.eof());
}

TEST_F(StreamTest, ClientLeavingStopsThePulls) {
  Start();
  auto c = std::make_unique<Client>(port_);
  ASSERT_TRUE(c->connected());
  feed_->Push("a");
  ASSERT_TRUE(c->Send("GET /live HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c->ReadHead());
  ASSERT_TRUE(c->ReadUntil([](const std::string& d) { return DecodeChunked(d).body == "a"; }));
  // The source is being polled while the client waits.
  int before = feed_->pulls.load();
  ASSERT_TRUE(Eventually([&] { return feed_->pulls.load() > before + 1; }, 2000ms));

  // Nothing more is pushed: only the peer's close can end the stream.
  auto closed_at = Clock::now();
  c->Close();
  ASSERT_TRUE(Eventually([&] { return feed_->destroyed.load(); }, 1500ms))
      << "the server still holds the source; pulls: " << feed_->pulls.load();
  auto noticed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - closed_at).count();
  int pulls = feed_->pulls.load();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(feed_->pulls.load(), pulls) << "pulled after the source was released";
  RecordProperty("noticed_ms", static_cast<int>(noticed_ms));
  EXPECT_LT(noticed_ms, 1000);
}

TEST_F(StreamTest, Http10GetsRawBytesUntilClose) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.connected());
  feed_->Push("a");
  ASSERT_TRUE(c.Send("GET /live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto head = c.ReadHead();
  ASSERT_TRUE(head) << c.data();
  EXPECT_EQ(head->rfind("HTTP/1.0 200", 0), 0u) << *head;
  EXPECT_FALSE(HasHeader(*head, "Transfer-Encoding:")) << *head;
  EXPECT_FALSE(HasHeader(*head, "Content-Length:")) << *head;
  ASSERT_TRUE(c.ReadUntil([](const std::string& d) { return d == "a"; })) << c.data();
  feed_->Push("b", true);
  ASSERT_TRUE(c.ReadToEof()) << c.data();
  EXPECT_EQ(c.data(), "ab");
}

TEST_F(StreamTest, HeadSendsTheHeaderOnly) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("HEAD /live HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = c.ReadHead();
  ASSERT_TRUE(head) << c.data();
  EXPECT_TRUE(HasHeader(*head, "Transfer-Encoding: chunked")) << *head;
  EXPECT_TRUE(Eventually([&] { return feed_->destroyed.load(); }, 2000ms));
  EXPECT_EQ(feed_->pulls.load(), 0);
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head2 = c.ReadHead();
  ASSERT_TRUE(head2) << c.data();
  EXPECT_EQ(head2->rfind("HTTP/1.1 200", 0), 0u) << *head2;
}

TEST_F(StreamTest, StreamEndsAtItsMaximumDuration) {
  Start(1s);
  Client c(port_);
  ASSERT_TRUE(c.connected());
  feed_->Push("a");  // and never completes
  auto start = Clock::now();
  ASSERT_TRUE(c.Send("GET /live HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.ReadHead());
  ASSERT_TRUE(c.ReadToEof(10000ms)) << c.data();
  auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 900ms);
  Chunked body = DecodeChunked(c.data());
  EXPECT_EQ(body.body, "a");
  EXPECT_FALSE(body.complete) << "a cut stream must not look complete";
  EXPECT_TRUE(Eventually([&] { return feed_->destroyed.load(); }, 2000ms));
}

TEST_F(StreamTest, ShutdownEndsAStreamWithoutWaitingForItsGrace) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.connected());
  feed_->Push("a");  // and never completes
  ASSERT_TRUE(c.Send("GET /live HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.ReadHead());
  ASSERT_TRUE(c.ReadUntil([](const std::string& d) { return DecodeChunked(d).body == "a"; }));
  auto stop = Clock::now();
  server_->Stop();
  runner_.join();
  server_.reset();
  EXPECT_LT(Clock::now() - stop, 1500ms) << "the shutdown grace is 2 s";
  EXPECT_TRUE(feed_->destroyed);
  ASSERT_TRUE(c.ReadToEof(2000ms));
  EXPECT_FALSE(DecodeChunked(c.data()).complete);
}

TEST_F(StreamTest, CacheableRouteNeverKeepsAStream) {
  Request r;
  r.method = "GET";
  r.target = r.path = "/live-cacheable";
  r.request_id = "req-1";
  Response first = dispatcher_->Handle(r);
  ASSERT_TRUE(first.stream);
  Response second = dispatcher_->Handle(r);
  ASSERT_TRUE(second.stream);
  EXPECT_NE(first.stream, second.stream);
  EXPECT_EQ(cacheable_runs_, 2);
  EXPECT_FALSE(dispatcher_->FromMemory(r));
}

}  // namespace
}  // namespace statehouse::http
