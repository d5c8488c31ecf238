// Policy management (harness-policies-api-openapi.yml, harness-policy-sets-api-openapi.yml,
// harness-evaluate-api-openapi.yml, harness-evaluations-api-openapi.yml). The level comes from
// the query: accountIdentifier (checked by the dispatcher), orgIdentifier, projectIdentifier.
//   GET    /pm/api/v1/policies                              [PolicyManagementPolicy]
//   POST   /pm/api/v1/policies                              201 PolicyManagementPolicy
//   GET    /pm/api/v1/policies/{identifier}                 PolicyManagementPolicy
//   PATCH  /pm/api/v1/policies/{identifier}                 204
//   DELETE /pm/api/v1/policies/{identifier}[?force=true]    204 (409 PolicyReferencedResult)
//   GET    /pm/api/v1/policies/{identifier}/policysets      [PolicyToPolicySet]
//   POST   /pm/api/v1/policies/move-policy/{identifier}     400 (git storage is not supported)
//   GET    /pm/api/v1/policysets                            [PolicyManagementPolicySet]
//   POST   /pm/api/v1/policysets                            201 PolicyManagementPolicySet
//   GET    /pm/api/v1/policysets/all                        the level and the levels above
//   GET    /pm/api/v1/policysets/{identifier}               PolicyManagementPolicySet
//   PATCH  /pm/api/v1/policysets/{identifier}               204
//   DELETE /pm/api/v1/policysets/{identifier}               204
//   POST   /pm/api/v1/evaluate                              EvaluatedPolicy
//   POST   /pm/api/v1/evaluate-by-type?type=&action=&entity= Evaluation (extension: the body is
//          the input; runs the enabled sets of that type/action and records the evaluation)
//   GET    /pm/api/v1/evaluations                           [Evaluation] (newest first)
//   GET    /pm/api/v1/evaluations/{id}                      Evaluation (with its input)
//   GET    /pm/api/v1/evaluations/getYaml, .../evaluation-input-signed-url/{id}: 400 (there
//          are no pipelines; inputs come with the evaluation)
// Lists are JSON arrays counting pages from 0 (per_page or limit, default 30, at most 100).
// Single policies and sets carry an ETag; PATCH (and a policy set's DELETE) honour If-Match.
#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "api/fields.h"
#include "api/routes.h"
#include "common/error.h"
#include "common/util.h"
#include "domain/policies.h"
#include "http/conventions.h"

