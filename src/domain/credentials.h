// API keys and tokens (Harness NG shapes), bootstrap of the first account, and the operator
// commands. Secrets exist in clear only in the return value of Create/Rotate.
#pragma once

#include <optional>
#include <string>

#include "auth/auth.h"
#include "storage/store.h"

namespace statehouse::domain {

struct ApiKeyInput {
  std::string identifier;
  std::string name;
  std::string description;
  storage::Tags tags;
  std::string api_key_type;  // default SERVICE_ACCOUNT
  std::string parent_identifier;
  std::optional<int64_t> default_time_to_expire_token;
  std::string org;
  std::string project;
};

struct TokenInput {
  std::string identifier;
  std::string name;
  std::string description;
  storage::Tags tags;
  std::string api_key_identifier;
  std::string api_key_type;       // must match the key's when given
  std::string parent_identifier;  // must match the key's when given
  std::string org;
  std::string project;
  std::optional<int64_t> valid_from;
  std::optional<int64_t> valid_to;
  std::optional<std::string> role;  // extension: viewer | editor | admin
};

// Filters of the list endpoints and the identity checks of delete/rotate.
struct CredentialFilter {
  std::string org;
  std::string project;
  std::string api_key_type;
  std::string parent_identifier;
  std::string api_key_identifier;
};

bool IsApiKeyType(std::string_view type);

class CredentialService {
 public:
  explicit CredentialService(storage::Database& db) : db_(db) {}

  storage::ApiKeyRecord CreateApiKey(const auth::Principal& who, const ApiKeyInput& in);
  storage::ApiKeyRecord GetApiKey(const auth::Principal& who, const std::string& id);
  storage::ApiKeyRecord UpdateApiKey(const auth::Principal& who, const std::string& id,
                                     const ApiKeyInput& in);
  void DeleteApiKey(const auth::Principal& who, const std::string& id,
                    const CredentialFilter& expect);
  storage::Page<storage::ApiKeyRecord> ListApiKeys(const auth::Principal& who,
                                                   const CredentialFilter& filter,
                                                   const storage::ListQuery& query);
  int64_t TokenCount(const auth::Principal& who, const std::string& api_key);

  struct Created {
    storage::TokenRecord record;
    std::string token;  // pat.<account>.<id>.<secret>, shown once
  };
  Created CreateToken(const auth::Principal& who, const TokenInput& in);
  storage::TokenRecord UpdateToken(const auth::Principal& who, const std::string& id,
                                   const TokenInput& in);
  void DeleteToken(const auth::Principal& who, const std::string& id,
                   const CredentialFilter& expect);
  // The old secret stays valid until rotate_timestamp (if in the future).
  Created RotateToken(const auth::Principal& who, const std::string& id,
                      const CredentialFilter& expect, std::optional<int64_t> rotate_timestamp);
  storage::Page<storage::TokenRecord> ListTokens(const auth::Principal& who,
                                                 const CredentialFilter& filter, bool only_active,
                                                 const storage::ListQuery& query);
  // Returns the token's record if the presented value is valid in the caller's account.
  storage::TokenRecord Validate(const auth::Principal& who, std::string_view presented);

 private:
  storage::TokenRecord VisibleToken(const auth::Principal& who, const std::string& id);
  storage::Database& db_;
};

// First start: when the database has no account, create "default" with an admin token and
// return the token; otherwise nullopt.
std::optional<std::string> BootstrapIfEmpty(storage::Database& db);

// Operator commands (offline, trusted).
void CreateAccount(storage::Database& db, const std::string& account);
std::string CreateOperatorToken(storage::Database& db, const std::string& account, auth::Role role,
                                const std::string& org, const std::string& project);

}  // namespace statehouse::domain
