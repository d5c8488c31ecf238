// Baseline for `bench/run --database postgres` and `bench/state_bench.py --database postgres`:
// the cost of durably storing a state blob in PostgreSQL alone, through libpq.
//
// usage: pg_blob_baseline CONNINFO BLOB_FILE [COUNT] [chunks|row]
//
// Reads BLOB_FILE into memory once, connects to CONNINFO (a postgres:// URL) and stores the blob
// COUNT times (default 1), one transaction per blob, with the server's defaults (fsync on,
// synchronous_commit on):
//
//   chunks (default)  what the server's blob store does (src/storage/postgres/pg_store.cpp):
//                     BEGIN; SELECT 1 FROM blobs WHERE sha256 = $1; one INSERT INTO blob_chunks
//                     per 1 MiB chunk (binary bytea parameter, prepared statement); INSERT INTO
//                     blobs (sha256, size, chunks); COMMIT. Tables as migrations/postgres/0004.
//   row               BEGIN; INSERT INTO states (data) VALUES ($1) with the whole blob as one
//                     bytea value; COMMIT.
//
// Each blob gets a fresh random 64-hex key (no hashing: that is the server's own work). Prints
// the wall time of each transaction in seconds, one per line. Connecting, creating the tables
// and reading the file are not timed.
//
// Build: g++ -O2 -std=c++20 -I/usr/include/postgresql -o pg_blob_baseline pg_blob_baseline.cpp -lpq
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace {

constexpr size_t kChunk = 1 << 20;

[[noreturn]] void Die(PGconn* c, const char* what, PGresult* r = nullptr) {
  std::fprintf(stderr, "pg_blob_baseline: %s: %s\n", what,
               r ? PQresultErrorMessage(r) : (c ? PQerrorMessage(c) : "?"));
  if (r) PQclear(r);
  std::exit(1);
}

void Exec(PGconn* c, const char* sql) {
  PGresult* r = PQexec(c, sql);
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) Die(c, sql, r);
  PQclear(r);
}

void Prepare(PGconn* c, const char* name, const char* sql, int n) {
  PGresult* r = PQprepare(c, name, sql, n, nullptr);
  if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) Die(c, name, r);
  PQclear(r);
}

// Runs a prepared statement; binary[i] marks a binary parameter. Returns the row count.
int Run(PGconn* c, const char* name, int n, const char* const* values, const int* lengths,
        const int* binary) {
  PGresult* r = PQexecPrepared(c, name, n, values, lengths, binary, 0);
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) Die(c, name, r);
  int rows = PQntuples(r);
  PQclear(r);
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CONNINFO BLOB_FILE [COUNT] [chunks|row]\n", argv[0]);
    return 2;
  }
  const int count = argc > 3 ? std::atoi(argv[3]) : 1;
  const std::string mode = argc > 4 ? argv[4] : "chunks";
  if (mode != "chunks" && mode != "row") {
    std::fprintf(stderr, "pg_blob_baseline: mode must be chunks or row\n");
    return 2;
  }

  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "pg_blob_baseline: cannot read %s\n", argv[2]);
    return 1;
  }
  const std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  PGconn* c = PQconnectdb(argv[1]);
  if (!c || PQstatus(c) != CONNECTION_OK) Die(c, "connect");
  Exec(c, "SET client_min_messages = warning");
  if (mode == "chunks") {
    Exec(c,
         "CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT COLLATE \"C\" PRIMARY KEY, "
         "size BIGINT NOT NULL, chunks BIGINT NOT NULL)");
    Exec(c,
         "CREATE TABLE IF NOT EXISTS blob_chunks (sha256 TEXT COLLATE \"C\" NOT NULL, "
         "chunk BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (sha256, chunk))");
    Prepare(c, "exists", "SELECT 1 FROM blobs WHERE sha256 = $1::text", 1);
    Prepare(c, "chunk",
            "INSERT INTO blob_chunks(sha256, chunk, data) VALUES($1::text, $2::int8, $3::bytea)",
            3);
    Prepare(c, "meta",
            "INSERT INTO blobs(sha256, size, chunks) VALUES($1::text, $2::int8, $3::int8) "
            "ON CONFLICT DO NOTHING",
            3);
  } else {
    Exec(c, "CREATE TABLE IF NOT EXISTS states (id BIGSERIAL PRIMARY KEY, data BYTEA NOT NULL)");
    Prepare(c, "row", "INSERT INTO states (data) VALUES ($1::bytea)", 1);
  }

  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < count; ++i) {
    char key[65];
    for (int k = 0; k < 4; ++k)
      std::snprintf(key + 16 * k, 17, "%016llx", static_cast<unsigned long long>(rng()));
    const auto t0 = std::chrono::steady_clock::now();
    Exec(c, "BEGIN");
    if (mode == "chunks") {
      const char* v1[] = {key};
      const int l1[] = {64}, b1[] = {0};
      if (Run(c, "exists", 1, v1, l1, b1) != 0) Die(c, "key collision");
      int64_t n = 0;
      for (size_t off = 0; off < blob.size(); off += kChunk, ++n) {
        const size_t len = std::min(kChunk, blob.size() - off);
        const std::string idx = std::to_string(n);
        const char* v[] = {key, idx.c_str(), blob.data() + off};
        const int l[] = {64, 0, static_cast<int>(len)}, b[] = {0, 0, 1};
        Run(c, "chunk", 3, v, l, b);
      }
      const std::string size = std::to_string(blob.size()), chunks = std::to_string(n);
      const char* v[] = {key, size.c_str(), chunks.c_str()};
      const int l[] = {64, 0, 0}, b[] = {0, 0, 0};
      Run(c, "meta", 3, v, l, b);
    } else {
      const char* v[] = {blob.data()};
      const int l[] = {static_cast<int>(blob.size())}, b[] = {1};
      Run(c, "row", 1, v, l, b);
    }
    Exec(c, "COMMIT");
    const auto t1 = std::chrono::steady_clock::now();
    std::printf("%.9f\n", std::chrono::duration<double>(t1 - t0).count());
  }
  std::fflush(stdout);
  PQfinish(c);
  return 0;
}