namespace statehouse::api {
namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {

constexpr const char* kPrefix = "/pm/api/v1";

[[noreturn]] void Bad(const std::string& field, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(why));
}

domain::PolicyScope ScopeOf(const Context& ctx) {
  domain::PolicyScope s;
  if (auto v = ctx.request.Query("orgIdentifier")) s.org = std::string(*v);
  if (auto v = ctx.request.Query("projectIdentifier")) s.project = std::string(*v);
  return s;
}

// The list conventions with the PM spellings: per_page for the page size, pages from 0,
// identifierFilter for identifiers.
http::ListParams ListParamsOf(const Context& ctx) {
  const http::Request* r = &ctx.request;
  http::Request copy;
  if (auto per_page = r->Query("per_page"); per_page && !r->Query("limit")) {
    copy = *r;
    copy.query.emplace_back("limit", std::string(*per_page));
    r = &copy;
  }
  http::ListParams p =
      http::ParseListParams(*r, 0, http::StandardSorts(), storage::SortField::kName);
  p.query.identifiers = http::QueryList(ctx.request, "identifierFilter");
  if (p.query.identifiers.size() > 100) Bad("identifierFilter", "at most 100 identifiers");
  return p;
}

Reply ListReply(json::array items, const http::ListParams& p, int64_t total) {
  int64_t count = static_cast<int64_t>(items.size());
  Reply reply = Reply::Of(200, std::move(items));
  http::AddPageHeaders(reply, p, total);
  reply.headers.emplace_back("X-Page-Index", std::to_string(p.page));
  reply.headers.emplace_back("X-Page-Item-Count", std::to_string(count));
  return reply;
}

Reply WithETag(Reply reply, int64_t version) {
  reply.headers.emplace_back("ETag", http::ETagOf(version));
  return reply;
}

Reply NoContent() {
  Reply r;
  r.status = 204;
  r.no_body = true;
  return r;
}

std::optional<int64_t> QueryInt(const Context& ctx, std::string_view name) {
  auto v = ctx.request.Query(name);
  if (!v || Trim(*v).empty()) return std::nullopt;
  int64_t out;
  if (!ParseInt64(Trim(*v), out)) Bad(std::string(name), "must be an integer");
  return out;
}

std::string QueryText(const Context& ctx, std::string_view name) {
  auto v = ctx.request.Query(name);
  std::string out = v ? std::string(Trim(*v)) : std::string();
  if (out.size() > 1024) Bad(std::string(name), "is too long");
  return out;
}

// ---- views ----

json::object PolicyJson(const storage::PolicyRecord& p, bool with_rego, bool with_count) {
  json::object o = domain::PolicyDocument(p, with_rego);
  if (with_count) o["policy_set_count"] = p.policy_set_count;
  return o;
}

// PolicyManagementPolicySet, its linked policies in full (LinkedPolicy).
json::object PolicySetJson(const storage::PolicySetRecord& s) {
  json::object o;
  o["account_id"] = s.account;
  o["org_id"] = s.org;
  o["project_id"] = s.project;
  o["identifier"] = s.identifier;
  o["name"] = s.name;
  if (!s.description.empty()) o["description"] = s.description;
  o["type"] = s.type;
  o["action"] = s.action;
  o["enabled"] = s.enabled;
  o["entity_selector"] = s.entity_selector;
  o["yaml_version"] = "0";
  boost::system::error_code ec;
  json::value extra = json::parse(s.extra_json, ec);
  if (!ec && extra.is_object())
    for (const auto& kv : extra.get_object()) o[kv.key()] = kv.value();
  json::array policies;
  for (const auto& link : s.policies) {
    if (!link.resolved) continue;
    json::object p = domain::PolicyDocument(*link.resolved, true);
    p["severity"] = link.severity;
    policies.push_back(std::move(p));
  }
  o["policies"] = std::move(policies);
  o["created"] = s.created;
  o["updated"] = s.updated;
  return o;
}

// PolicyToPolicySet
json::object PolicyToSetJson(const storage::PolicySetRecord& s) {
  json::object o;
  o["account_id"] = s.account;
  o["org_id"] = s.org;
  o["project_id"] = s.project;
  o["identifier"] = s.identifier;
  o["name"] = s.name;
  o["type"] = s.type;
  o["action"] = s.action;
  o["enabled"] = s.enabled;
  o["created"] = s.created;
  o["updated"] = s.updated;
  return o;
}

// ---- request documents ----

domain::PolicyInput PolicyInputOf(const Context& ctx) {
  Fields f = Fields::Body(ctx);
  domain::PolicyInput in;
  in.identifier = f.String("identifier");
  in.name = f.String("name");
  in.rego = f.String("rego");
  return in;
}

// Form bodies spell list items as policies[0].identifier=x (or policies.0.identifier), which
// the codec reads as an object keyed by index: PolicySetInputOf turns it back into a list.
domain::PolicySetInput PolicySetInputOf(const Context& ctx) {
  Fields f = Fields::Body(ctx);
  const json::object& body = ctx.BodyObject();
  domain::PolicySetInput in;
  in.identifier = f.String("identifier");
  in.name = f.String("name");
  in.description = f.String("description");
  in.type = f.String("type");
  in.action = f.String("action");
  in.enabled = f.Bool("enabled");
  in.entity_selector = f.String("entity_selector");

  const json::value* policies = body.if_contains("policies");
  json::array form_items;
  if (policies && policies->is_null()) policies = nullptr;
  if (policies && ctx.FormBody() && policies->is_object()) {
    std::vector<std::pair<int64_t, const json::value*>> items;
    for (const auto& kv : policies->get_object()) {
      int64_t index = 0;
      if (!ParseInt64(kv.key(), index) || index < 0 || index > 10000)
        Bad("policies", "must be an array");
      items.emplace_back(index, &kv.value());
    }
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& item : items) form_items.push_back(*item.second);
  }
  if (policies) {
    const json::array* list = nullptr;
    if (!form_items.empty())
      list = &form_items;
    else if (policies->is_array())
      list = &policies->get_array();
    else
      Bad("policies", "must be an array of {identifier, severity}");
    std::vector<domain::PolicyLinkInput> links;
    for (size_t i = 0; i < list->size(); ++i) {
      std::string path = "policies[" + std::to_string(i) + "]";
      const json::value& item = (*list)[i];
      if (!item.is_object()) Bad(path, "must be an object with identifier and severity");
      const json::object& o = item.get_object();
      domain::PolicyLinkInput link;
      for (auto [name, target] :
           {std::pair<std::string_view, std::string*>{"identifier", &link.identifier},
            {"severity", &link.severity}}) {
        const json::value* v = o.if_contains(name);
        if (!v || v->is_null()) Bad(path + "." + std::string(name), "is required");
        if (!v->is_string()) Bad(path + "." + std::string(name), "must be a string");
        *target = std::string(v->get_string());
      }
      links.push_back(std::move(link));
    }
    in.policies = std::move(links);
  }

