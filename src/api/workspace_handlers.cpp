// /iacm/api/orgs/{org}/projects/{project}/workspaces... (harness-workspaces-api-openapi.yml).
// IaCM lists count pages from 1.
#include <boost/json.hpp>

#include "api/routes.h"
#include "api/views.h"
#include "api/workspace_views.h"
#include "common/error.h"
#include "common/util.h"
#include "http/conventions.h"

namespace statehouse::api {
namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {
constexpr const char* kBase = "/iacm/api/orgs/{org}/projects/{project}";

const std::vector<http::SortOption> kSorts = {{"name", storage::SortField::kName},
                                              {"updated", storage::SortField::kUpdated}};

// backend_locked, and the holder as `lock` when the state is locked.
void AddLock(const storage::WorkspaceRecord& w, const std::optional<storage::LockRecord>& lock,
             json::object& body) {
  if (lock) {
    body["backend_locked"] = true;
    json::object l = domain::StateService::LockSummary(*lock);
    l["info"] =
        domain::StateService::SpecLockView(*lock, {w.account, w.org, w.project, w.identifier});
    body["lock"] = std::move(l);
  } else {
    body["backend_locked"] = false;
  }
}

// The workspace document with its lock and what the state policies said of its newest state.
Reply ShowView(Services& s, const storage::WorkspaceView& view, int status, bool effective,
               domain::PolicyDecision* decision = nullptr) {
  const storage::WorkspaceRecord& w = view.workspace;
  json::object body = WorkspaceJson(w);
  AddLock(w, view.lock, body);
  if (effective) body["effective_variables"] = s.workspaces.EffectiveVariables(w);
  // What the state policies said of the newest state (an extension field).
  if (const auto& newest = view.newest_state; newest && newest->policy_evaluation_id) {
    json::object e;
    e["id"] = newest->policy_evaluation_id;
    e["data_id"] = newest->id;
    e["status"] = newest->policy_status;
    e["message"] = newest->policy_message;
    body["state_policy_evaluation"] = std::move(e);
  }
  Reply reply = Reply::Of(status, std::move(body));
  // The on-save evaluation (warnings included) of a create, update or clone, as stored.
  if (decision && decision->evaluated)
    reply.json_members.emplace_back("policy_evaluation", std::move(decision->evaluation_json));
  reply.headers.emplace_back("ETag", http::ETagOf(w.version));
  return reply;
}

Reply ShowReply(Services& s, const storage::WorkspaceRecord& w, int status, bool effective,
                domain::PolicyDecision* decision = nullptr) {
  return ShowView(s, {w, s.states.CurrentLock(w), s.states.Newest(w)}, status, effective, decision);
}

json::object SettingView(const std::string& name, const std::optional<json::object>& stored) {
  json::object out;
  out["enabled"] = stored.has_value();
  if (name == "ephemeral-config") out["source"] = stored ? "workspace" : "disabled";
  if (stored)
    for (const auto& kv : *stored)
      if (kv.key() != "updated") out[kv.key()] = kv.value();
  return out;
}

void AddSettingRoutes(http::Router& router, Services& s, const std::string& name) {
  std::string path = std::string(kBase) + "/workspaces/{workspace}/" + name;
  router.Add({"GET", path, Access::kRead, [&s, name](Context& ctx) {
                auto stored = s.workspaces.GetSetting(ctx.principal, ScopeOf(ctx),
                                                      std::string(ctx.Param("workspace")), name);
                return Reply::Of(200, SettingView(name, stored));
              }});
  router.Add({"PUT", path, Access::kWrite, [&s, name](Context& ctx) {
                json::object doc = s.workspaces.PutSetting(ctx.principal, ScopeOf(ctx),
                                                           std::string(ctx.Param("workspace")),
                                                           name, ctx.BodyObject(), ctx.FormBody());
                json::object out;
                out["status"] = "updated";
                return Reply::Of(200, std::move(out));
              }});
  router.Add({"DELETE", path, Access::kWrite, [&s, name](Context& ctx) {
                if (!s.workspaces.DeleteSetting(ctx.principal, ScopeOf(ctx),
                                                std::string(ctx.Param("workspace")), name))
                  Fail(ErrorCode::kNotFound, name + " is not configured for this workspace");
                json::object out;
                out["status"] = "deleted";
                return Reply::Of(200, std::move(out));
              }});
}
}  // namespace

void RegisterWorkspaceRoutes(http::Router& router, Services& s) {
  const std::string base = kBase;
  router.Add({"POST", base + "/workspaces", Access::kWrite, [&s](Context& ctx) {
                domain::PolicyDecision decision;
                auto w = s.workspaces.Create(ctx.principal, ScopeOf(ctx), ctx.BodyObject(),
                                             ctx.FormBody(), &decision);
                return ShowReply(s, w, 200, true, &decision);
              }});
  router.Add({"GET", base + "/workspaces", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, kSorts, storage::SortField::kName);
                storage::WorkspaceListQuery q;
                q.page = p.query;
                q.statuses = http::QueryList(ctx.request, "status");
                for (const auto& t : http::QueryList(ctx.request, "tags")) {
                  size_t colon = t.find(':');
                  storage::WorkspaceListQuery::TagFilter f;
                  f.key = t.substr(0, colon);
                  if (colon != std::string::npos) f.value = t.substr(colon + 1);
                  q.tags.push_back(std::move(f));
                }
                auto page = s.workspaces.List(ctx.principal, ScopeOf(ctx), q);
                json::array items;
                for (const auto& w : page.items) {
                  json::object item = WorkspaceSummaryJson(w);
                  AddLock(w, s.states.CurrentLock(w), item);  // one lookup per row of the page
                  items.push_back(std::move(item));
                }
                Reply reply = Reply::Of(200, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  // Registered before {identifier} so the literal path wins.
  router.Add({"GET", base + "/workspaces/provisioners-ratio", Access::kRead, [&s](Context& ctx) {
                auto counts = s.workspaces.CountBy(ctx.principal, ScopeOf(ctx), "provisioner");
                int64_t total = 0;
                for (const auto& [k, n] : counts) total += n;
                json::object ratios;
                for (const auto& [k, n] : counts)
                  ratios[k] = total ? static_cast<double>(n) / static_cast<double>(total) : 0.0;
                json::object out;
                out["provisioner"] = std::move(ratios);
                out["total"] = static_cast<double>(total);
                return Reply::Of(200, std::move(out));
              }});
  router.Add(
      http::Cacheable({"GET", base + "/workspaces/{identifier}", Access::kRead, [&s](Context& ctx) {
                         auto v = s.workspaces.GetView(ctx.principal, ScopeOf(ctx),
                                                       std::string(ctx.Param("identifier")));
                         return ShowView(s, v, 200, true);
                       }}));
  router.Add({"PUT", base + "/workspaces/{identifier}", Access::kWrite, [&s](Context& ctx) {
                domain::PolicyDecision decision;
                auto w = s.workspaces.Update(
                    ctx.principal, ScopeOf(ctx), std::string(ctx.Param("identifier")),
                    ctx.BodyObject(), ctx.FormBody(), http::IfMatchVersion(ctx.request), &decision);
                return ShowReply(s, w, 200, true, &decision);
              }});
  router.Add({"DELETE", base + "/workspaces/{identifier}", Access::kWrite, [&s](Context& ctx) {
                s.workspaces.Destroy(ctx.principal, ScopeOf(ctx),
                                     std::string(ctx.Param("identifier")),
                                     http::IfMatchVersion(ctx.request));
                Reply reply;
                reply.status = 204;
                reply.no_body = true;
                return reply;
              }});
  router.Add({"POST", base + "/workspaces/{workspace}/clone", Access::kWrite, [&s](Context& ctx) {
                const json::object& body = ctx.BodyObject();
                auto text = [&](const char* k) -> std::string {
                  const json::value* v = body.if_contains(k);
                  if (!v || v->is_null())
                    Fail(ErrorCode::kInvalidArgument, std::string(k) + ": is required");
                  if (!v->is_string())
                    Fail(ErrorCode::kInvalidArgument, std::string(k) + ": must be a string");
                  return std::string(v->get_string());
                };
                domain::PolicyDecision decision;
                auto w = s.workspaces.Clone(ctx.principal, ScopeOf(ctx),
                                            std::string(ctx.Param("workspace")), text("identifier"),
                                            text("name"), &decision);
                return ShowReply(s, w, 200, true, &decision);
              }});
  router.Add({"GET", base + "/tags", Access::kRead, [&s](Context& ctx) {
                json::array out;
                for (const auto& t : s.workspaces.Tags(ctx.principal, ScopeOf(ctx)))
                  out.emplace_back(t);
                return Reply::Of(200, std::move(out));
              }});
  router.Add({"GET", base + "/workspace-metrics", Access::kRead, [&s](Context& ctx) {
                json::object counts;
                for (const auto& st : domain::WorkspaceStatuses()) counts[st] = 0;
                for (const auto& [k, n] :
                     s.workspaces.CountBy(ctx.principal, ScopeOf(ctx), "status"))
                  counts[k] = n;
                json::object out;
                out["status_counts"] = std::move(counts);
                return Reply::Of(200, std::move(out));
              }});
  router.Add({"GET", base + "/workspaces/{workspace}/pipelines", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, kSorts, storage::SortField::kName);
                auto w = s.workspaces.Get(ctx.principal, ScopeOf(ctx),
                                          std::string(ctx.Param("workspace")));
                // The pipelines a workspace runs: its default pipelines, distinct, in order.
                std::vector<std::string> all;
                json::object config = WorkspaceJson(w);
                if (const json::value* dp = config.if_contains("default_pipelines");
                    dp && dp->is_object()) {
                  for (const auto& kv : dp->get_object()) {
                    for (const char* k : {"workspace_pipeline", "project_pipeline"}) {
                      const json::value* v = kv.value().get_object().if_contains(k);
                      if (v && v->is_string() && !v->get_string().empty() &&
                          std::find(all.begin(), all.end(), v->get_string()) == all.end())
                        all.emplace_back(v->get_string());
                    }
                  }
                }
                json::array pipelines;
                for (int64_t i = p.query.offset;
                     i < static_cast<int64_t>(all.size()) && i < p.query.offset + p.limit; ++i)
                  pipelines.emplace_back(all[static_cast<size_t>(i)]);
                json::object out;
                out["account"] = w.account;
                out["org"] = w.org;
                out["project"] = w.project;
                out["pipelines"] = std::move(pipelines);
                Reply reply = Reply::Of(200, std::move(out));
                http::AddPageHeaders(reply, p, static_cast<int64_t>(all.size()));
                return reply;
              }});
  AddSettingRoutes(router, s, "drift-config");
  AddSettingRoutes(router, s, "ephemeral-config");
  router.Add(
      {"GET", "/iacm/api/workspace/templates/{template_id}", Access::kRead, [&s](Context& ctx) {
         auto q = [&](const char* k) { return std::string(ctx.request.Query(k).value_or("")); };
         json::array out;
         for (const auto& w : s.workspaces.TemplateWorkspaces(ctx.principal, q("org"), q("project"),
                                                              std::string(ctx.Param("template_id")),
                                                              q("version"))) {
           json::object row;
           row["workspace_id"] = w.identifier;
           row["template_id"] = w.template_id;
           if (!w.template_version.empty()) row["version"] = w.template_version;
           row["created_at"] = w.created;
           row["updated_at"] = w.updated;
           row["account"] = w.account;
           row["org"] = w.org;
           row["project"] = w.project;
           out.push_back(std::move(row));
         }
         return Reply::Of(200, std::move(out));
       }});
}

}  // namespace statehouse::api
