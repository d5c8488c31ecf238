// The audit trail: the action table, the dispatcher hook and GET /v1/audit.
#include <boost/json.hpp>
#include <unordered_map>

#include "api/audit.h"
#include "api/routes.h"
#include "common/util.h"
#include "http/conventions.h"

namespace statehouse::api {

namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {

constexpr const char* kProject = "/iacm/api/orgs/{org}/projects/{project}";
constexpr const char* kWs = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}";
constexpr const char* kWsTarget = "{org}/{project}/{workspace}";
constexpr const char* kPm = "/pm/api/v1";
constexpr const char* kPolicyLevel = "{?orgIdentifier}/{?projectIdentifier}";

// Longest piece of a target taken from the request (path, query or body): a target names a
// resource, it does not carry whatever a client sent.
constexpr size_t kMaxPiece = 128;
constexpr size_t kMaxTarget = 512;

std::vector<AuditAction> BuildTable() {
  const std::string p = kProject, ws = kWs, t = kWsTarget, pm = kPm, level = kPolicyLevel;
  std::vector<AuditAction> a = {
      // Organizations and projects (/v1).
      {"POST", "/v1/orgs", "org.create", "{body:org.identifier}"},
      {"PUT", "/v1/orgs/{org}", "org.update", "{org}"},
      {"DELETE", "/v1/orgs/{org}", "org.delete", "{org}"},
      {"POST", "/v1/orgs/{org}/projects", "project.create", "{org}/{body:project.identifier}"},
      {"PUT", "/v1/orgs/{org}/projects/{project}", "project.update", "{org}/{project}"},
      {"DELETE", "/v1/orgs/{org}/projects/{project}", "project.delete", "{org}/{project}"},
      // API keys and tokens (/ng/api).
      {"POST", "/ng/api/apikey", "apikey.create", "apikeys/{body:identifier}"},
      {"PUT", "/ng/api/apikey/{identifier}", "apikey.update", "apikeys/{identifier}"},
      {"DELETE", "/ng/api/apikey/{identifier}", "apikey.delete", "apikeys/{identifier}"},
      {"POST", "/ng/api/token", "token.create", "tokens/{body:identifier}"},
      {"PUT", "/ng/api/token/{identifier}", "token.update", "tokens/{identifier}"},
      {"DELETE", "/ng/api/token/{identifier}", "token.delete", "tokens/{identifier}"},
      {"POST", "/ng/api/token/rotate/{identifier}", "token.rotate", "tokens/{identifier}"},
      // Workspaces and their settings.
      {"POST", p + "/workspaces", "workspace.create", "{org}/{project}/{body:identifier}"},
      {"PUT", p + "/workspaces/{identifier}", "workspace.update", "{org}/{project}/{identifier}"},
      {"DELETE", p + "/workspaces/{identifier}", "workspace.delete",
       "{org}/{project}/{identifier}"},
      {"POST", ws + "/clone", "workspace.clone", "{org}/{project}/{body:identifier}"},
      {"PUT", ws + "/drift-config", "drift_config.update", t + "/drift-config"},
      {"DELETE", ws + "/drift-config", "drift_config.delete", t + "/drift-config"},
      {"PUT", ws + "/ephemeral-config", "ephemeral_config.update", t + "/ephemeral-config"},
      {"DELETE", ws + "/ephemeral-config", "ephemeral_config.delete", t + "/ephemeral-config"},
      // State: the Terraform backend (the CLI's LOCK/UNLOCK and the spec's POST/DELETE), the
      // workspace actions, versions and rollback. An unlock without lock info is a
      // force-unlock: AuditRecordOf renames it.
      {"POST", ws + "/terraform-backend", "state.write", t},
      {"LOCK", ws + "/terraform-backend", "state.lock", t},
      {"LOCK", ws + "/terraform-backend/lock", "state.lock", t},
      {"POST", ws + "/terraform-backend/lock", "state.lock", t},
      {"UNLOCK", ws + "/terraform-backend", "state.unlock", t},
      {"UNLOCK", ws + "/terraform-backend/lock", "state.unlock", t},
      {"DELETE", ws + "/terraform-backend/lock", "state.unlock", t},
      {"POST", ws + "/actions/lock", "state.lock", t},
      {"POST", ws + "/actions/force-unlock", "state.force_unlock", t},
      {"POST", ws + "/state-versions/{data_id}/rollback", "state.rollback",
       t + "/state-versions/{data_id}"},
      // Workspace data uploads and resources.
      {"POST", ws + "/data", "data.upload", t + "/data/{?data_type}"},
      {"POST", ws + "/dependency-graph", "data.upload", t + "/data/dependency_graph"},
      {"POST", ws + "/risk-assessment", "data.upload", t + "/data/risk_assessment"},
      {"PATCH", ws + "/resources", "resources.update", t + "/resources"},
      {"DELETE", ws + "/resources", "resources.delete", t + "/resources"},
      {"DELETE", ws + "/resources/stale", "resources.delete_stale", t + "/resources"},
      // Runs, their source uploads and workspace events.
      {"POST", ws + "/remote-executions", "remote_execution.create", t + "/remote-executions"},
      {"POST", ws + "/remote-executions/{id}/upload", "remote_execution.upload",
       t + "/remote-executions/{id}"},
      {"POST", ws + "/remote-executions/{id}/execute", "remote_execution.execute",
       t + "/remote-executions/{id}"},
      {"POST", ws + "/runs", "run.create", t + "/runs"},
      {"POST", ws + "/runs/{id}/approve", "run.approve", t + "/runs/{id}"},
      {"POST", ws + "/runs/{id}/discard", "run.discard", t + "/runs/{id}"},
      {"POST", ws + "/runs/{id}/cancel", "run.cancel", t + "/runs/{id}"},
      {"POST", ws + "/events", "event.create", t + "/events"},
      // Policies, policy sets and recorded evaluations, at the level the query names.
      {"POST", pm + "/policies", "policy.create", level + "/policies/{body:identifier}"},
      {"PATCH", pm + "/policies/{identifier}", "policy.update", level + "/policies/{identifier}"},
      {"DELETE", pm + "/policies/{identifier}", "policy.delete", level + "/policies/{identifier}"},
      {"POST", pm + "/policies/move-policy/{identifier}", "policy.move",
       level + "/policies/{identifier}"},
      {"POST", pm + "/policysets", "policy_set.create", level + "/policy-sets/{body:identifier}"},
      {"PATCH", pm + "/policysets/{identifier}", "policy_set.update",
       level + "/policy-sets/{identifier}"},
      {"DELETE", pm + "/policysets/{identifier}", "policy_set.delete",
       level + "/policy-sets/{identifier}"},
      {"POST", pm + "/evaluate-by-type", "policy.evaluate", level + "/evaluations"},
  };
  // Variable sets at account, org and project level.
  const std::pair<std::string, std::string> levels[] = {
      {"/iacm/api", ""}, {"/iacm/api/orgs/{org}", "{org}/"}, {p, "{org}/{project}/"}};
  for (const auto& [prefix, target] : levels) {
    const std::string one = prefix + "/variable-set";
    const std::string sets = target + "variable-sets/";
    a.push_back({"POST", one, "variable_set.create", sets + "{body:identifier}"});
    a.push_back({"DELETE", one, "variable_set.delete", sets + "{?identifier}"});
    a.push_back({"PUT", one + "/{identifier}", "variable_set.update", sets + "{identifier}"});
    a.push_back({"DELETE", one + "/{identifier}", "variable_set.delete", sets + "{identifier}"});
  }
  return a;
}

std::string KeyOf(std::string_view method, std::string_view pattern) {
  std::string key(method);
  key.push_back(' ');
  key.append(pattern);
  return key;
}

const std::unordered_map<std::string, const AuditAction*>& Index() {
  static const std::unordered_map<std::string, const AuditAction*> index = [] {
    std::unordered_map<std::string, const AuditAction*> m;
    for (const AuditAction& a : AuditActions()) m.emplace(KeyOf(a.method, a.pattern), &a);
    return m;
  }();
  return index;
}

std::string_view ParamOf(const http::NameValues& params, std::string_view name) {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

// "a.b" of the body, when it is a string.
std::string_view BodyField(const json::value* body, std::string_view path) {
  const json::value* v = body;
  while (v && !path.empty()) {
    size_t dot = path.find('.');
    std::string_view key = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    const json::object* o = v->if_object();
    v = o ? o->if_contains(key) : nullptr;
  }
  if (!v || !v->is_string()) return {};
  return v->get_string();
}

std::string Expand(const AuditAction& entry, const http::AuditedRequest& r) {
  std::string out;
  std::string_view rest = entry.target;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view piece = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    std::string_view value = piece;
    if (piece.size() > 2 && piece.front() == '{' && piece.back() == '}') {
      std::string_view name = piece.substr(1, piece.size() - 2);
      if (name.front() == '?')
        value = r.request.Query(name.substr(1)).value_or("");
      else if (name.rfind("body:", 0) == 0)
        value = BodyField(r.body, name.substr(5));
      else
        value = ParamOf(r.params, name);
      if (value.size() > kMaxPiece) value = value.substr(0, kMaxPiece);
    }
    if (value.empty()) continue;
    if (!out.empty()) out.push_back('/');
    out.append(value);
  }
  if (out.size() > kMaxTarget) out.resize(kMaxTarget);
  return out;
}

// design.md: an UNLOCK with an empty body or with only an ID is a force-unlock.
bool IsForceUnlock(const http::AuditedRequest& r) {
  if (!r.request.HasBody()) return true;
  const json::object* info = r.body ? r.body->if_object() : nullptr;
  return info && (info->empty() || (info->size() == 1 && info->contains("ID")));
}

const char* OutcomeOf(int status) {
  if (status < 400) return "success";
  if (status == 401 || status == 403) return "denied";
  return "failed";
}

json::object AuditJson(const storage::AuditRecord& r) {
  json::object o;
  o["id"] = r.id;
  o["time"] = r.time;
  o["account"] = r.account;
  o["principal"] = r.principal;
  o["principal_name"] = r.principal_name;
  o["api_key"] = r.api_key;
  o["action"] = r.action;
  o["target"] = r.target;
  o["request_id"] = r.request_id;
  o["outcome"] = r.outcome;
  o["status"] = r.status;
  o["remote_address"] = r.remote_address;
  return o;
}

std::optional<int64_t> QueryMillis(const Context& ctx, const char* name) {
  auto v = ctx.request.Query(name);
  if (!v || v->empty()) return std::nullopt;
  int64_t out = 0;
  if (!ParseInt64(*v, out) || out < 0)
    Fail(ErrorCode::kInvalidArgument,
         std::string("query parameter '") + name + "' must be a time in unix milliseconds");
  return out;
}

}  // namespace

