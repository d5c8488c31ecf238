// Tokens, roles and scopes. A token is "pat.<account>.<token-id>.<secret>"; only a salted
// SHA-256 of the secret is stored, and comparisons are constant-time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/records.h"
#include "storage/store.h"

namespace statehouse::auth {

enum class Role { kViewer = 1, kEditor = 2, kAdmin = 3 };

std::optional<Role> ParseRole(std::string_view text);
const char* RoleName(Role role);

// Who is calling, as established from a valid token.
struct Principal {
  std::string account;
  std::string token_id;
  Role role = Role::kViewer;
  std::string org;      // empty: the whole account
  std::string project;  // empty: the whole org (or account)
  // A run token's principal works on this workspace's terraform-backend only (empty: any).
  std::string workspace;
  std::string name = {};     // the token's name (audit trail); a run token's: "run <number>"
  std::string api_key = {};  // the API key the token belongs to (audit trail)

  bool HasRole(Role needed) const { return static_cast<int>(role) >= static_cast<int>(needed); }
  // True when the principal's scope covers the given org/project ("" = account or org level).
  bool Covers(std::string_view target_org, std::string_view target_project) const;
  // True when target is the principal's scope or an ancestor of it (readable context).
  bool CanSee(std::string_view target_org, std::string_view target_project) const;
};

// Throws kPermissionDenied unless the principal covers the target.
void RequireScope(const Principal& p, std::string_view org, std::string_view project);

struct ParsedToken {
  std::string account;
  std::string token_id;
  std::string secret;
};
std::optional<ParsedToken> ParseTokenString(std::string_view token);

struct SecretHash {
  std::string salt;  // hex
  std::string hash;  // hex SHA-256(salt || secret)
};
SecretHash HashSecret(std::string_view secret);
bool VerifySecret(std::string_view secret, std::string_view salt_hex, std::string_view hash_hex);

// A freshly minted token value and its stored hash.
struct MintedSecret {
  std::string secret;
  SecretHash stored;
};
MintedSecret MintSecret();
std::string FormatToken(std::string_view account, std::string_view token_id,
                        std::string_view secret);

// Resolves a presented token to a principal. Throws kUnauthenticated (unknown, malformed,
// expired, revoked) with a message that never echoes the token.
Principal Authenticate(storage::TokenStore& tokens, std::string_view presented, int64_t now);

// Builds the principal a stored token grants.
Principal PrincipalOf(const storage::TokenRecord& token);

// Authenticate with a memory of token rows. A row read from the database is reused while the
// database's credentials counter (Database::CredentialsCounter) has not moved since it was
// read: no token was deleted, rotated or changed in between. Every call still checks the
// secret and the validity window. Without a counter, or while a bounded one cannot vouch
// (PostgreSQL with --replica-staleness-ms 0, a late heartbeat), every call reads the database.
class TokenVerifier {
 public:
  TokenVerifier(storage::TokenStore& tokens, const storage::CommitClock* commits);
  Principal Authenticate(std::string_view presented, int64_t now);
  // Authenticate from memory alone: nullopt when the token's row is not remembered (or went
  // stale), without reading the database. Throws as Authenticate does for a remembered row
  // that refuses the caller.
  std::optional<Principal> Remembered(std::string_view presented, int64_t now);
  // Tokens admitted from a remembered row, and verifications that read the database (metrics).
  uint64_t Hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t Misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct RememberedRow {
    std::shared_ptr<const storage::TokenRecord> record;
    uint64_t commits = 0;  // the counter before the row was read
  };
  // The row remembered for key if it was read at this commit count (the secret is then
  // checked outside the lock).
  std::shared_ptr<const storage::TokenRecord> Find(const std::string& key, uint64_t commits);
  static constexpr size_t kMaxRemembered = 4096;

  storage::TokenStore& tokens_;
  const storage::CommitClock* commits_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, RememberedRow> remembered_;  // "<account>\n<token id>"
};

}  // namespace statehouse::auth
