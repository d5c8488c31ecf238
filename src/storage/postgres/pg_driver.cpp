// libpq driver of the SQL layer. Statements are prepared once per connection ('?' becomes
// $n), parameters are sent as text (bytea as binary), results come back as text.
#include "storage/postgres/pg_driver.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <unordered_map>

#include "common/error.h"
#include "common/log.h"
#include "storage/postgres/pg_commit_watch.h"

namespace statehouse::storage::postgres {
namespace {

constexpr Oid kTextOid = 25;
constexpr Oid kInt8Oid = 20;
constexpr Oid kByteaOid = 17;

// '?' placeholders outside quoted literals become $1, $2, ...
std::string Numbered(const std::string& sql, int& count) {
  std::string out;
  out.reserve(sql.size() + 16);
  bool in_quote = false;
  count = 0;
  for (char c : sql) {
    if (c == '\'') in_quote = !in_quote;
    if (c == '?' && !in_quote) {
      out += "$" + std::to_string(++count);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class PgConnection;

[[noreturn]] void ThrowResult(PgConnection& conn, PGresult* result, std::string_view what);

class PgConnection final : public sql::Connection {
 public:
  PgConnection(const std::string& url, CommitClock* clock, CommitNotifier* notifier,
               CommitClock* credentials)
      : clock_(clock), notifier_(notifier), credentials_(credentials) {
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {url.c_str(), "5", "statehouse", nullptr};
    conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = conn_ ? PQerrorMessage(conn_) : "out of memory";
      if (conn_) PQfinish(conn_);
      conn_ = nullptr;
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      Fail(ErrorCode::kUnavailable, "cannot connect to PostgreSQL: " + msg);
    }
    // Bounded waits: a stuck lock or query fails instead of holding a worker forever.
    Exec(
        "SET statement_timeout = '120s'; SET lock_timeout = '15s'; "
        "SET idle_in_transaction_session_timeout = '120s'; SET client_min_messages = warning");
  }
  ~PgConnection() override {
    cache_.clear();
    if (conn_) PQfinish(conn_);
  }

  void Exec(const std::string& sql) override {
    Sending();
    PGresult* r = PQexec(conn_, sql.c_str());
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) ThrowResult(*this, r, "exec");
    changes_ = std::atoll(PQcmdTuples(r));
    PQclear(r);
  }
  int64_t Changes() const override { return changes_; }
  void BeginWrite() override {
    Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
    writing_ = true;
    changes_credentials_ = false;
  }
  void BeginSingleStatementWrite() override {
    writing_ = true;
    single_statement_ = true;
    statements_sent_ = 0;
    changes_credentials_ = false;
  }
  void BeginRead() override {
    Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    writing_ = false;
  }
  void Commit() override {
    bool wrote = writing_ && clock_;
    writing_ = false;
    if (single_statement_) {  // committed with its statement
      single_statement_ = false;
      if (wrote) Committed();
      return;
    }
    if (!wrote) return Exec("COMMIT");
    try {
      Exec("COMMIT");
    } catch (...) {
      Committed();  // the outcome may be unknown (a lost connection): count it
      throw;
    }
    Committed();
  }
  void Rollback() noexcept override {
    if (single_statement_) {
      // No transaction is open; the statement failed, or its outcome is unknown (a lost
      // connection): count it as a commit.
      single_statement_ = false;
      if (writing_ && clock_) Committed();
      writing_ = false;
      return;
    }
    // A refused write may have read newer rows than this replica's cache holds (a 412 after
    // another replica's update): its end ticks too, so this replica's next reads are fresh.
    if (writing_ && clock_) clock_->Tick();
    writing_ = false;
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) return;
    PGresult* r = PQexec(conn_, "ROLLBACK");
    if (r) PQclear(r);
  }
  const char* ForUpdate() const override { return " FOR UPDATE"; }
  bool DataModifyingWith() const override { return true; }
  void LockMigrations() override { Exec("SELECT pg_advisory_xact_lock(727274687265)"); }
  bool Healthy() const override { return conn_ && !broken_ && PQstatus(conn_) == CONNECTION_OK; }
  void ChangesCredentials() override { changes_credentials_ = true; }
  // Before each statement goes out: a single-statement write sends one.
  void Sending() {
    if (single_statement_ && ++statements_sent_ > 1)
      Fail(ErrorCode::kInternal, "a single-statement write sent a second statement");
  }

  PGconn* raw() { return conn_; }
  void set_changes(int64_t n) { changes_ = n; }
  void MarkBroken() { broken_ = true; }
  std::string NextName() { return "s" + std::to_string(++statements_); }

 protected:
  sql::StatementImpl* PrepareImpl(const std::string& sql) override;

 private:
  class PgStatement;
  // This replica forgets at once; the others hear of it from the notifier (see CommitWatch).
  void Committed() {
    clock_->Tick();
    if (changes_credentials_ && credentials_) credentials_->Tick();
    changes_credentials_ = false;
    if (notifier_) notifier_->Poke();
  }

  PGconn* conn_ = nullptr;
  CommitClock* clock_;
  CommitNotifier* notifier_;
  CommitClock* credentials_;
  bool writing_ = false;
  bool changes_credentials_ = false;  // this write transaction changes token rows
  bool single_statement_ = false;     // BeginSingleStatementWrite: no transaction is open
  int statements_sent_ = 0;           // ... and the statements it sent
  int64_t changes_ = 0;
  bool broken_ = false;
  int64_t statements_ = 0;
  std::unordered_map<std::string, std::unique_ptr<PgStatement>> cache_;

  class PgStatement final : public sql::StatementImpl {
   public:
    PgStatement(PgConnection& conn, const std::string& sql) : conn_(conn) {
      sql_ = Numbered(sql, count_);
      values_.resize(static_cast<size_t>(count_));
      types_.assign(static_cast<size_t>(count_), 0);
      formats_.assign(static_cast<size_t>(count_), 0);
    }
    ~PgStatement() override { Reset(); }

    void BindText(int i, std::string_view text) override { Set(i, std::string(text), kTextOid, 0); }
    void BindInt(int i, int64_t v) override { Set(i, std::to_string(v), kInt8Oid, 0); }
    void BindBlob(int i, std::string_view bytes) override {
      Set(i, std::string(bytes), kByteaOid, 1);
    }
    void BindNull(int i) override { Set(i, std::nullopt, 0, 0); }

    bool Step() override {
      if (!result_) Execute();
      ++row_;
      return row_ < PQntuples(result_);
    }
    std::string Text(int col) const override {
      return std::string(PQgetvalue(result_, row_, col),
                         static_cast<size_t>(PQgetlength(result_, row_, col)));
    }
    std::string Blob(int col) const override {
      size_t n = 0;
      unsigned char* raw = PQunescapeBytea(
          reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row_, col)), &n);
      if (!raw) Fail(ErrorCode::kInternal, "cannot decode a bytea value");
      std::string out(reinterpret_cast<char*>(raw), n);
      PQfreemem(raw);
      return out;
    }
    int64_t Int(int col) const override { return std::atoll(PQgetvalue(result_, row_, col)); }
    bool IsNull(int col) const override { return PQgetisnull(result_, row_, col) != 0; }
    void Reset() override {
      if (result_) PQclear(result_);
      result_ = nullptr;
      row_ = -1;
      for (auto& v : values_) v.reset();
    }

