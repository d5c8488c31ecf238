// A SQLite VFS that writes each transaction's WAL frames with one pwrite instead of two per
// frame. SQLite writes a frame's 24-byte header and its page separately, so a commit of n pages
// made 2n write calls; on this machine each costs ~4 us (the file's mtime update is journaled
// every time), which was most of the cost of a small commit besides its fsync. Here a
// connection's consecutive writes to its WAL file are kept in memory and written in one call
// before anything that could see them: the commit's fsync of the WAL, a read, a size query, a
// truncation, a write elsewhere in the file, the end of the write transaction (also a rolled
// back one, whose spilled frames SQLite had written at once), and closing the file.
//
// Frames become visible to other connections only when the committing connection updates the
// WAL index, after its fsync of the WAL; so this needs synchronous=FULL (or EXTRA) on every
// connection opened with it, which is the only setting Statehouse's writers use. Durability is
// unchanged: every byte of a commit is written before the fsync that makes it durable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace statehouse::storage::sqlite {

// Registers the VFS (once) over the default one and returns its name for sqlite3_open_v2.
const char* WalWriteBatchingVfs();

// Bytes written to the WAL files of the database at db_path and not yet passed on (tests: none
// once a transaction has ended).
size_t WalBytesPending(const std::string& db_path);

// Statement journal files opened through the VFS since the start (tests: SQLite opens one only
// when a savepoint's journal outgrows memory).
uint64_t SubjournalFilesOpened();

}  // namespace statehouse::storage::sqlite
