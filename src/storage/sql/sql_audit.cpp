// The audit trail's rows (migrations/*/0009_audit.sql): appended in batches, listed per account,
// newest first.
#include <map>
#include <optional>

#include "common/error.h"
#include "storage/sql/sql_stores.h"

namespace statehouse::storage::sql {
namespace {

constexpr const char* kColumns =
    "id, account, time, principal, principal_name, api_key, action, target, request_id, "
    "outcome, status, remote_address";

AuditRecord ReadRecord(const Statement& s) {
  AuditRecord r;
  r.id = s.Int(0);
  r.account = s.Text(1);
  r.time = s.Int(2);
  r.principal = s.Text(3);
  r.principal_name = s.Text(4);
  r.api_key = s.Text(5);
  r.action = s.Text(6);
  r.target = s.Text(7);
  r.request_id = s.Text(8);
  r.outcome = s.Text(9);
  r.status = s.Int(10);
  r.remote_address = s.Text(11);
  return r;
}

// A value to bind, text or integer, in placeholder order.
struct Arg {
  std::string text;
  std::optional<int64_t> number;
};

// The texts that start with prefix, as conditions on column that an index on it can serve:
// a range [prefix, prefix with its last byte raised) when that last byte is ASCII (both
// backends compare text byte by byte: SQLite's BINARY, PostgreSQL's "C" collation), else a
// comparison of the first characters.
void PrefixCondition(const char* column, const std::string& prefix, std::string& where,
                     std::vector<Arg>& args) {
  unsigned char last = static_cast<unsigned char>(prefix.back());
  if (last < 0x7f) {
    std::string upper = prefix;
    upper.back() = static_cast<char>(last + 1);
    where += std::string(" AND ") + column + " >= ? AND " + column + " < ?";
    args.push_back({prefix, std::nullopt});
    args.push_back({std::move(upper), std::nullopt});
    return;
  }
  int64_t chars = 0;  // code points: substr counts characters on both backends
  for (unsigned char c : prefix)
    if ((c & 0xC0) != 0x80) ++chars;
  // PostgreSQL's substr takes an integer, and the driver binds int8.
  where += std::string(" AND substr(") + column + ", 1, CAST(? AS INTEGER)) = ?";
  args.push_back({"", chars});
  args.push_back({prefix, std::nullopt});
}

class SqlAuditStore final : public AuditStore {
 public:
  explicit SqlAuditStore(ConnectionPool& pool) : pool_(pool) {}

  void Append(const std::vector<AuditRecord>& records) override {
    if (records.empty()) return;
    std::map<std::string, int64_t, std::less<>> per_account;
    for (const AuditRecord& r : records) ++per_account[r.account];
    pool_.WriteTransaction([&](Connection& c) {
      for (const AuditRecord& r : records) {
        Statement s = c.Prepare(
            "INSERT INTO audit_events(account, time, principal, principal_name, api_key, action, "
            "target, request_id, outcome, status, remote_address) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
        s.Bind(1, r.account).Bind(2, r.time).Bind(3, r.principal).Bind(4, r.principal_name);
        s.Bind(5, r.api_key).Bind(6, r.action).Bind(7, r.target).Bind(8, r.request_id);
        s.Bind(9, r.outcome).Bind(10, r.status).Bind(11, r.remote_address).Run();
      }
      for (const auto& [account, n] : per_account) {
        Statement s = c.Prepare(
            "INSERT INTO audit_event_counts(account, count) VALUES(?, ?) ON CONFLICT (account) DO "
            "UPDATE SET count = audit_event_counts.count + excluded.count");
        s.Bind(1, account).Bind(2, n).Run();
      }
    });
  }

  Page<AuditRecord> List(std::string_view account, const AuditListQuery& q) override {
    return pool_.ReadTransaction([&](Connection& c) {
      Page<AuditRecord> page;
      std::string where = " WHERE account = ?";
      std::vector<Arg> args;
      auto text = [&](std::string value) { args.push_back({std::move(value), std::nullopt}); };
      if (!q.principal.empty()) {
        where += " AND principal = ?";
        text(q.principal);
      }
      if (!q.outcome.empty()) {
        where += " AND outcome = ?";
        text(q.outcome);
      }
      if (!q.actions.empty()) {
        where += " AND (";
        for (size_t i = 0; i < q.actions.size(); ++i) {
          const std::string& a = q.actions[i];
          if (i) where += " OR ";
          if (a.find('.') != std::string::npos) {
            where += "action = ?";
            text(a);
          } else {
            // A family: "token." <= action < "token/" ('/' follows '.').
            where += "(action >= ? AND action < ?)";
            text(a + ".");
            text(a + "/");
          }
        }
        where += ")";
      }
      if (!q.target_prefix.empty()) PrefixCondition("target", q.target_prefix, where, args);
      if (q.from) {
        where += " AND time >= ?";
        args.push_back({"", *q.from});
      }
      if (q.to) {
        where += " AND time <= ?";
        args.push_back({"", *q.to});
      }
      auto bind_where = [&](Statement& s) {
        int i = 1;
        s.Bind(i++, account);
        for (const Arg& a : args) {
          if (a.number)
            s.Bind(i++, *a.number);
          else
            s.Bind(i++, a.text);
        }
        return i;
      };
      if (where == " WHERE account = ?") {
        Statement cnt = c.Prepare("SELECT count FROM audit_event_counts WHERE account = ?");
        cnt.Bind(1, account);
        page.total = cnt.Step() ? cnt.Int(0) : 0;
      } else {
        Statement cnt = c.Prepare("SELECT count(*) FROM audit_events" + where);
        bind_where(cnt);
        cnt.Step();
        page.total = cnt.Int(0);
      }
      Statement s =
          c.Prepare(std::string("SELECT ") + kColumns + " FROM audit_events" + where +
                    (q.oldest_first ? " ORDER BY time, id" : " ORDER BY time DESC, id DESC") +
                    " LIMIT ? OFFSET ?");
      int i = bind_where(s);
      s.Bind(i++, q.limit);
      s.Bind(i++, q.offset);
      while (s.Step()) page.items.push_back(ReadRecord(s));
      return page;
    });
  }

 private:
  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<AuditStore> MakeAuditStore(ConnectionPool& pool) {
  return std::make_unique<SqlAuditStore>(pool);
}

}  // namespace statehouse::storage::sql
