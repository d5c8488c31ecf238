// Organizations and projects: scope rules, validation and timestamps over the stores.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "storage/store.h"

namespace statehouse::domain {

struct OrgInput {
  std::string identifier;
  std::string name;
  std::string description;
  storage::Tags tags;
};

struct ProjectInput {
  std::string identifier;
  std::string name;
  std::string description;
  std::string color;
  std::vector<std::string> modules;
  storage::Tags tags;
};

class OrganizationService {
 public:
  explicit OrganizationService(storage::Database& db) : db_(db) {}

  storage::OrgRecord Create(const auth::Principal& who, const OrgInput& in);
  storage::OrgRecord Get(const auth::Principal& who, const std::string& org);
  // in.identifier, when given, must equal the addressed org (identifiers are immutable).
  storage::OrgRecord Update(const auth::Principal& who, const std::string& org, const OrgInput& in,
                            std::optional<int64_t> if_match);
  storage::OrgRecord Delete(const auth::Principal& who, const std::string& org,
                            std::optional<int64_t> if_match);
  // identifiers: the spec's repeated ?org= filter.
  storage::Page<storage::OrgRecord> List(const auth::Principal& who, storage::ListQuery query);

 private:
  storage::Database& db_;
};

class ProjectService {
 public:
  explicit ProjectService(storage::Database& db) : db_(db) {}

  storage::ProjectRecord Create(const auth::Principal& who, const std::string& org,
                                const ProjectInput& in);
  storage::ProjectRecord Get(const auth::Principal& who, const std::string& org,
                             const std::string& project);
  storage::ProjectRecord Update(const auth::Principal& who, const std::string& org,
                                const std::string& project, const ProjectInput& in,
                                std::optional<int64_t> if_match);
  storage::ProjectRecord Delete(const auth::Principal& who, const std::string& org,
                                const std::string& project, std::optional<int64_t> if_match);
  storage::Page<storage::ProjectRecord> List(const auth::Principal& who, const std::string& org,
                                             storage::ListQuery query);

 private:
  storage::Database& db_;
};

// The module types a project may enable (harness-org-project-api-openapi.yml ModuleType).
const std::vector<std::string>& ProjectModuleTypes();

}  // namespace statehouse::domain
