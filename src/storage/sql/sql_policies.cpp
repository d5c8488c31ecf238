// Policies, policy sets, their links and the evaluation history, written once against the SQL
// layer (SQLite and PostgreSQL alike).
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/error.h"
#include "storage/packed_text.h"
#include "storage/sql/sql_common.h"
#include "storage/sql/sql_stores.h"

namespace statehouse::storage::sql {
namespace {

constexpr const char* kPolicyColumns =
    "account, org, project, identifier, name, rego, package, created, updated, version";
constexpr const char* kSetColumns =
    "account, org, project, identifier, name, description, type, action, enabled, "
    "entity_selector, extra, created, updated, version";
constexpr const char* kEvaluationColumns =
    "id, account, org, project, entity, entity_metadata, type, action, status, execution_id, "
    "details, duration_us, created, details_packed";  // input is read by GetEvaluation only

PolicyRecord ReadPolicy(const Statement& s, int first = 0) {
  PolicyRecord r;
  r.account = s.Text(first + 0);
  r.org = s.Text(first + 1);
  r.project = s.Text(first + 2);
  r.identifier = s.Text(first + 3);
  r.name = s.Text(first + 4);
  r.rego = s.Text(first + 5);
  r.package_name = s.Text(first + 6);
  r.created = s.Int(first + 7);
  r.updated = s.Int(first + 8);
  r.version = s.Int(first + 9);
  return r;
}

PolicySetRecord ReadSet(const Statement& s) {
  PolicySetRecord r;
  r.account = s.Text(0);
  r.org = s.Text(1);
  r.project = s.Text(2);
  r.identifier = s.Text(3);
  r.name = s.Text(4);
  r.description = s.Text(5);
  r.type = s.Text(6);
  r.action = s.Text(7);
  r.enabled = s.Int(8) != 0;
  r.entity_selector = s.Text(9);
  r.extra_json = s.Text(10);
  r.created = s.Int(11);
  r.updated = s.Int(12);
  r.version = s.Int(13);
  return r;
}

// A column pair of which rows since migration 14 fill the packed one (PackText) and older rows
// the text one.
std::string PackedOrText(const Statement& s, int packed, int text) {
  return s.IsNull(packed) ? s.Text(text) : UnpackText(s.Blob(packed));
}

EvaluationRecord ReadEvaluation(const Statement& s) {
  EvaluationRecord r;
  r.id = s.Int(0);
  r.account = s.Text(1);
  r.org = s.Text(2);
  r.project = s.Text(3);
  r.entity = s.Text(4);
  r.entity_metadata = s.Text(5);
  r.type = s.Text(6);
  r.action = s.Text(7);
  r.status = s.Text(8);
  r.execution_id = s.Text(9);
  r.details_json = PackedOrText(s, 13, 10);
  r.duration_us = s.Int(11);
  r.created = s.Int(12);
  return r;
}

std::string LevelText(std::string_view org, std::string_view project) {
  if (org.empty()) return "at account level";
  if (project.empty()) return "in organization '" + std::string(org) + "'";
  return "in project '" + std::string(org) + "/" + std::string(project) + "'";
}

std::string DescribePolicy(const PolicyKey& k) {
  return "policy '" + k.identifier + "' " + LevelText(k.org, k.project);
}

std::string DescribeSet(const PolicyKey& k) {
  return "policy set '" + k.identifier + "' " + LevelText(k.org, k.project);
}

// The org (and project) of a level must exist.
void RequireLevel(Connection& c, std::string_view account, std::string_view org,
                  std::string_view project) {
  if (org.empty()) return;
  if (project.empty()) {
    Statement s = c.Prepare("SELECT 1 FROM orgs WHERE account = ? AND identifier = ?");
    s.Bind(1, account).Bind(2, org);
    if (!s.Step()) Fail(ErrorCode::kNotFound, "organization '" + std::string(org) + "' not found");
    return;
  }
  Statement s =
      c.Prepare("SELECT 1 FROM projects WHERE account = ? AND org = ? AND identifier = ?");
  s.Bind(1, account).Bind(2, org).Bind(3, project);
  if (!s.Step())
    Fail(ErrorCode::kNotFound, "project '" + std::string(project) +
                                   "' not found in organization '" + std::string(org) + "'");
}

std::optional<PolicyRecord> FindPolicy(Connection& c, std::string_view account, const PolicyKey& k,
                                       bool lock = false) {
  Statement s = c.Prepare(std::string("SELECT ") + kPolicyColumns +
                          " FROM policies WHERE account = ? AND org = ? AND project = ? AND "
                          "identifier = ?" +
                          (lock ? c.ForUpdate() : ""));
  s.Bind(1, account).Bind(2, k.org).Bind(3, k.project).Bind(4, k.identifier);
  if (!s.Step()) return std::nullopt;
  return ReadPolicy(s);
}

// The set row alone (links not loaded).
std::optional<PolicySetRecord> FindSetRow(Connection& c, std::string_view account,
                                          const PolicyKey& k, bool lock = false) {
  Statement s = c.Prepare(std::string("SELECT ") + kSetColumns +
                          " FROM policy_sets WHERE account = ? AND org = ? AND project = ? AND "
                          "identifier = ?" +
                          (lock ? c.ForUpdate() : ""));
  s.Bind(1, account).Bind(2, k.org).Bind(3, k.project).Bind(4, k.identifier);
  if (!s.Step()) return std::nullopt;
  return ReadSet(s);
}

// "a.x, a.y" for columns "x, y".
std::string Qualified(std::string_view columns, std::string_view alias) {
  std::string out;
  for (std::string_view rest = columns; !rest.empty();) {
    size_t comma = rest.find(',');
    std::string_view col = rest.substr(0, comma);
    while (!col.empty() && col.front() == ' ') col.remove_prefix(1);
    if (!out.empty()) out += ", ";
    out.append(alias).append(".").append(col);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return out;
}

// A link's columns (from policy_set_policies l joined with policies p), as read by ReadLink.
const std::string& LinkColumns() {
  static const std::string columns =
      "l.policy_org, l.policy_project, l.policy, l.severity, " + Qualified(kPolicyColumns, "p");
  return columns;
}
constexpr const char* kLinkJoin =
    "LEFT JOIN policies p ON p.account = l.account AND p.org = l.policy_org AND p.project = "
    "l.policy_project AND p.identifier = l.policy";

PolicySetLink ReadLink(const Statement& s, int first) {
  PolicySetLink link;
  link.policy = {s.Text(first), s.Text(first + 1), s.Text(first + 2)};
  link.severity = s.Text(first + 3);
  if (!s.IsNull(first + 4 + 3)) link.resolved = ReadPolicy(s, first + 4);  // p.identifier
  return link;
}

// Fills set.policies, in order, each resolved to its policy row.
void LoadLinks(Connection& c, PolicySetRecord& set) {
  Statement s = c.Prepare("SELECT " + LinkColumns() + " FROM policy_set_policies l " + kLinkJoin +
                          " WHERE l.account = ? AND l.org = ? AND l.project = ? AND "
                          "l.policy_set = ? ORDER BY l.position");
  s.Bind(1, set.account).Bind(2, set.org).Bind(3, set.project).Bind(4, set.identifier);
  set.policies.clear();
  while (s.Step()) set.policies.push_back(ReadLink(s, 0));
}

// Every linked policy must exist; the links are then written in order.
void WriteLinks(Connection& c, const PolicySetRecord& set) {
  for (const PolicySetLink& link : set.policies)
    if (!FindPolicy(c, set.account, link.policy))
      Fail(ErrorCode::kNotFound, DescribePolicy(link.policy) + " not found");
  int64_t position = 0;
  for (const PolicySetLink& link : set.policies) {
    Statement s = c.Prepare(
        "INSERT INTO policy_set_policies(account, org, project, policy_set, position, "
        "policy_org, policy_project, policy, severity) VALUES(?,?,?,?,?,?,?,?,?)");
    s.Bind(1, set.account).Bind(2, set.org).Bind(3, set.project).Bind(4, set.identifier);
    s.Bind(5, position++).Bind(6, link.policy.org).Bind(7, link.policy.project);
    s.Bind(8, link.policy.identifier).Bind(9, link.severity).Run();
  }
}

void DeleteLinks(Connection& c, std::string_view account, const PolicyKey& set) {
  Statement s = c.Prepare(
      "DELETE FROM policy_set_policies WHERE account = ? AND org = ? AND project = ? AND "
      "policy_set = ?");
  s.Bind(1, account).Bind(2, set.org).Bind(3, set.project).Bind(4, set.identifier).Run();
}

// " AND ((org = ? AND project = ?) OR ...)" for a list of levels.
// column_prefix qualifies org and project ("s." in a join).
void AddLevels(std::string& where, std::vector<std::string>& binds,
               const std::vector<std::pair<std::string, std::string>>& levels,
               const std::string& column_prefix = "") {
  where += " AND (";
  for (size_t i = 0; i < levels.size(); ++i) {
    where += i ? " OR (" : "(";
    where += column_prefix + "org = ? AND " + column_prefix + "project = ?)";
    binds.push_back(levels[i].first);
    binds.push_back(levels[i].second);
  }
  where += ")";
}

class SqlPolicyStore final : public PolicyStore {
 public:
  SqlPolicyStore(ConnectionPool& pool, bool sole_writer) : pool_(pool), sole_writer_(sole_writer) {}

  // Policy rows changed outside the store's own methods (a deleted org or project).
  void Changed() {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    ++generation_;
    cached_sets_.clear();
  }

  // Changes policies or policy sets in a write transaction that also moves the generation
  // row (other replicas' memory of applicable sets); what this store remembered goes.
  template <typename Fn>
  auto ChangePolicies(Fn&& fn) {
    struct Forget {
      SqlPolicyStore& store;
      ~Forget() { store.Changed(); }
    } forget{*this};
    return pool_.WriteTransaction([&fn](Connection& c) {
      if constexpr (std::is_void_v<decltype(fn(c))>) {
        fn(c);
        MovePolicyGeneration(c);
      } else {
        auto result = fn(c);
        MovePolicyGeneration(c);
        return result;
      }
    });
  }

  // ---- policies ----
  void CreatePolicy(const PolicyRecord& p) override {
    ChangePolicies([&](Connection& c) {
      RequireLevel(c, p.account, p.org, p.project);
      PolicyKey key{p.org, p.project, p.identifier};
      if (FindPolicy(c, p.account, key))
        Fail(ErrorCode::kConflict, DescribePolicy(key) + " already exists");
      Statement s = c.Prepare(std::string("INSERT INTO policies(") + kPolicyColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,1)");
      s.Bind(1, p.account).Bind(2, p.org).Bind(3, p.project).Bind(4, p.identifier);
      s.Bind(5, p.name).Bind(6, p.rego).Bind(7, p.package_name).Bind(8, p.created);
      s.Bind(9, p.updated).Run();
    });
  }

  std::optional<PolicyRecord> GetPolicy(std::string_view account, const PolicyKey& key) override {
    return pool_.With([&](Connection& c) { return FindPolicy(c, account, key); });
  }

  PolicyRecord UpdatePolicy(const PolicyRecord& p, std::optional<int64_t> expected) override {
    return ChangePolicies([&](Connection& c) {
      PolicyKey key{p.org, p.project, p.identifier};
      auto current = FindPolicy(c, p.account, key, true);
      if (!current) Fail(ErrorCode::kNotFound, DescribePolicy(key) + " not found");
      CheckVersion(expected, current->version, DescribePolicy(key));
      Statement s = c.Prepare(
          "UPDATE policies SET name = ?, rego = ?, package = ?, updated = ?, version = version + "
          "1 WHERE account = ? AND org = ? AND project = ? AND identifier = ?");
      s.Bind(1, p.name).Bind(2, p.rego).Bind(3, p.package_name).Bind(4, p.updated);
      s.Bind(5, p.account).Bind(6, p.org).Bind(7, p.project).Bind(8, p.identifier).Run();
      return *FindPolicy(c, p.account, key);
    });
  }

  std::vector<PolicySetRecord> DeletePolicy(std::string_view account, const PolicyKey& key,
                                            bool force, std::optional<int64_t> expected) override {
    return ChangePolicies([&](Connection& c) {
      auto current = FindPolicy(c, account, key, true);
      if (!current) Fail(ErrorCode::kNotFound, DescribePolicy(key) + " not found");
      CheckVersion(expected, current->version, DescribePolicy(key));
      std::vector<PolicyKey> linking;
      {
        Statement s = c.Prepare(
            "SELECT DISTINCT org, project, policy_set FROM policy_set_policies WHERE account = ? "
            "AND policy_org = ? AND policy_project = ? AND policy = ? ORDER BY org, project, "
            "policy_set");
        s.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier);
        while (s.Step()) linking.push_back({s.Text(0), s.Text(1), s.Text(2)});
      }
      std::vector<PolicySetRecord> sets;
      if (!linking.empty() && !force) {
        for (const PolicyKey& k : linking) {
          if (sets.size() >= 100) break;
          if (auto set = FindSetRow(c, account, k)) sets.push_back(std::move(*set));
        }
        return sets;
      }
      for (const PolicyKey& k : linking) {
        Statement bump = c.Prepare(
            "UPDATE policy_sets SET version = version + 1 WHERE account = ? AND org = ? AND "
            "project = ? AND identifier = ?");
        bump.Bind(1, account).Bind(2, k.org).Bind(3, k.project).Bind(4, k.identifier).Run();
      }
      Statement unlink = c.Prepare(
          "DELETE FROM policy_set_policies WHERE account = ? AND policy_org = ? AND "
          "policy_project = ? AND policy = ?");
      unlink.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier).Run();
      Statement del = c.Prepare(
          "DELETE FROM policies WHERE account = ? AND org = ? AND project = ? AND identifier = ?");
      del.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier).Run();
      return sets;
    });
  }

