// The core stores (accounts, orgs, projects, API keys, tokens) and the Database that holds
// every store, written once against the SQL layer.
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/sql/sql.h"
#include "storage/sql/sql_common.h"
#include "storage/sql/sql_stores.h"
#include "storage/text_columns.h"

namespace statehouse::storage {
namespace {

using sql::CheckVersion;
using sql::Connection;
using sql::ConnectionPool;
using sql::Filter;
using sql::JoinNames;
using sql::OrderBy;
using sql::SearchFilter;
using sql::Statement;
using sql::Unfiltered;

constexpr const char* kOrgColumns =
    "account, identifier, name, description, tags, harness_managed, created, updated, version";

OrgRecord ReadOrg(const Statement& s) {
  OrgRecord r;
  r.account = s.Text(0);
  r.identifier = s.Text(1);
  r.name = s.Text(2);
  r.description = s.Text(3);
  r.tags = TagsFromText(s.Text(4));
  r.harness_managed = s.Int(5) != 0;
  r.created = s.Int(6);
  r.updated = s.Int(7);
  r.version = s.Int(8);
  return r;
}

constexpr const char* kProjectColumns =
    "account, org, identifier, name, description, color, modules, tags, created, updated, version";

ProjectRecord ReadProject(const Statement& s) {
  ProjectRecord r;
  r.account = s.Text(0);
  r.org = s.Text(1);
  r.identifier = s.Text(2);
  r.name = s.Text(3);
  r.description = s.Text(4);
  r.color = s.Text(5);
  r.modules = StringsFromText(s.Text(6));
  r.tags = TagsFromText(s.Text(7));
  r.created = s.Int(8);
  r.updated = s.Int(9);
  r.version = s.Int(10);
  return r;
}

constexpr const char* kApiKeyColumns =
    "account, identifier, name, description, tags, api_key_type, parent_identifier, "
    "default_time_to_expire_token, org, project, created, updated";

ApiKeyRecord ReadApiKey(const Statement& s) {
  ApiKeyRecord r;
  r.account = s.Text(0);
  r.identifier = s.Text(1);
  r.name = s.Text(2);
  r.description = s.Text(3);
  r.tags = TagsFromText(s.Text(4));
  r.api_key_type = s.Text(5);
  r.parent_identifier = s.Text(6);
  r.default_time_to_expire_token = s.OptInt(7);
  r.org = s.Text(8);
  r.project = s.Text(9);
  r.created = s.Int(10);
  r.updated = s.Int(11);
  return r;
}

constexpr const char* kTokenColumns =
    "account, identifier, name, description, tags, api_key_identifier, api_key_type, "
    "parent_identifier, org, project, role, valid_from, valid_to, scheduled_expire_time, "
    "secret_salt, secret_hash, previous_salt, previous_hash, previous_valid_until, created, "
    "updated";

TokenRecord ReadToken(const Statement& s) {
  TokenRecord r;
  r.account = s.Text(0);
  r.identifier = s.Text(1);
  r.name = s.Text(2);
  r.description = s.Text(3);
  r.tags = TagsFromText(s.Text(4));
  r.api_key_identifier = s.Text(5);
  r.api_key_type = s.Text(6);
  r.parent_identifier = s.Text(7);
  r.org = s.Text(8);
  r.project = s.Text(9);
  r.role = s.Text(10);
  r.valid_from = s.Int(11);
  r.valid_to = s.OptInt(12);
  r.scheduled_expire_time = s.OptInt(13);
  r.secret_salt = s.Text(14);
  r.secret_hash = s.Text(15);
  r.previous_salt = s.Text(16);
  r.previous_hash = s.Text(17);
  r.previous_valid_until = s.Int(18);
  r.created = s.Int(19);
  r.updated = s.Int(20);
  return r;
}

class SqlDatabase final : public Database {
 public:
  SqlDatabase(std::string backend, std::unique_ptr<ConnectionPool> pool,
              const std::vector<Migration>& migrations, const sql::BlobStoreFactory& blobs,
              std::shared_ptr<const CommitClock> commits,
              std::function<ReplicaSignalCounts()> replica_signals,
              std::shared_ptr<const CommitClock> credentials,
              std::function<WalCheckpointCounts()> wal_checkpoints)
      : backend_(std::move(backend)),
        owned_pool_(std::move(pool)),
        pool_(*owned_pool_),
        commits_(std::move(commits)),
        credentials_(std::move(credentials)),
        replica_signals_(std::move(replica_signals)),
        wal_checkpoints_(std::move(wal_checkpoints)) {
    Migrate(migrations);
    workspaces_ = sql::MakeWorkspaceStore(pool_);
    variable_sets_ = sql::MakeVariableSetStore(pool_);
    states_ = sql::MakeStateStore(pool_);
    // Policy sets are remembered only where this process is the one writer.
    policies_ = sql::MakePolicyStore(pool_, /*sole_writer=*/commits_ && commits_->Exact());
    runs_ = sql::MakeRunStore(pool_);
    audit_ = sql::MakeAuditStore(pool_);
    maintenance_ = sql::MakeMaintenanceStore(pool_);
    blobs_ = blobs(pool_);
  }

