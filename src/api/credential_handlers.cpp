// /ng/api/apikey and /ng/api/token (harness-api-key-api-openapi.yml,
// harness-token-api-openapi.yml): Harness NG envelopes, pages counting from 0.
#include <boost/json.hpp>

#include "api/fields.h"
#include "api/routes.h"
#include "api/views.h"
#include "common/error.h"
#include "common/util.h"
#include "http/conventions.h"

namespace statehouse::api {
namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {
const std::vector<http::SortOption>& kSorts = http::StandardSorts();

std::string QueryText(const Context& ctx, std::string_view name) {
  return std::string(ctx.request.Query(name).value_or(""));
}

domain::CredentialFilter FilterOf(const Context& ctx) {
  domain::CredentialFilter f;
  f.org = QueryText(ctx, "orgIdentifier");
  f.project = QueryText(ctx, "projectIdentifier");
  f.api_key_type = QueryText(ctx, "apiKeyType");
  f.parent_identifier = QueryText(ctx, "parentIdentifier");
  f.api_key_identifier = QueryText(ctx, "apiKeyIdentifier");
  if (!f.api_key_type.empty() && !domain::IsApiKeyType(f.api_key_type))
    Fail(ErrorCode::kInvalidArgument,
         "apiKeyType: must be one of USER, SERVICE_ACCOUNT, SSH_KEY, PGP_KEY, SCOPED_TOKEN");
  return f;
}

Reply Ok(const Context& ctx, json::value data) {
  return Reply::Of(200, Envelope(std::move(data), ctx.request.request_id));
}

domain::ApiKeyInput ReadApiKey(const Context& ctx, bool identifier_required) {
  Fields f = Fields::Body(ctx);
  domain::ApiKeyInput in;
  in.identifier = f.String("identifier", identifier_required).value_or("");
  in.name = f.String("name", true).value();
  in.description = f.String("description").value_or("");
  in.tags = f.StringMap("tags").value_or(storage::Tags{});
  in.api_key_type = f.String("apiKeyType").value_or("");
  in.parent_identifier = f.String("parentIdentifier").value_or("");
  in.default_time_to_expire_token = f.Int("defaultTimeToExpireToken");
  in.org = f.String("orgIdentifier").value_or("");
  in.project = f.String("projectIdentifier").value_or("");
  if (auto account = f.String("accountIdentifier"); account && *account != ctx.Account())
    Fail(ErrorCode::kPermissionDenied, "accountIdentifier: does not match the token's account");
  return in;
}

domain::TokenInput ReadToken(const Context& ctx, bool identifier_required) {
  Fields f = Fields::Body(ctx);
  domain::TokenInput in;
  in.identifier = f.String("identifier", identifier_required).value_or("");
  in.name = f.String("name", true).value();
  in.description = f.String("description").value_or("");
  in.tags = f.StringMap("tags").value_or(storage::Tags{});
  in.api_key_identifier = f.String("apiKeyIdentifier").value_or("");
  in.api_key_type = f.String("apiKeyType").value_or("");
  in.parent_identifier = f.String("parentIdentifier").value_or("");
  in.org = f.String("orgIdentifier").value_or("");
  in.project = f.String("projectIdentifier").value_or("");
  in.valid_from = f.Int("validFrom");
  in.valid_to = f.Int("validTo");
  in.role = f.String("role");
  if (auto account = f.String("accountIdentifier"); account && *account != ctx.Account())
    Fail(ErrorCode::kPermissionDenied, "accountIdentifier: does not match the token's account");
  return in;
}

json::value ApiKeyAggregateJson(const storage::ApiKeyRecord& k, int64_t tokens) {
  json::object o;
  o["apiKey"] = ApiKeyJson(k);
  o["createdAt"] = k.created;
  o["lastModifiedAt"] = k.updated;
  o["tokensCount"] = tokens;
  return o;
}

std::optional<int64_t> QueryInt(const Context& ctx, std::string_view name) {
  auto v = ctx.request.Query(name);
  if (!v) return std::nullopt;
  int64_t out;
  if (!ParseInt64(Trim(*v), out))
    Fail(ErrorCode::kInvalidArgument,
         "query parameter '" + std::string(name) + "' must be an integer");
  return out;
}
}  // namespace

void RegisterCredentialRoutes(http::Router& router, Services& s) {
  // ---- API keys ----
  router.Add({"POST", "/ng/api/apikey", Access::kAdmin, [&s](Context& ctx) {
                auto k = s.credentials.CreateApiKey(ctx.principal, ReadApiKey(ctx, true));
                return Ok(ctx, ApiKeyJson(k));
              }});
  router.Add({"GET", "/ng/api/apikey", Access::kAdmin, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 0, kSorts, storage::SortField::kName);
                p.query.identifiers = http::QueryList(ctx.request, "identifiers");
                auto page = s.credentials.ListApiKeys(ctx.principal, FilterOf(ctx), p.query);
                json::array items;
                for (const auto& k : page.items) items.push_back(ApiKeyJson(k));
                Reply reply = Ok(ctx, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  router.Add({"GET", "/ng/api/apikey/aggregate", Access::kAdmin, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 0, kSorts, storage::SortField::kName);
                p.query.identifiers = http::QueryList(ctx.request, "identifiers");
                auto page = s.credentials.ListApiKeys(ctx.principal, FilterOf(ctx), p.query);
                json::array items;
                for (const auto& k : page.items)
                  items.push_back(ApiKeyAggregateJson(
                      k, s.credentials.TokenCount(ctx.principal, k.identifier)));
                Reply reply = Ok(ctx, PageJson(std::move(items), page.total, p.page, p.limit));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  router.Add({"GET", "/ng/api/apikey/aggregate/{identifier}", Access::kAdmin, [&s](Context& ctx) {
                std::string id(ctx.Param("identifier"));
                auto k = s.credentials.GetApiKey(ctx.principal, id);
                return Ok(ctx, ApiKeyAggregateJson(k, s.credentials.TokenCount(ctx.principal, id)));
              }});
  router.Add({"GET", "/ng/api/apikey/{identifier}", Access::kAdmin, [&s](Context& ctx) {
                auto k =
                    s.credentials.GetApiKey(ctx.principal, std::string(ctx.Param("identifier")));
                return Ok(ctx, ApiKeyJson(k));
              }});
  router.Add({"PUT", "/ng/api/apikey/{identifier}", Access::kAdmin, [&s](Context& ctx) {
                auto k = s.credentials.UpdateApiKey(
                    ctx.principal, std::string(ctx.Param("identifier")), ReadApiKey(ctx, false));
                return Ok(ctx, ApiKeyJson(k));
              }});
  router.Add({"DELETE", "/ng/api/apikey/{identifier}", Access::kAdmin, [&s](Context& ctx) {
                s.credentials.DeleteApiKey(ctx.principal, std::string(ctx.Param("identifier")),
                                           FilterOf(ctx));
                return Ok(ctx, true);
              }});

  // ---- tokens ----
  router.Add({"POST", "/ng/api/token", Access::kAdmin, [&s](Context& ctx) {
                auto created = s.credentials.CreateToken(ctx.principal, ReadToken(ctx, true));
                return Ok(ctx, json::value(created.token));
              }});
  router.Add({"PUT", "/ng/api/token/{identifier}", Access::kAdmin, [&s](Context& ctx) {
                auto t = s.credentials.UpdateToken(
                    ctx.principal, std::string(ctx.Param("identifier")), ReadToken(ctx, false));
                return Ok(ctx, TokenJson(t, NowMillis()));
              }});
  router.Add({"DELETE", "/ng/api/token/{identifier}", Access::kAdmin, [&s](Context& ctx) {
                s.credentials.DeleteToken(ctx.principal, std::string(ctx.Param("identifier")),
                                          FilterOf(ctx));
                return Ok(ctx, true);
              }});
  router.Add({"GET", "/ng/api/token/aggregate", Access::kAdmin, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 0, kSorts, storage::SortField::kName);
                p.query.identifiers = http::QueryList(ctx.request, "identifiers");
                bool only_active =
                    http::QueryBool(ctx.request, "includeOnlyActiveTokens").value_or(false);
                auto page =
                    s.credentials.ListTokens(ctx.principal, FilterOf(ctx), only_active, p.query);
                int64_t now = NowMillis();
                json::array items;
                for (const auto& t : page.items) {
                  json::object agg;
                  agg["token"] = TokenJson(t, now);
                  agg["expiryAt"] = t.valid_to.value_or(0);  // 0: never expires
                  agg["createdAt"] = t.created;
                  agg["lastModifiedAt"] = t.updated;
                  items.push_back(std::move(agg));
                }
                Reply reply = Ok(ctx, PageJson(std::move(items), page.total, p.page, p.limit));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  router.Add({"POST", "/ng/api/token/rotate/{identifier}", Access::kAdmin, [&s](Context& ctx) {
                auto rotated =
                    s.credentials.RotateToken(ctx.principal, std::string(ctx.Param("identifier")),
                                              FilterOf(ctx), QueryInt(ctx, "rotateTimestamp"));
                return Ok(ctx, json::value(rotated.token));
              }});
  http::Route validate{
      "POST", "/ng/api/token/validate", Access::kAuthenticated, [&s](Context& ctx) {
        if (!ctx.has_body || !ctx.body.is_string())
          Fail(ErrorCode::kInvalidArgument, "the request body must be the token (a string)");
        auto t = s.credentials.Validate(ctx.principal, ctx.body.get_string());
        return Ok(ctx, TokenJson(t, NowMillis()));
      }};
  validate.accepts_text = true;
  router.Add(std::move(validate));
}

}  // namespace statehouse::api