  Page<PolicyRecord> ListPolicies(std::string_view account, std::string_view org,
                                  std::string_view project, const ListQuery& q,
                                  bool with_set_counts) override {
    return pool_.ReadTransaction([&](Connection& c) {
      RequireLevel(c, account, org, project);
      Page<PolicyRecord> page;
      Filter f = SearchFilter(q);
      std::string where = " WHERE account = ? AND org = ? AND project = ?" + f.sql;
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        s.Bind(i++, org);
        s.Bind(i++, project);
        for (const auto& b : f.binds) s.Bind(i++, b);
        return i;
      };
      Statement cnt = c.Prepare("SELECT count(*) FROM policies" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      std::string counts =
          with_set_counts
              ? ", (SELECT count(*) FROM policy_set_policies l WHERE l.account = "
                "policies.account AND l.policy_org = policies.org AND l.policy_project = "
                "policies.project AND l.policy = policies.identifier)"
              : ", 0";
      Statement s =
          c.Prepare(std::string("SELECT ") + kPolicyColumns + counts + " FROM policies" + where +
                    " ORDER BY " + OrderBy(q.sort, q.descending) + " LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) {
        PolicyRecord r = ReadPolicy(s);
        r.policy_set_count = s.Int(10);
        page.items.push_back(std::move(r));
      }
      return page;
    });
  }

