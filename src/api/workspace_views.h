// Workspace response shapes (harness-workspaces-api-openapi.yml).
#pragma once

#include <boost/json/object.hpp>

#include "storage/records.h"

namespace statehouse::api {

// WorkspacesShowWorkspaceResponseBody: header fields, the stored configuration and the
// server-owned fields. Variables carry kind, created and updated (VariableResource).
boost::json::object WorkspaceJson(const storage::WorkspaceRecord& w);
// WorkspaceResourceSummary (list rows), plus provisioner_version and cost_total_monthly /
// cost_currency when known.
boost::json::object WorkspaceSummaryJson(const storage::WorkspaceRecord& w);

}  // namespace statehouse::api
