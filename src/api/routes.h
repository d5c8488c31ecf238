// Registers every endpoint. Handlers translate between HTTP documents and the domain only.
#pragma once

#include "domain/credentials.h"
#include "domain/organizations.h"
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
  domain::WorkspaceService workspaces;
  domain::VariableSetService variable_sets;

  explicit Services(storage::Database& database)
      : db(database), orgs(database), projects(database), credentials(database), workspaces(database),
        variable_sets(database) {}
};

void RegisterHealthRoutes(http::Router& router, Services& services);
void RegisterOrgRoutes(http::Router& router, Services& services);
void RegisterCredentialRoutes(http::Router& router, Services& services);
void RegisterWorkspaceRoutes(http::Router& router, Services& services);
void RegisterVariableSetRoutes(http::Router& router, Services& services);

inline void RegisterAllRoutes(http::Router& router, Services& services) {
  RegisterHealthRoutes(router, services);
  RegisterOrgRoutes(router, services);
  RegisterCredentialRoutes(router, services);
  RegisterWorkspaceRoutes(router, services);
  RegisterVariableSetRoutes(router, services);
}

}  // namespace statehouse::api