  WorkspaceStore& Workspaces() override { return *workspaces_; }
  VariableSetStore& VariableSets() override { return *variable_sets_; }
  StateStore& States() override { return *states_; }
  PolicyStore& Policies() override { return *policies_; }
  RunStore& Runs() override { return *runs_; }
  AuditStore& Audit() override { return *audit_; }
  MaintenanceStore& Maintenance() override { return *maintenance_; }
  BlobStore& Blobs() override { return *blobs_; }

  std::string BackendName() const override { return backend_; }
  const CommitClock* CommitCounter() const override { return commits_.get(); }
  const CommitClock* CredentialsCounter() const override {
    return credentials_ ? credentials_.get() : commits_.get();
  }

  Totals ReadTotals() override {
    return pool_.ReadTransaction([](Connection& c) {
      Totals t;
      Statement states = c.Prepare(
          "SELECT count(*), coalesce(sum(size), 0) FROM workspace_data WHERE data_type = "
          "'state_raw'");
      if (states.Step()) {
        t.state_versions = states.Int(0);
        t.state_bytes = states.Int(1);
      }
      // Blobs are content-addressed: one per distinct SHA-256.
      Statement blobs = c.Prepare(
          "SELECT count(*), coalesce(sum(size), 0) FROM (SELECT sha256, max(size) AS size FROM "
          "workspace_data GROUP BY sha256) AS distinct_blobs");
      if (blobs.Step()) {
        t.blobs = blobs.Int(0);
        t.blob_bytes = blobs.Int(1);
      }
      Statement runs =
          c.Prepare("SELECT status, count(*) FROM runs GROUP BY status ORDER BY status");
      while (runs.Step()) t.runs_by_status.emplace_back(runs.Text(0), runs.Int(1));
      return t;
    });
  }

  void SetTransactionObserver(std::function<void(bool, double)> observer) override {
    pool_.observer = std::move(observer);
  }
  GroupCommitCounts GroupCommits() const override {
    auto counts = pool_.GroupCommits();
    return {counts.commits, counts.writes};
  }
  ReplicaSignalCounts ReplicaSignals() const override {
    return replica_signals_ ? replica_signals_() : ReplicaSignalCounts{};
  }
  WalCheckpointCounts WalCheckpoints() const override {
    return wal_checkpoints_ ? wal_checkpoints_() : WalCheckpointCounts{};
  }

  void Ping() override {
    pool_.With([](Connection& c) {
      Statement s = c.Prepare("SELECT count(*) FROM schema_migrations");
      s.Step();
    });
  }

  // ---- accounts ----
  bool CreateAccount(const AccountRecord& a) override {
    return pool_.WriteTransaction([&](Connection& c) {
      Statement s = c.Prepare(
          "INSERT INTO accounts(identifier, created) VALUES(?, ?) ON CONFLICT DO NOTHING");
      s.Bind(1, a.identifier).Bind(2, a.created).Run();
      return c.Changes() == 1;
    });
  }

