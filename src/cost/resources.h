// Inside the cost engine: how one resource's values become priced cost components. Each
// provider file (resources_aws.cpp, ...) registers its estimators by resource type.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cost/catalog.h"
#include "cost/decimal.h"

namespace statehouse::cost::detail {

inline const Decimal kHoursPerMonth = Decimal::FromInt(730);

struct Component {
  std::string name;
  std::string unit;
  // Exactly one is set for a priced quantity; neither for a usage-based component without usage.
  std::optional<Decimal> hourly_quantity;
  std::optional<Decimal> monthly_quantity;
  std::optional<Decimal> price;  // nullopt: no price found (see CostResource::no_price)
  bool usage_based = false;
};

struct CostResource {
  std::string name;
  std::string resource_type;
  std::vector<Component> components;
  std::vector<CostResource> subresources;
  std::vector<std::string> no_price;  // "no price for ..." per component that has none
  bool usage_based = false;
};

// What an estimator sees of one resource instance.
struct ResourceInput {
  std::string address;
  std::string type;
  std::string provider;  // "aws", "google", "azure"
  std::string region;    // resolved region ("" when unknown)
  const boost::json::object& values;
  const boost::json::object* usage = nullptr;  // the usage file's entry, if any
  const PriceCatalog& catalog;
  // Values of another resource of the same plan side, by address (reference resolution).
  std::function<const boost::json::object*(std::string_view address)> lookup;
  // Addresses this resource's configuration references in `attribute` (e.g. a node pool's
  // cluster), so an estimator can read a value that is unknown until apply from its source.
  std::function<std::vector<std::string>(std::string_view attribute)> references;
};

// A decimal constant written in an estimator ("0.5").
Decimal D(std::string_view text);

// Helpers for estimators.
class Builder {
 public:
  Builder(const ResourceInput& input, CostResource& resource) : in_(input), out_(resource) {}

  // Adds a component priced from the catalog. `hourly` or `monthly` is the quantity in the
  // price's unit per hour or per month; pass neither (nullopt both) for a usage-based component
  // whose usage is unknown. `multiplier` scales the catalog price (e.g. per-1k pricing).
  void Add(CostResource& target, std::string name, std::string unit, std::string_view service,
           Attributes attributes, std::optional<Decimal> hourly, std::optional<Decimal> monthly,
           bool usage_based = false, std::string_view region_override = {});
  void Add(std::string name, std::string unit, std::string_view service, Attributes attributes,
           std::optional<Decimal> hourly, std::optional<Decimal> monthly,
           bool usage_based = false) {
    Add(out_, std::move(name), std::move(unit), service, attributes, hourly, monthly, usage_based);
  }
  CostResource& Sub(std::string name);
  // The catalog price, or nullopt with a "no price for <component>: ..." reason recorded.
  std::optional<Decimal> Lookup(std::string_view component, std::string_view service,
                                Attributes attributes, std::string_view region_override = {});
  // Adds a component whose price the estimator computed (nullopt: no price, reason recorded).
  void AddPriced(CostResource& target, std::string name, std::string unit,
                 std::optional<Decimal> price, std::optional<Decimal> hourly,
                 std::optional<Decimal> monthly, bool usage_based = false);

  // Values.
  std::optional<std::string> String(std::string_view path) const;  // "a.b" or "a.0.b"
  std::optional<Decimal> Number(std::string_view path) const;
  std::optional<bool> Bool(std::string_view path) const;
  const boost::json::value* Value(std::string_view path) const;
  const boost::json::value* ValueIn(const boost::json::object& object, std::string_view path) const;
  // A usage value ("monthly_requests", "standard.storage_gb"), when the usage file gives one.
  std::optional<Decimal> Usage(std::string_view path) const;

  const ResourceInput& input() const { return in_; }
  CostResource& resource() { return out_; }
  void NoPrice(std::string reason) { out_.no_price.push_back(std::move(reason)); }

 private:
  const ResourceInput& in_;
  CostResource& out_;
};

using Estimator = std::function<void(Builder&)>;

struct Registry {
  std::unordered_map<std::string, Estimator> estimators;
  std::unordered_set<std::string> free_types;
};

void RegisterAws(Registry& registry);
void RegisterGoogle(Registry& registry);
void RegisterAzure(Registry& registry);

// "us-east-1a" -> "us-east-1"; "us-central1-a" -> "us-central1"; "East US" -> "eastus".
std::string AwsRegionOfZone(std::string_view zone);
std::string GoogleRegionOfLocation(std::string_view location);
std::string AzureRegionName(std::string_view location);

}  // namespace statehouse::cost::detail
