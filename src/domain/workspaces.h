// IaCM workspaces: validation and normalisation of the whole workspace document, variable-set
// resolution and effective variables, listings and per-workspace settings.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "common/error.h"
#include "storage/store.h"

namespace statehouse::domain {

class PolicyService;
struct PolicyDecision;

// The workspace as the API shows it (WorkspacesShowWorkspaceResponseBody without the lock
// and effective variables), which is also what workspace policies see as input.workspace.
boost::json::object WorkspaceDocument(const storage::WorkspaceRecord& w);
// WorkspaceResourceSummary (list rows).
boost::json::object WorkspaceSummaryDocument(const storage::WorkspaceRecord& w);
// The workspace's prune_sensitive_data setting (states and plans shown without their
// sensitive values).
bool PrunesSensitiveData(const storage::WorkspaceRecord& w);

// Provisioners a workspace may use.
const std::vector<std::string>& WorkspaceProvisioners();
// The spec's workspace status enum.
const std::vector<std::string>& WorkspaceStatuses();

// Resolves a workspace's variable-set reference: "account.x", "org.x" or "x" (project level).
storage::VariableSetKey ResolveVariableSetRef(std::string_view ref, const std::string& org,
                                              const std::string& project);

struct WorkspaceScope {
  std::string org;
  std::string project;
};

class WorkspaceService {
 public:
  explicit WorkspaceService(storage::Database& db, PolicyService* policies = nullptr)
      : db_(db), policies_(policies) {}

  // Create, Update and Clone evaluate the workspace on-save policies against the workspace
  // about to be saved: an error-severity deny refuses the save (the spec's
  // PolicyViolationError) and changes nothing; otherwise the decision is stored in *decision
  // (when given) for the reply.

  // body: the request document (CreateWorkspaceRequest). lenient: values may be text (forms).
  storage::WorkspaceRecord Create(const auth::Principal& who, const WorkspaceScope& scope,
                                  const boost::json::object& body, bool lenient,
                                  PolicyDecision* decision = nullptr);
  storage::WorkspaceRecord Get(const auth::Principal& who, const WorkspaceScope& scope,
                               const std::string& id);
  // Get, with the workspace's lock and newest state version read in the same statement.
  storage::WorkspaceView GetView(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& id);
  // Runs a store call that itself fails with kNotFound when the workspace is missing (so the
  // hot path reads the workspace once, inside the call's own transaction); on that failure,
  // the 404 says precisely what is missing, the project or the workspace.
  template <typename StoreCall>
  auto WithExisting(const auth::Principal& who, const WorkspaceScope& scope, const std::string& id,
                    StoreCall&& call) {
    CheckRead(who, scope);
    try {
      return call();
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kNotFound) WorkspaceNotFound(who, scope, id);
      throw;
    }
  }
  // PUT semantics: every client-owned field is replaced (UpdateWorkspaceRequest).
  storage::WorkspaceRecord Update(const auth::Principal& who, const WorkspaceScope& scope,
                                  const std::string& id, const boost::json::object& body,
                                  bool lenient, std::optional<int64_t> if_match,
                                  PolicyDecision* decision = nullptr);
  void Destroy(const auth::Principal& who, const WorkspaceScope& scope, const std::string& id,
               std::optional<int64_t> if_match);
  storage::WorkspaceRecord Clone(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& source, const std::string& identifier,
                                 const std::string& name, PolicyDecision* decision = nullptr);
  storage::Page<storage::WorkspaceRecord> List(const auth::Principal& who,
                                               const WorkspaceScope& scope,
                                               const storage::WorkspaceListQuery& query);
  std::vector<std::string> Tags(const auth::Principal& who, const WorkspaceScope& scope);
  std::vector<std::pair<std::string, int64_t>> CountBy(const auth::Principal& who,
                                                       const WorkspaceScope& scope,
                                                       const std::string& column);
  std::vector<storage::WorkspaceRecord> TemplateWorkspaces(const auth::Principal& who,
                                                           const std::string& org,
                                                           const std::string& project,
                                                           const std::string& template_id,
                                                           const std::string& version);

  // The workspace's own variables over those of its variable sets (the first listed set wins
  // among sets), each with its source.
  boost::json::object EffectiveVariables(const storage::WorkspaceRecord& w);

  // drift-config / ephemeral-config: stored JSON documents, validated here.
  std::optional<boost::json::object> GetSetting(const auth::Principal& who,
                                                const WorkspaceScope& scope, const std::string& id,
                                                const std::string& name);
  boost::json::object PutSetting(const auth::Principal& who, const WorkspaceScope& scope,
                                 const std::string& id, const std::string& name,
                                 const boost::json::object& body, bool lenient);
  bool DeleteSetting(const auth::Principal& who, const WorkspaceScope& scope, const std::string& id,
                     const std::string& name);

 private:
  void CheckRead(const auth::Principal& who, const WorkspaceScope& scope);
  // The 404 of a workspace that was not found: its project's, when that is what is missing.
  [[noreturn]] void WorkspaceNotFound(const auth::Principal& who, const WorkspaceScope& scope,
                                      const std::string& id);
  void CheckWrite(const auth::Principal& who, const WorkspaceScope& scope);
  // The on-save policies for candidate: throws the violation (recording it) when an
  // error-severity policy denies; otherwise the decision, whose evaluation the save stores.
  PolicyDecision CheckOnSave(const auth::Principal& who, const storage::WorkspaceRecord& candidate);
  // Hands a stored decision to the caller (when it asked for one).
  static void Deliver(PolicyDecision checked, PolicyDecision* decision);
  storage::Database& db_;
  PolicyService* policies_;
};

// A drift-config interval (run_every, run_every_unit) in milliseconds.
int64_t DriftIntervalMillis(int64_t every, const std::string& unit);

}  // namespace statehouse::domain
