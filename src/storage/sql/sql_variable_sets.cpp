#include "common/error.h"
#include "storage/sql/sql_common.h"
#include "storage/sql/sql_stores.h"

namespace statehouse::storage::sql {
namespace {

constexpr const char* kColumns =
    "account, org, project, identifier, name, document, env_vars_count, tf_vars_count, "
    "var_files_count, created, updated";

VariableSetRecord ReadSet(const Statement& s) {
  VariableSetRecord r;
  r.account = s.Text(0);
  r.org = s.Text(1);
  r.project = s.Text(2);
  r.identifier = s.Text(3);
  r.name = s.Text(4);
  r.document_json = s.Text(5);
  r.env_vars_count = s.Int(6);
  r.tf_vars_count = s.Int(7);
  r.var_files_count = s.Int(8);
  r.created = s.Int(9);
  r.updated = s.Int(10);
  return r;
}

std::string Describe(const VariableSetKey& k) {
  std::string out = "variable set '" + k.identifier + "'";
  if (!k.project.empty()) return out + " in project '" + k.org + "/" + k.project + "'";
  if (!k.org.empty()) return out + " in organization '" + k.org + "'";
  return out + " at account level";
}

class SqlVariableSetStore final : public VariableSetStore {
 public:
  explicit SqlVariableSetStore(ConnectionPool& pool) : pool_(pool) {}

  void CreateVariableSet(const VariableSetRecord& v) override {
    pool_.WriteTransaction([&](Connection& c) {
      RequireLevel(c, v.account, v.org, v.project);
      VariableSetKey key{v.org, v.project, v.identifier};
      if (Find(c, v.account, key)) Fail(ErrorCode::kConflict, Describe(key) + " already exists");
      Statement s = c.Prepare(std::string("INSERT INTO variable_sets(") + kColumns +
                              ") VALUES(?,?,?,?,?,?,?,?,?,?,?)");
      s.Bind(1, v.account).Bind(2, v.org).Bind(3, v.project).Bind(4, v.identifier).Bind(5, v.name);
      s.Bind(6, v.document_json).Bind(7, v.env_vars_count).Bind(8, v.tf_vars_count);
      s.Bind(9, v.var_files_count).Bind(10, v.created).Bind(11, v.updated).Run();
    });
  }

  std::optional<VariableSetRecord> GetVariableSet(std::string_view account,
                                                  const VariableSetKey& key) override {
    return pool_.With([&](Connection& c) { return Find(c, account, key); });
  }

  VariableSetRecord UpdateVariableSet(const VariableSetRecord& v) override {
    return pool_.WriteTransaction([&](Connection& c) {
      VariableSetKey key{v.org, v.project, v.identifier};
      if (!Find(c, v.account, key)) Fail(ErrorCode::kNotFound, Describe(key) + " not found");
      Statement s = c.Prepare(
          "UPDATE variable_sets SET name = ?, document = ?, env_vars_count = ?, tf_vars_count = ?, "
          "var_files_count = ?, updated = ? WHERE account = ? AND org = ? AND project = ? AND "
          "identifier = ?");
      s.Bind(1, v.name).Bind(2, v.document_json).Bind(3, v.env_vars_count);
      s.Bind(4, v.tf_vars_count).Bind(5, v.var_files_count).Bind(6, v.updated);
      s.Bind(7, v.account).Bind(8, v.org).Bind(9, v.project).Bind(10, v.identifier).Run();
      return *Find(c, v.account, key);
    });
  }