  // Spec fields kept as given.
  if (const json::value* v = body.if_contains("resource_groups"); v && !v->is_null()) {
    if (!v->is_array()) Bad("resource_groups", "must be an array");
    for (const auto& g : v->get_array())
      if (!g.is_object()) Bad("resource_groups", "must be an array of objects");
    in.extra["resource_groups"] = *v;
  }
  if (auto t = f.String("infra_type")) {
    if (*t != "KubernetesDirect" && *t != "VM")
      Bad("infra_type", "must be one of KubernetesDirect, VM (got '" + *t + "')");
    in.extra["infra_type"] = *t;
  }
  if (const json::value* v = body.if_contains("infra_params"); v && !v->is_null()) {
    if (!v->is_object()) Bad("infra_params", "must be an object");
    in.extra["infra_params"] = *v;
  }
  if (auto y = f.String("yaml_version")) {
    if (*y != "0" && *y != "1") Bad("yaml_version", "must be one of 0, 1 (got '" + *y + "')");
  }
  return in;
}

// ---- routes ----

void RegisterPolicies(http::Router& router, Services& s) {
  const std::string many = std::string(kPrefix) + "/policies";
  const std::string one = many + "/{identifier}";

  router.Add({"GET", many, Access::kRead, [&s](Context& ctx) {
                auto p = ListParamsOf(ctx);
                bool exclude_rego =
                    http::QueryBool(ctx.request, "excludeRegoFromResponse").value_or(false);
                bool with_counts =
                    http::QueryBool(ctx.request, "includePolicySetCount").value_or(false);
                auto page =
                    s.policies.ListPolicies(ctx.principal, ScopeOf(ctx), p.query, with_counts);
                json::array items;
                for (const auto& r : page.items)
                  items.push_back(PolicyJson(r, !exclude_rego, with_counts));
                return ListReply(std::move(items), p, page.total);
              }});
  router.Add({"POST", many, Access::kWrite, [&s](Context& ctx) {
                if (http::QueryBool(ctx.request, "git_import").value_or(false))
                  Bad("git_import", "policies kept in git repositories are not supported");
                auto r = s.policies.CreatePolicy(ctx.principal, ScopeOf(ctx), PolicyInputOf(ctx));
                return WithETag(Reply::Of(201, PolicyJson(r, true, false)), r.version);
              }});
  router.Add(
      {"POST", many + "/move-policy/{identifier}", Access::kWrite, [&s](Context& ctx) -> Reply {
         s.policies.GetPolicy(ctx.principal, ScopeOf(ctx), std::string(ctx.Param("identifier")));
         Fail(ErrorCode::kInvalidArgument,
              "moving a policy to a git repository is not supported: policies are kept "
              "in Statehouse");
       }});
  router.Add({"GET", one, Access::kRead, [&s](Context& ctx) {
                auto r = s.policies.GetPolicy(ctx.principal, ScopeOf(ctx),
                                              std::string(ctx.Param("identifier")));
                return WithETag(Reply::Of(200, PolicyJson(r, true, false)), r.version);
              }});
  router.Add({"PATCH", one, Access::kWrite, [&s](Context& ctx) {
                s.policies.UpdatePolicy(ctx.principal, ScopeOf(ctx),
                                        std::string(ctx.Param("identifier")), PolicyInputOf(ctx),
                                        http::IfMatchVersion(ctx.request));
                return NoContent();
              }});
  router.Add({"DELETE", one, Access::kWrite, [&s](Context& ctx) {
                bool force = http::QueryBool(ctx.request, "force").value_or(false);
                s.policies.DeletePolicy(ctx.principal, ScopeOf(ctx),
                                        std::string(ctx.Param("identifier")), force,
                                        http::IfMatchVersion(ctx.request));
                return NoContent();
              }});
  router.Add({"GET", one + "/policysets", Access::kRead, [&s](Context& ctx) {
                auto p = ListParamsOf(ctx);
                p.query.identifiers.clear();
                auto page = s.policies.PolicySetsOfPolicy(
                    ctx.principal, ScopeOf(ctx), std::string(ctx.Param("identifier")), p.query);
                json::array items;
                for (const auto& r : page.items) items.push_back(PolicyToSetJson(r));
                return ListReply(std::move(items), p, page.total);
              }});
}

