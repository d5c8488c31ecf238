// statehouse admin backup / restore: online backups of a running server's data.
//
// A backup directory holds manifest.json (written last: a directory without it is not a
// backup), the database (statehouse.db, a SQLite online-backup copy; or statehouse.dump, a
// pg_dump custom-format archive) and, on SQLite, blobs/<2 hex>/<sha256>: exactly the blobs the
// copied database names, each verified against its name. On PostgreSQL the blobs are rows of
// the database and travel inside the dump.
//
// Consistency: the database snapshot is taken first (one read transaction), then the blobs it
// names are copied; blobs are written before their rows commit and never deleted, so each one
// is there. Writes that commit after the snapshot are simply not in the backup.
#pragma once

#include <ostream>
#include <string>

#include "app/config.h"

namespace statehouse::app {

// Both throw statehouse::Error. Results go to out, progress lines to progress.
// Refuses (kConflict) a to_dir that exists and is not empty.
void Backup(const Config& config, const std::string& to_dir, std::ostream& out,
            std::ostream& progress);
// Restores into the SQLite database of config (which must not exist yet, with no blobs beside
// it) or into the PostgreSQL database of config.database (which must hold no Statehouse
// table); refuses (kConflict) otherwise. Verifies the manifest, the database file and every
// blob's SHA-256 before it reports success. On SQLite a failed restore removes what it wrote.
void Restore(const Config& config, const std::string& from_dir, std::ostream& out,
             std::ostream& progress);

// The commands: exit code 0 on success, 1 with the reason on stderr otherwise.
int AdminBackup(const Config& config, const std::string& to_dir);
int AdminRestore(const Config& config, const std::string& from_dir);

}  // namespace statehouse::app
