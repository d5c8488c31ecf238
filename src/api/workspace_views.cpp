#include "api/workspace_views.h"

#include <boost/json.hpp>

#include "api/views.h"
#include "domain/body_reader.h"
#include "domain/workspaces.h"

namespace statehouse::api {
namespace json = boost::json;

json::object WorkspaceSummaryJson(const storage::WorkspaceRecord& w) {
  json::object out = domain::WorkspaceSummaryDocument(w);
  // Extension fields for lists that show them (the console): the version the workspace asks
  // for and its newest cost estimate's monthly total.
  json::object config = domain::ParseObjectOrEmpty(w.config_json);
  if (auto* v = config.if_contains("provisioner_version"); v && v->is_string())
    out["provisioner_version"] = *v;
  json::object server = domain::ParseObjectOrEmpty(w.server_json);
  for (const char* key : {"cost_total_monthly", "cost_currency"})
    if (auto* v = server.if_contains(key); v && v->is_string()) out[key] = *v;
  return out;
}

json::object WorkspaceJson(const storage::WorkspaceRecord& w) {
  return domain::WorkspaceDocument(w);
}

}  // namespace statehouse::api
