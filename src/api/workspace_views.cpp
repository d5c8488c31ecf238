#include "api/workspace_views.h"

#include <boost/json.hpp>

#include "api/views.h"

namespace statehouse::api {
namespace json = boost::json;

namespace {
json::object Parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return !ec && v.is_object() ? v.get_object() : json::object();
}

// The spec requires "kind" on every variable without defining it; variables that were given
// none report the map they belong to.
void AddKinds(json::object& out, const char* map, const char* kind) {
  json::value* vars = out.if_contains(map);
  if (!vars || !vars->is_object()) {
    out[map] = json::object();
    return;
  }
  for (auto& kv : vars->get_object())
    if (kv.value().is_object() && !kv.value().get_object().contains("kind"))
      kv.value().get_object()["kind"] = kind;
}
}  // namespace

json::object WorkspaceSummaryJson(const storage::WorkspaceRecord& w) {
  json::object out;
  out["account"] = w.account;
  out["org"] = w.org;
  out["project"] = w.project;
  out["identifier"] = w.identifier;
  out["name"] = w.name;
  out["status"] = w.status;
  out["provisioner"] = w.provisioner;
  out["tags"] = TagsJson(w.tags);
  out["created"] = w.created;
  out["updated"] = w.updated;
  return out;
}

json::object WorkspaceJson(const storage::WorkspaceRecord& w) {
  json::object out = WorkspaceSummaryJson(w);
  for (auto& kv : Parse(w.config_json)) out[kv.key()] = std::move(kv.value());
  json::array sets;
  for (const auto& s : w.variable_sets) sets.emplace_back(s);
  out["variable_sets"] = std::move(sets);
  if (!w.template_id.empty()) {
    json::object t;
    t["template_id"] = w.template_id;
    if (!w.template_version.empty()) t["version"] = w.template_version;
    out["associated_template"] = std::move(t);
  }
  if (!out.contains("repository_connector")) out["repository_connector"] = "";
  if (!out.contains("provisioner_data")) out["provisioner_data"] = "";
  AddKinds(out, "environment_variables", "env");
  AddKinds(out, "terraform_variables", "tf");
  out["backend_locked"] = false;
  for (const auto& kv : Parse(w.server_json)) out[kv.key()] = kv.value();
  return out;
}

}  // namespace statehouse::api
