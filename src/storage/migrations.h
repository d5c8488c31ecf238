// Versioned schema migrations embedded at build time from migrations/<backend>/NNNN_name.sql.
#pragma once

#include <string>
#include <vector>

namespace statehouse::storage {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<Migration>& SqliteMigrations();
const std::vector<Migration>& PostgresMigrations();

}  // namespace statehouse::storage
