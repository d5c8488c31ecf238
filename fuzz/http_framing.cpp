// HTTP framing as src/http/server.cpp does it, without sockets: the bytes of a connection
// arrive in fuzzer-chosen pieces; each request's header is read with
// request_parser<empty_body> (header_limit 16 KiB, no body limit yet), then the body with
// request_parser<string_body> (body_limit 1 MiB) or, for spooled uploads,
// request_parser<buffer_body>; keep-alive connections carry pipelined requests. Each parsed
// request then goes through the transport-neutral part: ParseTarget and Dispatcher::Handle
// (auth headers, Content-Type/Accept, body codecs) on a small router with a fake token store.
//
// Input layout: byte 0 = largest piece (0: everything at once), byte 1 = seed of the piece
// sizes (bit 7 also selects the buffer_body path), the rest = the bytes of the connection.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "auth/auth.h"
#include "common/util.h"
#include "fuzz_common.h"
#include "http/codec.h"
#include "http/conventions.h"
#include "http/message.h"
#include "http/router.h"

using namespace statehouse;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr uint32_t kHeaderLimit = 16 * 1024;
constexpr uint64_t kBodyLimit = 1 << 20;

// One token, "pat.default.tok1.s3cret", role admin.
class FakeTokens : public storage::TokenStore {
 public:
  FakeTokens() {
    auth::SecretHash h = auth::HashSecret("s3cret");
    record_.account = "default";
    record_.identifier = "tok1";
    record_.role = "admin";
    record_.secret_salt = h.salt;
    record_.secret_hash = h.hash;
  }
  void CreateToken(const storage::TokenRecord&) override {}
  std::optional<storage::TokenRecord> GetToken(std::string_view account,
                                               std::string_view id) override {
    if (account == record_.account && id == record_.identifier) return record_;
    return std::nullopt;
  }
  storage::TokenRecord UpdateToken(const storage::TokenRecord& t) override { return t; }
  void DeleteToken(std::string_view, std::string_view) override {}
  storage::Page<storage::TokenRecord> ListTokens(std::string_view, const storage::ScopeFilter&,
                                                 std::string_view, std::string_view,
                                                 std::string_view, bool, int64_t,
                                                 const storage::ListQuery&) override {
    return {};
  }

 private:
  storage::TokenRecord record_;
};

http::Reply Echo(http::Context& ctx) {
  // Whatever a decoder accepts, the server's JSON reader reads back (finding
  // http_framing-form-depth-34: a form nested past the reader's depth was accepted).
  if (ctx.has_body && fuzz::AllFinite(ctx.body) && fuzz::AllUtf8(ctx.body)) {
    std::string text = http::SerializeJson(ctx.body);
    try {
      (void)http::ParseJson(text);
    } catch (const Error& e) {
      fuzz::Die(__FILE__, __LINE__, "an accepted body does not read back",
                e.what() + ("\n" + text));
    }
  }
  json::object out;
  // F1/F2 (see fuzz_common.h) would make the echo invalid JSON: echo such bodies by kind only.
  out["body"] = fuzz::AllFinite(ctx.body) && fuzz::AllUtf8(ctx.body) ? ctx.body
                                                                      : json::value("<F1/F2>");
  json::object params;
  for (const auto& [k, v] : ctx.params) params[k] = v;
  out["params"] = std::move(params);
  out["account"] = ctx.Account();
  return http::Reply::Of(200, std::move(out));
}

struct Server {
  http::Router router;
  FakeTokens tokens;
  std::unique_ptr<http::Dispatcher> dispatcher;

  Server() {
    using http::Access;
    router.Add({"GET", "/healthz", Access::kPublic,
                [](http::Context&) { return http::Reply::Of(200, json::object{{"status", "ok"}}); }});
    router.Add({"GET", "/v1/orgs", Access::kRead, [](http::Context& ctx) {
                  http::ListParams p = http::ParseListParams(
                      ctx.request, 0,
                      {{"name", storage::SortField::kName}, {"created", storage::SortField::kCreated}},
                      storage::SortField::kName);
                  http::Reply r = http::Reply::Of(200, json::array());
                  http::AddPageHeaders(r, p, 1000);
                  (void)http::IfMatchVersion(ctx.request);
                  (void)http::QueryBool(ctx.request, "recursive");
                  return r;
                }});
    router.Add({"POST", "/v1/orgs/{org}/projects", Access::kWrite, Echo});
    router.Add({"PUT", "/v1/orgs/{org}", Access::kWrite, Echo});
    router.Add({"POST", "/ng/api/token/validate", Access::kPublic, Echo, 0, true});
    const std::string ws = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}";
    auto lock = [](http::Context& ctx) {
      // The state handlers read lock bodies as JSON whatever the Content-Type.
      if (!ctx.request.body.empty()) {
        json::value v = http::ParseJson(ctx.request.body);
        if (!v.is_object()) Fail(ErrorCode::kInvalidArgument, "lock info must be a JSON object");
      }
      return http::Reply::Of(200, json::object{{"ID", "x"}});
    };
    for (const char* m : {"LOCK", "UNLOCK"}) {
      router.Add({m, ws + "/terraform-backend/lock", Access::kWrite, lock});
      router.Add({m, ws + "/terraform-backend", Access::kWrite, lock});
    }
    http::Route upload{"POST", ws + "/terraform-backend", Access::kWrite,
                       [](http::Context&) { return http::Reply::Of(200, json::object()); }};
    upload.spool_body = true;
    upload.body_limit = 4 << 20;
    router.Add(std::move(upload));
    dispatcher = std::make_unique<http::Dispatcher>(router, tokens, http::DispatcherOptions{});
  }
};