void RegisterPolicySets(http::Router& router, Services& s) {
  const std::string many = std::string(kPrefix) + "/policysets";
  const std::string one = many + "/{identifier}";

  auto list = [&s](Context& ctx, bool hierarchical) {
    auto p = ListParamsOf(ctx);
    domain::PolicySetFilter filter;
    filter.hierarchical = hierarchical;
    filter.types = http::QueryList(ctx.request, "types");
    if (std::string t = QueryText(ctx, "type"); !t.empty()) filter.types.push_back(t);
    filter.action = QueryText(ctx, "action");
    auto page = s.policies.ListPolicySets(ctx.principal, ScopeOf(ctx), filter, p.query);
    json::array items;
    for (const auto& r : page.items) items.push_back(PolicySetJson(r));
    return ListReply(std::move(items), p, page.total);
  };
  router.Add({"GET", many, Access::kRead, [list](Context& ctx) { return list(ctx, false); }});
  router.Add(
      {"GET", many + "/all", Access::kRead, [list](Context& ctx) { return list(ctx, true); }});
  router.Add({"POST", many, Access::kWrite, [&s](Context& ctx) {
                auto r =
                    s.policies.CreatePolicySet(ctx.principal, ScopeOf(ctx), PolicySetInputOf(ctx));
                return WithETag(Reply::Of(201, PolicySetJson(r)), r.version);
              }});
  router.Add({"GET", one, Access::kRead, [&s](Context& ctx) {
                auto r = s.policies.GetPolicySet(ctx.principal, ScopeOf(ctx),
                                                 std::string(ctx.Param("identifier")));
                return WithETag(Reply::Of(200, PolicySetJson(r)), r.version);
              }});
  router.Add({"PATCH", one, Access::kWrite, [&s](Context& ctx) {
                s.policies.UpdatePolicySet(
                    ctx.principal, ScopeOf(ctx), std::string(ctx.Param("identifier")),
                    PolicySetInputOf(ctx), http::IfMatchVersion(ctx.request));
                return NoContent();
              }});
  router.Add({"DELETE", one, Access::kWrite, [&s](Context& ctx) {
                s.policies.DeletePolicySet(ctx.principal, ScopeOf(ctx),
                                           std::string(ctx.Param("identifier")),
                                           http::IfMatchVersion(ctx.request));
                return NoContent();
              }});
}

