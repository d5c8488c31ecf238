#include "domain/credentials.h"

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "domain/validation.h"

namespace statehouse::domain {

namespace {
constexpr const char* kApiKeyTypes[] = {"USER", "SERVICE_ACCOUNT", "SSH_KEY", "PGP_KEY",
                                        "SCOPED_TOKEN"};

void ValidateScopePair(std::string_view field_prefix, const std::string& org,
                       const std::string& project) {
  if (!org.empty()) ValidateIdentifier(std::string(field_prefix) + "orgIdentifier", org);
  if (!project.empty()) {
    if (org.empty())
      Fail(ErrorCode::kInvalidArgument,
           std::string(field_prefix) + "projectIdentifier: needs orgIdentifier as well");
    ValidateIdentifier(std::string(field_prefix) + "projectIdentifier", project);
  }
}

// A scoped caller creates credentials inside its own scope: empty scope fields inherit it.
void NarrowToCaller(const auth::Principal& who, std::string& org, std::string& project) {
  if (org.empty() && !who.org.empty()) {
    org = who.org;
    if (project.empty()) project = who.project;
  }
  if (!who.Covers(org, project))
    Fail(ErrorCode::kPermissionDenied, "the credential's scope is outside the token's scope");
}

storage::ScopeFilter FilterScope(const auth::Principal& who, const CredentialFilter& f) {
  storage::ScopeFilter s{f.org, f.project};
  if (!who.org.empty()) {
    if (!s.org.empty() && s.org != who.org)
      Fail(ErrorCode::kPermissionDenied, "orgIdentifier is outside the token's scope");
    s.org = who.org;
  }
  if (!who.project.empty()) {
    if (!s.project.empty() && s.project != who.project)
      Fail(ErrorCode::kPermissionDenied, "projectIdentifier is outside the token's scope");
    s.project = who.project;
  }
  return s;
}

void ExpectMatches(std::string_view field, const std::string& expected, const std::string& actual,
                   const std::string& what) {
  if (!expected.empty() && expected != actual)
    Fail(ErrorCode::kNotFound, what + " not found with the given " + std::string(field));
}

storage::TokenRecord NewToken(const std::string& account, const std::string& id,
                              const std::string& name, const storage::ApiKeyRecord& key,
                              auth::Role role, std::string& secret_out) {
  storage::TokenRecord t;
  t.account = account;
  t.identifier = id;
  t.name = name;
  t.api_key_identifier = key.identifier;
  t.api_key_type = key.api_key_type;
  t.parent_identifier = key.parent_identifier;
  t.role = auth::RoleName(role);
  t.created = t.updated = t.valid_from = NowMillis();
  auth::MintedSecret minted = auth::MintSecret();
  t.secret_salt = minted.stored.salt;
  t.secret_hash = minted.stored.hash;
  secret_out = minted.secret;
  return t;
}
}  // namespace

bool IsApiKeyType(std::string_view type) {
  for (const char* t : kApiKeyTypes)
    if (type == t) return true;
  return false;
}

storage::ApiKeyRecord CredentialService::CreateApiKey(const auth::Principal& who,
                                                      const ApiKeyInput& in) {
  ValidateIdentifier("identifier", in.identifier);
  ValidateLabel("name", in.name);
  ValidateMaxLength("description", in.description, 1024);
  ValidateTags("tags", in.tags);
  std::string type = in.api_key_type.empty() ? "SERVICE_ACCOUNT" : in.api_key_type;
  if (!IsApiKeyType(type))
    Fail(ErrorCode::kInvalidArgument,
         "apiKeyType: must be one of USER, SERVICE_ACCOUNT, SSH_KEY, PGP_KEY, SCOPED_TOKEN");
  if (in.parent_identifier.empty())
    Fail(ErrorCode::kInvalidArgument, "parentIdentifier: is required");
  ValidateLabel("parentIdentifier", in.parent_identifier);
  if (in.default_time_to_expire_token && *in.default_time_to_expire_token <= 0)
    Fail(ErrorCode::kInvalidArgument, "defaultTimeToExpireToken: must be positive milliseconds");
  storage::ApiKeyRecord k;
  k.account = who.account;
  k.identifier = in.identifier;
  k.name = in.name;
  k.description = in.description;
  k.tags = in.tags;
  k.api_key_type = type;
  k.parent_identifier = in.parent_identifier;
  k.default_time_to_expire_token = in.default_time_to_expire_token;
  k.org = in.org;
  k.project = in.project;
  ValidateScopePair("", k.org, k.project);
  NarrowToCaller(who, k.org, k.project);
  k.created = k.updated = NowMillis();
  db_.CreateApiKey(k);
  return k;
}

storage::ApiKeyRecord CredentialService::GetApiKey(const auth::Principal& who,
                                                   const std::string& id) {
  auto k = db_.GetApiKey(who.account, id);
  if (!k || !who.Covers(k->org, k->project))
    Fail(ErrorCode::kNotFound, "API key '" + id + "' not found");
  return *k;
}

storage::ApiKeyRecord CredentialService::UpdateApiKey(const auth::Principal& who,
                                                      const std::string& id,
                                                      const ApiKeyInput& in) {
  storage::ApiKeyRecord k = GetApiKey(who, id);
  if (!in.identifier.empty() && in.identifier != id)
    Fail(ErrorCode::kInvalidArgument, "identifier: does not match the API key in the path");
  if (!in.api_key_type.empty() && in.api_key_type != k.api_key_type)
    Fail(ErrorCode::kInvalidArgument, "apiKeyType: cannot be changed");
  if (!in.parent_identifier.empty() && in.parent_identifier != k.parent_identifier)
    Fail(ErrorCode::kInvalidArgument, "parentIdentifier: cannot be changed");
  ValidateLabel("name", in.name);
  ValidateMaxLength("description", in.description, 1024);
  ValidateTags("tags", in.tags);
  k.name = in.name;
  k.description = in.description;
  k.tags = in.tags;
  k.default_time_to_expire_token = in.default_time_to_expire_token;
  k.updated = NowMillis();
  return db_.UpdateApiKey(k);
}

void CredentialService::DeleteApiKey(const auth::Principal& who, const std::string& id,
                                     const CredentialFilter& expect) {
  storage::ApiKeyRecord k = GetApiKey(who, id);
  ExpectMatches("apiKeyType", expect.api_key_type, k.api_key_type, "API key '" + id + "'");
  ExpectMatches("parentIdentifier", expect.parent_identifier, k.parent_identifier,
                "API key '" + id + "'");
  db_.DeleteApiKey(who.account, id);
  log::Info("api key deleted", {{"account", who.account}, {"api_key", id}, {"by", who.token_id}});
}

storage::Page<storage::ApiKeyRecord> CredentialService::ListApiKeys(
    const auth::Principal& who, const CredentialFilter& filter, const storage::ListQuery& query) {
  return db_.ListApiKeys(who.account, FilterScope(who, filter), filter.api_key_type,
                         filter.parent_identifier, query);
}

int64_t CredentialService::TokenCount(const auth::Principal& who, const std::string& api_key) {
  return db_.CountTokensOfApiKey(who.account, api_key);
}

CredentialService::Created CredentialService::CreateToken(const auth::Principal& who,
                                                          const TokenInput& in) {
  ValidateIdentifier("identifier", in.identifier);
  ValidateLabel("name", in.name);
  ValidateMaxLength("description", in.description, 1024);
  ValidateTags("tags", in.tags);
  if (in.api_key_identifier.empty())
    Fail(ErrorCode::kInvalidArgument, "apiKeyIdentifier: is required");
  if (!in.api_key_type.empty() && !IsApiKeyType(in.api_key_type))
    Fail(ErrorCode::kInvalidArgument,
         "apiKeyType: must be one of USER, SERVICE_ACCOUNT, SSH_KEY, PGP_KEY, SCOPED_TOKEN");
  auth::Role role = who.role;
  if (in.role) {
    auto parsed = auth::ParseRole(*in.role);
    if (!parsed) Fail(ErrorCode::kInvalidArgument, "role: must be viewer, editor or admin");
    if (!who.HasRole(*parsed))
      Fail(ErrorCode::kPermissionDenied, "role: cannot grant a role above the caller's own");
    role = *parsed;
  }
  auto key = db_.GetApiKey(who.account, in.api_key_identifier);
  if (!key || !who.Covers(key->org, key->project))
    Fail(ErrorCode::kNotFound, "API key '" + in.api_key_identifier + "' not found");
  if (!in.api_key_type.empty() && in.api_key_type != key->api_key_type)
    Fail(ErrorCode::kInvalidArgument, "apiKeyType: does not match the API key's type");
  if (!in.parent_identifier.empty() && in.parent_identifier != key->parent_identifier)
    Fail(ErrorCode::kInvalidArgument, "parentIdentifier: does not match the API key's parent");

  std::string secret;
  storage::TokenRecord t = NewToken(who.account, in.identifier, in.name, *key, role, secret);
  t.description = in.description;
  t.tags = in.tags;
  t.org = in.org.empty() ? key->org : in.org;
  t.project = in.org.empty() ? key->project : in.project;
  ValidateScopePair("", t.org, t.project);
  NarrowToCaller(who, t.org, t.project);
  if (!key->org.empty() &&
      !auth::Principal{"", "", role, key->org, key->project, ""}.Covers(t.org, t.project))
    Fail(ErrorCode::kInvalidArgument,
         "orgIdentifier: the token's scope must lie within its API key's");
  if (in.valid_from) t.valid_from = *in.valid_from;
  if (in.valid_to)
    t.valid_to = *in.valid_to;
  else if (key->default_time_to_expire_token)
    t.valid_to = t.valid_from + *key->default_time_to_expire_token;
  db_.CreateToken(t);
  log::Info(
      "token created",
      {{"account", who.account}, {"token", t.identifier}, {"role", t.role}, {"by", who.token_id}});
  return {t, auth::FormatToken(t.account, t.identifier, secret)};
}

storage::TokenRecord CredentialService::VisibleToken(const auth::Principal& who,
                                                     const std::string& id) {
  auto t = db_.GetToken(who.account, id);
  if (!t || !who.Covers(t->org, t->project))
    Fail(ErrorCode::kNotFound, "token '" + id + "' not found");
  return *t;
}

storage::TokenRecord CredentialService::UpdateToken(const auth::Principal& who,
                                                    const std::string& id, const TokenInput& in) {
  storage::TokenRecord t = VisibleToken(who, id);
  if (!in.identifier.empty() && in.identifier != id)
    Fail(ErrorCode::kInvalidArgument, "identifier: does not match the token in the path");
  if (!in.api_key_identifier.empty() && in.api_key_identifier != t.api_key_identifier)
    Fail(ErrorCode::kInvalidArgument, "apiKeyIdentifier: cannot be changed");
  if ((!in.org.empty() && in.org != t.org) || (!in.project.empty() && in.project != t.project))
    Fail(ErrorCode::kInvalidArgument, "orgIdentifier/projectIdentifier: cannot be changed");
  if (in.role && *in.role != t.role)
    Fail(ErrorCode::kInvalidArgument, "role: cannot be changed; create a new token instead");
  ValidateLabel("name", in.name);
  ValidateMaxLength("description", in.description, 1024);
  ValidateTags("tags", in.tags);
  t.name = in.name;
  t.description = in.description;
  t.tags = in.tags;
  if (in.valid_from) t.valid_from = *in.valid_from;
  if (in.valid_to) t.valid_to = *in.valid_to;
  t.updated = NowMillis();
  return db_.UpdateToken(t);
}

void CredentialService::DeleteToken(const auth::Principal& who, const std::string& id,
                                    const CredentialFilter& expect) {
  storage::TokenRecord t = VisibleToken(who, id);
  std::string what = "token '" + id + "'";
  ExpectMatches("apiKeyIdentifier", expect.api_key_identifier, t.api_key_identifier, what);
  ExpectMatches("apiKeyType", expect.api_key_type, t.api_key_type, what);
  ExpectMatches("parentIdentifier", expect.parent_identifier, t.parent_identifier, what);
  db_.DeleteToken(who.account, id);
  log::Info("token deleted", {{"account", who.account}, {"token", id}, {"by", who.token_id}});
}

CredentialService::Created CredentialService::RotateToken(const auth::Principal& who,
                                                          const std::string& id,
                                                          const CredentialFilter& expect,
                                                          std::optional<int64_t> rotate_timestamp) {
  storage::TokenRecord t = VisibleToken(who, id);
  std::string what = "token '" + id + "'";
  ExpectMatches("apiKeyIdentifier", expect.api_key_identifier, t.api_key_identifier, what);
  ExpectMatches("apiKeyType", expect.api_key_type, t.api_key_type, what);
  ExpectMatches("parentIdentifier", expect.parent_identifier, t.parent_identifier, what);
  int64_t now = NowMillis();
  t.previous_salt = t.secret_salt;
  t.previous_hash = t.secret_hash;
  t.previous_valid_until = rotate_timestamp && *rotate_timestamp > now ? *rotate_timestamp : 0;
  auth::MintedSecret minted = auth::MintSecret();
  t.secret_salt = minted.stored.salt;
  t.secret_hash = minted.stored.hash;
  t.updated = now;
  storage::TokenRecord stored = db_.UpdateToken(t);
  log::Info("token rotated", {{"account", who.account}, {"token", id}, {"by", who.token_id}});
  return {stored, auth::FormatToken(t.account, t.identifier, minted.secret)};
}

storage::Page<storage::TokenRecord> CredentialService::ListTokens(const auth::Principal& who,
                                                                  const CredentialFilter& filter,
                                                                  bool only_active,
                                                                  const storage::ListQuery& query) {
  return db_.ListTokens(who.account, FilterScope(who, filter), filter.api_key_identifier,
                        filter.api_key_type, filter.parent_identifier, only_active, NowMillis(),
                        query);
}

storage::TokenRecord CredentialService::Validate(const auth::Principal& who,
                                                 std::string_view presented) {
  auth::Principal p = auth::Authenticate(db_, Trim(presented), NowMillis());
  if (p.account != who.account) Fail(ErrorCode::kUnauthenticated, "invalid API token");
  return VisibleToken(who, p.token_id);
}

namespace {
storage::ApiKeyRecord EnsureApiKey(storage::Database& db, const std::string& account,
                                   const std::string& id, const std::string& name) {
  if (auto k = db.GetApiKey(account, id)) return *k;
  storage::ApiKeyRecord k;
  k.account = account;
  k.identifier = id;
  k.name = name;
  k.api_key_type = "SERVICE_ACCOUNT";
  k.parent_identifier = id;
  k.created = k.updated = NowMillis();
  try {
    db.CreateApiKey(k);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kConflict) throw;  // created concurrently: fine
  }
  return *db.GetApiKey(account, id);
}
}  // namespace

