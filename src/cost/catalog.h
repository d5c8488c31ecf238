// The price catalog: list prices by provider, service, region and attributes, loaded from
// catalog documents (the shipped pricing/*.json, embedded in the binary, and files written by
// `statehouse pricing import`). Pure: no network, no storage.
//
// A catalog document (JSON):
//   {
//     "catalog_version": 1,
//     "provider": "aws" | "google" | "azure",
//     "currency": "USD",
//     "effective_date": "2025-06-01",          // when the prices were published
//     "source": "where the prices came from",
//     "prices": [
//       {"service": "ec2_instance", "region": "us-east-1",
//        "attributes": {"instance_type": "t3.micro", "os": "linux", "tenancy": "shared"},
//        "unit": "hours", "price": "0.0104"}
//     ],
//     "machine_types": {"e2-medium": {"vcpus": "1", "memory_gb": "4"}}   // optional (google)
//   }
// Prices are decimal strings; attribute values are strings. A later document's entry replaces
// an earlier one with the same provider, service, region and attributes. pricing/README.md lists
// the services and attributes the estimators look up.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cost/decimal.h"

namespace statehouse::cost {

struct Price {
  Decimal amount;
  std::string unit;  // the unit the price is per: "hours", "GB-months", "requests", ...
};

struct MachineType {
  Decimal vcpus;  // billed vCPUs (fractional for shared-core types)
  Decimal memory_gb;
};

struct CatalogSource {
  std::string origin;  // file name or "shipped:aws.json"
  std::string provider;
  std::string currency;
  std::string effective_date;
  std::string source;
  std::size_t prices = 0;
};

using Attributes = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class PriceCatalog {
 public:
  // Adds one catalog document. Throws statehouse::Error (kInvalidArgument) naming `origin` and
  // the offending entry when the text is not a catalog document; nothing is added then.
  void AddDocument(std::string_view json_text, std::string_view origin);
  // Adds every *.json file of `dir` in name order (a missing directory adds nothing).
  void AddDirectory(const std::string& dir);

  const Price* Find(std::string_view provider, std::string_view service, std::string_view region,
                    Attributes attributes = {}) const;
  const MachineType* FindMachine(std::string_view provider, std::string_view name) const;
  // Regions that have any price for provider/service (sorted; for "no price" messages and docs).
  std::vector<std::string> Regions(std::string_view provider, std::string_view service) const;

  const std::vector<CatalogSource>& sources() const { return sources_; }
  std::size_t size() const { return prices_.size(); }

  // The catalog shipped in the binary (pricing/*.json at build time).
  static PriceCatalog Shipped();

 private:
  std::unordered_map<std::string, Price> prices_;
  std::map<std::string, MachineType, std::less<>> machines_;
  std::map<std::string, std::vector<std::string>, std::less<>> regions_;
  std::vector<CatalogSource> sources_;
};

// The lookup key of one price: provider/service/region/k=v,k=v (attributes sorted by name).
std::string PriceKey(std::string_view provider, std::string_view service, std::string_view region,
                     std::vector<std::pair<std::string, std::string>> attributes);

}  // namespace statehouse::cost
