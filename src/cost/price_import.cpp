#include "cost/price_import.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <map>
#include <optional>
#include <regex>
#include <tuple>
#include <utility>
#include <vector>

#include "common/error.h"
#include "cost/decimal.h"

namespace statehouse::cost {
namespace {

namespace json = boost::json;

using AttributeList = std::vector<std::pair<std::string, std::string>>;

[[noreturn]] void Bad(std::string_view file_name, const std::string& what) {
  Fail(ErrorCode::kInvalidArgument, "price file " + std::string(file_name) + ": " + what);
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The string member `name` of `object`, or "" when it is missing or not a string.
std::string_view Str(const json::object& object, std::string_view name) {
  const json::value* v = object.if_contains(name);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

const json::object* Obj(const json::object& object, std::string_view name) {
  const json::value* v = object.if_contains(name);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

const json::array* Arr(const json::object& object, std::string_view name) {
  const json::value* v = object.if_contains(name);
  return v != nullptr && v->is_array() ? &v->get_array() : nullptr;
}

// Collects the mapped prices and writes the catalog document: sorted by service, region and
// attributes, one price per line, so that re-imports diff cleanly.
class CatalogWriter {
 public:
  // Returns false (and keeps the first price) when the same entry was already mapped: price files
  // list some prices several times (e.g. RDS storage once per engine).
  bool Add(std::string service, std::string region, AttributeList attributes, std::string unit,
           const Decimal& price) {
    std::sort(attributes.begin(), attributes.end());
    Key key{std::move(service), std::move(region), std::move(attributes)};
    return entries_.emplace(std::move(key), std::make_pair(std::move(unit), price.ToString()))
        .second;
  }

  std::size_t size() const { return entries_.size(); }

  std::string Document(std::string_view provider, std::string_view effective_date,
                       std::string_view source) const {
    std::string out =
        "{\n  \"catalog_version\": 1,\n  \"provider\": " + Quote(provider) +
        ",\n  \"currency\": \"USD\",\n  \"effective_date\": " + Quote(effective_date) +
        ",\n  \"source\": " + Quote(source) + ",\n  \"prices\": [";
    bool first = true;
    for (const auto& [key, value] : entries_) {
      const auto& [service, region, attributes] = key;
      out += first ? "\n    " : ",\n    ";
      first = false;
      out += "{\"service\": " + Quote(service) + ", \"region\": " + Quote(region) +
             ", \"attributes\": {";
      for (std::size_t i = 0; i < attributes.size(); ++i) {
        if (i) out += ", ";
        out += Quote(attributes[i].first) + ": " + Quote(attributes[i].second);
      }
      out += "}, \"unit\": " + Quote(value.first) + ", \"price\": " + Quote(value.second) + "}";
    }
    out += first ? "]\n}\n" : "\n  ]\n}\n";
    return out;
  }

 private:
  static std::string Quote(std::string_view text) { return json::serialize(json::string(text)); }

  using Key = std::tuple<std::string, std::string, AttributeList>;
  std::map<Key, std::pair<std::string, std::string>> entries_;
};

PriceImportResult Finish(std::string provider, std::string format, const CatalogWriter& writer,
                         std::string_view effective_date, std::string_view file_name,
                         std::size_t skipped) {
  PriceImportResult result;
  result.provider = std::move(provider);
  result.format = std::move(format);
  result.mapped = writer.size();
  result.skipped = skipped;
  std::string source = "imported from " + std::string(file_name) + " (" + result.format + ")";
  result.catalog_json =
      writer.Document(result.provider, effective_date.empty() ? "unknown" : effective_date, source);
  return result;
}

// "2024-05-02T19:44:35Z" -> "2024-05-02"; "" when the text does not start with a date.
std::string DatePart(std::string_view text) {
  static const std::regex kDate(R"(^\d{4}-\d{2}-\d{2})");
  std::string s(text.substr(0, 10));
  return std::regex_search(s, kDate) ? s : std::string();
}

// ---------------------------------------------------------------------------------------------
// AWS Price List offer files
// ---------------------------------------------------------------------------------------------

// Offer files name regions by "location" in older versions; regionCode is preferred.
std::string AwsRegion(const json::object& attributes) {
  std::string_view code = Str(attributes, "regionCode");
  if (!code.empty()) return std::string(code);
  static const std::map<std::string_view, std::string_view> kLocations = {
      {"US East (N. Virginia)", "us-east-1"},
      {"US East (Ohio)", "us-east-2"},
      {"US West (N. California)", "us-west-1"},
      {"US West (Oregon)", "us-west-2"},
      {"Canada (Central)", "ca-central-1"},
      {"EU (Ireland)", "eu-west-1"},
      {"EU (London)", "eu-west-2"},
      {"EU (Paris)", "eu-west-3"},
      {"EU (Frankfurt)", "eu-central-1"},
      {"EU (Stockholm)", "eu-north-1"},
      {"EU (Milan)", "eu-south-1"},
      {"Europe (Ireland)", "eu-west-1"},
      {"Europe (Frankfurt)", "eu-central-1"},
      {"Asia Pacific (Tokyo)", "ap-northeast-1"},
      {"Asia Pacific (Seoul)", "ap-northeast-2"},
      {"Asia Pacific (Osaka)", "ap-northeast-3"},
      {"Asia Pacific (Singapore)", "ap-southeast-1"},
      {"Asia Pacific (Sydney)", "ap-southeast-2"},
      {"Asia Pacific (Mumbai)", "ap-south-1"},
      {"South America (Sao Paulo)", "sa-east-1"},
  };
  auto it = kLocations.find(Str(attributes, "location"));
  return it == kLocations.end() ? std::string() : std::string(it->second);
}

// What one AWS product maps to. `unit_scale` converts the offer file's unit into the catalog's
// (IOs -> 1M requests, GiBps-months -> MiBps-months).
struct AwsTarget {
  std::string service;
  AttributeList attributes;
  std::string unit;                    // the catalog's unit
  std::vector<std::string> aws_units;  // the offer file units accepted (lower case)
  Decimal unit_scale = Decimal::FromInt(1);
  bool divide = false;  // scale divides instead of multiplying
  bool tiers = false;   // one entry per tier (io2 IOPS), "tier" attribute = beginRange
};

std::optional<AwsTarget> MapAwsProduct(std::string_view offer, const json::object& product) {
  const json::object* attrs_ptr = Obj(product, "attributes");
  if (attrs_ptr == nullptr) return std::nullopt;
  const json::object& a = *attrs_ptr;
  std::string_view family = Str(product, "productFamily");
  std::string_view usagetype = Str(a, "usagetype");
  AwsTarget t;
  if (offer == "AmazonEC2") {
    if (family == "Compute Instance" || family == "Compute Instance (bare metal)") {
      static const std::map<std::string_view, std::string_view> kOs = {
          {"Linux", "linux"}, {"Windows", "windows"}, {"RHEL", "rhel"}, {"SUSE", "suse"}};
      auto os = kOs.find(Str(a, "operatingSystem"));
      std::string_view tenancy = Str(a, "tenancy");
      // Only the plain variant: no pre-installed SQL Server, licence included (not BYOL), and
      // capacitystatus Used (the reservation variants carry $0 or reservation-only prices).
      if (os == kOs.end() || (tenancy != "Shared" && tenancy != "Dedicated") ||
          Str(a, "preInstalledSw") != "NA" || Str(a, "licenseModel") != "No License required" ||
          Str(a, "capacitystatus") != "Used" || Str(a, "instanceType").empty())
        return std::nullopt;
      std::string_view market = Str(a, "marketoption");
      if (!market.empty() && market != "OnDemand") return std::nullopt;
      t.service = "ec2_instance";
      t.attributes = {{"instance_type", std::string(Str(a, "instanceType"))},
                      {"os", std::string(os->second)},
                      {"tenancy", Lower(tenancy)}};
      t.unit = "hours";
      t.aws_units = {"hrs"};
      return t;
    }
    std::string volume = std::string(Str(a, "volumeApiName"));
    if (family == "Storage") {
      static const std::vector<std::string> kTypes = {"gp2", "gp3", "io1",     "io2",
                                                      "st1", "sc1", "standard"};
      if (std::find(kTypes.begin(), kTypes.end(), volume) == kTypes.end()) return std::nullopt;
      t.service = "ebs_storage";
      t.attributes = {{"volume_type", volume}};
      t.unit = "GB-months";
      t.aws_units = {"gb-mo"};
      return t;
    }
    if (family == "System Operation") {
      if ((volume == "gp3" || volume == "io1" || volume == "io2") && Contains(usagetype, "IOPS")) {
        t.service = "ebs_iops";
        t.attributes = {{"volume_type", volume}};
        t.unit = "IOPS-months";
        t.aws_units = {"iops-mo"};
        t.tiers = volume == "io2";
        if (volume == "io2") {
          // Some offer files give io2's tiers as separate SKUs instead of price tiers.
          if (EndsWith(usagetype, ".tier2")) t.attributes.push_back({"tier", "32000"});
          if (EndsWith(usagetype, ".tier3")) t.attributes.push_back({"tier", "64000"});
        } else {
          t.attributes.push_back({"tier", "0"});
        }
        return t;
      }
      if (volume == "standard" &&
          (Contains(usagetype, "VolumeIOUsage") || Str(a, "group") == "EBS I/O Requests")) {
        t.service = "ebs_io_requests";
        t.attributes = {{"volume_type", "standard"}};
        t.unit = "1M requests";
        t.aws_units = {"ios"};
        t.unit_scale = Decimal::FromInt(1000000);
        return t;
      }
      return std::nullopt;
    }
    if (family == "Provisioned Throughput" && volume == "gp3") {
      t.service = "ebs_throughput";
      t.attributes = {{"volume_type", "gp3"}};
      t.unit = "MiBps-months";
      t.aws_units = {"mibps-mo", "mbps-mo", "gibps-mo"};
      return t;  // GiBps-mo is converted by the caller
    }
    if (family == "NAT Gateway") {
      if (Contains(usagetype, "NatGateway-Hours")) {
        t.service = "nat_gateway";
        t.unit = "hours";
        t.aws_units = {"hrs"};
        return t;
      }
      if (Contains(usagetype, "NatGateway-Bytes")) {
        t.service = "nat_gateway_data";
        t.unit = "GB";
        t.aws_units = {"gb"};
        return t;
      }
      return std::nullopt;
    }
    if (family == "CPU Credits") {
      auto colon = usagetype.find("CPUCredits:");
      std::string os = Lower(Str(a, "operatingSystem"));
      if (colon == std::string_view::npos || (os != "linux" && os != "windows"))
        return std::nullopt;
      t.service = "ec2_cpu_credits";
      t.attributes = {{"family", std::string(usagetype.substr(colon + 11))}, {"os", os}};
      t.unit = "vCPU-hours";
      t.aws_units = {"vcpu-hours"};
      return t;
    }
    if (family == "IP Address" && EndsWith(usagetype, "PublicIPv4:InUseAddress")) {
      t.service = "eip";
      t.unit = "hours";
      t.aws_units = {"hrs"};
      return t;
    }
    static const std::map<std::string_view, std::string_view> kLbTypes = {
        {"Load Balancer-Application", "application"},
        {"Load Balancer-Network", "network"},
        {"Load Balancer-Gateway", "gateway"}};
    if (auto lb = kLbTypes.find(family); lb != kLbTypes.end()) {
      t.attributes = {{"lb_type", std::string(lb->second)}};
      if (EndsWith(usagetype, "LoadBalancerUsage")) {
        t.service = "elb";
        t.unit = "hours";
        t.aws_units = {"hrs"};
        return t;
      }
      if (Contains(usagetype, "LCUUsage")) {
        t.service = "elb_capacity_units";
        t.unit = "LCU-hours";
        t.aws_units = {"lcu-hrs", "hrs", "nlcu-hrs", "glcu-hrs"};
        return t;
      }
    }
    return std::nullopt;
  }
  if (offer == "AmazonRDS") {
    static const std::map<std::string_view, std::string_view> kDeployments = {
        {"Single-AZ", "single-az"}, {"Multi-AZ", "multi-az"}};
    auto deployment = kDeployments.find(Str(a, "deploymentOption"));
    if (deployment == kDeployments.end()) return std::nullopt;
    std::string dep(deployment->second);
    if (family == "Database Instance") {
      static const std::map<std::string_view, std::string_view> kEngines = {
          {"MySQL", "mysql"}, {"PostgreSQL", "postgres"}, {"MariaDB", "mariadb"}};
      auto engine = kEngines.find(Str(a, "databaseEngine"));
      if (engine == kEngines.end() || Str(a, "instanceType").empty()) return std::nullopt;
      t.service = "rds_instance";
      t.attributes = {{"instance_class", std::string(Str(a, "instanceType"))},
                      {"engine", std::string(engine->second)},
                      {"deployment", dep}};
      t.unit = "hours";
      t.aws_units = {"hrs"};
      return t;
    }
    if (family == "Database Storage") {
      static const std::map<std::string_view, std::string_view> kVolumes = {
          {"General Purpose", "gp2"},
          {"General Purpose-GP3", "gp3"},
          {"Provisioned IOPS", "io1"},
          {"Magnetic", "standard"}};
      auto volume = kVolumes.find(Str(a, "volumeType"));
      if (volume == kVolumes.end()) return std::nullopt;
      t.service = "rds_storage";
      t.attributes = {{"volume_type", std::string(volume->second)}, {"deployment", dep}};
      t.unit = "GB-months";
      t.aws_units = {"gb-mo"};
      return t;
    }
    if (family == "Provisioned IOPS" && !Contains(Lower(usagetype), "io2") &&
        !Contains(Lower(usagetype), "gp3")) {
      t.service = "rds_iops";
      t.attributes = {{"volume_type", "io1"}, {"deployment", dep}};
      t.unit = "IOPS-months";
      t.aws_units = {"iops-mo"};
      return t;
    }
    return std::nullopt;
  }
  if (offer == "AmazonElastiCache" && family == "Cache Instance") {
    std::string engine = Lower(Str(a, "cacheEngine"));
    if ((engine != "redis" && engine != "memcached") || Str(a, "instanceType").empty())
      return std::nullopt;
    t.service = "elasticache_node";
    t.attributes = {{"node_type", std::string(Str(a, "instanceType"))}, {"engine", engine}};
    t.unit = "hours";
    t.aws_units = {"hrs"};
    return t;
  }
  return std::nullopt;
}

struct AwsDimension {
  std::string unit;  // lower case
  Decimal begin;
  Decimal usd;
};

// The price dimensions of a SKU's on-demand terms that carry a USD price, by beginRange.
std::vector<AwsDimension> AwsDimensions(const json::object* on_demand, std::string_view sku) {
  std::vector<AwsDimension> out;
  if (on_demand == nullptr) return out;
  const json::object* offers = Obj(*on_demand, sku);
  if (offers == nullptr) return out;
  for (const auto& [term_code, term] : *offers) {
    if (!term.is_object()) continue;
    const json::object* dims = Obj(term.get_object(), "priceDimensions");
    if (dims == nullptr) continue;
    for (const auto& [id, dim] : *dims) {
      if (!dim.is_object()) continue;
      const json::object* per_unit = Obj(dim.get_object(), "pricePerUnit");
      if (per_unit == nullptr) continue;
      std::optional<Decimal> usd = Decimal::Parse(Str(*per_unit, "USD"));
      if (!usd || usd->IsNegative()) continue;
      std::string_view begin_text = Str(dim.get_object(), "beginRange");
      std::optional<Decimal> begin = Decimal::Parse(begin_text.empty() ? "0" : begin_text);
      out.push_back({Lower(Str(dim.get_object(), "unit")), begin ? *begin : Decimal(), *usd});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const AwsDimension& x, const AwsDimension& y) { return x.begin < y.begin; });
  return out;
}

PriceImportResult ImportAws(const json::object& root, std::string_view file_name) {
  std::string_view offer = Str(root, "offerCode");
  const json::object* products = Obj(root, "products");
  const json::object* terms = Obj(root, "terms");
  if (products == nullptr || terms == nullptr)
    Bad(file_name, "AWS offer file without \"products\" and \"terms\" objects");
  const json::object* on_demand = Obj(*terms, "OnDemand");
  CatalogWriter writer;
  std::size_t skipped = 0;
  for (const auto& [sku, product] : *products) {
    std::optional<AwsTarget> target;
    std::string region;
    if (product.is_object()) {
      target = MapAwsProduct(offer, product.get_object());
      if (const json::object* attrs = Obj(product.get_object(), "attributes"))
        region = AwsRegion(*attrs);
    }
    std::vector<AwsDimension> dims;
    if (target && !region.empty()) dims = AwsDimensions(on_demand, sku);
    bool wrote = false;
    if (target && !region.empty() && !dims.empty()) {
      auto accepted = [&](const AwsDimension& d) {
        return std::find(target->aws_units.begin(), target->aws_units.end(), d.unit) !=
               target->aws_units.end();
      };
      auto price_of = [&](const AwsDimension& d) {
        Decimal price = d.usd * target->unit_scale;
        if (d.unit == "gibps-mo") price = price / Decimal::FromInt(1024);
        return price;
      };
      bool has_tier = std::any_of(target->attributes.begin(), target->attributes.end(),
                                  [](const auto& attr) { return attr.first == "tier"; });
      if (target->tiers && !has_tier) {
        for (const AwsDimension& d : dims) {
          if (!accepted(d)) continue;
          AttributeList attributes = target->attributes;
          attributes.push_back({"tier", d.begin.ToString()});
          wrote |=
              writer.Add(target->service, region, std::move(attributes), target->unit, price_of(d));
        }
      } else {
        // The first tier that costs anything: a free allowance tier (gp3's first 3,000 IOPS)
        // is not the price.
        const AwsDimension* chosen = nullptr;
        for (const AwsDimension& d : dims) {
          if (!accepted(d)) continue;
          if (chosen == nullptr || (chosen->usd.IsZero() && !d.usd.IsZero())) chosen = &d;
          if (!chosen->usd.IsZero()) break;
        }
        if (chosen != nullptr)
          wrote = writer.Add(target->service, region, target->attributes, target->unit,
                             price_of(*chosen));
      }
    }
    if (!wrote) ++skipped;
  }
  return Finish("aws", "AWS Price List offer file", writer, DatePart(Str(root, "publicationDate")),
                file_name, skipped);
}

// ---------------------------------------------------------------------------------------------
// Google Cloud billing catalog SKUs
// ---------------------------------------------------------------------------------------------

// units + nanos / 1e9 as exact decimal text, built from the integers (never via double).
std::optional<Decimal> GoogleMoney(const json::object& money) {
  const json::value* units_v = money.if_contains("units");
  long long units = 0;
  if (units_v != nullptr) {
    if (units_v->is_string()) {
      std::string_view s = units_v->get_string();
      std::optional<Decimal> d = Decimal::Parse(s);
      if (!d || s.find_first_not_of("-0123456789") != std::string_view::npos) return std::nullopt;
      units = std::stoll(std::string(s));
    } else if (units_v->is_int64()) {
      units = units_v->get_int64();
    } else if (units_v->is_uint64()) {
      units = static_cast<long long>(units_v->get_uint64());
    } else {
      return std::nullopt;
    }
  }
  long long nanos = 0;
  if (const json::value* n = money.if_contains("nanos")) {
    if (n->is_int64())
      nanos = n->get_int64();
    else if (n->is_uint64())
      nanos = static_cast<long long>(n->get_uint64());
    else
      return std::nullopt;
  }
  if (nanos <= -1000000000 || nanos >= 1000000000) return std::nullopt;
  bool negative = units < 0 || nanos < 0;
  unsigned long long abs_units = static_cast<unsigned long long>(units < 0 ? -units : units);
  long long abs_nanos = nanos < 0 ? -nanos : nanos;
  std::string frac = std::to_string(abs_nanos);
  frac.insert(0, 9 - frac.size(), '0');
  return Decimal::Parse((negative ? "-" : "") + std::to_string(abs_units) + "." + frac);
}

struct GoogleTarget {
  std::string service;
  AttributeList attributes;
  std::string unit;
  std::string google_unit;
};

std::optional<GoogleTarget> MapGoogleSku(const json::object& sku) {
  const json::object* category = Obj(sku, "category");
  if (category == nullptr) return std::nullopt;
  std::string_view service = Str(*category, "serviceDisplayName");
  std::string_view usage = Str(*category, "usageType");
  std::string description(Str(sku, "description"));
  std::string purchase;
  if (StartsWith(description, "Spot Preemptible ")) {
    description.erase(0, 17);
    purchase = "preemptible";
  } else if (StartsWith(description, "Preemptible ")) {
    description.erase(0, 12);
    purchase = "preemptible";
  }
  if (usage == "OnDemand" && purchase.empty())
    purchase = "on_demand";
  else if (usage == "Preemptible")
    purchase = "preemptible";
  else if (usage != "OnDemand")
    return std::nullopt;  // commitments and other terms

  GoogleTarget t;
  std::smatch m;
  if (service == "Compute Engine") {
    // "E2 Instance Core running in Americas", "N1 Predefined Instance Ram running in Belgium",
    // "N2D AMD Instance Core running in ...", "Compute optimized Core running in ..." (C2).
    static const std::regex kFamily(
        R"(^([A-Z][A-Z0-9]*)(?: AMD| Arm)?(?: Predefined)? Instance (Core|Ram) running in )");
    static const std::regex kC2(R"(^Compute optimized (Core|Ram) running in )");
    std::string family;
    std::string kind;
    if (std::regex_search(description, m, kFamily)) {
      family = Lower(m[1].str());
      kind = m[2].str();
    } else if (std::regex_search(description, m, kC2)) {
      family = "c2";
      kind = m[1].str();
    }
    if (!family.empty()) {
      t.attributes = {{"family", family}, {"purchase", purchase}};
      if (kind == "Core") {
        t.service = "compute_cpu";
        t.unit = "vCPU-hours";
        t.google_unit = "h";
      } else {
        t.service = "compute_ram";
        t.unit = "GB-hours";
        t.google_unit = "GiBy.h";
      }
      return t;
    }
    std::string machine;
    if (StartsWith(description, "Micro Instance with burstable CPU running in "))
      machine = "f1-micro";
    else if (StartsWith(description, "Small Instance with 1 VCPU running in "))
      machine = "g1-small";
    if (!machine.empty()) {
      t.service = "compute_instance";
      t.attributes = {{"machine_type", machine}, {"purchase", purchase}};
      t.unit = "hours";
      t.google_unit = "h";
      return t;
    }
    if (purchase != "on_demand") return std::nullopt;
    static const std::vector<std::pair<std::string_view, std::string_view>> kDisks = {
        {"Storage PD Capacity", "pd-standard"},
        {"Balanced PD Capacity", "pd-balanced"},
        {"SSD backed PD Capacity", "pd-ssd"},
        {"Extreme PD Capacity", "pd-extreme"}};
    for (const auto& [prefix, disk] : kDisks) {
      // Exactly the name or the name " in <place>": not "Regional ..." or snapshots.
      if (description == prefix || StartsWith(description, std::string(prefix) + " in ")) {
        t.service = "compute_disk";
        t.attributes = {{"disk_type", std::string(disk)}};
        t.unit = "GB-months";
        t.google_unit = "GiBy.mo";
        return t;
      }
    }
    return std::nullopt;
  }
  if (service == "Kubernetes Engine" && purchase == "on_demand" &&
      (StartsWith(description, "Regional Kubernetes Clusters") ||
       StartsWith(description, "Zonal Kubernetes Clusters"))) {
    t.service = "gke_cluster";
    t.unit = "hours";
    t.google_unit = "h";
    return t;
  }
  if (service == "Cloud SQL" && purchase == "on_demand") {
    // "Cloud SQL for MySQL: Zonal - vCPU in Americas" and its RAM / storage / shared-core kin.
    static const std::regex kSql(
        R"(^Cloud SQL for (?:MySQL|PostgreSQL): (Zonal|Regional) - (vCPU|RAM|Standard storage|Low cost storage|Micro instance|Small instance) in )");
    if (!std::regex_search(description, m, kSql)) return std::nullopt;
    std::string availability = Lower(m[1].str());
    std::string what = m[2].str();
    if (what == "vCPU") {
      t = {"sql_cpu", {{"availability", availability}}, "vCPU-hours", "h"};
    } else if (what == "RAM") {
      t = {"sql_memory", {{"availability", availability}}, "GB-hours", "GiBy.h"};
    } else if (what == "Standard storage" || what == "Low cost storage") {
      t = {"sql_storage",
           {{"disk_type", what == "Standard storage" ? "ssd" : "hdd"},
            {"availability", availability}},
           "GB-months",
           "GiBy.mo"};
    } else {
      t = {"sql_instance",
           {{"tier", what == "Micro instance" ? "db-f1-micro" : "db-g1-small"},
            {"availability", availability}},
           "hours",
           "h"};
    }
    return t;
  }
  return std::nullopt;
}

void ImportGooglePage(const json::object& page, CatalogWriter& writer, std::size_t& skipped,
                      std::string& newest_date, std::string_view file_name) {
  const json::array* skus = Arr(page, "skus");
  if (skus == nullptr) Bad(file_name, "Google SKU page without a \"skus\" array");
  for (const json::value& item : *skus) {
    bool wrote = false;
    const json::object* sku = item.is_object() ? &item.get_object() : nullptr;
    std::optional<GoogleTarget> target = sku ? MapGoogleSku(*sku) : std::nullopt;
    const json::array* infos = sku ? Arr(*sku, "pricingInfo") : nullptr;
    const json::array* regions = sku ? Arr(*sku, "serviceRegions") : nullptr;
    if (target && infos != nullptr && !infos->empty() && regions != nullptr &&
        infos->back().is_object()) {
      // The last pricingInfo is the current one (the API lists history oldest first).
      const json::object& info = infos->back().get_object();
      const json::object* expression = Obj(info, "pricingExpression");
      const json::array* rates = expression ? Arr(*expression, "tieredRates") : nullptr;
      if (rates != nullptr && Str(*expression, "usageUnit") == target->google_unit) {
        // Tiers by startUsageAmount; the price is the first tier that costs anything (a free
        // first tier is an allowance, not the price), or 0 when every tier is free.
        std::vector<std::pair<Decimal, Decimal>> tiers;
        bool usd = true;
        for (const json::value& rate : *rates) {
          if (!rate.is_object()) continue;
          const json::object* money = Obj(rate.get_object(), "unitPrice");
          if (money == nullptr) continue;
          if (Str(*money, "currencyCode") != "USD") usd = false;
          std::optional<Decimal> price = GoogleMoney(*money);
          const json::value* start = rate.get_object().if_contains("startUsageAmount");
          std::optional<Decimal> begin = Decimal::FromInt(0);
          if (start != nullptr && start->is_number()) {
            begin = start->is_double() ? Decimal::FromDouble(start->get_double())
                                       : Decimal::FromInt(start->to_number<long long>());
          }
          if (price && begin && !price->IsNegative()) tiers.emplace_back(*begin, *price);
        }
        if (!usd) Bad(file_name, "only USD prices can be imported");
        std::sort(tiers.begin(), tiers.end(),
                  [](const auto& x, const auto& y) { return x.first < y.first; });
        std::optional<Decimal> chosen;
        for (const auto& [begin, price] : tiers) {
          if (!chosen) chosen = price;
          if (!price.IsZero()) {
            chosen = price;
            break;
          }
        }
        if (chosen) {
          for (const json::value& region : *regions) {
            if (!region.is_string()) continue;
            wrote |= writer.Add(target->service, std::string(region.get_string()),
                                target->attributes, target->unit, *chosen);
          }
          std::string date = DatePart(Str(info, "effectiveTime"));
          if (wrote && date > newest_date) newest_date = date;
        }
      }
    }
    if (!wrote) ++skipped;
  }
}

// ---------------------------------------------------------------------------------------------
// Azure Retail Prices API
// ---------------------------------------------------------------------------------------------

std::optional<Decimal> JsonNumber(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return Decimal::FromInt(v->get_int64());
  if (v->is_uint64()) return Decimal::FromInt(static_cast<long long>(v->get_uint64()));
  // Boost.JSON keeps only the double: its shortest round-trip text is the number as written
  // whenever that had at most 15-17 significant digits, which is what Azure sends.
  if (v->is_double()) return Decimal::FromDouble(v->get_double());
  return std::nullopt;
}

std::optional<std::pair<std::string, AttributeList>> MapAzureItem(const json::object& item,
                                                                  std::string& unit) {
  std::string_view service = Str(item, "serviceName");
  std::string_view product = Str(item, "productName");
  std::string_view sku = Str(item, "skuName");
  std::string_view meter = Str(item, "meterName");
  std::string_view measure = Str(item, "unitOfMeasure");
  if (Str(item, "type") != "Consumption") return std::nullopt;  // Reservation, DevTest...
  if (service == "Virtual Machines") {
    std::string_view size = Str(item, "armSkuName");
    if (size.empty() || measure != "1 Hour" || Contains(sku, "Spot") ||
        Contains(sku, "Low Priority") || Contains(product, "Dedicated Host"))
      return std::nullopt;
    unit = "hours";
    return std::make_pair(
        std::string("vm"),
        AttributeList{{"vm_size", std::string(size)},
                      {"os", EndsWith(product, " Windows") ? "windows" : "linux"}});
  }
  if (service == "Storage") {
    static const std::map<std::string_view, std::string_view> kDiskKinds = {
        {"Premium SSD Managed Disks", ""},
        {"Standard SSD Managed Disks", "standard_ssd"},
        {"Standard HDD Managed Disks", "standard_hdd"}};
    auto kind = kDiskKinds.find(product);
    if (kind == kDiskKinds.end()) return std::nullopt;
    static const std::regex kDisk(R"(^([SEP]\d+) (LRS|ZRS) Disk$)");
    std::match_results<std::string_view::const_iterator> m;
    if (measure == "1/Month" && std::regex_match(meter.begin(), meter.end(), m, kDisk)) {
      unit = "months";
      return std::make_pair(std::string("managed_disk"),
                            AttributeList{{"tier", m[1].str()}, {"redundancy", Lower(m[2].str())}});
    }
    if (!kind->second.empty() && measure == "10K" &&
        (meter == "Disk Operations" || meter == "LRS Disk Operations")) {
      unit = "10k operations";
      return std::make_pair(std::string("managed_disk_operations"),
                            AttributeList{{"disk_kind", std::string(kind->second)}});
    }
    return std::nullopt;
  }
  if (service == "Azure Kubernetes Service" && EndsWith(meter, "Uptime SLA") &&
      measure == "1 Hour" && (sku == "Standard" || sku == "Premium")) {
    unit = "hours";
    return std::make_pair(std::string("aks_uptime_sla"), AttributeList{{"sku_tier", Lower(sku)}});
  }
  return std::nullopt;
}

void ImportAzurePage(const json::object& page, CatalogWriter& writer, std::size_t& skipped,
                     std::string& newest_date, std::string_view file_name) {
  const json::array* items = Arr(page, "Items");
  if (items == nullptr) Bad(file_name, "Azure price page without an \"Items\" array");
  std::string_view billing = Str(page, "BillingCurrency");
  if (!billing.empty() && billing != "USD")
    Bad(file_name, "only USD prices can be imported, not " + std::string(billing));
  for (const json::value& value : *items) {
    bool wrote = false;
    if (value.is_object()) {
      const json::object& item = value.get_object();
      std::string unit;
      auto target = MapAzureItem(item, unit);
      std::optional<Decimal> price = JsonNumber(item.if_contains("retailPrice"));
      std::optional<Decimal> tier_min = JsonNumber(item.if_contains("tierMinimumUnits"));
      std::string_view region = Str(item, "armRegionName");
      std::string_view currency = Str(item, "currencyCode");
      if (!currency.empty() && currency != "USD")
        Bad(file_name, "only USD prices can be imported, not " + std::string(currency));
      // Only the first tier (tierMinimumUnits 0) is the list price.
      if (target && price && !price->IsNegative() && !region.empty() &&
          (!tier_min || tier_min->IsZero())) {
        wrote =
            writer.Add(target->first, std::string(region), std::move(target->second), unit, *price);
        std::string date = DatePart(Str(item, "effectiveStartDate"));
        if (wrote && date > newest_date) newest_date = date;
      }
    }
    if (!wrote) ++skipped;
  }
}

// Pages: the object itself, or every element of an array of objects that all have `member`.
std::vector<const json::object*> Pages(const json::value& doc, std::string_view member) {
  std::vector<const json::object*> pages;
  if (doc.is_object()) {
    if (doc.get_object().contains(member)) pages.push_back(&doc.get_object());
    return pages;
  }
  if (!doc.is_array() || doc.get_array().empty()) return pages;
  for (const json::value& page : doc.get_array()) {
    if (!page.is_object() || !page.get_object().contains(member)) return {};
    pages.push_back(&page.get_object());
  }
  return pages;
}

}  // namespace

PriceImportResult ImportPriceFile(std::string_view text, std::string_view file_name) {
  json::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) Bad(file_name, "not JSON (" + ec.message() + ")");

  if (doc.is_object() && doc.get_object().contains("offerCode") &&
      doc.get_object().contains("products"))
    return ImportAws(doc.get_object(), file_name);

  if (std::vector<const json::object*> pages = Pages(doc, "skus"); !pages.empty()) {
    CatalogWriter writer;
    std::size_t skipped = 0;
    std::string newest;
    for (const json::object* page : pages)
      ImportGooglePage(*page, writer, skipped, newest, file_name);
    return Finish("google", "Google Cloud billing SKU list", writer, newest, file_name, skipped);
  }

  if (std::vector<const json::object*> pages = Pages(doc, "Items"); !pages.empty()) {
    CatalogWriter writer;
    std::size_t skipped = 0;
    std::string newest;
    for (const json::object* page : pages)
      ImportAzurePage(*page, writer, skipped, newest, file_name);
    return Finish("azure", "Azure Retail Prices API", writer, newest, file_name, skipped);
  }

  Bad(file_name,
      "not a price file this version can import: expected an AWS Price List offer file "
      "(\"offerCode\", \"products\", \"terms\"), a Google Cloud billing SKU list (\"skus\") or an "
      "Azure Retail Prices API reply (\"Items\"), or a JSON array of SKU or price pages");
}

}  // namespace statehouse::cost
