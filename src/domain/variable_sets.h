// IaCM variable sets at account, org and project level: validation, scope rules, per-entry
// timestamps and the stored document (harness-variable-sets-api-openapi.yml).
//
// A level is named by a storage::VariableSetKey whose org/project are empty for the levels
// above (account: both empty; org: project empty). Its identifier names the set (ignored by
// Create, which takes it from the request, and by List).
//
// The stored document (VariableSetRecord::document_json), read by the workspace code too:
//   {"environment_variables": {KEY: {"key","value","value_type","created","updated"}},
//    "terraform_variables":   {same},
//    "terraform_variable_files": [{"repository", "repository_branch"?, "repository_commit"?,
//                                  "repository_connector"?, "repository_path",
//                                  "repository_sha"?, "created", "updated"}],
//    "connectors": [{"connector_ref", "type", "created", "updated"}]}
// Secret values are references ("account.db_password") kept as written, never resolved.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string_view>

#include "auth/auth.h"
#include "storage/store.h"

namespace statehouse::domain {

class VariableSetService {
 public:
  explicit VariableSetService(storage::Database& db) : db_(db) {}

  // body: a CreateVariableSetRequest* document. kNotFound for an unknown or invisible level,
  // kPermissionDenied outside the caller's scope, kInvalidArgument naming the field,
  // kConflict on a duplicate identifier.
  storage::VariableSetRecord Create(const auth::Principal& who,
                                    const storage::VariableSetKey& level,
                                    const boost::json::value& body);
  storage::VariableSetRecord Get(const auth::Principal& who, const storage::VariableSetKey& key);
  // body: an UpdateVariableSetRequest* document; it replaces name, variables, files and
  // connectors (absent collections become empty). Entries that did not change keep their
  // created/updated; a variable's updated moves when its value or value_type changes.
  storage::VariableSetRecord Update(const auth::Principal& who, const storage::VariableSetKey& key,
                                    const boost::json::value& body);
  // kConflict, naming the workspaces, while any workspace references the set.
  void Delete(const auth::Principal& who, const storage::VariableSetKey& key);
  // Sets defined at exactly this level.
  storage::Page<storage::VariableSetRecord> List(const auth::Principal& who,
                                                 const storage::VariableSetKey& level,
                                                 const storage::ListQuery& query);
  // Workspaces referencing the set that the caller may see.
  storage::Page<storage::WorkspaceRecord> References(const auth::Principal& who,
                                                     const storage::VariableSetKey& key,
                                                     const storage::ListQuery& query);

 private:
  void RequireLevel(const auth::Principal& who, const storage::VariableSetKey& level);
  storage::Database& db_;
};

// ^[A-Za-z_][A-Za-z0-9_-]*$, 1..128 (stricter than the spec's ^[^/?#\s]+$, so that workspaces
// can reference the set as "account.<id>", "org.<id>" or "<id>").
void ValidateVariableSetIdentifier(std::string_view field, std::string_view value);

struct VariableSetDocument {
  boost::json::object document;  // the stored format above
  int64_t env_vars_count = 0;
  int64_t tf_vars_count = 0;
  int64_t var_files_count = 0;
};

// Validates the variables, files and connectors of a request document and builds the stored
// document. previous: the stored document being replaced (nullptr on create), whose entries
// keep their timestamps when unchanged. Throws kInvalidArgument naming the field.
VariableSetDocument BuildVariableSetDocument(const boost::json::object& request,
                                             const boost::json::object* previous, int64_t now);

}  // namespace statehouse::domain
