// Registers every endpoint. Handlers translate between HTTP documents and the domain only.
#pragma once

#include "domain/credentials.h"
#include "domain/organizations.h"
#include "http/router.h"
#include "storage/store.h"

namespace statehouse::api {

struct Services {
  storage::Database& db;
  domain::OrganizationService orgs;
  domain::ProjectService projects;
  domain::CredentialService credentials;

  explicit Services(storage::Database& database)
      : db(database), orgs(database), projects(database), credentials(database) {}
};

void RegisterHealthRoutes(http::Router& router, Services& services);
void RegisterOrgRoutes(http::Router& router, Services& services);
void RegisterCredentialRoutes(http::Router& router, Services& services);

inline void RegisterAllRoutes(http::Router& router, Services& services) {
  RegisterHealthRoutes(router, services);
  RegisterOrgRoutes(router, services);
  RegisterCredentialRoutes(router, services);
}

}  // namespace statehouse::api