  std::optional<AccountRecord> GetAccount(std::string_view id) override {
    return pool_.With([&](Connection& c) -> std::optional<AccountRecord> {
      Statement s = c.Prepare("SELECT identifier, created FROM accounts WHERE identifier = ?");
      s.Bind(1, id);
      if (!s.Step()) return std::nullopt;
      return AccountRecord{s.Text(0), s.Int(1)};
    });
  }

  int64_t CountAccounts() override {
    return pool_.With([](Connection& c) {
      Statement s = c.Prepare("SELECT count(*) FROM accounts");
      s.Step();
      return s.Int(0);
    });
  }

  // ---- orgs ----
  void CreateOrg(const OrgRecord& o) override {
    pool_.WriteTransaction([&](Connection& c) {
      RequireAccount(c, o.account);
      if (FindOrg(c, o.account, o.identifier))
        Fail(ErrorCode::kConflict, "organization '" + o.identifier + "' already exists");
      Statement s = c.Prepare(
          "INSERT INTO orgs(account, identifier, name, description, tags, harness_managed, "
          "created, updated, version) VALUES(?,?,?,?,?,?,?,?,1)");
      s.Bind(1, o.account).Bind(2, o.identifier).Bind(3, o.name).Bind(4, o.description);
      s.Bind(5, TagsToText(o.tags)).Bind(6, int64_t{o.harness_managed}).Bind(7, o.created);
      s.Bind(8, o.updated).Run();
      Statement inc =
          c.Prepare("UPDATE accounts SET org_count = org_count + 1 WHERE identifier = ?");
      inc.Bind(1, o.account).Run();
    });
  }

  std::optional<OrgRecord> GetOrg(std::string_view account, std::string_view org) override {
    return pool_.With([&](Connection& c) { return FindOrg(c, account, org); });
  }

  OrgRecord UpdateOrg(const OrgRecord& o, std::optional<int64_t> expected) override {
    return pool_.WriteTransaction([&](Connection& c) {
      auto current = FindOrg(c, o.account, o.identifier, true);
      if (!current) Fail(ErrorCode::kNotFound, "organization '" + o.identifier + "' not found");
      CheckVersion(expected, current->version, "organization '" + o.identifier + "'");
      Statement s = c.Prepare(
          "UPDATE orgs SET name = ?, description = ?, tags = ?, updated = ?, version = version + 1 "
          "WHERE account = ? AND identifier = ?");
      s.Bind(1, o.name).Bind(2, o.description).Bind(3, TagsToText(o.tags)).Bind(4, o.updated);
      s.Bind(5, o.account).Bind(6, o.identifier).Run();
      return *FindOrg(c, o.account, o.identifier);
    });
  }

  OrgRecord DeleteOrg(std::string_view account, std::string_view org,
                      std::optional<int64_t> expected) override {
    // The level's policies go with it (DeletePolicyLevel).
    struct Forget {
      PolicyStore& policies;
      ~Forget() { sql::PolicyLevelDeleted(policies); }
    } forget{*policies_};
    return pool_.WriteTransaction([&](Connection& c) {
      auto current = FindOrg(c, account, org, true);
      if (!current) Fail(ErrorCode::kNotFound, "organization '" + std::string(org) + "' not found");
      CheckVersion(expected, current->version, "organization '" + std::string(org) + "'");
      Statement count =
          c.Prepare("SELECT project_count FROM orgs WHERE account = ? AND identifier = ?");
      count.Bind(1, account).Bind(2, org);
      count.Step();
      int64_t projects = count.Int(0);
      if (projects > 0) {
        Statement names = c.Prepare(
            "SELECT identifier FROM projects WHERE account = ? AND org = ? ORDER BY identifier "
            "LIMIT 10");
        names.Bind(1, account).Bind(2, org);
        std::vector<std::string> list;
        while (names.Step()) list.push_back(names.Text(0));
        Fail(ErrorCode::kConflict,
             "organization '" + std::string(org) + "' still holds " + std::to_string(projects) +
                 " project(s): " + JoinNames(list, projects) + "; delete them first");
      }
      // Org-level sets can only be referenced from the org's projects, which are gone.
      Statement sets =
          c.Prepare("DELETE FROM variable_sets WHERE account = ? AND org = ? AND project = ''");
      sets.Bind(1, account).Bind(2, org).Run();
      DeletePolicyLevel(c, account, org, "");
      Statement del = c.Prepare("DELETE FROM orgs WHERE account = ? AND identifier = ?");
      del.Bind(1, account).Bind(2, org).Run();
      Statement dec =
          c.Prepare("UPDATE accounts SET org_count = org_count - 1 WHERE identifier = ?");
      dec.Bind(1, account).Run();
      return *current;
    });
  }