  Page<PolicySetRecord> ListPolicySetsOfPolicy(std::string_view account, const PolicyKey& key,
                                               const ListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      if (!FindPolicy(c, account, key))
        Fail(ErrorCode::kNotFound, DescribePolicy(key) + " not found");
      Page<PolicySetRecord> page;
      Filter f = SearchFilter(q);
      std::string where =
          " WHERE account = ? AND EXISTS (SELECT 1 FROM policy_set_policies l WHERE l.account = "
          "policy_sets.account AND l.org = policy_sets.org AND l.project = policy_sets.project "
          "AND l.policy_set = policy_sets.identifier AND l.policy_org = ? AND l.policy_project = "
          "? AND l.policy = ?)" +
          f.sql;
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        s.Bind(i++, key.org);
        s.Bind(i++, key.project);
        s.Bind(i++, key.identifier);
        for (const auto& b : f.binds) s.Bind(i++, b);
        return i;
      };
      Statement cnt = c.Prepare("SELECT count(*) FROM policy_sets" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      Statement s = c.Prepare(std::string("SELECT ") + kSetColumns + " FROM policy_sets" + where +
                              " ORDER BY " + OrderBy(q.sort, q.descending) +
                              ", org, project LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadSet(s));
      return page;
    });
  }

  // ---- policy sets ----
  void CreatePolicySet(const PolicySetRecord& set) override {
    ChangePolicies([&](Connection& c) {
      RequireLevel(c, set.account, set.org, set.project);
      PolicyKey key{set.org, set.project, set.identifier};
      if (FindSetRow(c, set.account, key))
        Fail(ErrorCode::kConflict, DescribeSet(key) + " already exists");
      Statement s = c.Prepare(std::string("INSERT INTO policy_sets(") + kSetColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,1)");
      BindSet(s, set);
      s.Run();
      WriteLinks(c, set);
    });
  }

  std::optional<PolicySetRecord> GetPolicySet(std::string_view account,
                                              const PolicyKey& key) override {
    return pool_.ReadTransaction([&](Connection& c) -> std::optional<PolicySetRecord> {
      auto set = FindSetRow(c, account, key);
      if (set) LoadLinks(c, *set);
      return set;
    });
  }

  PolicySetRecord UpdatePolicySet(const PolicySetRecord& set,
                                  std::optional<int64_t> expected) override {
    return ChangePolicies([&](Connection& c) {
      PolicyKey key{set.org, set.project, set.identifier};
      auto current = FindSetRow(c, set.account, key, true);
      if (!current) Fail(ErrorCode::kNotFound, DescribeSet(key) + " not found");
      CheckVersion(expected, current->version, DescribeSet(key));
      Statement s = c.Prepare(
          "UPDATE policy_sets SET name = ?, description = ?, type = ?, action = ?, enabled = ?, "
          "entity_selector = ?, extra = ?, updated = ?, version = version + 1 WHERE account = ? "
          "AND org = ? AND project = ? AND identifier = ?");
      s.Bind(1, set.name).Bind(2, set.description).Bind(3, set.type).Bind(4, set.action);
      s.Bind(5, int64_t{set.enabled}).Bind(6, set.entity_selector).Bind(7, set.extra_json);
      s.Bind(8, set.updated).Bind(9, set.account).Bind(10, set.org).Bind(11, set.project);
      s.Bind(12, set.identifier).Run();
      DeleteLinks(c, set.account, key);
      WriteLinks(c, set);
      PolicySetRecord out = *FindSetRow(c, set.account, key);
      LoadLinks(c, out);
      return out;
    });
  }

  void DeletePolicySet(std::string_view account, const PolicyKey& key,
                       std::optional<int64_t> expected) override {
    ChangePolicies([&](Connection& c) {
      auto current = FindSetRow(c, account, key, true);
      if (!current) Fail(ErrorCode::kNotFound, DescribeSet(key) + " not found");
      CheckVersion(expected, current->version, DescribeSet(key));
      DeleteLinks(c, account, key);
      Statement del = c.Prepare(
          "DELETE FROM policy_sets WHERE account = ? AND org = ? AND project = ? AND identifier = "
          "?");
      del.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier).Run();
    });
  }

  Page<PolicySetRecord> ListPolicySets(std::string_view account,
                                       const PolicySetListQuery& q) override {
    if (q.levels.empty()) Fail(ErrorCode::kInternal, "ListPolicySets needs a level");
    return pool_.ReadTransaction([&](Connection& c) {
      for (const auto& [org, project] : q.levels) RequireLevel(c, account, org, project);
      Page<PolicySetRecord> page;
      std::string where = " WHERE account = ?";
      std::vector<std::string> binds;
      AddLevels(where, binds, q.levels);
      if (!q.types.empty()) {
        where += " AND type IN (";
        for (size_t i = 0; i < q.types.size(); ++i) {
          where += i ? ",?" : "?";
          binds.push_back(q.types[i]);
        }
        where += ")";
      }
      if (!q.action.empty()) {
        where += " AND action = ?";
        binds.push_back(q.action);
      }
      Filter f = SearchFilter(q.page);
      where += f.sql;
      binds.insert(binds.end(), f.binds.begin(), f.binds.end());
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        for (const auto& b : binds) s.Bind(i++, b);
        return i;
      };
      Statement cnt = c.Prepare("SELECT count(*) FROM policy_sets" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      {
        Statement s = c.Prepare(std::string("SELECT ") + kSetColumns + " FROM policy_sets" + where +
                                " ORDER BY " + OrderBy(q.page.sort, q.page.descending) +
                                ", org, project LIMIT ? OFFSET ?");
        int i = bind_where(s);
        s.Bind(i++, q.page.limit);
        s.Bind(i++, q.page.offset);
        while (s.Step()) page.items.push_back(ReadSet(s));
      }
      for (auto& set : page.items) LoadLinks(c, set);
      return page;
    });
  }

  // Applicable sets are asked for on every save, plan and state write, and change rarely:
  // they are remembered until a change. Which changes a remembered list must have seen: this
  // process's own when it alone writes the database (SQLite), otherwise those every replica
  // counts in the policy_generation row (PostgreSQL: one small read instead of loading the
  // sets, and a change through any replica is seen by the next read).
  std::shared_ptr<const std::vector<PolicySetRecord>> ApplicablePolicySets(
      std::string_view account, std::string_view org, std::string_view project,
      std::string_view type, std::string_view action) override {
    std::string key;
    for (std::string_view part : {account, org, project, type, action}) {
      key.append(part);
      key.push_back('\0');
    }
    std::optional<int64_t> generation;
    if (sole_writer_) {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      generation = generation_;
    } else {
      generation = ReadPolicyGeneration();
    }
    if (generation) {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      if (auto it = cached_sets_.find(key);
          it != cached_sets_.end() && it->second.generation == *generation)
        return it->second.sets;
    }
    // Loaded after the generation was read, so at least as new as what it counts.
    auto sets = std::make_shared<const std::vector<PolicySetRecord>>(
        LoadApplicableSets(account, org, project, type, action));
    if (!generation) return sets;
    std::lock_guard<std::mutex> lock(cache_mutex_);
    // In this process, a change since the read began may have made it stale: not kept then.
    if (!sole_writer_ || *generation == generation_) {
      if (cached_sets_.size() >= kMaxCachedSetLists) cached_sets_.clear();
      cached_sets_.insert_or_assign(std::move(key), RememberedSets{*generation, sets});
    }
    return sets;
  }

  // ---- evaluations ----
  int64_t AddEvaluation(const EvaluationRecord& e) override {
    return pool_.WriteTransaction([&](Connection& c) { return InsertEvaluation(c, e); });
  }

  std::optional<EvaluationRecord> GetEvaluation(std::string_view account, int64_t id) override {
    return pool_.With([&](Connection& c) -> std::optional<EvaluationRecord> {
      Statement s =
          c.Prepare(std::string("SELECT ") + kEvaluationColumns +
                    ", input, input_packed FROM policy_evaluations WHERE account = ? AND id = ?");
      s.Bind(1, account).Bind(2, id);
      if (!s.Step()) return std::nullopt;
      EvaluationRecord r = ReadEvaluation(s);
      r.input_json = PackedOrText(s, 15, 14);
      return r;
    });
  }

  Page<EvaluationRecord> ListEvaluations(std::string_view account,
                                         const EvaluationListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      Page<EvaluationRecord> page;
      std::string scope = " WHERE account = ?";
      std::vector<std::string> scope_binds;
      if (!q.include_child_scopes || !q.org.empty()) {
        scope += " AND org = ?";
        scope_binds.push_back(q.org);
      }
      if (!q.include_child_scopes || !q.project.empty()) {
        scope += " AND project = ?";
        scope_binds.push_back(q.project);
      }
      std::string where = scope;
      // The filters' values, in the order of their placeholders.
      std::vector<std::variant<std::string, int64_t>> binds(scope_binds.begin(), scope_binds.end());
      auto text_filter = [&](const char* column, const std::string& value) {
        if (value.empty()) return;
        where += std::string(" AND ") + column + " = ?";
        binds.emplace_back(value);
      };
      text_filter("entity", q.entity);
      if (!q.entity_prefix.empty()) {
        // Byte-exact on both databases (LIKE is case-insensitive on SQLite).
        std::string below = q.entity_prefix + "/";
        where += " AND (entity = ? OR substr(entity, 1, CAST(? AS INTEGER)) = ?)";
        binds.emplace_back(q.entity_prefix);
        binds.emplace_back(static_cast<int64_t>(below.size()));
        binds.emplace_back(below);
      }
      text_filter("type", q.type);
      text_filter("action", q.action);
      text_filter("execution_id", q.execution_id);
      if (!q.statuses.empty()) {
        where += " AND status IN (";
        for (size_t i = 0; i < q.statuses.size(); ++i) {
          where += i ? ",?" : "?";
          binds.emplace_back(q.statuses[i]);
        }
        where += ")";
      }
      if (q.last_seen) {
        where += " AND id < ?";
        binds.emplace_back(*q.last_seen);
      }
      if (q.created_from) {
        where += " AND created >= ?";
        binds.emplace_back(*q.created_from);
      }
      if (q.created_to) {
        where += " AND created <= ?";
        binds.emplace_back(*q.created_to);
      }
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        for (const auto& b : binds) std::visit([&](const auto& v) { s.Bind(i++, v); }, b);
        return i;
      };
      if (binds.size() == scope_binds.size()) {
        // Unfiltered: the per-level counters.
        Statement cnt =
            c.Prepare("SELECT coalesce(sum(count), 0) FROM policy_evaluation_counts" + scope);
        int i = 1;
        cnt.Bind(i++, account);
        for (const auto& b : scope_binds) cnt.Bind(i++, b);
        cnt.Step();
        page.total = cnt.Int(0);
      } else {
        Statement cnt = c.Prepare("SELECT count(*) FROM policy_evaluations" + where);
        bind_where(cnt);
        cnt.Step();
        page.total = cnt.Int(0);
      }
      Statement s =
          c.Prepare(std::string("SELECT ") + kEvaluationColumns + " FROM policy_evaluations" +
                    where + " ORDER BY id DESC LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadEvaluation(s));
      return page;
    });
  }

 private:
  std::vector<PolicySetRecord> LoadApplicableSets(std::string_view account, std::string_view org,
                                                  std::string_view project, std::string_view type,
                                                  std::string_view action) {
    // One statement (one round trip on PostgreSQL, no transaction needed for one snapshot):
    // the sets, each with its links in order, joined with the policies they name.
    return pool_.With([&](Connection& c) {
      std::vector<std::pair<std::string, std::string>> levels = {{"", ""}};
      if (!org.empty()) levels.emplace_back(std::string(org), "");
      if (!org.empty() && !project.empty())
        levels.emplace_back(std::string(org), std::string(project));
      std::string where = " WHERE s.account = ? AND s.type = ? AND s.action = ? AND s.enabled = 1";
      std::vector<std::string> binds;
      AddLevels(where, binds, levels, "s.");
      static const int kLinkFirst = 14;  // kSetColumns has 14 columns
      Statement s = c.Prepare(
          "SELECT " + Qualified(kSetColumns, "s") + ", " + LinkColumns() +
          " FROM policy_sets s LEFT JOIN policy_set_policies l ON l.account = s.account AND "
          "l.org = s.org AND l.project = s.project AND l.policy_set = s.identifier " +
          kLinkJoin + where +
          " ORDER BY CASE WHEN s.org = '' THEN 0 WHEN s.project = '' THEN 1 ELSE 2 END, "
          "s.identifier, l.position");
      int i = 1;
      s.Bind(i++, account);
      s.Bind(i++, type);
      s.Bind(i++, action);
      for (const auto& b : binds) s.Bind(i++, b);
      std::vector<PolicySetRecord> sets;
      while (s.Step()) {
        PolicySetRecord row = ReadSet(s);
        if (sets.empty() || sets.back().org != row.org || sets.back().project != row.project ||
            sets.back().identifier != row.identifier)
          sets.push_back(std::move(row));
        if (!s.IsNull(kLinkFirst + 2)) sets.back().policies.push_back(ReadLink(s, kLinkFirst));
      }
      return sets;
    });
  }

  static void BindSet(Statement& s, const PolicySetRecord& set) {
    s.Bind(1, set.account).Bind(2, set.org).Bind(3, set.project).Bind(4, set.identifier);
    s.Bind(5, set.name).Bind(6, set.description).Bind(7, set.type).Bind(8, set.action);
    s.Bind(9, int64_t{set.enabled}).Bind(10, set.entity_selector).Bind(11, set.extra_json);
    s.Bind(12, set.created).Bind(13, set.updated);
  }

  // The policy_generation row; nullopt when it cannot be read (nothing is remembered then).
  std::optional<int64_t> ReadPolicyGeneration() {
    try {
      return pool_.With([](Connection& c) -> std::optional<int64_t> {
        Statement s = c.Prepare("SELECT n FROM policy_generation WHERE id = 1");
        if (!s.Step()) return std::nullopt;
        return s.Int(0);
      });
    } catch (const Error&) {
      return std::nullopt;
    }
  }

  struct RememberedSets {
    int64_t generation;
    std::shared_ptr<const std::vector<PolicySetRecord>> sets;
  };
  static constexpr size_t kMaxCachedSetLists = 4096;
  ConnectionPool& pool_;
  const bool sole_writer_;  // this process alone writes the database
  std::mutex cache_mutex_;
  int64_t generation_ = 0;  // this process's changes; guarded by cache_mutex_
  std::unordered_map<std::string, RememberedSets> cached_sets_;
};

}  // namespace