const std::vector<AuditAction>& AuditActions() {
  static const std::vector<AuditAction> table = BuildTable();
  return table;
}

const AuditAction* FindAuditAction(std::string_view method, std::string_view pattern) {
  const auto& index = Index();
  auto it = index.find(KeyOf(method, pattern));
  return it == index.end() ? nullptr : it->second;
}

storage::AuditRecord AuditRecordOf(const http::AuditedRequest& r, int64_t now) {
  storage::AuditRecord rec;
  rec.time = now;
  rec.account = r.principal.account;
  rec.principal = r.principal.token_id;
  rec.principal_name = r.principal.name;
  rec.api_key = r.principal.api_key;
  if (const AuditAction* entry = FindAuditAction(r.route.method, r.route.pattern)) {
    rec.action = entry->action;
    if (rec.action == "state.unlock" && IsForceUnlock(r)) rec.action = "state.force_unlock";
    rec.target = Expand(*entry, r);
  } else {
    rec.action = ToLower(r.route.method) + " " + r.route.pattern;
  }
  rec.request_id = r.request.request_id;
  rec.status = r.status;
  rec.outcome = OutcomeOf(r.status);
  rec.remote_address = r.request.remote_address;
  return rec;
}

std::function<void(const http::AuditedRequest&)> AuditHook(domain::AuditTrail& trail) {
  return [&trail](const http::AuditedRequest& r) { trail.Record(AuditRecordOf(r, NowMillis())); };
}