  Page<OrgRecord> ListOrgs(std::string_view account, const ListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      Page<OrgRecord> page;
      Filter f = SearchFilter(q);
      if (Unfiltered(q)) {
        Statement s = c.Prepare("SELECT org_count FROM accounts WHERE identifier = ?");
        s.Bind(1, account);
        page.total = s.Step() ? s.Int(0) : 0;
      } else {
        Statement s = c.Prepare("SELECT count(*) FROM orgs WHERE account = ?" + f.sql);
        int i = 1;
        s.Bind(i++, account);
        for (const auto& b : f.binds) s.Bind(i++, b);
        s.Step();
        page.total = s.Int(0);
      }
      Statement s =
          c.Prepare(std::string("SELECT ") + kOrgColumns + " FROM orgs WHERE account = ?" + f.sql +
                    " ORDER BY " + OrderBy(q.sort, q.descending) + " LIMIT ? OFFSET ?");
      int i = 1;
      s.Bind(i++, account);
      for (const auto& b : f.binds) s.Bind(i++, b);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadOrg(s));
      return page;
    });
  }

  // ---- projects ----
  void CreateProject(const ProjectRecord& p) override {
    pool_.WriteTransaction([&](Connection& c) {
      if (!FindOrg(c, p.account, p.org))
        Fail(ErrorCode::kNotFound, "organization '" + p.org + "' not found");
      if (FindProject(c, p.account, p.org, p.identifier))
        Fail(ErrorCode::kConflict,
             "project '" + p.identifier + "' already exists in organization '" + p.org + "'");
      Statement s = c.Prepare(
          "INSERT INTO projects(account, org, identifier, name, description, color, modules, tags, "
          "created, updated, version) VALUES(?,?,?,?,?,?,?,?,?,?,1)");
      s.Bind(1, p.account).Bind(2, p.org).Bind(3, p.identifier).Bind(4, p.name);
      s.Bind(5, p.description).Bind(6, p.color).Bind(7, StringsToText(p.modules));
      s.Bind(8, TagsToText(p.tags)).Bind(9, p.created).Bind(10, p.updated).Run();
      Statement inc = c.Prepare(
          "UPDATE orgs SET project_count = project_count + 1 WHERE account = ? AND identifier = ?");
      inc.Bind(1, p.account).Bind(2, p.org).Run();
    });
  }

  std::optional<ProjectRecord> GetProject(std::string_view account, std::string_view org,
                                          std::string_view project) override {
    return pool_.With([&](Connection& c) { return FindProject(c, account, org, project); });
  }

  ProjectRecord UpdateProject(const ProjectRecord& p, std::optional<int64_t> expected) override {
    return pool_.WriteTransaction([&](Connection& c) {
      auto current = FindProject(c, p.account, p.org, p.identifier, true);
      if (!current) Fail(ErrorCode::kNotFound, "project '" + p.identifier + "' not found");
      CheckVersion(expected, current->version, "project '" + p.identifier + "'");
      Statement s = c.Prepare(
          "UPDATE projects SET name = ?, description = ?, color = ?, modules = ?, tags = ?, "
          "updated = ?, version = version + 1 WHERE account = ? AND org = ? AND identifier = ?");
      s.Bind(1, p.name).Bind(2, p.description).Bind(3, p.color).Bind(4, StringsToText(p.modules));
      s.Bind(5, TagsToText(p.tags)).Bind(6, p.updated).Bind(7, p.account).Bind(8, p.org);
      s.Bind(9, p.identifier).Run();
      return *FindProject(c, p.account, p.org, p.identifier);
    });
  }

  ProjectRecord DeleteProject(std::string_view account, std::string_view org,
                              std::string_view project, std::optional<int64_t> expected) override {
    // The level's policies go with it (DeletePolicyLevel).
    struct Forget {
      PolicyStore& policies;
      ~Forget() { sql::PolicyLevelDeleted(policies); }
    } forget{*policies_};
    return pool_.WriteTransaction([&](Connection& c) {
      auto current = FindProject(c, account, org, project, true);
      if (!current) Fail(ErrorCode::kNotFound, "project '" + std::string(project) + "' not found");
      CheckVersion(expected, current->version, "project '" + std::string(project) + "'");
      Statement count = c.Prepare(
          "SELECT workspace_count FROM projects WHERE account = ? AND org = ? AND identifier = ?");
      count.Bind(1, account).Bind(2, org).Bind(3, project);
      count.Step();
      int64_t workspaces = count.Int(0);
      if (workspaces > 0) {
        Statement names = c.Prepare(
            "SELECT identifier FROM workspaces WHERE account = ? AND org = ? AND project = ? "
            "ORDER BY identifier LIMIT 10");
        names.Bind(1, account).Bind(2, org).Bind(3, project);
        std::vector<std::string> list;
        while (names.Step()) list.push_back(names.Text(0));
        Fail(ErrorCode::kConflict,
             "project '" + std::string(project) + "' still holds " + std::to_string(workspaces) +
                 " workspace(s): " + JoinNames(list, workspaces) + "; delete them first");
      }
      // Project-level variable sets go with their project (any referencing workspace lives in
      // the project, so none remains).
      Statement sets =
          c.Prepare("DELETE FROM variable_sets WHERE account = ? AND org = ? AND project = ?");
      sets.Bind(1, account).Bind(2, org).Bind(3, project).Run();
      DeletePolicyLevel(c, account, org, project);
      Statement del =
          c.Prepare("DELETE FROM projects WHERE account = ? AND org = ? AND identifier = ?");
      del.Bind(1, account).Bind(2, org).Bind(3, project).Run();
      Statement dec = c.Prepare(
          "UPDATE orgs SET project_count = project_count - 1 WHERE account = ? AND identifier = ?");
      dec.Bind(1, account).Bind(2, org).Run();
      return *current;
    });
  }

  Page<ProjectRecord> ListProjects(std::string_view account, std::string_view org,
                                   const ListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      Page<ProjectRecord> page;
      Statement count =
          c.Prepare("SELECT project_count FROM orgs WHERE account = ? AND identifier = ?");
      count.Bind(1, account).Bind(2, org);
      if (!count.Step())
        Fail(ErrorCode::kNotFound, "organization '" + std::string(org) + "' not found");
      Filter f = SearchFilter(q);
      if (Unfiltered(q)) {
        page.total = count.Int(0);
      } else {
        Statement s =
            c.Prepare("SELECT count(*) FROM projects WHERE account = ? AND org = ?" + f.sql);
        int i = 1;
        s.Bind(i++, account);
        s.Bind(i++, org);
        for (const auto& b : f.binds) s.Bind(i++, b);
        s.Step();
        page.total = s.Int(0);
      }
      Statement s = c.Prepare(std::string("SELECT ") + kProjectColumns +
                              " FROM projects WHERE account = ? AND org = ?" + f.sql +
                              " ORDER BY " + OrderBy(q.sort, q.descending) + " LIMIT ? OFFSET ?");
      int i = 1;
      s.Bind(i++, account);
      s.Bind(i++, org);
      for (const auto& b : f.binds) s.Bind(i++, b);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadProject(s));
      return page;
    });
  }

  // ---- API keys ----
  void CreateApiKey(const ApiKeyRecord& k) override {
    pool_.WriteTransaction([&](Connection& c) {
      RequireAccount(c, k.account);
      if (FindApiKey(c, k.account, k.identifier))
        Fail(ErrorCode::kConflict, "API key '" + k.identifier + "' already exists");
      Statement s = c.Prepare(std::string("INSERT INTO api_keys(") + kApiKeyColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
      s.Bind(1, k.account).Bind(2, k.identifier).Bind(3, k.name).Bind(4, k.description);
      s.Bind(5, TagsToText(k.tags)).Bind(6, k.api_key_type).Bind(7, k.parent_identifier);
      s.Bind(8, k.default_time_to_expire_token).Bind(9, k.org).Bind(10, k.project);
      s.Bind(11, k.created).Bind(12, k.updated).Run();
    });
  }

  std::optional<ApiKeyRecord> GetApiKey(std::string_view account, std::string_view id) override {
    return pool_.With([&](Connection& c) { return FindApiKey(c, account, id); });
  }

  ApiKeyRecord UpdateApiKey(const ApiKeyRecord& k) override {
    return pool_.WriteTransaction([&](Connection& c) {
      if (!FindApiKey(c, k.account, k.identifier))
        Fail(ErrorCode::kNotFound, "API key '" + k.identifier + "' not found");
      Statement s = c.Prepare(
          "UPDATE api_keys SET name = ?, description = ?, tags = ?, "
          "default_time_to_expire_token = ?, updated = ? WHERE account = ? AND identifier = ?");
      s.Bind(1, k.name).Bind(2, k.description).Bind(3, TagsToText(k.tags));
      s.Bind(4, k.default_time_to_expire_token).Bind(5, k.updated).Bind(6, k.account);
      s.Bind(7, k.identifier).Run();
      return *FindApiKey(c, k.account, k.identifier);
    });
  }

  void DeleteApiKey(std::string_view account, std::string_view id) override {
    pool_.WriteTransaction([&](Connection& c) {
      if (!FindApiKey(c, account, id))
        Fail(ErrorCode::kNotFound, "API key '" + std::string(id) + "' not found");
      // Tokens go with their key (ON DELETE CASCADE), in the same transaction.
      c.ChangesCredentials();
      Statement del = c.Prepare("DELETE FROM api_keys WHERE account = ? AND identifier = ?");
      del.Bind(1, account).Bind(2, id).Run();
    });
  }

  Page<ApiKeyRecord> ListApiKeys(std::string_view account, const ScopeFilter& scope,
                                 std::string_view type, std::string_view parent,
                                 const ListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      Page<ApiKeyRecord> page;
      Filter f = SearchFilter(q);
      std::string where =
          " WHERE account = ? AND (? = '' OR api_key_type = ?) AND "
          "(? = '' OR parent_identifier = ?) AND (? = '' OR org = ?) AND "
          "(? = '' OR project = ?)" +
          f.sql;
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        s.Bind(i++, type);
        s.Bind(i++, type);
        s.Bind(i++, parent);
        s.Bind(i++, parent);
        s.Bind(i++, scope.org);
        s.Bind(i++, scope.org);
        s.Bind(i++, scope.project);
        s.Bind(i++, scope.project);
        for (const auto& b : f.binds) s.Bind(i++, b);
        return i;
      };
      Statement cnt = c.Prepare("SELECT count(*) FROM api_keys" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      Statement s = c.Prepare(std::string("SELECT ") + kApiKeyColumns + " FROM api_keys" + where +
                              " ORDER BY " + OrderBy(q.sort, q.descending) + " LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadApiKey(s));
      return page;
    });
  }

  int64_t CountTokensOfApiKey(std::string_view account, std::string_view id) override {
    return pool_.With([&](Connection& c) {
      Statement s =
          c.Prepare("SELECT count(*) FROM tokens WHERE account = ? AND api_key_identifier = ?");
      s.Bind(1, account).Bind(2, id);
      s.Step();
      return s.Int(0);
    });
  }

  // ---- tokens ----
  void CreateToken(const TokenRecord& t) override {
    pool_.WriteTransaction([&](Connection& c) {
      if (!FindApiKey(c, t.account, t.api_key_identifier))
        Fail(ErrorCode::kNotFound, "API key '" + t.api_key_identifier + "' not found");
      if (FindToken(c, t.account, t.identifier))
        Fail(ErrorCode::kConflict, "token '" + t.identifier + "' already exists");
      c.ChangesCredentials();
      Statement s = c.Prepare(std::string("INSERT INTO tokens(") + kTokenColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      BindToken(s, t);
      s.Run();
    });
  }

  std::optional<TokenRecord> GetToken(std::string_view account, std::string_view id) override {
    return pool_.With([&](Connection& c) { return FindToken(c, account, id); });
  }

  TokenRecord UpdateToken(const TokenRecord& t) override {
    return pool_.WriteTransaction([&](Connection& c) {
      if (!FindToken(c, t.account, t.identifier))
        Fail(ErrorCode::kNotFound, "token '" + t.identifier + "' not found");
      c.ChangesCredentials();
      Statement del = c.Prepare("DELETE FROM tokens WHERE account = ? AND identifier = ?");
      del.Bind(1, t.account).Bind(2, t.identifier).Run();
      Statement s = c.Prepare(std::string("INSERT INTO tokens(") + kTokenColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      BindToken(s, t);
      s.Run();
      return *FindToken(c, t.account, t.identifier);
    });
  }

  void DeleteToken(std::string_view account, std::string_view id) override {
    pool_.WriteTransaction([&](Connection& c) {
      c.ChangesCredentials();
      Statement del = c.Prepare("DELETE FROM tokens WHERE account = ? AND identifier = ?");
      del.Bind(1, account).Bind(2, id).Run();
      if (c.Changes() == 0) Fail(ErrorCode::kNotFound, "token '" + std::string(id) + "' not found");
    });
  }

  Page<TokenRecord> ListTokens(std::string_view account, const ScopeFilter& scope,
                               std::string_view api_key, std::string_view type,
                               std::string_view parent, bool only_active, int64_t now,
                               const ListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      Page<TokenRecord> page;
      Filter f = SearchFilter(q);
      std::string where =
          " WHERE account = ? AND (? = '' OR api_key_identifier = ?) AND (? = '' OR "
          "api_key_type = ?) AND (? = '' OR parent_identifier = ?) AND (? = 0 OR valid_to IS NULL "
          "OR valid_to > ?) AND (? = '' OR org = ?) AND (? = '' OR project = ?)" +
          f.sql;
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        s.Bind(i++, api_key);
        s.Bind(i++, api_key);
        s.Bind(i++, type);
        s.Bind(i++, type);
        s.Bind(i++, parent);
        s.Bind(i++, parent);
        s.Bind(i++, int64_t{only_active});
        s.Bind(i++, now);
        s.Bind(i++, scope.org);
        s.Bind(i++, scope.org);
        s.Bind(i++, scope.project);
        s.Bind(i++, scope.project);
        for (const auto& b : f.binds) s.Bind(i++, b);
        return i;
      };
      Statement cnt = c.Prepare("SELECT count(*) FROM tokens" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      Statement s = c.Prepare(std::string("SELECT ") + kTokenColumns + " FROM tokens" + where +
                              " ORDER BY " + OrderBy(q.sort, q.descending) + " LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadToken(s));
      return page;
    });
  }

 private:
  void Migrate(const std::vector<Migration>& migrations) {
    for (const Migration& m : migrations) {
      pool_.WriteTransaction([&](Connection& c) {
        // Under a lock that spans processes, so replicas starting together apply each
        // migration once.
        c.LockMigrations();
        c.Exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, name TEXT "
            "NOT NULL, applied BIGINT NOT NULL)");
        Statement s = c.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
        s.Bind(1, int64_t{m.version});
        if (s.Step()) return;
        c.Exec(m.sql);
        Statement ins =
            c.Prepare("INSERT INTO schema_migrations(version, name, applied) VALUES(?,?,?)");
        ins.Bind(1, int64_t{m.version}).Bind(2, m.name).Bind(3, NowMillis()).Run();
        log::Info("applied migration",
                  {{"backend", backend_}, {"version", m.version}, {"name", m.name}});
      });
    }
  }

  static void RequireAccount(Connection& c, std::string_view account) {
    Statement s = c.Prepare("SELECT 1 FROM accounts WHERE identifier = ?");
    s.Bind(1, account);
    if (!s.Step()) Fail(ErrorCode::kNotFound, "account '" + std::string(account) + "' not found");
  }

  // lock: take the row for the rest of the transaction (version checks before a write).
  static std::optional<OrgRecord> FindOrg(Connection& c, std::string_view account,
                                          std::string_view org, bool lock = false) {
    Statement s =
        c.Prepare(std::string("SELECT ") + kOrgColumns +
                  " FROM orgs WHERE account = ? AND identifier = ?" + (lock ? c.ForUpdate() : ""));
    s.Bind(1, account).Bind(2, org);
    if (!s.Step()) return std::nullopt;
    return ReadOrg(s);
  }

  static std::optional<ProjectRecord> FindProject(Connection& c, std::string_view account,
                                                  std::string_view org, std::string_view project,
                                                  bool lock = false) {
    Statement s = c.Prepare(std::string("SELECT ") + kProjectColumns +
                            " FROM projects WHERE account = ? AND org = ? AND identifier = ?" +
                            (lock ? c.ForUpdate() : ""));
    s.Bind(1, account).Bind(2, org).Bind(3, project);
    if (!s.Step()) return std::nullopt;
    return ReadProject(s);
  }

  static std::optional<ApiKeyRecord> FindApiKey(Connection& c, std::string_view account,
                                                std::string_view id) {
    Statement s = c.Prepare(std::string("SELECT ") + kApiKeyColumns +
                            " FROM api_keys WHERE account = ? AND identifier = ?");
    s.Bind(1, account).Bind(2, id);
    if (!s.Step()) return std::nullopt;
    return ReadApiKey(s);
  }

  static std::optional<TokenRecord> FindToken(Connection& c, std::string_view account,
                                              std::string_view id) {
    Statement s = c.Prepare(std::string("SELECT ") + kTokenColumns +
                            " FROM tokens WHERE account = ? AND identifier = ?");
    s.Bind(1, account).Bind(2, id);
    if (!s.Step()) return std::nullopt;
    return ReadToken(s);
  }

  static void BindToken(Statement& s, const TokenRecord& t) {
    s.Bind(1, t.account).Bind(2, t.identifier).Bind(3, t.name).Bind(4, t.description);
    s.Bind(5, TagsToText(t.tags)).Bind(6, t.api_key_identifier).Bind(7, t.api_key_type);
    s.Bind(8, t.parent_identifier).Bind(9, t.org).Bind(10, t.project).Bind(11, t.role);
    s.Bind(12, t.valid_from).Bind(13, t.valid_to).Bind(14, t.scheduled_expire_time);
    s.Bind(15, t.secret_salt).Bind(16, t.secret_hash).Bind(17, t.previous_salt);
    s.Bind(18, t.previous_hash).Bind(19, t.previous_valid_until).Bind(20, t.created);
    s.Bind(21, t.updated);
  }

  std::string backend_;
  std::unique_ptr<ConnectionPool> owned_pool_;
  ConnectionPool& pool_;
  std::shared_ptr<const CommitClock> commits_;
  std::shared_ptr<const CommitClock> credentials_;  // null: commits_ stands for it
  std::function<ReplicaSignalCounts()> replica_signals_;
  std::function<WalCheckpointCounts()> wal_checkpoints_;
  std::unique_ptr<WorkspaceStore> workspaces_;
  std::unique_ptr<VariableSetStore> variable_sets_;
  std::unique_ptr<StateStore> states_;
  std::unique_ptr<PolicyStore> policies_;
  std::unique_ptr<RunStore> runs_;
  std::unique_ptr<AuditStore> audit_;
  std::unique_ptr<MaintenanceStore> maintenance_;
  std::unique_ptr<BlobStore> blobs_;
};

}  // namespace

std::unique_ptr<Database> sql::MakeDatabase(
    std::string backend, std::unique_ptr<ConnectionPool> pool,
    const std::vector<Migration>& migrations, const BlobStoreFactory& blobs,
    std::shared_ptr<const CommitClock> commits,
    std::function<Database::ReplicaSignalCounts()> replica_signals,
    std::shared_ptr<const CommitClock> credentials,
    std::function<Database::WalCheckpointCounts()> wal_checkpoints) {
  return std::make_unique<SqlDatabase>(std::move(backend), std::move(pool), migrations, blobs,
                                       std::move(commits), std::move(replica_signals),
                                       std::move(credentials), std::move(wal_checkpoints));
}

}  // namespace statehouse::storage
