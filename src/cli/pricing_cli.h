// `statehouse pricing import FILE`: refreshes the price catalog from a provider's own published
// price file (AWS Price List offer file, Google Cloud billing SKU list, Azure Retail Prices API
// pages). The result is a catalog document in the pricing directory, which the server reads at
// start over the shipped prices.
#pragma once

#include <iosfwd>
#include <string>

namespace statehouse::cli {

struct PricingImportOptions {
  std::string file;
  std::string pricing_dir;  // where catalog documents go (the server's --pricing-dir)
};

// 0 on success; 1 when the file cannot be read or is not a price file (nothing is written).
int PricingImport(const PricingImportOptions& options, std::ostream& out, std::ostream& err);

}  // namespace statehouse::cli
