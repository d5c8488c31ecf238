#include "api/views.h"

#include <boost/json.hpp>

namespace statehouse::api {
namespace json = boost::json;

json::value TagsJson(const storage::Tags& tags) {
  json::object o;
  for (const auto& [k, v] : tags) o[k] = v;
  return o;
}

json::value OrgJson(const storage::OrgRecord& r) {
  json::object org;
  org["identifier"] = r.identifier;
  org["name"] = r.name;
  org["description"] = r.description;
  org["tags"] = TagsJson(r.tags);
  json::object out;
  out["org"] = std::move(org);
  out["created"] = r.created;
  out["updated"] = r.updated;
  out["harness_managed"] = r.harness_managed;
  return out;
}

json::value ProjectJson(const storage::ProjectRecord& r) {
  json::object p;
  p["org"] = r.org;
  p["identifier"] = r.identifier;
  p["name"] = r.name;
  if (!r.color.empty()) p["color"] = r.color;
  json::array modules;
  for (const auto& m : r.modules) modules.emplace_back(m);
  p["modules"] = std::move(modules);
  p["description"] = r.description;
  p["tags"] = TagsJson(r.tags);
  json::object out;
  out["project"] = std::move(p);
  out["created"] = r.created;
  out["updated"] = r.updated;
  out["isFavorite"] = false;
  return out;
}

json::value ApiKeyJson(const storage::ApiKeyRecord& r) {
  json::object o;
  o["identifier"] = r.identifier;
  o["name"] = r.name;
  o["description"] = r.description;
  o["tags"] = TagsJson(r.tags);
  o["apiKeyType"] = r.api_key_type;
  o["parentIdentifier"] = r.parent_identifier;
  if (r.default_time_to_expire_token)
    o["defaultTimeToExpireToken"] = *r.default_time_to_expire_token;
  o["accountIdentifier"] = r.account;
  if (!r.org.empty()) o["orgIdentifier"] = r.org;
  if (!r.project.empty()) o["projectIdentifier"] = r.project;
  return o;
}

json::value TokenJson(const storage::TokenRecord& r, int64_t now) {
  json::object o;
  o["identifier"] = r.identifier;
  o["name"] = r.name;
  o["validFrom"] = r.valid_from;
  if (r.valid_to) o["validTo"] = *r.valid_to;
  if (r.scheduled_expire_time) o["scheduledExpireTime"] = *r.scheduled_expire_time;
  o["valid"] = r.valid_from <= now && (!r.valid_to || *r.valid_to > now);
  o["accountIdentifier"] = r.account;
  if (!r.org.empty()) o["orgIdentifier"] = r.org;
  if (!r.project.empty()) o["projectIdentifier"] = r.project;
  o["apiKeyIdentifier"] = r.api_key_identifier;
  o["parentIdentifier"] = r.parent_identifier;
  o["apiKeyType"] = r.api_key_type;
  o["description"] = r.description;
  o["tags"] = TagsJson(r.tags);
  o["role"] = r.role;  // extension: the role this token grants
  return o;
}

json::value Envelope(json::value data, std::string_view correlation_id) {
  json::object o;
  o["status"] = "SUCCESS";
  o["data"] = std::move(data);
  o["correlationId"] = correlation_id;
  return o;
}

json::value PageJson(json::array content, int64_t total, int64_t page_index, int64_t page_size) {
  json::object o;
  int64_t count = static_cast<int64_t>(content.size());
  o["totalPages"] = total == 0 ? 0 : (total + page_size - 1) / page_size;
  o["totalItems"] = total;
  o["pageItemCount"] = count;
  o["pageSize"] = page_size;
  o["content"] = std::move(content);
  o["pageIndex"] = page_index;
  o["empty"] = count == 0;
  return o;
}

}  // namespace statehouse::api
