// The web console's files (ui/), embedded in the binary by cmake/embed_ui.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace statehouse::api {

struct EmbeddedUiFile {
  std::string_view path;  // "js/main.js", relative to ui/
  std::string_view plain;
  std::string_view gzip;  // the same bytes, gzipped at build time
};

struct EmbeddedUi {
  std::string_view build_id;  // from the files' SHA-256s: part of every asset URL
  std::vector<EmbeddedUiFile> files;
};

const EmbeddedUi& ShippedUi();

}  // namespace statehouse::api
