// Importers for the providers' own published price files: each turns one file into a catalog
// document (see cost/catalog.h) holding the prices the estimators look up (pricing/README.md).
// Pure: text in, catalog document text out; the caller reads and writes the files.
//
// Formats:
//  - AWS Price List offer file (offers/v1.0/aws/<Service>/current/<region>/index.json) of
//    AmazonEC2, AmazonRDS or AmazonElastiCache. Only the OnDemand terms are read.
//  - Google Cloud billing catalog SKU list (the Cloud Billing Catalog API's services/<id>/skus
//    reply), one page or a JSON array of pages.
//  - Azure Retail Prices API (prices.azure.com/api/retail/prices) reply, one page or a JSON
//    array of pages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace statehouse::cost {

struct PriceImportResult {
  std::string provider;      // aws | google | azure
  std::string format;        // "AWS Price List offer file", "Google Cloud billing SKU list",
                             // "Azure Retail Prices API"
  std::string catalog_json;  // a catalog document with the mapped prices, one per line, sorted
  std::size_t mapped = 0;    // price entries written
  std::size_t skipped = 0;   // products / SKUs / items not mapped (other services, other terms...)
};

// Detects the format from the document itself (`file_name` only names it in messages and in the
// document's "source"). Throws statehouse::Error (kInvalidArgument) when the text is not JSON or
// not one of the formats above. A file of a known format with nothing to map gives mapped == 0.
//
// The document's effective_date is the file's own date where it carries one (AWS
// publicationDate; Google: the newest pricingInfo effectiveTime; Azure: the newest
// effectiveStartDate of the mapped items), else "unknown" -- never the import's date, so
// importing the same file twice gives the same document.
PriceImportResult ImportPriceFile(std::string_view text, std::string_view file_name);

}  // namespace statehouse::cost
