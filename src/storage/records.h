// Plain records exchanged between the domain and the stores. No behaviour here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace statehouse::storage {

// Tags keep the order the client gave them.
using Tags = std::vector<std::pair<std::string, std::string>>;

struct AccountRecord {
  std::string identifier;
  int64_t created = 0;
};

struct OrgRecord {
  std::string account;
  std::string identifier;
  std::string name;
  std::string description;
  Tags tags;
  bool harness_managed = false;
  int64_t created = 0;
  int64_t updated = 0;
  int64_t version = 1;  // bumps on every update; the ETag
};

struct ProjectRecord {
  std::string account;
  std::string org;
  std::string identifier;
  std::string name;
  std::string description;
  std::string color;
  std::vector<std::string> modules;
  Tags tags;
  int64_t created = 0;
  int64_t updated = 0;
  int64_t version = 1;
};

struct ApiKeyRecord {
  std::string account;
  std::string identifier;
  std::string name;
  std::string description;
  Tags tags;
  std::string api_key_type;  // USER, SERVICE_ACCOUNT, ...
  std::string parent_identifier;
  std::optional<int64_t> default_time_to_expire_token;
  std::string org;      // empty: account level
  std::string project;  // empty: org or account level
  int64_t created = 0;
  int64_t updated = 0;
};

struct TokenRecord {
  std::string account;
  std::string identifier;  // unique per account; the <token-id> of pat.<account>.<token-id>.<secret>
  std::string name;
  std::string description;
  Tags tags;
  std::string api_key_identifier;
  std::string api_key_type;
  std::string parent_identifier;
  std::string org;
  std::string project;
  std::string role;  // viewer | editor | admin
  int64_t valid_from = 0;
  std::optional<int64_t> valid_to;
  std::optional<int64_t> scheduled_expire_time;
  // Only a salted hash of the secret is kept. After a rotation the previous secret may stay
  // valid until previous_valid_until.
  std::string secret_salt;
  std::string secret_hash;
  std::string previous_salt;
  std::string previous_hash;
  int64_t previous_valid_until = 0;
  int64_t created = 0;
  int64_t updated = 0;
};

enum class SortField { kName, kIdentifier, kCreated, kUpdated };

struct ListQuery {
  int64_t offset = 0;
  int64_t limit = 30;
  SortField sort = SortField::kName;
  bool descending = false;
  std::string search;                    // substring of name or identifier, case-insensitive
  std::vector<std::string> identifiers;  // restrict to these, when not empty
};

// Restricts credential listings to an org and/or project; empty strings match anything.
struct ScopeFilter {
  std::string org;
  std::string project;
};

template <typename T>
struct Page {
  std::vector<T> items;
  int64_t total = 0;
};

}  // namespace statehouse::storage
