// Routes, the per-request context handlers see, and the dispatcher that applies the shared
// conventions (auth, account, roles, formats, errors) once for every endpoint.
#pragma once

#include <atomic>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/auth.h"
#include "common/error.h"
#include "http/codec.h"
#include "http/message.h"
#include "http/reply_cache.h"
#include "storage/store.h"

namespace statehouse::http {

// What a route requires of the caller. Roles: viewer reads, editor writes, admin manages
// keys and tokens.
enum class Access { kPublic, kAuthenticated, kRead, kWrite, kAdmin };

struct Context {
  const Request& request;
  NameValues params;  // path parameters
  auth::Principal principal;
  bool has_body = false;
  BodyFormat body_format = BodyFormat::kJson;
  boost::json::value body;

  std::string_view Param(std::string_view name) const;
  const std::string& Account() const { return principal.account; }
  // Form bodies carry only text: readers then accept numbers and booleans written as text.
  bool FormBody() const {
    return body_format == BodyFormat::kFormUrlEncoded || body_format == BodyFormat::kMultipart;
  }
  // The body as an object; kInvalidArgument when missing or not an object.
  const boost::json::object& BodyObject() const;
};

// What a handler returns; the dispatcher serializes body in the reply format.
struct Reply {
  int status = 200;
  boost::json::value body;
  NameValues headers;
  bool no_body = false;
  // Bytes sent as they are (state downloads): a file, or an in-memory body, with its type.
  std::string body_file;
  std::optional<std::string> raw_body;
  std::string content_type;
  // A body produced while it is sent (live logs), with content_type; never kept by the reply
  // cache.
  std::shared_ptr<ChunkSource> stream;
  // Members of an object body given as JSON text already made (a large document that was
  // serialized once for storage is not built and serialized again): appended to body's text
  // in JSON replies, parsed into body for YAML ones.
  std::vector<std::pair<std::string, std::string>> json_members;

  static Reply Of(int status, boost::json::value body) {
    Reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

using Handler = std::function<Reply(Context&)>;
// A handler that answers once a write it queued is durable, without holding its thread until
// then (Dispatcher::HandleLater): it calls finish once, from any thread, with a function that
// returns the reply or throws the handler's error; or it throws without calling finish.
// finish may run before the handler returns: the handler must not use ctx after handing it on.
using Finish = std::function<void(std::function<Reply()>)>;
using LaterHandler = std::function<void(Context&, Finish)>;

struct Route {
  std::string method;
  std::string pattern;  // "/v1/orgs/{org}/projects/{project}"; a last "{rest...}" takes the rest
  Access access = Access::kRead;
  Handler handler;
  // When set, HandleLater answers with it. Handle uses handler, or without one waits for
  // later's answer (a route may have only later).
  LaterHandler later = {};
  size_t body_limit = 0;      // 0: the server's default metadata limit
  bool accepts_text = false;  // text/plain bodies allowed (token validation)
  bool spool_body = false;    // body streams to a file; the handler reads Request::body_file
  // A GET whose 200 answer depends only on the caller's account, role and scope, the request
  // target, the reply format and the stored data (no clock, no other header): the dispatcher
  // may answer it from its ReplyCache.
  bool cacheable = false;
};

// Marks a route cacheable (see Route::cacheable).
inline Route Cacheable(Route route) {
  route.cacheable = true;
  return route;
}

// How the listener must read a request's body, decided from its header alone.
struct BodyPolicy {
  size_t limit = 0;
  bool spool = false;
};

// A route that changes something, which the audit trail records: any method but GET and HEAD,
// editor or admin access.
bool IsWriteRoute(const Route& route);

class Router {
 public:
  void Add(Route route);
  // Every route, in the order added.
  std::vector<const Route*> Routes() const;
  // nullptr if no route matches; path_known tells whether another method would have.
  const Route* Match(std::string_view method, std::string_view path, NameValues& params,
                     bool& path_known) const;

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;  // "{x}" marks a parameter
  };
  std::vector<Compiled> routes_;
};

// A request to a write route as the dispatcher tells the audit trail: once its answer is made,
// before it is sent; for refusals (403) and failures too, but only once the caller is
// identified (a 401, or a request no route matches, is not told).
struct AuditedRequest {
  const Request& request;
  const Route& route;
  const NameValues& params;          // path parameters
  const auth::Principal& principal;  // who called (a run token's principal for runs)
  const boost::json::value* body;    // the parsed body; nullptr when none or spooled
  int status;                        // of the answer
};

struct DispatcherOptions {
  size_t default_body_limit = 1 << 20;
  // The database's commit clock (storage::Database::CommitCounter); when set, cacheable
  // answers (and, without credentials_counter, verified token rows) are reused while it
  // stands still.
  const storage::CommitClock* commit_counter = nullptr;
  // Run tokens (the runner's): the principal of a run token, nullopt for text that is not
  // one. Such a principal may use its own workspace's terraform-backend routes only.
  std::function<std::optional<auth::Principal>(std::string_view token)> run_tokens;
  // The audit trail (see AuditedRequest). Must not block on a database: it runs on the
  // request's worker before the answer is sent.
  std::function<void(const AuditedRequest&)> audit;
  // The database's clock of token-row changes (Database::CredentialsCounter): verified token
  // rows are reused while it stands still. Null: commit_counter stands for it.
  const storage::CommitClock* credentials_counter = nullptr;
};

class Dispatcher {
 public:
  Dispatcher(const Router& router, storage::TokenStore& tokens, DispatcherOptions options);
  ~Dispatcher();

