// Registers every endpoint. Handlers translate between HTTP documents and the domain only.
#pragma once

#include "domain/audit.h"
#include "domain/credentials.h"
#include "domain/organizations.h"
#include "domain/policies.h"
#include "domain/runs.h"
#include "domain/state.h"
#include "domain/variable_sets.h"
#include "domain/workspaces.h"
#include "http/router.h"
#include "storage/store.h"

namespace statehouse::api {

struct Services {
  storage::Database& db;
  domain::OrganizationService orgs;
  domain::ProjectService projects;
  domain::CredentialService credentials;
  domain::PolicyService policies;  // before the services that enforce policies
  domain::WorkspaceService workspaces;
  domain::VariableSetService variable_sets;
  domain::StateService states;
  domain::RunService runs;
  domain::AuditTrail audit;  // the dispatcher records writes in it (api/audit.h)
  size_t max_state_bytes;    // body limit of state uploads

  explicit Services(storage::Database& database, size_t state_limit = kDefaultMaxStateBytes)
      : db(database),
        orgs(database),
        projects(database),
        credentials(database),
        policies(database),
        workspaces(database, &policies),
        variable_sets(database),
        states(database, workspaces, &policies),
        runs(database, workspaces),
        audit(database.Audit()),
        max_state_bytes(state_limit) {}

  static constexpr size_t kDefaultMaxStateBytes = size_t{2} << 30;
};

// The {org}/{project} of an IaCM path.
inline domain::WorkspaceScope ScopeOf(const http::Context& ctx) {
  return {std::string(ctx.Param("org")), std::string(ctx.Param("project"))};
}

void RegisterHealthRoutes(http::Router& router, Services& services);
void RegisterOrgRoutes(http::Router& router, Services& services);
void RegisterCredentialRoutes(http::Router& router, Services& services);
void RegisterWorkspaceRoutes(http::Router& router, Services& services);
void RegisterStateRoutes(http::Router& router, Services& services);
void RegisterVariableSetRoutes(http::Router& router, Services& services);
void RegisterPolicyRoutes(http::Router& router, Services& services);
void RegisterRunRoutes(http::Router& router, Services& services);
void RegisterAuditRoutes(http::Router& router, Services& services);
// The web console at /ui (and a redirect from /): the files built into the binary, or, with
// ui_dir, those of that directory as they are on disk (for work on the console).
void RegisterUiRoutes(http::Router& router, const std::string& ui_dir);

inline void RegisterAllRoutes(http::Router& router, Services& services) {
  RegisterHealthRoutes(router, services);
  RegisterOrgRoutes(router, services);
  RegisterCredentialRoutes(router, services);
  RegisterWorkspaceRoutes(router, services);
  RegisterStateRoutes(router, services);
  RegisterVariableSetRoutes(router, services);
  RegisterPolicyRoutes(router, services);
  RegisterRunRoutes(router, services);
  RegisterAuditRoutes(router, services);
}

}  // namespace statehouse::api
