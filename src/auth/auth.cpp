#include "auth/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/error.h"
#include "common/util.h"

namespace statehouse::auth {

std::optional<Role> ParseRole(std::string_view text) {
  if (IEquals(text, "viewer")) return Role::kViewer;
  if (IEquals(text, "editor")) return Role::kEditor;
  if (IEquals(text, "admin")) return Role::kAdmin;
  return std::nullopt;
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kEditor:
      return "editor";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

bool Principal::Covers(std::string_view target_org, std::string_view target_project) const {
  if (org.empty()) return true;
  if (target_org != org) return false;
  if (project.empty()) return true;
  return target_project == project;
}

bool Principal::CanSee(std::string_view target_org, std::string_view target_project) const {
  if (Covers(target_org, target_project)) return true;
  // Ancestors of the principal's own scope are visible (a project token may read its org).
  if (target_org.empty()) return true;
  return target_org == org && target_project.empty();
}

void RequireScope(const Principal& p, std::string_view org, std::string_view project) {
  if (!p.Covers(org, project))
    Fail(ErrorCode::kPermissionDenied, "the token's scope does not include this resource");
}

std::optional<ParsedToken> ParseTokenString(std::string_view token) {
  // Exactly four dot-separated, non-empty parts; identifiers never contain dots.
  if (token.size() > 512) return std::nullopt;
  std::string_view parts[4];
  for (int i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? token.find('.') : std::string_view::npos;
    if (i < 3 && dot == std::string_view::npos) return std::nullopt;
    parts[i] = token.substr(0, dot);
    if (parts[i].empty()) return std::nullopt;
    token = i < 3 ? token.substr(dot + 1) : std::string_view();
  }
  if (parts[0] != "pat") return std::nullopt;
  if (parts[3].find('.') != std::string_view::npos) return std::nullopt;
  return ParsedToken{std::string(parts[1]), std::string(parts[2]), std::string(parts[3])};
}

namespace {

std::string Sha256Hex(std::string_view salt, std::string_view secret) {
  return statehouse::Sha256Hex({salt, secret});
}
}  // namespace

SecretHash HashSecret(std::string_view secret) {
  unsigned char salt[16];
  if (RAND_bytes(salt, sizeof salt) != 1) Fail(ErrorCode::kInternal, "RAND_bytes failed");
  std::string salt_hex = HexEncode(salt, sizeof salt);
  return SecretHash{salt_hex, Sha256Hex(salt_hex, secret)};
}

bool VerifySecret(std::string_view secret, std::string_view salt_hex, std::string_view hash_hex) {
  if (salt_hex.empty() || hash_hex.empty()) return false;
  std::string computed = Sha256Hex(salt_hex, secret);
  if (computed.size() != hash_hex.size()) return false;
  return CRYPTO_memcmp(computed.data(), hash_hex.data(), computed.size()) == 0;
}

MintedSecret MintSecret() {
  MintedSecret m;
  m.secret = RandomToken(40);  // ~238 bits
  m.stored = HashSecret(m.secret);
  return m;
}

std::string FormatToken(std::string_view account, std::string_view token_id,
                        std::string_view secret) {
  std::string out = "pat.";
  out.append(account).append(".").append(token_id).append(".").append(secret);
  return out;
}

Principal PrincipalOf(const storage::TokenRecord& token) {
  Principal p;
  p.account = token.account;
  p.token_id = token.identifier;
  p.name = token.name;
  p.api_key = token.api_key_identifier;
  p.role = ParseRole(token.role).value_or(Role::kViewer);
  p.org = token.org;
  p.project = token.project;
  return p;
}

namespace {
// The checks on a presented secret against its stored row.
Principal Admit(const ParsedToken& parsed, const storage::TokenRecord& record, int64_t now) {
  bool current = VerifySecret(parsed.secret, record.secret_salt, record.secret_hash);
  bool previous = !current && now < record.previous_valid_until &&
                  VerifySecret(parsed.secret, record.previous_salt, record.previous_hash);
  if (!current && !previous) Fail(ErrorCode::kUnauthenticated, "invalid API token");
  if (record.valid_from > now) Fail(ErrorCode::kUnauthenticated, "API token is not valid yet");
  if (record.valid_to && *record.valid_to <= now)
    Fail(ErrorCode::kUnauthenticated, "API token has expired");
  return PrincipalOf(record);
}
}  // namespace

Principal Authenticate(storage::TokenStore& tokens, std::string_view presented, int64_t now) {
  auto parsed = ParseTokenString(presented);
  if (!parsed) Fail(ErrorCode::kUnauthenticated, "malformed API token");
  auto record = tokens.GetToken(parsed->account, parsed->token_id);
  // The same message for unknown and wrong-secret, so callers cannot probe token ids.
  if (!record) Fail(ErrorCode::kUnauthenticated, "invalid API token");
  return Admit(*parsed, *record, now);
}

TokenVerifier::TokenVerifier(storage::TokenStore& tokens, const storage::CommitClock* commits)
    : tokens_(tokens), commits_(commits) {}

std::shared_ptr<const storage::TokenRecord> TokenVerifier::Find(const std::string& key,
                                                                uint64_t commits) {
  std::lock_guard lock(mutex_);
  auto it = remembered_.find(key);
  if (it == remembered_.end() || it->second.commits != commits) return nullptr;
  return it->second.record;
}

std::optional<Principal> TokenVerifier::Remembered(std::string_view presented, int64_t now) {
  std::optional<uint64_t> commits = commits_ ? commits_->Now() : std::nullopt;
  if (!commits) return std::nullopt;
  auto parsed = ParseTokenString(presented);
  if (!parsed) return std::nullopt;
  auto row = Find(parsed->account + "\n" + parsed->token_id, *commits);
  if (!row) return std::nullopt;
  hits_.fetch_add(1, std::memory_order_relaxed);
  return Admit(*parsed, *row, now);
}

Principal TokenVerifier::Authenticate(std::string_view presented, int64_t now) {
  // Read before the row: a write committed after this moves the count past it.
  std::optional<uint64_t> commits = commits_ ? commits_->Now() : std::nullopt;
  if (!commits) {  // nothing can be vouched for: every verification reads
    misses_.fetch_add(1, std::memory_order_relaxed);
    return auth::Authenticate(tokens_, presented, now);
  }
  auto parsed = ParseTokenString(presented);
  if (!parsed) Fail(ErrorCode::kUnauthenticated, "malformed API token");
  std::string key = parsed->account + "\n" + parsed->token_id;
  uint64_t before = *commits;
  if (auto row = Find(key, before)) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return Admit(*parsed, *row, now);
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  auto record = tokens_.GetToken(parsed->account, parsed->token_id);
  if (!record) Fail(ErrorCode::kUnauthenticated, "invalid API token");
  Principal principal = Admit(*parsed, *record, now);
  // Only rows that admitted their caller are kept: unknown ids and wrong secrets cannot fill
  // the memory. A stale row for the key is replaced here.
  auto row = std::make_shared<const storage::TokenRecord>(std::move(*record));
  std::lock_guard lock(mutex_);
  if (remembered_.size() >= kMaxRemembered) remembered_.clear();
  remembered_[key] = RememberedRow{std::move(row), before};
  return principal;
}

}  // namespace statehouse::auth
