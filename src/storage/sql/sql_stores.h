// The stores beyond the core ones, written once against the SQL layer and sharing the
// database's connection pool.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/migrations.h"
#include "storage/sql/sql.h"
#include "storage/store.h"

namespace statehouse::storage::sql {

using BlobStoreFactory = std::function<std::unique_ptr<BlobStore>(ConnectionPool&)>;

// A Database over a pool: applies the migrations, then serves every store.
// commits: the backend's commit clock (Database::CommitCounter), or null. credentials: its
// clock of token-row changes (Database::CredentialsCounter); null when commits stands for it.
std::unique_ptr<Database> MakeDatabase(
    std::string backend, std::unique_ptr<ConnectionPool> pool,
    const std::vector<Migration>& migrations, const BlobStoreFactory& blobs,
    std::shared_ptr<const CommitClock> commits = {},
    std::function<Database::ReplicaSignalCounts()> replica_signals = {},
    std::shared_ptr<const CommitClock> credentials = {},
    std::function<Database::WalCheckpointCounts()> wal_checkpoints = {});

std::unique_ptr<WorkspaceStore> MakeWorkspaceStore(ConnectionPool& pool);
std::unique_ptr<VariableSetStore> MakeVariableSetStore(ConnectionPool& pool);
std::unique_ptr<StateStore> MakeStateStore(ConnectionPool& pool);
// sole_writer: this process alone writes the database, so the applicable sets it remembers
// need only follow its own changes; otherwise each use reads the policy_generation row first.
std::unique_ptr<PolicyStore> MakePolicyStore(ConnectionPool& pool, bool sole_writer);
// Tells a store of MakePolicyStore that policy rows changed outside it (DeletePolicyLevel).
void PolicyLevelDeleted(PolicyStore& store);
std::unique_ptr<RunStore> MakeRunStore(ConnectionPool& pool);
std::unique_ptr<AuditStore> MakeAuditStore(ConnectionPool& pool);
std::unique_ptr<MaintenanceStore> MakeMaintenanceStore(ConnectionPool& pool);

// Stores an evaluation inside the caller's transaction (PolicyStore::AddEvaluation in one of
// its own); returns its id.
int64_t InsertEvaluation(Connection& c, const EvaluationRecord& evaluation);

// Moves the policy_generation row, inside the caller's transaction: every change of policies
// or policy sets does, so replicas that remember applicable sets know to load them again.
void MovePolicyGeneration(Connection& c);

// Removes the policies, policy sets (with their links) and evaluations of one level, inside
// the caller's transaction: an org or project takes its own with it when it is deleted.
void DeletePolicyLevel(Connection& c, std::string_view account, std::string_view org,
                       std::string_view project);

}  // namespace statehouse::storage::sql