Server& TheServer() {
  static Server* s = new Server;
  return *s;
}

// The connection's bytes, handed out in pieces.
class Connection {
 public:
  Connection(std::string_view bytes, size_t max_piece, uint32_t seed)
      : bytes_(bytes), max_piece_(max_piece), state_(seed * 2654435761u + 1) {}
  // Appends the next piece to buf; false at end of stream.
  bool Read(boost::beast::flat_buffer& buf) {
    if (next_ >= bytes_.size()) return false;
    size_t n = bytes_.size() - next_;
    if (max_piece_ > 0) {
      state_ ^= state_ << 13;
      state_ ^= state_ >> 17;
      state_ ^= state_ << 5;
      n = std::min(n, 1 + state_ % max_piece_);
    }
    auto out = buf.prepare(n);
    boost::asio::buffer_copy(out, boost::asio::buffer(bytes_.data() + next_, n));
    buf.commit(n);
    next_ += n;
    return true;
  }

 private:
  std::string_view bytes_;
  size_t max_piece_;
  uint32_t state_;
  size_t next_ = 0;
};

// Beast's read loop (read_some_op): put what is buffered, read more on need_more.
template <class Parser, class Done>
boost::beast::error_code Drive(Parser& parser, boost::beast::flat_buffer& buf, Connection& conn,
                               Done done) {
  boost::beast::error_code ec;
  bool need_more = buf.size() == 0;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    if (need_more) {
      if (!conn.Read(buf)) {
        if (!parser.got_some()) return bhttp::error::end_of_stream;
        parser.put_eof(ec);
        return ec;
      }
      need_more = false;
    }
    size_t used = parser.put(buf.data(), ec);
    buf.consume(used);
    if (ec == bhttp::error::need_more) {
      ec = {};
      need_more = true;
      continue;
    }
    if (ec) return ec;
    if (done(parser)) return ec;
    if (used == 0) need_more = true;
  }
  fuzz::Die(__FILE__, __LINE__, "parser loop does not progress", "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size < 2) return 0;
  size_t max_piece = data[0];
  uint32_t seed = data[1];
  bool spool_mode = (data[1] & 0x80) != 0;
  Server& server = TheServer();
  Connection conn(fuzz::AsText(data + 2, size - 2), max_piece, seed);
  boost::beast::flat_buffer buffer;

  for (int message = 0; message < 16; ++message) {
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    parser.eager(false);
    auto hec = Drive(parser, buffer, conn, [](auto& p) { return p.is_header_done(); });
    if (hec) break;
    FUZZ_CHECK(parser.is_header_done(), "header loop ended early");

    const auto& header = parser.get();
    http::Request req;
    req.request_id = "fuzz";
    req.method = std::string(header.method_string());
    req.target = std::string(header.target());
    for (const auto& field : header)
      req.headers.emplace_back(
          ToLower(std::string_view(field.name_string().data(), field.name_string().size())),
          std::string(field.value()));
    http::BodyPolicy policy = server.dispatcher->PolicyFor(req.method, req.target);
    auto declared = parser.content_length();
    if (declared && *declared > policy.limit) break;  // 413 before the body, then close
    bool keep_alive = header.keep_alive();

    if (!parser.is_done()) {
      boost::beast::error_code bec;
      if (policy.spool || spool_mode) {
        bhttp::request_parser<bhttp::buffer_body> body_parser{std::move(parser)};
        body_parser.body_limit(policy.limit);
        body_parser.eager(true);
        std::vector<char> chunk(4096);
        std::string body;
        while (!body_parser.is_done()) {
          body_parser.get().body().data = chunk.data();
          body_parser.get().body().size = chunk.size();
          body_parser.get().body().more = true;
          bec = Drive(body_parser, buffer, conn, [](auto& p) {
            return p.is_done() || p.get().body().size == 0;
          });
          if (bec == bhttp::error::need_buffer) bec = {};
          if (bec) break;
          size_t got = chunk.size() - body_parser.get().body().size;
          body.append(chunk.data(), got);
          FUZZ_CHECK(body.size() <= policy.limit, "spooled body above the limit");
        }
        if (!bec) req.body = std::move(body);
      } else {
        bhttp::request_parser<bhttp::string_body> body_parser{std::move(parser)};
        body_parser.body_limit(policy.limit);
        body_parser.eager(true);
        bec = Drive(body_parser, buffer, conn, [](auto& p) { return p.is_done(); });
        if (!bec) {
          req.body = std::move(body_parser.get().body());
          FUZZ_CHECK(req.body.size() <= kBodyLimit, "body above the limit");
        }
      }
      if (bec) break;  // 400/413, then close
    }

    http::Response res;
    if (!http::ParseTarget(req.target, req.path, req.query)) {
      res = server.dispatcher->ErrorFor(req, ErrorCode::kInvalidArgument, "malformed request target");
    } else {
      if (auto refusal = server.dispatcher->Preflight(req)) (void)refusal;
      res = server.dispatcher->Handle(req);
    }
    FUZZ_CHECK(res.status >= 200 && res.status <= 599, std::to_string(res.status));
    if (res.content_type == "application/json" || res.content_type == http::kGoaErrorContentType) {
      boost::system::error_code jec;
      json::parse_options lenient;
      lenient.allow_invalid_utf8 = true;  // error bodies may quote the request's bytes (F2)
      // The server's bodies are at most kMaxNestingDepth deep; Echo puts one level around them.
      lenient.max_depth = http::kMaxNestingDepth + 1;
      (void)json::parse(res.body, jec, {}, lenient);
      FUZZ_CHECK(!jec, res.body);
    }
    if (!keep_alive) break;
  }
  return 0;
}