int64_t InsertEvaluation(Connection& c, const EvaluationRecord& e) {
  static constexpr const char* kInsert =
      "INSERT INTO policy_evaluations(account, org, project, entity, entity_metadata, type, "
      "action, status, execution_id, input, details, duration_us, created, input_packed, "
      "details_packed) VALUES(?,?,?,?,?,?,?,?,?,'','',?,?,?,?)";
  static constexpr const char* kCount =
      "INSERT INTO policy_evaluation_counts(account, org, project, count) ";
  static constexpr const char* kCountConflict =
      " ON CONFLICT (account, org, project) DO UPDATE SET count = "
      "policy_evaluation_counts.count + 1";
  const std::string input = PackText(e.input_json);
  const std::string details = PackText(e.details_json);
  auto bind = [&](Statement& s) {
    s.Bind(1, e.account).Bind(2, e.org).Bind(3, e.project).Bind(4, e.entity);
    s.Bind(5, e.entity_metadata).Bind(6, e.type).Bind(7, e.action).Bind(8, e.status);
    s.Bind(9, e.execution_id).Bind(10, e.duration_us).Bind(11, e.created);
    s.BindBlob(12, input).BindBlob(13, details);
  };
  if (c.DataModifyingWith()) {
    // PostgreSQL: the row and its count in one statement (one round trip instead of two).
    static const std::string sql =
        std::string("WITH e AS (") + kInsert + " RETURNING id, account, org, project), n AS (" +
        kCount + "SELECT account, org, project, 1 FROM e" + kCountConflict + ") SELECT id FROM e";
    Statement s = c.Prepare(sql);
    bind(s);
    if (!s.Step()) Fail(ErrorCode::kInternal, "inserting an evaluation returned no id");
    int64_t id = s.Int(0);
    while (s.Step()) {
    }
    return id;
  }
  Statement s = c.Prepare(kInsert);
  bind(s);
  s.Run();
  std::optional<int64_t> id = c.LastInsertRowid();
  if (!id) Fail(ErrorCode::kInternal, "inserting an evaluation gave no id");
  static const std::string count_sql = std::string(kCount) + "VALUES(?,?,?,1)" + kCountConflict;
  Statement count = c.Prepare(count_sql);
  count.Bind(1, e.account).Bind(2, e.org).Bind(3, e.project).Run();
  return *id;
}

