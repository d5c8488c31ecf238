#include "http/router.h"

#include <openssl/evp.h>

#include <atomic>
#include <boost/json.hpp>
#include <future>
#include <memory>

#include "common/json_text.h"
#include "common/log.h"
#include "common/util.h"
#include "http/error_map.h"

namespace statehouse::http {

const boost::json::object& Context::BodyObject() const {
  if (!has_body) Fail(ErrorCode::kInvalidArgument, "a request body is required");
  if (!body.is_object()) Fail(ErrorCode::kInvalidArgument, "the request body must be an object");
  return body.get_object();
}

std::string_view Context::Param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

namespace {
std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsParam(const std::string& seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

// "{name...}" as a pattern's last segment matches one or more segments.
bool IsRest(const std::string& seg) { return IsParam(seg) && seg.ends_with("...}"); }

// The token from x-api-key, or from Authorization (Basic with the token as password, as the
// Terraform http backend sends it; or Bearer).
std::optional<std::string> PresentedToken(const Request& r) {
  if (auto key = r.Header("x-api-key")) return std::string(Trim(*key));
  auto authz = r.Header("authorization");
  if (!authz) return std::nullopt;
  std::string_view v = Trim(*authz);
  if (v.size() > 6 && IEquals(v.substr(0, 6), "basic ")) {
    auto decoded = Base64Decode(Trim(v.substr(6)));
    if (!decoded) return std::string();
    size_t colon = decoded->find(':');
    return colon == std::string::npos ? *decoded : decoded->substr(colon + 1);
  }
  if (v.size() > 7 && IEquals(v.substr(0, 7), "bearer ")) return std::string(Trim(v.substr(7)));
  return std::string();
}

auth::Role RoleFor(Access a) {
  switch (a) {
    case Access::kWrite:
      return auth::Role::kEditor;
    case Access::kAdmin:
      return auth::Role::kAdmin;
    default:
      return auth::Role::kViewer;
  }
}
}  // namespace

bool IsWriteRoute(const Route& route) {
  return route.method != "GET" && route.method != "HEAD" &&
         (route.access == Access::kWrite || route.access == Access::kAdmin);
}

std::vector<const Route*> Router::Routes() const {
  std::vector<const Route*> out;
  out.reserve(routes_.size());
  for (const Compiled& c : routes_) out.push_back(&c.route);
  return out;
}

void Router::Add(Route route) {
  Compiled c;
  c.segments = SplitPath(route.pattern);
  c.route = std::move(route);
  routes_.push_back(std::move(c));
}

const Route* Router::Match(std::string_view method, std::string_view path, NameValues& params,
                           bool& path_known) const {
  path_known = false;
  std::vector<std::string> segs = SplitPath(path);
  for (const Compiled& c : routes_) {
    bool rest = !c.segments.empty() && IsRest(c.segments.back());
    if (rest ? segs.size() < c.segments.size() : c.segments.size() != segs.size()) continue;
    NameValues found;
    bool ok = true;
    for (size_t i = 0; i < c.segments.size() && ok; ++i) {
      if (rest && i + 1 == c.segments.size()) {
        std::string joined = segs[i];
        for (size_t j = i + 1; j < segs.size(); ++j) joined += "/" + segs[j];
        found.emplace_back(c.segments[i].substr(1, c.segments[i].size() - 5), std::move(joined));
      } else if (IsParam(c.segments[i])) {
        if (segs[i].empty())
          ok = false;
        else
          found.emplace_back(c.segments[i].substr(1, c.segments[i].size() - 2), segs[i]);
      } else if (c.segments[i] != segs[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    path_known = true;
    if (c.route.method != method) continue;
    params = std::move(found);
    return &c.route;
  }
  return nullptr;
}

Dispatcher::Dispatcher(const Router& router, storage::TokenStore& tokens, DispatcherOptions options)
    : router_(router),
      options_(options),
      tokens_(std::make_unique<auth::TokenVerifier>(tokens, options.credentials_counter
                                                                ? options.credentials_counter
                                                                : options.commit_counter)),
      replies_(std::make_unique<ReplyCache>(options.commit_counter)) {}

Dispatcher::~Dispatcher() = default;

BodyPolicy Dispatcher::PolicyFor(std::string_view method, std::string_view target) const {
  BodyPolicy policy{options_.default_body_limit, false};
  std::string path;
  NameValues query, params;
  if (!ParseTarget(target, path, query)) return policy;
  bool known = false;
  const Route* route = router_.Match(method, path, params, known);
  if (!route) return policy;
  if (route->body_limit) policy.limit = route->body_limit;
  policy.spool = route->spool_body;
  return policy;
}

static Response Serialize(int status, const boost::json::value& body, ReplyFormat format) {
  Response res;
  res.status = status;
  res.content_type = ContentTypeOf(format);
  res.body = format == ReplyFormat::kYaml ? SerializeYaml(body) : SerializeJson(body);
  return res;
}

// A reply whose object body has members given as JSON text (Reply::json_members).
static Response SerializeWithMembers(Reply& reply, ReplyFormat format) {
  if (!reply.body.is_object()) reply.body = boost::json::object();
  if (format != ReplyFormat::kJson) {
    for (auto& [name, text] : reply.json_members)
      reply.body.get_object()[name] = ParseServerJson(text);
    return Serialize(reply.status, reply.body, format);
  }
  Response res = Serialize(reply.status, reply.body, format);
  res.body.pop_back();  // the object's '}'
  bool first = reply.body.get_object().empty();
  for (const auto& [name, text] : reply.json_members) {
    if (!first) res.body += ',';
    first = false;
    res.body += boost::json::serialize(boost::json::string_view(name));
    res.body += ':';
    res.body += text;
  }
  res.body += '}';
  return res;
}

// Every error reply is made here: the spec's IaCMError body in the reply format, or, when the
// client's Accept asks for it, as the specs' error media type (application/vnd.goa.error, the
// same JSON).
static Response SerializeError(const Request& request, ReplyFormat format, ErrorCode code,
                               std::string_view message, std::string_view details_json = {}) {
  boost::json::value body = ErrorBody(code, message, request.request_id, details_json);
  if (AcceptsGoaError(request.Header("accept").value_or(""))) {
    Response res = Serialize(StatusOf(code), body, ReplyFormat::kJson);
    res.content_type = kGoaErrorContentType;
    return res;
  }
  return Serialize(StatusOf(code), body, format);
}

Response Dispatcher::ErrorFor(const Request& request, ErrorCode code,
                              std::string_view message) const {
  bool has_body = request.HasBody();
  BodyFormat bf = BodyFormat::kJson;
  if (auto ct = request.Header("content-type")) {
    try {
      bf = FormatOfContentType(*ct, true);
    } catch (const Error&) {
    }
  }
  ReplyFormat format = ChooseReplyFormat(has_body || request.Header("content-type").has_value(), bf,
                                         request.Header("accept").value_or(""));
  return SerializeError(request, format, code, message);
}

Response Dispatcher::Handle(const Request& request) const {
  ReplyFormat format = ReplyFormat::kJson;
  std::string_view route;
  AuditNote note;
  Response res = Answer(request, format, [&] { return Run(request, format, route, note); });
  res.route = route;
  if (note.route) Audit(request, note, res.status);
  return res;
}

Response Dispatcher::Answer(const Request& request, const ReplyFormat& format,
                            const std::function<Response()>& make) const {
  try {
    return make();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kUnavailable) {
      log::Error("request failed", {{"request_id", request.request_id},
                                    {"status", StatusOf(e.code())},
                                    {"detail", e.what()}});
    }
    return SerializeError(request, format, e.code(), e.what(), e.details_json());
  } catch (const std::exception& e) {
    log::Error("unhandled exception", {{"request_id", request.request_id}, {"detail", e.what()}});
  } catch (...) {
    log::Error("unhandled exception", {{"request_id", request.request_id}});
  }
  return SerializeError(request, format, ErrorCode::kInternal, "");
}

void Dispatcher::HandleLater(const Request& request, std::function<void(Response)> done) const {
  // What the answer needs, shared by the handler's thread and the one that finishes it.
  struct Pending {
    ReplyFormat format = ReplyFormat::kJson;
    std::string_view route;
    AuditNote note;
    Prepared prepared;
    std::function<void(Response)> done;
    std::atomic<bool> answered{false};
  };
  auto p = std::make_shared<Pending>();
  p->done = std::move(done);
  auto answer = [this, &request](Pending& pending, const std::function<Response()>& make) {
    if (pending.answered.exchange(true)) return;  // once (a handler that threw after finish)
    Response res = Answer(request, pending.format, make);
    res.route = pending.route;
    if (pending.note.route) Audit(request, pending.note, res.status);
    pending.done(std::move(res));
  };
  try {
    if (auto kept = Prepare(request, p->format, p->route, p->note, p->prepared))
      return answer(*p, [&] { return std::move(*kept); });
    // The reply made, as a response; the parsed body goes to the audit note however it ends.
    auto respond = [this, p, answer](const std::function<Reply()>& make) {
      answer(*p, [&] {
        std::optional<Reply> made;
        try {
          made.emplace(make());
        } catch (...) {
          BodyToNote(*p->prepared.ctx, p->note);
          throw;
        }
        BodyToNote(*p->prepared.ctx, p->note);
        return ResponseOf(std::move(*made), p->format, p->prepared);
      });
    };
    Prepared& prepared = p->prepared;
    if (!prepared.route->later)
      return respond([&] { return prepared.route->handler(*prepared.ctx); });
    prepared.route->later(*prepared.ctx, respond);
  } catch (...) {
    // A handler throws without calling finish; one that broke that rule was answered already.
    if (p->answered.load()) return;
    std::exception_ptr error = std::current_exception();
    if (p->prepared.ctx) BodyToNote(*p->prepared.ctx, p->note);
    answer(*p, [&]() -> Response { std::rethrow_exception(error); });
  }
}

void Dispatcher::BodyToNote(Context& ctx, AuditNote& note) {
  if (!note.route || ctx.body.is_null()) return;
  note.body = std::move(ctx.body);
  note.has_body = true;
}

void Dispatcher::Audit(const Request& request, const AuditNote& note, int status) const {
  try {
    options_.audit(AuditedRequest{request, *note.route, note.params, note.principal,
                                  note.has_body ? &note.body : nullptr, status});
  } catch (const std::exception& e) {
    log::Error("audit record failed", {{"request_id", request.request_id}, {"detail", e.what()}});
  }
}

auth::Principal Dispatcher::Authorize(const Route& route, const Request& request,
                                      AuditNote* note) const {
  auto token = PresentedToken(request);
  if (!token || token->empty())
    Fail(ErrorCode::kUnauthenticated,
         "missing API token: send it in the x-api-key header (or as the basic-auth password)");
  std::optional<auth::Principal> run;
  if (options_.run_tokens) run = options_.run_tokens(*token);
  auth::Principal principal = run ? *run : tokens_->Authenticate(*token, NowMillis());
  if (note) {
    note->principal = principal;
    note->route = &route;
  }
  if (!principal.workspace.empty()) CheckRunTokenRoute(route, request, principal);
  CheckAccess(route, request, principal);
  return principal;
}

void Dispatcher::CheckRunTokenRoute(const Route& route, const Request& request,
                                    const auth::Principal& principal) const {
  NameValues params;
  bool known = false;
  router_.Match(request.method, request.path, params, known);
  auto param = [&](std::string_view name) -> std::string_view {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return {};
  };
  bool backend = route.pattern.find("/terraform-backend") != std::string::npos;
  if (!backend || param("org") != principal.org || param("project") != principal.project ||
      param("workspace") != principal.workspace)
    Fail(ErrorCode::kPermissionDenied,
         "a run token works only on its own workspace's terraform-backend");
}

void Dispatcher::CheckAccess(const Route& route, const Request& request,
                             const auth::Principal& principal) {
  // Either spelling may name the account; each one given must be the token's.
  for (auto named : {request.Header("harness-account"), request.Query("accountIdentifier")}) {
    if (named && *named != principal.account)
      Fail(ErrorCode::kPermissionDenied, "the token does not belong to the requested account");
  }
  if (!principal.HasRole(RoleFor(route.access)))
    Fail(ErrorCode::kPermissionDenied,
         std::string("this operation needs the ") + auth::RoleName(RoleFor(route.access)) +
             " role; the token has " + auth::RoleName(principal.role));
}

std::string Dispatcher::CacheKey(const Request& request, const auth::Principal& p,
                                 ReplyFormat format) {
  std::string key;
  key.reserve(request.target.size() + p.account.size() + p.org.size() + p.project.size() + 8);
  key.append(request.target).append("\n").append(p.account).append("\n");
  key.append(p.org).append("\n").append(p.project).append("\n");
  key.push_back(static_cast<char>('0' + static_cast<int>(p.role)));
  key.push_back(static_cast<char>('0' + static_cast<int>(format)));
  return key;
}

std::optional<Response> Dispatcher::FromMemory(const Request& request) const {
  if (!replies_->Enabled() || request.method != "GET" || request.HasBody()) return std::nullopt;
  try {
    NameValues params;
    bool known = false;
    const Route* route = router_.Match(request.method, request.path, params, known);
    if (!route || !route->cacheable || route->access == Access::kPublic) return std::nullopt;
    auto token = PresentedToken(request);
    if (!token || token->empty()) return std::nullopt;
    auto principal = tokens_->Remembered(*token, NowMillis());
    if (!principal) return std::nullopt;
    CheckAccess(*route, request, *principal);
    ReplyFormat format =
        ChooseReplyFormat(false, BodyFormat::kJson, request.Header("accept").value_or(""));
    std::optional<Response> kept = replies_->Find(CacheKey(request, *principal, format));
    if (kept) kept->route = route->pattern;
    return kept;
  } catch (const std::exception&) {
    return std::nullopt;  // Handle gives the error its proper answer
  }
}

Dispatcher::CacheCounts Dispatcher::Caches() const {
  return {replies_->Hits(), replies_->Misses(), tokens_->Hits(), tokens_->Misses()};
}

std::optional<Response> Dispatcher::Preflight(const Request& request) const {
  NameValues params;
  bool known = false;
  const Route* route = router_.Match(request.method, request.path, params, known);
  if (!route || route->access == Access::kPublic) return std::nullopt;
  // A refusal here is the request's answer: the audit trail records it (Handle never runs).
  AuditNote note;
  bool audited = options_.audit && IsWriteRoute(*route);
  if (audited) note.params = params;
  try {
    Authorize(*route, request, audited ? &note : nullptr);
    return std::nullopt;
  } catch (const Error& e) {
    if (note.route) Audit(request, note, StatusOf(e.code()));
    // Answer from the error itself: running the handler without the body could turn an
    // outage into a misleading 4xx.
    if (e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kUnavailable)
      log::Error("request failed", {{"request_id", request.request_id},
                                    {"status", StatusOf(e.code())},
                                    {"detail", e.what()}});
    return ErrorFor(request, e.code(), e.what());
  }
}

Response Dispatcher::Run(const Request& request, ReplyFormat& format,
                         std::string_view& route_pattern, AuditNote& note) const {
  Prepared prepared;
  if (auto kept = Prepare(request, format, route_pattern, note, prepared)) return std::move(*kept);
  // 4. The handler. Its parsed body goes to the audit note afterwards, however it ends.
  struct BodyToNoteAtEnd {
    Context& ctx;
    AuditNote& note;
    ~BodyToNoteAtEnd() { BodyToNote(ctx, note); }
  } body_to_note{*prepared.ctx, note};
  if (prepared.route->handler)
    return ResponseOf(prepared.route->handler(*prepared.ctx), format, prepared);
  // Only a later handler: this thread waits for its answer (it may come from this thread,
  // before later returns). Shared, since finish may outlive a handler that broke its rules.
  auto answered = std::make_shared<std::promise<Reply>>();
  auto once = std::make_shared<std::atomic<bool>>(false);
  std::future<Reply> reply = answered->get_future();
  try {
    prepared.route->later(*prepared.ctx, [answered, once](std::function<Reply()> make) {
      if (once->exchange(true)) return;
      try {
        answered->set_value(make());
      } catch (...) {
        answered->set_exception(std::current_exception());
      }
    });
  } catch (...) {
    if (!once->load()) throw;  // a handler that threw after finishing keeps its answer
  }
  return ResponseOf(reply.get(), format, prepared);
}

std::optional<Response> Dispatcher::Prepare(const Request& request, ReplyFormat& format,
                                            std::string_view& route_pattern, AuditNote& note,
                                            Prepared& prepared) const {
  // 1. Format first, so even early errors answer in the caller's format.
  std::optional<std::string_view> content_type = request.Header("content-type");
  bool has_body = request.HasBody();
  BodyFormat body_format = BodyFormat::kJson;
  NameValues params;
  bool path_known = false;
  const Route* route = router_.Match(request.method, request.path, params, path_known);
  if (route) route_pattern = route->pattern;
  if (content_type && has_body) {
    BodyFormat guess = BodyFormat::kJson;
    try {
      guess = FormatOfContentType(*content_type, true);
    } catch (const Error&) {
    }
    format = ChooseReplyFormat(true, guess, "");
  } else {
    format = ChooseReplyFormat(false, BodyFormat::kJson, request.Header("accept").value_or(""));
  }

  if (!route) {
    if (path_known)
      Fail(ErrorCode::kNotFound,
           "method " + request.method + " is not supported on " + request.path);
    Fail(ErrorCode::kNotFound, "no such endpoint: " + request.path);
  }

  // 2. Authentication and account.
  bool audited = options_.audit && IsWriteRoute(*route);
  if (audited) note.params = params;
  prepared.route = route;
  Context& ctx = prepared.ctx.emplace(
      Context{request, std::move(params), {}, false, BodyFormat::kJson, nullptr});
  if (route->access != Access::kPublic)
    ctx.principal = Authorize(*route, request, audited ? &note : nullptr);

  // A cacheable read answered since the last write is answered again.
  if (route->cacheable && !has_body && replies_->Enabled()) {
    prepared.cache_key = CacheKey(request, ctx.principal, format);
    if (auto hit = replies_->Find(prepared.cache_key)) return std::move(*hit);
    prepared.snapshot = replies_->Snapshot();
  }

  // 3. Body (spooled bodies are the handler's to read).
  if (has_body && route->spool_body) {
    ctx.has_body = true;
  } else if (has_body) {
    body_format = FormatOfContentType(content_type.value_or(""), route->accepts_text);
    ctx.has_body = true;
    ctx.body_format = body_format;
    ctx.body = ParseBody(body_format, request.body, content_type.value_or(""));
  }

  return std::nullopt;
}

Response Dispatcher::ResponseOf(Reply reply, ReplyFormat format, const Prepared& prepared) const {
  Response res;
  if (reply.no_body) {
    res.status = reply.status;
  } else if (reply.stream) {
    res.status = reply.status;
    res.stream = std::move(reply.stream);
    res.content_type = std::move(reply.content_type);
  } else if (!reply.body_file.empty()) {
    res.status = reply.status;
    res.body_file = std::move(reply.body_file);
    res.content_type = std::move(reply.content_type);
  } else if (reply.raw_body) {
    res.status = reply.status;
    res.body = std::move(*reply.raw_body);
    res.content_type = std::move(reply.content_type);
  } else if (!reply.json_members.empty()) {
    res = SerializeWithMembers(reply, format);
  } else {
    res = Serialize(reply.status, reply.body, format);
  }
  for (auto& [k, v] : reply.headers) res.headers.emplace_back(std::move(k), std::move(v));
  // A streamed body is produced once, while it is sent: never kept.
  if (!prepared.cache_key.empty() && res.status == 200 && !res.stream)
    replies_->Store(prepared.cache_key, res, prepared.snapshot);
  return res;
}

}  // namespace statehouse::http
