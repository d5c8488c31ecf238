#include "cli/pricing_cli.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "common/error.h"
#include "cost/catalog.h"
#include "cost/price_import.h"

namespace statehouse::cli {

namespace fs = std::filesystem;

int PricingImport(const PricingImportOptions& options, std::ostream& out, std::ostream& err) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) {
    err << "statehouse pricing import: cannot read " << options.file << "\n";
    return 1;
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    cost::PriceImportResult result = cost::ImportPriceFile(text.str(), options.file);
    if (result.mapped == 0) {
      err << "statehouse pricing import: " << options.file << " is a " << result.format
          << " but holds none of the prices Statehouse looks up (" << result.skipped
          << " entries skipped); nothing written\n";
      return 1;
    }
    // The document must load as the server will load it before it replaces anything.
    cost::PriceCatalog check;
    check.AddDocument(result.catalog_json, options.file);

    fs::create_directories(options.pricing_dir);
    std::string stem = fs::path(options.file).stem().string();
    if (stem.empty() || stem == "index")
      stem = fs::path(options.file).parent_path().filename().string();
    for (char& c : stem)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    fs::path target = fs::path(options.pricing_dir) / (result.provider + "-" + stem + ".json");
    fs::path temporary = target;
    temporary += ".tmp";
    {
      std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
      file << result.catalog_json;
      file.flush();
      if (!file) {
        err << "statehouse pricing import: cannot write " << temporary.string() << "\n";
        return 1;
      }
    }
    fs::rename(temporary, target);  // readers see the old file or the new one, never half
    out << "Imported " << result.mapped << " prices for " << result.provider << " from "
        << options.file << " (" << result.format << "; " << result.skipped << " entries not used)\n"
        << "Written to " << target.string()
        << "; the server reads it at its next start, over the shipped prices.\n";
    return 0;
  } catch (const Error& e) {
    err << "statehouse pricing import: " << e.what() << "\n";
    return 1;
  } catch (const fs::filesystem_error& e) {
    err << "statehouse pricing import: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace statehouse::cli
