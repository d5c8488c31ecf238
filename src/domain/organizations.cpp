#include "domain/organizations.h"

#include <algorithm>

#include "common/error.h"
#include "common/util.h"
#include "domain/validation.h"

namespace statehouse::domain {

namespace {
void ValidateOrg(const OrgInput& in) {
  ValidateIdentifier("org.identifier", in.identifier);
  ValidateName("org.name", in.name);
  ValidateMaxLength("org.description", in.description, 1024);
  ValidateTags("org.tags", in.tags);
}

void ValidateProject(const ProjectInput& in) {
  ValidateIdentifier("project.identifier", in.identifier);
  ValidateName("project.name", in.name);
  ValidateMaxLength("project.description", in.description, 1024);
  ValidateMaxLength("project.color", in.color, 64);
  ValidateTags("project.tags", in.tags);
  if (in.modules.size() > 1024)
    Fail(ErrorCode::kInvalidArgument, "project.modules: at most 1024 items are allowed");
  const auto& allowed = ProjectModuleTypes();
  for (const auto& m : in.modules)
    if (std::find(allowed.begin(), allowed.end(), m) == allowed.end())
      Fail(ErrorCode::kInvalidArgument, "project.modules: unknown module type '" + m + "'");
}

[[noreturn]] void OrgNotFound(const std::string& org) {
  Fail(ErrorCode::kNotFound, "organization '" + org + "' not found");
}
}  // namespace

const std::vector<std::string>& ProjectModuleTypes() {
  static const std::vector<std::string> kTypes = {
      "CD",         "CI",    "CV",  "CF",  "CE",   "STO", "CORE", "PMS", "TEMPLATESERVICE",
      "GOVERNANCE", "CHAOS", "CET", "IDP", "SSCA", "SEI", "CODE", "HAR"};
  return kTypes;
}

storage::OrgRecord OrganizationService::Create(const auth::Principal& who, const OrgInput& in) {
  ValidateOrg(in);
  // Creating an org is an account-level act.
  auth::RequireScope(who, "", "");
  storage::OrgRecord r;
  r.account = who.account;
  r.identifier = in.identifier;
  r.name = in.name;
  r.description = in.description;
  r.tags = in.tags;
  r.created = r.updated = NowMillis();
  db_.CreateOrg(r);
  return r;
}

storage::OrgRecord OrganizationService::Get(const auth::Principal& who, const std::string& org) {
  // Out-of-scope orgs look absent, so a scoped token learns nothing about its neighbours.
  if (!who.CanSee(org, "")) OrgNotFound(org);
  auto r = db_.GetOrg(who.account, org);
  if (!r) OrgNotFound(org);
  return *r;
}

storage::OrgRecord OrganizationService::Update(const auth::Principal& who, const std::string& org,
                                               const OrgInput& in,
                                               std::optional<int64_t> if_match) {
  if (!who.CanSee(org, "")) OrgNotFound(org);
  auth::RequireScope(who, org, "");
  OrgInput effective = in;
  if (effective.identifier.empty()) effective.identifier = org;
  if (effective.identifier != org)
    Fail(ErrorCode::kInvalidArgument,
         "org.identifier: does not match the organization in the path ('" + org + "')");
  ValidateOrg(effective);
  storage::OrgRecord r;
  r.account = who.account;
  r.identifier = org;
  r.name = effective.name;
  r.description = effective.description;
  r.tags = effective.tags;
  r.updated = NowMillis();
  return db_.UpdateOrg(r, if_match);
}

storage::OrgRecord OrganizationService::Delete(const auth::Principal& who, const std::string& org,
                                               std::optional<int64_t> if_match) {
  if (!who.CanSee(org, "")) OrgNotFound(org);
  auth::RequireScope(who, org, "");
  return db_.DeleteOrg(who.account, org, if_match);
}

storage::Page<storage::OrgRecord> OrganizationService::List(const auth::Principal& who,
                                                            storage::ListQuery query) {
  if (!who.org.empty()) {
    // A scoped token sees only its own org.
    if (!query.identifiers.empty() && std::find(query.identifiers.begin(), query.identifiers.end(),
                                                who.org) == query.identifiers.end()) {
      return {};
    }
    query.identifiers = {who.org};
  }
  return db_.ListOrgs(who.account, query);
}

storage::ProjectRecord ProjectService::Create(const auth::Principal& who, const std::string& org,
                                              const ProjectInput& in) {
  ValidateProject(in);
  if (!who.CanSee(org, "")) OrgNotFound(org);
  auth::RequireScope(who, org, "");
  storage::ProjectRecord r;
  r.account = who.account;
  r.org = org;
  r.identifier = in.identifier;
  r.name = in.name;
  r.description = in.description;
  r.color = in.color;
  r.modules = in.modules;
  r.tags = in.tags;
  r.created = r.updated = NowMillis();
  db_.CreateProject(r);
  return r;
}

storage::ProjectRecord ProjectService::Get(const auth::Principal& who, const std::string& org,
                                           const std::string& project) {
  if (!who.CanSee(org, "")) OrgNotFound(org);
  if (!who.CanSee(org, project)) Fail(ErrorCode::kNotFound, "project '" + project + "' not found");
  auto r = db_.GetProject(who.account, org, project);
  if (!r) {
    if (!db_.GetOrg(who.account, org)) OrgNotFound(org);
    Fail(ErrorCode::kNotFound, "project '" + project + "' not found in organization '" + org + "'");
  }
  return *r;
}

storage::ProjectRecord ProjectService::Update(const auth::Principal& who, const std::string& org,
                                              const std::string& project, const ProjectInput& in,
                                              std::optional<int64_t> if_match) {
  Get(who, org, project);  // 404 before 403, consistent with reads
  auth::RequireScope(who, org, project);
  ProjectInput effective = in;
  if (effective.identifier.empty()) effective.identifier = project;
  if (effective.identifier != project)
    Fail(ErrorCode::kInvalidArgument,
         "project.identifier: does not match the project in the path ('" + project + "')");
  ValidateProject(effective);
  storage::ProjectRecord r;
  r.account = who.account;
  r.org = org;
  r.identifier = project;
  r.name = effective.name;
  r.description = effective.description;
  r.color = effective.color;
  r.modules = effective.modules;
  r.tags = effective.tags;
  r.updated = NowMillis();
  return db_.UpdateProject(r, if_match);
}

storage::ProjectRecord ProjectService::Delete(const auth::Principal& who, const std::string& org,
                                              const std::string& project,
                                              std::optional<int64_t> if_match) {
  Get(who, org, project);
  auth::RequireScope(who, org, project);
  return db_.DeleteProject(who.account, org, project, if_match);
}

storage::Page<storage::ProjectRecord> ProjectService::List(const auth::Principal& who,
                                                           const std::string& org,
                                                           storage::ListQuery query) {
  if (!who.CanSee(org, "")) OrgNotFound(org);
  if (!who.project.empty()) {
    if (!query.identifiers.empty() && std::find(query.identifiers.begin(), query.identifiers.end(),
                                                who.project) == query.identifiers.end()) {
      return {};
    }
    query.identifiers = {who.project};
  }
  return db_.ListProjects(who.account, org, query);
}

}  // namespace statehouse::domain
