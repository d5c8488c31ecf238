// Baseline for bench/state_bench.py: the cost of durably storing a state blob in SQLite alone.
//
// usage: sqlite_blob_baseline DB_FILE BLOB_FILE [COUNT]
//
// Reads BLOB_FILE into memory once, opens DB_FILE in WAL mode with synchronous=FULL and inserts
// the blob COUNT times (default 1), one transaction (BEGIN; INSERT; COMMIT) per blob. Prints the
// wall time of each transaction in seconds, one per line. Opening the database and reading the
// file are not timed.
//
// Build: g++ -O2 -std=c++20 -o sqlite_blob_baseline sqlite_blob_baseline.cpp -lsqlite3
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace {

[[noreturn]] void Die(sqlite3* db, const char* what) {
  std::fprintf(stderr, "sqlite_blob_baseline: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
  std::exit(1);
}

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite_blob_baseline: %s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DB_FILE BLOB_FILE [COUNT]\n", argv[0]);
    return 2;
  }
  const int count = argc > 3 ? std::atoi(argv[3]) : 1;

  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "sqlite_blob_baseline: cannot read %s\n", argv[2]);
    return 1;
  }
  const std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  sqlite3* db = nullptr;
  if (sqlite3_open(argv[1], &db) != SQLITE_OK) Die(db, "open");
  Exec(db, "PRAGMA journal_mode=WAL");
  Exec(db, "PRAGMA synchronous=FULL");
  Exec(db, "CREATE TABLE IF NOT EXISTS states (id INTEGER PRIMARY KEY, data BLOB NOT NULL)");

  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO states (data) VALUES (?1)", -1, &insert, nullptr) !=
      SQLITE_OK)
    Die(db, "prepare");

  for (int i = 0; i < count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Exec(db, "BEGIN");
    if (sqlite3_bind_blob64(insert, 1, blob.data(), blob.size(), SQLITE_STATIC) != SQLITE_OK)
      Die(db, "bind");
    if (sqlite3_step(insert) != SQLITE_DONE) Die(db, "insert");
    sqlite3_reset(insert);
    Exec(db, "COMMIT");
    const auto t1 = std::chrono::steady_clock::now();
    std::printf("%.9f\n", std::chrono::duration<double>(t1 - t0).count());
  }
  std::fflush(stdout);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return 0;
}
