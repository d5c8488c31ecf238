// The catalog documents of pricing/*.json, embedded at build time (cmake/embed_pricing.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace statehouse::cost {

struct ShippedCatalog {
  std::string_view name;  // "aws.json"
  std::string_view text;
};

const std::vector<ShippedCatalog>& ShippedCatalogs();

}  // namespace statehouse::cost