  // Body limit and spooling for a request, decided from its header (before the body is read).
  BodyPolicy PolicyFor(std::string_view method, std::string_view target) const;

  // Never throws: every failure becomes an IaCMError response.
  Response Handle(const Request& request) const;
  // Handle for callers that can take the answer on another thread: a route with a later
  // handler answers when its write is durable, and this returns as soon as the write is
  // queued; other routes answer before this returns. Never throws; done is called once, with
  // what Handle would return. request must stay alive until then.
  void HandleLater(const Request& request, std::function<void(Response)> done) const;

  // The answer to a cacheable GET from memory alone, when the caller's token row is
  // remembered and an answer was kept since the last write. Never reads the database, so
  // network threads may call it; nullopt (also for anything that would be an error) sends
  // the request on to Handle.
  std::optional<Response> FromMemory(const Request& request) const;

  // Checks credentials and role from the header alone, so large uploads are refused before
  // their body is read. nullopt: go ahead.
  std::optional<Response> Preflight(const Request& request) const;

  // Reply cache and token cache lookups answered from memory or not (metrics).
  struct CacheCounts {
    uint64_t reply_hits = 0, reply_misses = 0, token_hits = 0, token_misses = 0;
  };
  CacheCounts Caches() const;

  // Error response for failures outside a handler (framing errors, oversized bodies).
  Response ErrorFor(const Request& request, ErrorCode code, std::string_view message) const;

 private:
  // What a request to a write route leaves for the audit trail; route is set once the caller
  // is identified.
  struct AuditNote {
    const Route* route = nullptr;
    NameValues params;
    auth::Principal principal;
    boost::json::value body;
    bool has_body = false;
  };
  // A request up to its handler: the route, the caller, the parsed body.
  struct Prepared {
    const Route* route = nullptr;
    std::optional<Context> ctx;
    std::string cache_key;  // a cacheable read's
    std::optional<uint64_t> snapshot;
  };
  // The route matched, the caller authorized, the body parsed (into prepared); returns the
  // answer when it is known without the handler (a kept answer). Throws what the request
  // is refused with.
  std::optional<Response> Prepare(const Request& request, ReplyFormat& format,
                                  std::string_view& route, AuditNote& note,
                                  Prepared& prepared) const;
  // The handler's reply as a response (a cacheable one kept).
  Response ResponseOf(Reply reply, ReplyFormat format, const Prepared& prepared) const;
  Response Run(const Request& request, ReplyFormat& format, std::string_view& route,
               AuditNote& note) const;
  // make(), or the error response of what it throws (logged when it is the server's fault).
  Response Answer(const Request& request, const ReplyFormat& format,
                  const std::function<Response()>& make) const;
  // The parsed body goes to the audit note once the handler is done with it.
  static void BodyToNote(Context& ctx, AuditNote& note);
  // note (may be null): filled with the caller as soon as the token is verified, so a refusal
  // that follows can be recorded.
  auth::Principal Authorize(const Route& route, const Request& request,
                            AuditNote* note = nullptr) const;
  void Audit(const Request& request, const AuditNote& note, int status) const;
  // Throws unless the principal may use the route as the request names it (account, role).
  static void CheckAccess(const Route& route, const Request& request,
                          const auth::Principal& principal);
  // Throws kPermissionDenied unless route is the terraform-backend of the run token's own
  // workspace.
  void CheckRunTokenRoute(const Route& route, const Request& request,
                          const auth::Principal& principal) const;
  static std::string CacheKey(const Request& request, const auth::Principal& principal,
                              ReplyFormat format);
  const Router& router_;
  DispatcherOptions options_;
  // Shared by the worker threads; both lock inside.
  std::unique_ptr<auth::TokenVerifier> tokens_;
  std::unique_ptr<ReplyCache> replies_;
};

}  // namespace statehouse::http