   private:
    void Set(int i, std::optional<std::string> v, Oid type, int format) {
      if (i < 1 || i > count_) Fail(ErrorCode::kInternal, "bind index out of range");
      size_t k = static_cast<size_t>(i - 1);
      values_[k] = std::move(v);
      if (type) types_[k] = type;
      formats_[k] = format;
    }

    void Execute() {
      if (name_.empty()) {
        std::string name = conn_.NextName();
        PGresult* r = PQprepare(conn_.raw(), name.c_str(), sql_.c_str(), count_, types_.data());
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) ThrowResult(conn_, r, "prepare");
        PQclear(r);
        name_ = name;
      }
      conn_.Sending();
      std::vector<const char*> ptrs(values_.size());
      std::vector<int> lengths(values_.size());
      for (size_t k = 0; k < values_.size(); ++k) {
        ptrs[k] = values_[k] ? values_[k]->data() : nullptr;
        lengths[k] = values_[k] ? static_cast<int>(values_[k]->size()) : 0;
      }
      result_ = PQexecPrepared(conn_.raw(), name_.c_str(), count_, ptrs.data(), lengths.data(),
                               formats_.data(), 0);
      ExecStatusType st = result_ ? PQresultStatus(result_) : PGRES_FATAL_ERROR;
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        PGresult* r = result_;
        result_ = nullptr;
        ThrowResult(conn_, r, "query");
      }
      conn_.set_changes(std::atoll(PQcmdTuples(result_)));
    }

    PgConnection& conn_;
    std::string sql_;
    std::string name_;
    int count_ = 0;
    std::vector<std::optional<std::string>> values_;
    std::vector<Oid> types_;
    std::vector<int> formats_;
    PGresult* result_ = nullptr;
    int row_ = -1;
  };
};

sql::StatementImpl* PgConnection::PrepareImpl(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second.get();
  auto owned = std::make_unique<PgStatement>(*this, sql);
  auto* raw = owned.get();
  cache_.emplace(sql, std::move(owned));
  return raw;
}

void ThrowResult(PgConnection& conn, PGresult* result, std::string_view what) {
  std::string state = result && PQresultErrorField(result, PG_DIAG_SQLSTATE)
                          ? PQresultErrorField(result, PG_DIAG_SQLSTATE)
                          : "";
  std::string message = result ? PQresultErrorMessage(result) : "";
  if (message.empty() && conn.raw()) message = PQerrorMessage(conn.raw());
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (result) PQclear(result);
  std::string detail =
      std::string(what) + ": " + message + (state.empty() ? "" : " [" + state + "]");
  if (PQstatus(conn.raw()) != CONNECTION_OK || state.rfind("08", 0) == 0 ||
      state.rfind("57P", 0) == 0 || state.empty()) {
    conn.MarkBroken();
    Fail(ErrorCode::kUnavailable, "database connection lost: " + detail);
  }
  if (state == "40001" || state == "40P01") throw sql::RetryableError(detail);
  if (state == "23505" || state == "23503")
    Fail(ErrorCode::kConflict, "constraint violated: " + detail);
  if (state == "57014" || state == "55P03")
    Fail(ErrorCode::kUnavailable, "database timeout: " + detail);
  if (state.rfind("53", 0) == 0) Fail(ErrorCode::kUnavailable, "database overloaded: " + detail);
  Fail(ErrorCode::kInternal, "postgres error: " + detail);
}

}  // namespace

std::unique_ptr<sql::Connection> Connect(const std::string& url, CommitClock* clock,
                                         CommitNotifier* notifier, CommitClock* credentials) {
  return std::make_unique<PgConnection>(url, clock, notifier, credentials);
}

}  // namespace statehouse::storage::postgres