void RegisterEvaluations(http::Router& router, Services& s) {
  router.Add({"POST", std::string(kPrefix) + "/evaluate", Access::kRead, [&s](Context& ctx) {
                Fields f = Fields::Body(ctx);
                std::optional<std::string> rego = f.String("rego", true);
                const json::value* input = ctx.BodyObject().if_contains("input");
                if (!input) Bad("input", "is required");
                return Reply::Of(
                    200, s.policies.EvaluateRego(ctx.principal, ScopeOf(ctx), *rego, *input));
              }});
  // Extension (Harness's evaluate-by-type): runs the enabled policy sets of type/action at the
  // scope against the body (the input) and records the evaluation.
  router.Add(
      {"POST", std::string(kPrefix) + "/evaluate-by-type", Access::kWrite, [&s](Context& ctx) {
         if (!ctx.has_body) Bad("body", "the input document is required");
         json::object metadata;
         if (std::string m = QueryText(ctx, "entityMetadata"); !m.empty()) {
           boost::system::error_code ec;
           json::value v = json::parse(m, ec);
           if (ec || !v.is_object()) Bad("entityMetadata", "must be a JSON object");
           metadata = std::move(v.get_object());
         }
         auto d = s.policies.EvaluateByType(ctx.principal, ScopeOf(ctx), QueryText(ctx, "type"),
                                            QueryText(ctx, "action"), QueryText(ctx, "entity"),
                                            metadata, ctx.body);
         return Reply::Of(200, d.Evaluation());
       }});
  router.Add({"GET", std::string(kPrefix) + "/evaluations", Access::kRead, [&s](Context& ctx) {
                auto p = ListParamsOf(ctx);
                storage::EvaluationListQuery q;
                q.offset = p.query.offset;
                q.limit = p.query.limit;
                q.include_child_scopes =
                    http::QueryBool(ctx.request, "includeChildScopes").value_or(false);
                q.entity = QueryText(ctx, "entity");
                q.entity_prefix = QueryText(ctx, "entity_prefix");
                q.type = QueryText(ctx, "type");
                q.action = QueryText(ctx, "action");
                q.execution_id = QueryText(ctx, "execution_id");
                q.statuses = http::QueryList(ctx.request, "status");
                q.last_seen = QueryInt(ctx, "last_seen");
                q.created_from = QueryInt(ctx, "created_date_from");
                q.created_to = QueryInt(ctx, "created_date_to");
                auto page = s.policies.ListEvaluations(ctx.principal, ScopeOf(ctx), q);
                json::array items;
                for (const auto& r : page.items)
                  items.push_back(domain::EvaluationDocument(r, false));
                return ListReply(std::move(items), p, page.total);
              }});
  // Spec endpoints about things Statehouse does not have: pipeline YAML, and inputs kept in a
  // bucket behind signed URLs (GET /evaluations/{id} returns the input itself).
  router.Add(
      {"GET", std::string(kPrefix) + "/evaluations/getYaml", Access::kRead, [](Context&) -> Reply {
         Fail(ErrorCode::kInvalidArgument,
              "entityType: Statehouse has no pipelines, so there is no entity YAML to get");
       }});
  router.Add({"GET", std::string(kPrefix) + "/evaluations/evaluation-input-signed-url/{id}",
              Access::kRead, [&s](Context& ctx) -> Reply {
                int64_t id = 0;
                if (!ParseInt64(ctx.Param("id"), id) || id <= 0)
                  Bad("evaluation_id", "must be a positive integer");
                s.policies.GetEvaluation(ctx.principal, ScopeOf(ctx), id);
                Fail(ErrorCode::kInvalidArgument,
                     "inputs are not kept behind signed URLs: GET /pm/api/v1/evaluations/" +
                         std::to_string(id) + " returns the evaluation with its input");
              }});
  router.Add({"GET", std::string(kPrefix) + "/evaluations/{id}", Access::kRead, [&s](Context& ctx) {
                int64_t id = 0;
                if (!ParseInt64(ctx.Param("id"), id) || id <= 0)
                  Bad("id", "must be a positive integer");
                auto r = s.policies.GetEvaluation(ctx.principal, ScopeOf(ctx), id);
                return Reply::Of(200, domain::EvaluationDocument(r, true));
              }});
}

}  // namespace

void RegisterPolicyRoutes(http::Router& router, Services& services) {
  RegisterPolicies(router, services);
  RegisterPolicySets(router, services);
  RegisterEvaluations(router, services);
}

}  // namespace statehouse::api
