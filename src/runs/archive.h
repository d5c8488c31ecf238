// Configuration archives: unpacking uploaded .tar.gz slugs safely, and packing a directory the
// way the Terraform CLI does (go-slug, .terraformignore).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace statehouse::runs {

struct ExtractLimits {
  uint64_t max_entries = 20000;
  uint64_t max_total_bytes = 1ull << 30;    // uncompressed bytes of all regular files
  uint64_t max_entry_bytes = 512ull << 20;  // one file
  // Uncompressed bytes / archive file size (bomb guard). Totals up to 1 MiB are always allowed,
  // so that a small archive of repetitive text is not mistaken for a bomb.
  double max_ratio = 200.0;
};

struct ExtractResult {
  uint64_t entries = 0;  // directories, files and links created
  uint64_t bytes = 0;    // bytes of regular files written
};

// Unpacks a .tar.gz (also plain .tar) at archive_path into dir, which must exist and be empty.
// Refuses (throws kInvalidArgument whose message names the offending entry and why, e.g.
// "archive entry '../x': path leaves the directory") and removes everything it extracted
// when: an entry path is absolute or has a '..' component (after normalising "./" etc.);
// a symlink's target is absolute or resolves outside dir (relative to the link's own
// directory, and with no '..' after a component that is itself a symlink); a hard link's
// target is outside dir or not an earlier extracted regular file; an entry is a device, fifo
// or socket; an entry repeats an earlier path (except directory over directory); a limit of
// `limits` is exceeded (checked from the headers and again while streaming, so a bomb is
// stopped before it is written); the archive is corrupt/truncated or not a tar(.gz).
// Never follows a symlink while writing: an entry whose parent path passes through an
// extracted symlink is refused. Files get mode & 0755, directories (mode & 0755) | 0700;
// owners are not restored; file modification times are kept where possible.
// Throws kInternal when dir is missing or not empty, the archive cannot be opened, or
// writing fails for a local reason (e.g. disk full); what was extracted is removed then too.
ExtractResult ExtractArchive(const std::string& archive_path, const std::string& dir,
                             const ExtractLimits& limits = {});

struct PackResult {
  uint64_t entries = 0;  // entries written to the archive
  uint64_t bytes = 0;    // bytes of regular files packed
};

// Progress callback: (bytes packed so far, total bytes to pack). Called at the start, about
// every MiB and at the end.
using PackProgress = std::function<void(uint64_t done, uint64_t total)>;

// Packs the contents of dir (paths relative to dir, no leading "./") into a gzip'd tar at
// out_path (written atomically: temp file then rename; mode 0600). Skips `.terraform/` directories
// (except `.terraform/modules/`), `.git/` and whatever `dir/.terraformignore` excludes, with
// go-slug's semantics: one pattern per line, '#' comments, blank lines ignored, a leading '!'
// re-includes, a trailing '/' matches directories only, a leading '/' anchors to the root,
// '*' '?' '[a-z]' '**' globs. As in go-slug, the defaults apply in addition to the file's
// rules, and a pattern without a trailing '/' that matches a directory drops only the
// directory's own entry, not its contents. Symlinks are stored as symlinks and must stay
// inside dir (kInvalidArgument otherwise, as ExtractArchive would refuse them); regular files
// and directories are stored, anything else is skipped. Throws kInternal on I/O errors with a
// message naming the path.
PackResult PackDirectory(const std::string& dir, const std::string& out_path,
                         const PackProgress& progress = {});

}  // namespace statehouse::runs
