// The PostgreSQL backend: the same stores over libpq, with state bytes in the database (so
// several server replicas share one database) and a local cache of them for sending.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "storage/store.h"

namespace statehouse::storage {

// url: postgres://user@host:port/db (libpq connection URI or key=value string). cache_dir
// holds blob files materialised for zero-copy sends (content-addressed, safe to delete).
// staleness: with a positive bound, the database has a commit clock fed by the other
// replicas' notifications and by heartbeats (see CommitWatch), so answers and token rows may
// be cached; with 0, nothing is cached. Writes notify the other replicas either way.
std::unique_ptr<Database> OpenPostgres(
    const std::string& url, const std::string& cache_dir, size_t pool_size = 8,
    std::chrono::milliseconds staleness = std::chrono::milliseconds(0));

}  // namespace statehouse::storage