void RegisterAuditRoutes(http::Router& router, Services& s) {
  router.Add({"GET", "/v1/audit", Access::kAdmin, [&s](Context& ctx) {
                static const std::vector<http::SortOption> kSorts = {
                    {"time", storage::SortField::kCreated}};
                auto p =
                    http::ParseListParams(ctx.request, 0, kSorts, storage::SortField::kCreated);
                storage::AuditListQuery q;
                q.offset = p.query.offset;
                q.limit = p.query.limit;
                q.target_prefix = std::string(ctx.request.Query("target").value_or(""));
                q.principal = std::string(ctx.request.Query("principal").value_or(""));
                q.actions = http::QueryList(ctx.request, "action");
                q.outcome = std::string(ctx.request.Query("outcome").value_or(""));
                if (!q.outcome.empty() && q.outcome != "success" && q.outcome != "denied" &&
                    q.outcome != "failed")
                  Fail(ErrorCode::kInvalidArgument,
                       "query parameter 'outcome' must be success, denied or failed");
                q.from = QueryMillis(ctx, "from");
                q.to = QueryMillis(ctx, "to");
                // Newest first unless the caller asks for ASC (sort=time,ASC or order=ASC).
                std::string_view sort = ctx.request.Query("sort").value_or("");
                std::string_view order = ctx.request.Query("order").value_or("");
                q.oldest_first = IEquals(Trim(order), "ASC") ||
                                 (order.empty() && sort.find(',') != std::string_view::npos &&
                                  IEquals(Trim(sort.substr(sort.find(',') + 1)), "ASC"));
                auto page = s.audit.List(ctx.principal, q);
                json::array items;
                for (const auto& r : page.items) items.push_back(AuditJson(r));
                Reply reply = Reply::Of(200, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
}

}  // namespace statehouse::api
