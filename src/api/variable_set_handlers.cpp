// IaCM variable sets at account, org and project level (harness-variable-sets-api-openapi.yml):
//   POST   {level}/variable-set                 create -> 201
//   DELETE {level}/variable-set?identifier=     delete -> 204
//   GET    {level}/variable-set/{identifier}    -> 200
//   PUT    {level}/variable-set/{identifier}    -> 200
//   DELETE {level}/variable-set/{identifier}    -> 204
//   GET    {level}/variable-set/{identifier}/references   HarnessIacmWorkspaceList
//   GET    {level}/variable-sets                          HarnessIacmVariableSetList
// where {level} is /iacm/api, /iacm/api/orgs/{org} or /iacm/api/orgs/{org}/projects/{project}.
// IaCM lists count pages from 1.
//
// The spec's response schemas require "org" and "project" even for sets that have none; they
// are left out where the level has none (the schemas mean "the set's scope").
#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "api/routes.h"
#include "api/workspace_views.h"
#include "common/error.h"
#include "common/util.h"
#include "domain/variable_sets.h"
#include "http/conventions.h"

namespace statehouse::api {
namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {

const std::vector<http::SortOption>& kSorts = http::StandardSorts();

// VariableSetsGetVariableSetAccountLevelResponseBody; with counts, HarnessIacmVariableSet.
json::value VariableSetJson(const storage::VariableSetRecord& r, bool with_counts) {
  json::object doc;
  try {
    json::value parsed = json::parse(r.document_json);
    if (parsed.is_object()) doc = std::move(parsed.get_object());
  } catch (const std::exception&) {
    Fail(ErrorCode::kInternal, "variable set " + r.identifier + " has an unreadable document");
  }
  auto section = [&doc](std::string_view name, bool is_map) -> json::value {
    if (json::value* v = doc.if_contains(name)) {
      if (is_map ? v->is_object() : v->is_array()) return std::move(*v);
    }
    if (is_map) return json::object();
    return json::array();
  };
  json::object o;
  o["account"] = r.account;
  if (!r.org.empty()) o["org"] = r.org;
  if (!r.project.empty()) o["project"] = r.project;
  o["identifier"] = r.identifier;
  o["name"] = r.name;
  o["environment_variables"] = section("environment_variables", true);
  o["terraform_variables"] = section("terraform_variables", true);
  o["terraform_variable_files"] = section("terraform_variable_files", false);
  o["connectors"] = section("connectors", false);
  o["created"] = r.created;
  o["updated"] = r.updated;
  if (with_counts) {
    o["env_vars_count"] = r.env_vars_count;
    o["tf_vars_count"] = r.tf_vars_count;
    o["var_files_count"] = r.var_files_count;
  }
  return o;
}

storage::VariableSetKey LevelOf(const Context& ctx) {
  return {std::string(ctx.Param("org")), std::string(ctx.Param("project")), ""};
}

storage::VariableSetKey KeyOf(const Context& ctx, std::string_view identifier) {
  storage::VariableSetKey k = LevelOf(ctx);
  k.identifier = std::string(identifier);
  return k;
}

// Form bodies spell list items as connectors[0].type=aws (or connectors.0.type), which the
// codec reads as an object keyed by index: turn such objects back into arrays.
void FormListsToArrays(json::value& body) {
  if (!body.is_object()) return;
  for (std::string_view name : {"connectors", "terraform_variable_files"}) {
    json::value* v = body.get_object().if_contains(name);
    if (!v || !v->is_object()) continue;
    bool indexed = true;
    for (const auto& kv : v->get_object()) {
      int64_t index = 0;
      indexed = indexed && ParseInt64(kv.key(), index) && index >= 0 && index <= 10000;
    }
    if (!indexed) continue;  // left as is: the domain reports "must be an array"
    std::vector<std::pair<int64_t, json::value>> items;
    for (auto& kv : v->get_object()) {
      int64_t index = 0;
      ParseInt64(kv.key(), index);
      items.emplace_back(index, std::move(kv.value()));
    }
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    json::array out;
    for (auto& [index, item] : items) out.push_back(std::move(item));
    *v = std::move(out);
  }
}

json::value BodyOf(const Context& ctx) {
  if (!ctx.has_body) Fail(ErrorCode::kInvalidArgument, "a request body is required");
  json::value body = ctx.body;
  if (ctx.body_format == http::BodyFormat::kFormUrlEncoded ||
      ctx.body_format == http::BodyFormat::kMultipart)
    FormListsToArrays(body);
  return body;
}

Reply NoContent() {
  Reply r;
  r.status = 204;
  r.no_body = true;
  return r;
}

void RegisterLevel(http::Router& router, Services& s, const std::string& prefix) {
  const std::string one = prefix + "/variable-set";
  const std::string named = one + "/{identifier}";

  router.Add({"POST", one, Access::kWrite, [&s](Context& ctx) {
                auto r = s.variable_sets.Create(ctx.principal, LevelOf(ctx), BodyOf(ctx));
                return Reply::Of(201, VariableSetJson(r, false));
              }});
  router.Add({"DELETE", one, Access::kWrite, [&s](Context& ctx) {
                auto id = ctx.request.Query("identifier");
                if (!id || id->empty())
                  Fail(ErrorCode::kInvalidArgument, "query parameter 'identifier' is required");
                s.variable_sets.Delete(ctx.principal, KeyOf(ctx, *id));
                return NoContent();
              }});
  router.Add(http::Cacheable({"GET", named, Access::kRead, [&s](Context& ctx) {
                                auto r = s.variable_sets.Get(ctx.principal,
                                                             KeyOf(ctx, ctx.Param("identifier")));
                                return Reply::Of(200, VariableSetJson(r, false));
                              }}));
  router.Add({"PUT", named, Access::kWrite, [&s](Context& ctx) {
                auto r = s.variable_sets.Update(ctx.principal, KeyOf(ctx, ctx.Param("identifier")),
                                                BodyOf(ctx));
                return Reply::Of(200, VariableSetJson(r, false));
              }});
  router.Add({"DELETE", named, Access::kWrite, [&s](Context& ctx) {
                s.variable_sets.Delete(ctx.principal, KeyOf(ctx, ctx.Param("identifier")));
                return NoContent();
              }});
  router.Add({"GET", named + "/references", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, kSorts, storage::SortField::kName);
                auto page = s.variable_sets.References(
                    ctx.principal, KeyOf(ctx, ctx.Param("identifier")), p.query);
                json::array items;
                for (const auto& w : page.items) items.push_back(WorkspaceJson(w));
                json::object body;
                body["items"] = std::move(items);
                Reply reply = Reply::Of(200, std::move(body));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  router.Add({"GET", prefix + "/variable-sets", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, kSorts, storage::SortField::kName);
                auto page = s.variable_sets.List(ctx.principal, LevelOf(ctx), p.query);
                json::array items;
                for (const auto& r : page.items) items.push_back(VariableSetJson(r, true));
                json::object body;
                body["items"] = std::move(items);
                Reply reply = Reply::Of(200, std::move(body));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
}

}  // namespace

void RegisterVariableSetRoutes(http::Router& router, Services& services) {
  RegisterLevel(router, services, "/iacm/api");
  RegisterLevel(router, services, "/iacm/api/orgs/{org}");
  RegisterLevel(router, services, "/iacm/api/orgs/{org}/projects/{project}");
}

}  // namespace statehouse::api
