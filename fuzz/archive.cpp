// Source archives of remote executions (src/runs/archive.*): ExtractArchive on any bytes either
// refuses them with statehouse::Error or extracts them, and whatever it does, nothing lands
// outside the extraction directory and a refusal leaves that directory empty.
//
// Input: the archive's bytes (tar, tar.gz, or anything else). Each run extracts into a fresh
// directory inside a per-process sandbox; a sibling "outside" directory must stay empty.
#include <unistd.h>

#include <filesystem>
#include <iterator>
#include <fstream>
#include <string>

#include "fuzz_common.h"
#include "runs/archive.h"

namespace fs = std::filesystem;

namespace {

const fs::path& Sandbox() {
  static const fs::path dir = [] {
    char tmpl[] = "/tmp/fuzz_archive_XXXXXX";
    char* made = ::mkdtemp(tmpl);
    if (!made) std::abort();
    fs::create_directories(fs::path(made) / "outside");
    return fs::path(made);
  }();
  return dir;
}

bool Empty(const fs::path& dir) { return fs::is_empty(dir); }

// dir holds exactly one entry, named name.
bool Only(const fs::path& dir, const char* name) {
  auto count = std::distance(fs::directory_iterator(dir), fs::directory_iterator{});
  return count == 1 && fs::exists(dir / name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  const fs::path& box = Sandbox();
  fs::path archive = box / "input.tar.gz";
  fs::path into = box / "work" / "a" / "b";
  {
    std::ofstream out(archive, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  fs::remove_all(box / "work");
  fs::create_directories(into);
  statehouse::runs::ExtractLimits limits;
  limits.max_entries = 200;
  limits.max_total_bytes = 4 << 20;
  limits.max_entry_bytes = 1 << 20;
  bool refused = false;
  try {
    statehouse::runs::ExtractArchive(archive.string(), into.string(), limits);
  } catch (const statehouse::Error&) {
    refused = true;
  }
  FUZZ_CHECK(Empty(box / "outside"), "an entry was written outside the extraction directory");
  FUZZ_CHECK(Only(box / "work", "a") && Only(box / "work" / "a", "b"),
             "an entry was written beside the extraction directory");
  if (refused) FUZZ_CHECK(Empty(into), "a refused archive left files behind");
  fs::remove_all(box / "work");
  return 0;
}