std::optional<std::string> BootstrapIfEmpty(storage::Database& db) {
  if (db.CountAccounts() > 0) return std::nullopt;
  // Another process may bootstrap at the same moment; only the one that creates the account
  // mints the admin token.
  if (!db.CreateAccount({"default", NowMillis()})) return std::nullopt;
  storage::ApiKeyRecord key = EnsureApiKey(db, "default", "bootstrap", "Bootstrap");
  std::string secret;
  storage::TokenRecord t =
      NewToken("default", "admin", "Bootstrap admin token", key, auth::Role::kAdmin, secret);
  db.CreateToken(t);
  log::Info("bootstrap: created account 'default' and its admin token 'admin'");
  return auth::FormatToken("default", "admin", secret);
}

void CreateAccount(storage::Database& db, const std::string& account) {
  ValidateIdentifier("account", account);
  if (!db.CreateAccount({account, NowMillis()}))
    Fail(ErrorCode::kConflict, "account '" + account + "' already exists");
}

std::string CreateOperatorToken(storage::Database& db, const std::string& account, auth::Role role,
                                const std::string& org, const std::string& project) {
  if (!db.GetAccount(account)) Fail(ErrorCode::kNotFound, "account '" + account + "' not found");
  ValidateScopePair("--", org, project);
  storage::ApiKeyRecord key = EnsureApiKey(db, account, "operator", "Operator");
  std::string id = "op_" + RandomToken(12);
  std::string secret;
  storage::TokenRecord t =
      NewToken(account, id, std::string("operator ") + auth::RoleName(role), key, role, secret);
  t.org = org;
  t.project = project;
  db.CreateToken(t);
  return auth::FormatToken(account, id, secret);
}

}  // namespace statehouse::domain
