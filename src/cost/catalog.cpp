#include "cost/catalog.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "cost/shipped_pricing.h"

namespace statehouse::cost {
namespace {

namespace json = boost::json;

[[noreturn]] void Bad(std::string_view origin, const std::string& what) {
  Fail(ErrorCode::kInvalidArgument, "price catalog " + std::string(origin) + ": " + what);
}

std::string StringField(const json::object& object, std::string_view name, std::string_view origin,
                        const std::string& where) {
  const json::value* v = object.if_contains(name);
  if (v == nullptr || !v->is_string())
    Bad(origin, where + ": \"" + std::string(name) + "\" must be a string");
  return std::string(v->get_string());
}

Decimal DecimalField(const json::object& object, std::string_view name, std::string_view origin,
                     const std::string& where) {
  std::string text = StringField(object, name, origin, where);
  std::optional<Decimal> d = Decimal::Parse(text);
  if (!d || d->IsNegative())
    Bad(origin, where + ": \"" + std::string(name) + "\" is not a non-negative decimal: " + text);
  return *d;
}

std::string MachineKey(std::string_view provider, std::string_view name) {
  std::string key(provider);
  key += '/';
  key += name;
  return key;
}

std::string RegionsKey(std::string_view provider, std::string_view service) {
  std::string key(provider);
  key += '/';
  key += service;
  return key;
}

}  // namespace

std::string PriceKey(std::string_view provider, std::string_view service, std::string_view region,
                     std::vector<std::pair<std::string, std::string>> attributes) {
  std::sort(attributes.begin(), attributes.end());
  std::string key;
  key.reserve(64);
  key.append(provider).append("/").append(service).append("/").append(region).append("/");
  for (std::size_t i = 0; i < attributes.size(); ++i) {
    if (i) key += ',';
    key.append(attributes[i].first).append("=").append(attributes[i].second);
  }
  return key;
}

void PriceCatalog::AddDocument(std::string_view json_text, std::string_view origin) {
  json::error_code ec;
  json::value doc = json::parse(json_text, ec);
  if (ec) Bad(origin, "not JSON: " + ec.message());
  if (!doc.is_object()) Bad(origin, "not a catalog document (expected a JSON object)");
  const json::object& root = doc.get_object();
  const json::value* version = root.if_contains("catalog_version");
  if (version == nullptr || !version->is_int64() || version->get_int64() != 1)
    Bad(origin, "\"catalog_version\" must be 1");
  CatalogSource source;
  source.origin = std::string(origin);
  source.provider = StringField(root, "provider", origin, "document");
  source.currency = StringField(root, "currency", origin, "document");
  if (source.currency != "USD")
    Bad(origin, "only USD prices are supported, not " + source.currency);
  source.effective_date = StringField(root, "effective_date", origin, "document");
  source.source = StringField(root, "source", origin, "document");
  const json::value* prices = root.if_contains("prices");
  if (prices == nullptr || !prices->is_array()) Bad(origin, "\"prices\" must be an array");

  // Everything is validated before anything is added, so a bad document changes nothing.
  std::vector<std::pair<std::string, Price>> entries;
  std::vector<std::pair<std::string, std::string>> regions;  // service, region
  entries.reserve(prices->get_array().size());
  std::size_t index = 0;
  for (const json::value& item : prices->get_array()) {
    std::string where = "prices[" + std::to_string(index++) + "]";
    if (!item.is_object()) Bad(origin, where + " must be an object");
    const json::object& entry = item.get_object();
    std::string service = StringField(entry, "service", origin, where);
    std::string region = StringField(entry, "region", origin, where);
    std::vector<std::pair<std::string, std::string>> attributes;
    if (const json::value* a = entry.if_contains("attributes")) {
      if (!a->is_object()) Bad(origin, where + ": \"attributes\" must be an object");
      for (const auto& [name, value] : a->get_object()) {
        if (!value.is_string())
          Bad(origin, where + ": attribute " + std::string(name) + " must be a string");
        attributes.emplace_back(std::string(name), std::string(value.get_string()));
      }
    }
    Price price{DecimalField(entry, "price", origin, where),
                StringField(entry, "unit", origin, where)};
    entries.emplace_back(PriceKey(source.provider, service, region, std::move(attributes)),
                         std::move(price));
    regions.emplace_back(std::move(service), std::move(region));
  }
  std::vector<std::pair<std::string, MachineType>> machines;
  if (const json::value* m = root.if_contains("machine_types")) {
    if (!m->is_object()) Bad(origin, "\"machine_types\" must be an object");
    for (const auto& [name, spec] : m->get_object()) {
      std::string where = "machine_types." + std::string(name);
      if (!spec.is_object()) Bad(origin, where + " must be an object");
      machines.emplace_back(
          MachineKey(source.provider, name),
          MachineType{DecimalField(spec.get_object(), "vcpus", origin, where),
                      DecimalField(spec.get_object(), "memory_gb", origin, where)});
    }
  }

  source.prices = entries.size();
  for (auto& [key, price] : entries) prices_[key] = std::move(price);
  for (auto& [key, machine] : machines) machines_[key] = machine;
  for (auto& [service, region] : regions) {
    std::vector<std::string>& list = regions_[RegionsKey(source.provider, service)];
    auto at = std::lower_bound(list.begin(), list.end(), region);
    if (at == list.end() || *at != region) list.insert(at, region);
  }
  sources_.push_back(std::move(source));
}

void PriceCatalog::AddDirectory(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".json")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) Bad(path.string(), "cannot be read");
    AddDocument(text.str(), path.string());
  }
}

const Price* PriceCatalog::Find(std::string_view provider, std::string_view service,
                                std::string_view region, Attributes attributes) const {
  std::vector<std::pair<std::string, std::string>> list;
  list.reserve(attributes.size());
  for (const auto& [name, value] : attributes) list.emplace_back(name, value);
  auto it = prices_.find(PriceKey(provider, service, region, std::move(list)));
  return it == prices_.end() ? nullptr : &it->second;
}

const MachineType* PriceCatalog::FindMachine(std::string_view provider,
                                             std::string_view name) const {
  auto it = machines_.find(MachineKey(provider, name));
  return it == machines_.end() ? nullptr : &it->second;
}

std::vector<std::string> PriceCatalog::Regions(std::string_view provider,
                                               std::string_view service) const {
  auto it = regions_.find(RegionsKey(provider, service));
  return it == regions_.end() ? std::vector<std::string>{} : it->second;
}

PriceCatalog PriceCatalog::Shipped() {
  PriceCatalog catalog;
  for (const ShippedCatalog& file : ShippedCatalogs())
    catalog.AddDocument(file.text, "shipped:" + std::string(file.name));
  return catalog;
}

}  // namespace statehouse::cost
