// /v1/orgs and /v1/orgs/{org}/projects (harness-organization-api-openapi.yml,
// harness-org-project-api-openapi.yml). Pages count from 0 here.
#include <boost/json.hpp>

#include "api/fields.h"
#include "api/routes.h"
#include "api/views.h"
#include "common/util.h"
#include "http/conventions.h"

namespace statehouse::api {
namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {
const std::vector<http::SortOption>& kSorts = http::StandardSorts();

// On update the identifier may be left out (the path names the org).
domain::OrgInput ReadOrg(const Context& ctx, bool identifier_required) {
  Fields org = Fields::Body(ctx).Object("org", true);
  domain::OrgInput in;
  in.identifier = org.String("identifier", identifier_required).value_or("");
  in.name = org.String("name", true).value();
  in.description = org.String("description").value_or("");
  in.tags = org.StringMap("tags").value_or(storage::Tags{});
  return in;
}

domain::ProjectInput ReadProject(const Context& ctx, bool identifier_required) {
  Fields p = Fields::Body(ctx).Object("project", true);
  domain::ProjectInput in;
  in.identifier = p.String("identifier", identifier_required).value_or("");
  in.name = p.String("name", true).value();
  in.description = p.String("description").value_or("");
  in.color = p.String("color").value_or("");
  in.modules = p.StringList("modules").value_or(std::vector<std::string>{});
  in.tags = p.StringMap("tags").value_or(storage::Tags{});
  return in;
}

Reply WithETag(Reply reply, int64_t version) {
  reply.headers.emplace_back("ETag", http::ETagOf(version));
  return reply;
}
}  // namespace

void RegisterOrgRoutes(http::Router& router, Services& s) {
  router.Add({"POST", "/v1/orgs", Access::kWrite, [&s](Context& ctx) {
                auto r = s.orgs.Create(ctx.principal, ReadOrg(ctx, true));
                return WithETag(Reply::Of(201, OrgJson(r)), r.version);
              }});
  router.Add({"GET", "/v1/orgs", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 0, kSorts, storage::SortField::kName);
                p.query.identifiers = http::QueryList(ctx.request, "org");
                auto page = s.orgs.List(ctx.principal, p.query);
                json::array items;
                for (const auto& r : page.items) items.push_back(OrgJson(r));
                Reply reply = Reply::Of(200, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  router.Add(http::Cacheable({"GET", "/v1/orgs/{org}", Access::kRead, [&s](Context& ctx) {
                                auto r = s.orgs.Get(ctx.principal, std::string(ctx.Param("org")));
                                return WithETag(Reply::Of(200, OrgJson(r)), r.version);
                              }}));
  router.Add({"PUT", "/v1/orgs/{org}", Access::kWrite, [&s](Context& ctx) {
                auto r = s.orgs.Update(ctx.principal, std::string(ctx.Param("org")),
                                       ReadOrg(ctx, false), http::IfMatchVersion(ctx.request));
                return WithETag(Reply::Of(200, OrgJson(r)), r.version);
              }});
  router.Add({"DELETE", "/v1/orgs/{org}", Access::kWrite, [&s](Context& ctx) {
                auto r = s.orgs.Delete(ctx.principal, std::string(ctx.Param("org")),
                                       http::IfMatchVersion(ctx.request));
                return Reply::Of(200, OrgJson(r));
              }});

  router.Add({"POST", "/v1/orgs/{org}/projects", Access::kWrite, [&s](Context& ctx) {
                auto r = s.projects.Create(ctx.principal, std::string(ctx.Param("org")),
                                           ReadProject(ctx, true));
                return WithETag(Reply::Of(201, ProjectJson(r)), r.version);
              }});
  router.Add({"GET", "/v1/orgs/{org}/projects", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 0, kSorts, storage::SortField::kName);
                p.query.identifiers = http::QueryList(ctx.request, "project");
                auto page = s.projects.List(ctx.principal, std::string(ctx.Param("org")), p.query);
                json::array items;
                for (const auto& r : page.items) items.push_back(ProjectJson(r));
                Reply reply = Reply::Of(200, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  router.Add(http::Cacheable(
      {"GET", "/v1/orgs/{org}/projects/{project}", Access::kRead, [&s](Context& ctx) {
         auto r = s.projects.Get(ctx.principal, std::string(ctx.Param("org")),
                                 std::string(ctx.Param("project")));
         return WithETag(Reply::Of(200, ProjectJson(r)), r.version);
       }}));
  router.Add({"PUT", "/v1/orgs/{org}/projects/{project}", Access::kWrite, [&s](Context& ctx) {
                auto r = s.projects.Update(
                    ctx.principal, std::string(ctx.Param("org")), std::string(ctx.Param("project")),
                    ReadProject(ctx, false), http::IfMatchVersion(ctx.request));
                return WithETag(Reply::Of(200, ProjectJson(r)), r.version);
              }});
  router.Add({"DELETE", "/v1/orgs/{org}/projects/{project}", Access::kWrite, [&s](Context& ctx) {
                auto r = s.projects.Delete(ctx.principal, std::string(ctx.Param("org")),
                                           std::string(ctx.Param("project")),
                                           http::IfMatchVersion(ctx.request));
                return Reply::Of(200, ProjectJson(r));
              }});
}

}  // namespace statehouse::api