void DeletePolicyLevel(Connection& c, std::string_view account, std::string_view org,
                       std::string_view project) {
  for (const char* sql : {
           "DELETE FROM policy_set_policies WHERE account = ? AND org = ? AND project = ?",
           "DELETE FROM policy_set_policies WHERE account = ? AND policy_org = ? AND "
           "policy_project = ?",
           "DELETE FROM policy_sets WHERE account = ? AND org = ? AND project = ?",
           "DELETE FROM policies WHERE account = ? AND org = ? AND project = ?",
           "DELETE FROM policy_evaluations WHERE account = ? AND org = ? AND project = ?",
           "DELETE FROM policy_evaluation_counts WHERE account = ? AND org = ? AND project = ?",
       }) {
    Statement s = c.Prepare(sql);
    s.Bind(1, account).Bind(2, org).Bind(3, project).Run();
  }
  MovePolicyGeneration(c);
}

void MovePolicyGeneration(Connection& c) {
  c.Prepare("UPDATE policy_generation SET n = n + 1 WHERE id = 1").Run();
}

std::unique_ptr<PolicyStore> MakePolicyStore(ConnectionPool& pool, bool sole_writer) {
  return std::make_unique<SqlPolicyStore>(pool, sole_writer);
}

void PolicyLevelDeleted(PolicyStore& store) { static_cast<SqlPolicyStore&>(store).Changed(); }

}  // namespace statehouse::storage::sql
