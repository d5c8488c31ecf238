#include "api/workspace_views.h"

#include <boost/json.hpp>

#include "api/views.h"
#include "domain/workspaces.h"

namespace statehouse::api {
namespace json = boost::json;

json::object WorkspaceSummaryJson(const storage::WorkspaceRecord& w) {
  return domain::WorkspaceSummaryDocument(w);
}

json::object WorkspaceJson(const storage::WorkspaceRecord& w) {
  return domain::WorkspaceDocument(w);
}

}  // namespace statehouse::api