  void DeleteVariableSet(std::string_view account, const VariableSetKey& key) override {
    pool_.WriteTransaction([&](Connection& c) {
      if (!Find(c, account, key)) Fail(ErrorCode::kNotFound, Describe(key) + " not found");
      Statement refs = c.Prepare(
          "SELECT DISTINCT org, project, workspace FROM workspace_variable_sets WHERE account = ? "
          "AND set_org = ? AND set_project = ? AND set_identifier = ? ORDER BY org, project, "
          "workspace LIMIT 10");
      refs.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier);
      std::vector<std::string> names;
      while (refs.Step()) names.push_back(refs.Text(0) + "/" + refs.Text(1) + "/" + refs.Text(2));
      if (!names.empty()) {
        Statement count = c.Prepare(
            "SELECT count(DISTINCT org || '/' || project || '/' || workspace) FROM "
            "workspace_variable_sets WHERE account = ? AND set_org = ? AND set_project = ? AND "
            "set_identifier = ?");
        count.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier);
        count.Step();
        Fail(ErrorCode::kConflict, Describe(key) + " is still used by " +
                                       std::to_string(count.Int(0)) +
                                       " workspace(s): " + JoinNames(names, count.Int(0)) +
                                       "; remove it from them first");
      }
      Statement del = c.Prepare(
          "DELETE FROM variable_sets WHERE account = ? AND org = ? AND project = ? AND "
          "identifier = ?");
      del.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier).Run();
    });
  }

  Page<VariableSetRecord> ListVariableSets(std::string_view account, std::string_view org,
                                           std::string_view project, const ListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      RequireLevel(c, account, org, project);
      Page<VariableSetRecord> page;
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
      Statement cnt = c.Prepare("SELECT count(*) FROM variable_sets" + where);
      bind_where(cnt);
      cnt.Step();
      page.total = cnt.Int(0);
      Statement s = c.Prepare(std::string("SELECT ") + kColumns + " FROM variable_sets" + where +
                              " ORDER BY " + OrderBy(q.sort, q.descending) + " LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadSet(s));
      return page;
    });
  }

  Page<WorkspaceRecord> ListVariableSetReferences(std::string_view account,
                                                  const VariableSetKey& key,
                                                  const ListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      if (!Find(c, account, key)) Fail(ErrorCode::kNotFound, Describe(key) + " not found");
      Page<WorkspaceRecord> page;
      const std::string from =
          " FROM workspaces w WHERE w.account = ? AND EXISTS (SELECT 1 FROM "
          "workspace_variable_sets r WHERE r.account = w.account AND r.org = w.org AND r.project "
          "= w.project AND r.workspace = w.identifier AND r.set_org = ? AND r.set_project = ? AND "
          "r.set_identifier = ?)";
      Statement cnt = c.Prepare("SELECT count(*)" + from);
      cnt.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier);
      cnt.Step();
      page.total = cnt.Int(0);
      std::string cols;
      for (std::string_view rest = kWorkspaceColumns; !rest.empty();) {
        size_t comma = rest.find(',');
        std::string_view col = rest.substr(0, comma);
        while (!col.empty() && col.front() == ' ') col.remove_prefix(1);
        cols += (cols.empty() ? "w." : ", w.") + std::string(col);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      Statement s = c.Prepare("SELECT " + cols + from +
                              " ORDER BY w.org, w.project, w.identifier LIMIT ? OFFSET ?");
      s.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier);
      s.Bind(5, q.limit).Bind(6, q.offset);
      while (s.Step()) page.items.push_back(ReadWorkspaceRow(s));
      return page;
    });
  }

 private:
  static std::optional<VariableSetRecord> Find(Connection& c, std::string_view account,
                                               const VariableSetKey& key) {
    Statement s = c.Prepare(std::string("SELECT ") + kColumns +
                            " FROM variable_sets WHERE account = ? AND org = ? AND project = ? "
                            "AND identifier = ?");
    s.Bind(1, account).Bind(2, key.org).Bind(3, key.project).Bind(4, key.identifier);
    if (!s.Step()) return std::nullopt;
    return ReadSet(s);
  }

  // The org (and project) a set lives in must exist.
  static void RequireLevel(Connection& c, std::string_view account, std::string_view org,
                           std::string_view project) {
    if (org.empty()) return;
    if (project.empty()) {
      Statement s = c.Prepare("SELECT 1 FROM orgs WHERE account = ? AND identifier = ?");
      s.Bind(1, account).Bind(2, org);
      if (!s.Step())
        Fail(ErrorCode::kNotFound, "organization '" + std::string(org) + "' not found");
      return;
    }
    Statement s =
        c.Prepare("SELECT 1 FROM projects WHERE account = ? AND org = ? AND identifier = ?");
    s.Bind(1, account).Bind(2, org).Bind(3, project);
    if (!s.Step())
      Fail(ErrorCode::kNotFound, "project '" + std::string(project) +
                                     "' not found in organization '" + std::string(org) + "'");
  }

  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<VariableSetStore> MakeVariableSetStore(ConnectionPool& pool) {
  return std::make_unique<SqlVariableSetStore>(pool);
}

}  // namespace statehouse::storage::sql
