#include "cost/estimate.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <map>
#include <set>
#include <unordered_map>

#include "common/error.h"
#include "cost/resources.h"

namespace statehouse::cost {
namespace json = boost::json;
using detail::Builder;
using detail::Component;
using detail::CostResource;
using detail::ResourceInput;

namespace {

[[noreturn]] void BadInput(std::string message) {
  Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// ---- usage files ---------------------------------------------------------------------------

constexpr int kMaxUsageDepth = 16;
// Values a usage file may hold once its aliases are expanded: an alias repeats its anchor's
// whole value, so a few hundred bytes of nested aliases would otherwise expand to billions.
constexpr std::size_t kMaxUsageValues = 100000;

json::value YamlToJson(const YAML::Node& node, int depth, std::size_t& budget) {
  if (depth > kMaxUsageDepth) BadInput("usage file: nested deeper than 16 levels");
  if (budget == 0) BadInput("usage file: more than 100000 values (aliases expand to too much)");
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json::object object;
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) BadInput("usage file: keys must be plain names");
        object[entry.first.Scalar()] = YamlToJson(entry.second, depth + 1, budget);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      json::array array;
      for (const auto& item : node) array.push_back(YamlToJson(item, depth + 1, budget));
      return array;
    }
    case YAML::NodeType::Scalar:
      return json::string(node.Scalar());
    default:
      return nullptr;
  }
}

// "module.a[0].aws_instance.x[\"k\"]" -> "module.a[*].aws_instance.x[*]" (or with the index
// brackets removed when `keep_brackets` is false: the configuration address).
std::string ReplaceIndexes(std::string_view address, bool keep_brackets) {
  std::string out;
  out.reserve(address.size());
  bool in_index = false, in_quote = false;
  for (std::size_t i = 0; i < address.size(); ++i) {
    char c = address[i];
    if (in_index) {
      if (in_quote) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_quote = false;
      } else if (c == '"') {
        in_quote = true;
      } else if (c == ']') {
        in_index = false;
        if (keep_brackets) out += "[*]";
      }
      continue;
    }
    if (c == '[') {
      in_index = true;
      continue;
    }
    out += c;
  }
  return out;
}

std::string ProviderShortName(std::string_view provider_name) {
  // "registry.terraform.io/hashicorp/aws" -> "aws"; "provider[\"...aws\"]" -> "aws".
  std::string s(provider_name);
  if (auto q = s.find("[\""); q != std::string::npos) {
    s = s.substr(q + 2);
    if (auto e = s.find('"'); e != std::string::npos) s = s.substr(0, e);
  }
  if (auto slash = s.rfind('/'); slash != std::string::npos) s = s.substr(slash + 1);
  if (auto dot = s.find('.'); dot != std::string::npos) s = s.substr(0, dot);  // "aws.west"
  if (s == "azurerm") return "azure";
  return s;
}

const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}
const json::array* ArrayAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}
std::string StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// ---- the plan --------------------------------------------------------------------------------

struct Instance {
  std::string address;
  std::string type;
  std::string provider;
  const json::object* values;
};

// Facts from the plan's configuration: provider regions and references.
class Configuration {
 public:
  Configuration(const json::object& plan) {
    const json::object* variables = ObjectAt(plan, "variables");
    if (variables) {
      for (const auto& [name, v] : *variables)
        if (v.is_object())
          if (const json::value* value = v.get_object().if_contains("value");
              value && value->is_string())
            variables_[std::string(name)] = std::string(value->get_string());
    }
    const json::object* configuration = ObjectAt(plan, "configuration");
    if (!configuration) return;
    if (const json::object* providers = ObjectAt(*configuration, "provider_config")) {
      for (const auto& [key, p] : *providers) {
        if (!p.is_object()) continue;
        const json::object* expressions = ObjectAt(p.get_object(), "expressions");
        if (!expressions) continue;
        for (std::string_view attr : {"region", "zone", "location"}) {
          std::string value = Expression(*expressions, attr);
          if (!value.empty())
            provider_settings_[std::string(key) + "#" + std::string(attr)] = value;
        }
      }
    }
    if (const json::object* root = ObjectAt(*configuration, "root_module"))
      WalkModule(*root, "", 0);
  }

  // A provider setting ("region") for the resource's configuration address.
  std::string ProviderSetting(std::string_view config_address, std::string_view provider,
                              std::string_view attr) const {
    auto it = provider_key_.find(std::string(config_address));
    std::string key = it != provider_key_.end() ? it->second : std::string(provider);
    auto found = provider_settings_.find(key + "#" + std::string(attr));
    if (found == provider_settings_.end() && it != provider_key_.end()) {
      // "module.x:aws" style keys fall back to the root provider of the same name.
      std::string base = key.substr(key.rfind(':') == std::string::npos ? 0 : key.rfind(':') + 1);
      found = provider_settings_.find(base + "#" + std::string(attr));
    }
    return found == provider_settings_.end() ? std::string() : found->second;
  }

  std::vector<std::string> References(std::string_view config_address,
                                      std::string_view attr) const {
    auto it = references_.find(std::string(config_address) + "#" + std::string(attr));
    return it == references_.end() ? std::vector<std::string>{} : it->second;
  }

 private:
  std::string Expression(const json::object& expressions, std::string_view attr) const {
    const json::object* e = ObjectAt(expressions, attr);
    if (!e) return {};
    if (const json::value* c = e->if_contains("constant_value"); c && c->is_string())
      return std::string(c->get_string());
    if (const json::array* refs = ArrayAt(*e, "references")) {
      for (const json::value& r : *refs) {
        if (!r.is_string()) continue;
        std::string_view ref = r.get_string();
        if (ref.starts_with("var.")) {
          auto v = variables_.find(std::string(ref.substr(4)));
          if (v != variables_.end()) return v->second;
        }
      }
    }
    return {};
  }

  void WalkModule(const json::object& module, const std::string& prefix, int depth) {
    if (depth > 32) return;
    if (const json::array* resources = ArrayAt(module, "resources")) {
      for (const json::value& r : *resources) {
        if (!r.is_object()) continue;
        const json::object& resource = r.get_object();
        std::string address = prefix + StringAt(resource, "address");
        std::string key = StringAt(resource, "provider_config_key");
        if (!key.empty()) provider_key_[address] = key;
        if (const json::object* expressions = ObjectAt(resource, "expressions")) {
          for (const auto& [attr, e] : *expressions) {
            if (!e.is_object()) continue;
            const json::array* refs = ArrayAt(e.get_object(), "references");
            if (!refs) continue;
            std::vector<std::string>& list = references_[address + "#" + std::string(attr)];
            for (const json::value& ref : *refs)
              if (ref.is_string()) list.push_back(prefix + std::string(ref.get_string()));
          }
        }
      }
    }
    if (const json::object* calls = ObjectAt(module, "module_calls")) {
      for (const auto& [name, call] : *calls) {
        if (!call.is_object()) continue;
        if (const json::object* child = ObjectAt(call.get_object(), "module"))
          WalkModule(*child, prefix + "module." + std::string(name) + ".", depth + 1);
      }
    }
  }

  std::unordered_map<std::string, std::string> variables_;
  std::unordered_map<std::string, std::string> provider_settings_;  // "aws#region"
  std::unordered_map<std::string, std::string> provider_key_;       // config address -> key
  std::unordered_map<std::string, std::vector<std::string>> references_;
};

void CollectModuleValues(const json::object& module, std::vector<Instance>& out, int depth) {
  if (depth > 32) return;
  if (const json::array* resources = ArrayAt(module, "resources")) {
    for (const json::value& r : *resources) {
      if (!r.is_object()) continue;
      const json::object& resource = r.get_object();
      if (StringAt(resource, "mode") != "managed") continue;
      const json::object* values = ObjectAt(resource, "values");
      if (!values) continue;
      out.push_back({StringAt(resource, "address"), StringAt(resource, "type"),
                     ProviderShortName(StringAt(resource, "provider_name")), values});
    }
  }
  if (const json::array* children = ArrayAt(module, "child_modules"))
    for (const json::value& c : *children)
      if (c.is_object()) CollectModuleValues(c.get_object(), out, depth + 1);
}

// Instances of a Terraform v4 state.
void CollectStateInstances(const json::value& state, std::vector<Instance>& out) {
  if (!state.is_object()) BadInput("prior state: not a Terraform state document");
  const json::array* resources = ArrayAt(state.get_object(), "resources");
  if (!resources) BadInput("prior state: no \"resources\" array (expected a Terraform v4 state)");
  for (const json::value& r : *resources) {
    if (!r.is_object()) continue;
    const json::object& resource = r.get_object();
    if (StringAt(resource, "mode") != "managed") continue;
    std::string base = StringAt(resource, "module");
    if (!base.empty()) base += ".";
    base += StringAt(resource, "type") + "." + StringAt(resource, "name");
    const json::array* instances = ArrayAt(resource, "instances");
    if (!instances) continue;
    for (const json::value& i : *instances) {
      if (!i.is_object()) continue;
      const json::object* attributes = ObjectAt(i.get_object(), "attributes");
      if (!attributes) continue;
      std::string address = base;
      if (const json::value* key = i.get_object().if_contains("index_key")) {
        if (key->is_int64())
          address += "[" + std::to_string(key->get_int64()) + "]";
        else if (key->is_string())
          address += "[\"" + std::string(key->get_string()) + "\"]";
      }
      out.push_back({address, StringAt(resource, "type"),
                     ProviderShortName(StringAt(resource, "provider")), attributes});
    }
  }
}

const detail::Registry& TheRegistry() {
  static const detail::Registry registry = [] {
    detail::Registry r;
    detail::RegisterAws(r);
    detail::RegisterGoogle(r);
    detail::RegisterAzure(r);
    return r;
  }();
  return registry;
}

std::string ResolveRegion(const Instance& instance, const Configuration& config,
                          const std::string& config_address) {
  const json::object& v = *instance.values;
  if (instance.provider == "aws") {
    if (std::string region = StringAt(v, "region"); !region.empty()) return region;
    if (std::string zone = StringAt(v, "availability_zone"); !zone.empty())
      return detail::AwsRegionOfZone(zone);
    return config.ProviderSetting(config_address, "aws", "region");
  }
  if (instance.provider == "google") {
    for (std::string_view attr : {"region", "zone", "location"})
      if (std::string value = StringAt(v, attr); !value.empty())
        return detail::GoogleRegionOfLocation(value);
    for (std::string_view attr : {"region", "zone"})
      if (std::string value = config.ProviderSetting(config_address, "google", attr);
          !value.empty())
        return detail::GoogleRegionOfLocation(value);
    return {};
  }
  if (instance.provider == "azure") {
    if (std::string location = StringAt(v, "location"); !location.empty())
      return detail::AzureRegionName(location);
    return {};
  }
  return {};
}

// ---- the document ----------------------------------------------------------------------------

struct Totals {
  Decimal hourly, monthly;
  bool any = false;  // at least one priced cost (else the resource's costs are null)
};

json::value Dec(const std::optional<Decimal>& d) {
  if (!d) return nullptr;
  return json::string(d->ToString());
}

Totals ResourceToJson(const CostResource& resource, json::object& out, bool top_level) {
  Totals totals;
  json::array components;
  components.reserve(resource.components.size());
  for (const Component& c : resource.components) {
    std::optional<Decimal> hq = c.hourly_quantity, mq = c.monthly_quantity;
    if (hq && !mq)
      mq = *hq * detail::kHoursPerMonth;
    else if (mq && !hq)
      hq = *mq / detail::kHoursPerMonth;
    std::optional<Decimal> hc, mc;
    if (c.price && hq && mq) {
      hc = *c.price * *hq;
      mc = *c.price * *mq;
      totals.hourly += *hc;
      totals.monthly += *mc;
      totals.any = true;
    }
    json::object o;
    o.reserve(8);  // sized once: no rehash while the fields go in
    o.emplace("name", c.name);
    o.emplace("unit", c.unit);
    o.emplace("hourlyQuantity", Dec(hq));
    o.emplace("monthlyQuantity", Dec(mq));
    o.emplace("price", Dec(c.price));
    o.emplace("hourlyCost", Dec(hc));
    o.emplace("monthlyCost", Dec(mc));
    if (c.usage_based) o.emplace("usageBased", true);
    components.push_back(std::move(o));
  }
  json::array subresources;
  subresources.reserve(resource.subresources.size());
  for (const CostResource& sub : resource.subresources) {
    json::object s;
    Totals t = ResourceToJson(sub, s, false);
    if (t.any) {
      totals.hourly += t.hourly;
      totals.monthly += t.monthly;
      totals.any = true;
    }
    subresources.push_back(std::move(s));
  }
  out.reserve(8);
  out.emplace("name", resource.name);
  if (top_level) out.emplace("resourceType", resource.resource_type);
  json::object metadata;
  if (!resource.no_price.empty()) {
    json::array reasons;
    for (const std::string& r : resource.no_price) reasons.push_back(json::string(r));
    metadata.emplace("noPrice", std::move(reasons));
  }
  out.emplace("metadata", std::move(metadata));
  out.emplace("hourlyCost",
              totals.any ? json::value(json::string(totals.hourly.ToString())) : nullptr);
  out.emplace("monthlyCost",
              totals.any ? json::value(json::string(totals.monthly.ToString())) : nullptr);
  out.emplace("costComponents", std::move(components));
  out.emplace("subresources", std::move(subresources));
  return totals;
}

struct Side {
  std::vector<CostResource> resources;  // priced (supported) resources, in plan order
  std::vector<std::pair<std::string, std::string>> free;  // address, type
  std::map<std::string, int> unsupported, free_counts, no_price, supported;
  int detected = 0, usage_based = 0;
};

json::object BreakdownJson(const Side& side, Totals& totals) {
  json::array resources;
  resources.reserve(side.resources.size());
  for (const CostResource& r : side.resources) {
    json::object o;
    Totals t = ResourceToJson(r, o, true);
    if (t.any) {
      totals.hourly += t.hourly;
      totals.monthly += t.monthly;
    }
    resources.push_back(std::move(o));
  }
  json::array free;
  for (const auto& [address, type] : side.free)
    free.push_back(json::object{{"name", address}, {"resourceType", type}});
  json::object b;
  b["resources"] = std::move(resources);
  b["freeResources"] = std::move(free);
  b["totalHourlyCost"] = totals.hourly.ToString();
  b["totalMonthlyCost"] = totals.monthly.ToString();
  return b;
}

json::object CountsJson(const std::map<std::string, int>& counts) {
  json::object o;
  for (const auto& [type, n] : counts) o[type] = n;
  return o;
}

json::object SummaryJson(const Side& side) {
  auto sum = [](const std::map<std::string, int>& m) {
    int n = 0;
    for (const auto& [k, v] : m) n += v;
    return n;
  };
  json::object s;
  s["totalDetectedResources"] = side.detected;
  s["totalSupportedResources"] = sum(side.supported);
  s["totalUnsupportedResources"] = sum(side.unsupported);
  s["totalUsageBasedResources"] = side.usage_based;
  s["totalNoPriceResources"] = sum(side.no_price);
  s["totalFreeResources"] = sum(side.free_counts);
  s["supportedResourceCounts"] = CountsJson(side.supported);
  s["unsupportedResourceCounts"] = CountsJson(side.unsupported);
  s["noPriceResourceCounts"] = CountsJson(side.no_price);
  s["freeResourceCounts"] = CountsJson(side.free_counts);
  return s;
}

// ---- the diff --------------------------------------------------------------------------------

// now minus past of two decimal strings of the breakdowns (either may be missing or null). They
// are Decimal::ToString's canonical text, so a missing side or equal sides need no arithmetic:
// most resources of a plan are created (no past) or unchanged.
json::value Sub(const json::value* now, const json::value* past) {
  const json::string* a = now && now->is_string() ? &now->get_string() : nullptr;
  const json::string* b = past && past->is_string() ? &past->get_string() : nullptr;
  if (!b) return json::string(a ? std::string_view(*a) : std::string_view("0"));
  if (!a) {
    std::string_view text = *b;
    if (text == "0") return json::string("0");
    if (text.starts_with('-')) return json::string(text.substr(1));
    json::string negated("-");
    negated.append(text);
    return negated;
  }
  if (*a == *b) return json::string("0");
  std::optional<Decimal> x = Decimal::Parse(*a), y = Decimal::Parse(*b);
  if (!x && !y) return json::string("0");
  return json::string(((x ? *x : Decimal()) - (y ? *y : Decimal())).ToString());
}

// The objects of o[key] by their "name", in order; Find gives the first of a name. Lists are
// short (a resource's components), except subresources made from plan arrays (ebs_block_device
// entries), which may be long: those get a hash index so diffs stay linear.
class ByName {
 public:
  ByName(const json::object& o, std::string_view key) {
    const json::array* a = ArrayAt(o, key);
    if (!a) return;
    list_.reserve(a->size());
    for (const json::value& v : *a) {
      if (!v.is_object()) continue;
      const json::value* name = v.get_object().if_contains("name");
      list_.emplace_back(
          name && name->is_string() ? std::string_view(name->get_string()) : std::string_view(),
          &v.get_object());
    }
    if (list_.size() > kLinear)
      for (const auto& [name, object] : list_) index_.emplace(name, object);  // keeps the first
  }
  const json::object* Find(std::string_view name) const {
    if (list_.size() > kLinear) {
      auto it = index_.find(name);
      return it == index_.end() ? nullptr : it->second;
    }
    for (const auto& [n, object] : list_)
      if (n == name) return object;
    return nullptr;
  }
  const std::vector<std::pair<std::string_view, const json::object*>>& list() const {
    return list_;
  }

 private:
  static constexpr std::size_t kLinear = 16;
  std::vector<std::pair<std::string_view, const json::object*>> list_;
  std::unordered_map<std::string_view, const json::object*> index_;
};

// Calls f(name, now, past) for each name of `now` then each name only in `past`, once per name.
template <typename F>
void ForEachName(const ByName& now, const ByName& past, F&& f) {
  for (const auto& [name, object] : now.list())
    if (now.Find(name) == object) f(name, object, past.Find(name));
  for (const auto& [name, object] : past.list())
    if (past.Find(name) == object && !now.Find(name)) f(name, nullptr, object);
}

// now minus past for one resource (either may be null): components matched by name,
// subresources by name. Returns false when nothing differs.
bool DiffResource(const json::object* now, const json::object* past, json::object& out) {
  static const json::object kEmpty;
  const json::object& n = now ? *now : kEmpty;
  const json::object& p = past ? *past : kEmpty;
  bool changed = (now == nullptr) != (past == nullptr);
  out.reserve(8);
  out.emplace("name", now ? n.at("name") : p.at("name"));
  if (const json::value* t = (now ? n : p).if_contains("resourceType"))
    out.emplace("resourceType", *t);
  out.emplace("metadata", json::object());
  json::value hourly = Sub(n.if_contains("hourlyCost"), p.if_contains("hourlyCost"));
  json::value monthly = Sub(n.if_contains("monthlyCost"), p.if_contains("monthlyCost"));
  if (hourly.get_string() != "0" || monthly.get_string() != "0") changed = true;
  out.emplace("hourlyCost", std::move(hourly));
  out.emplace("monthlyCost", std::move(monthly));

  json::array components;
  ForEachName(ByName(n, "costComponents"), ByName(p, "costComponents"),
              [&](std::string_view name, const json::object* a, const json::object* b) {
                const json::object& base = a ? *a : *b;
                json::object c;
                c.reserve(7);
                c.emplace("name", name);
                c.emplace("unit", base.at("unit"));
                for (std::string_view field : {"hourlyQuantity", "monthlyQuantity"})
                  c.emplace(field, Sub(a ? a->if_contains(field) : nullptr,
                                       b ? b->if_contains(field) : nullptr));
                c.emplace("price", base.at("price"));
                for (std::string_view field : {"hourlyCost", "monthlyCost"})
                  c.emplace(field, Sub(a ? a->if_contains(field) : nullptr,
                                       b ? b->if_contains(field) : nullptr));
                if (c["monthlyQuantity"].get_string() != "0" ||
                    c["monthlyCost"].get_string() != "0" || (a == nullptr) != (b == nullptr))
                  changed = true;
                components.push_back(std::move(c));
              });
  out.emplace("costComponents", std::move(components));
  json::array subresources;
  ForEachName(ByName(n, "subresources"), ByName(p, "subresources"),
              [&](std::string_view, const json::object* a, const json::object* b) {
                json::object s;
                if (DiffResource(a, b, s)) changed = true;
                s.erase("resourceType");
                subresources.push_back(std::move(s));
              });
  out.emplace("subresources", std::move(subresources));
  return changed;
}

json::object DiffBreakdown(const json::object& now, const json::object& past) {
  std::vector<std::string_view> order;
  std::unordered_map<std::string_view, const json::object*> n, p;
  auto name_of = [](const json::value& v) {
    const json::value* name = v.get_object().if_contains("name");
    return name && name->is_string() ? std::string_view(name->get_string()) : std::string_view();
  };
  for (const json::value& v : now.at("resources").get_array()) {
    std::string_view name = name_of(v);
    if (n.emplace(name, &v.get_object()).second) order.push_back(name);
  }
  for (const json::value& v : past.at("resources").get_array()) {
    std::string_view name = name_of(v);
    if (p.emplace(name, &v.get_object()).second && !n.count(name)) order.push_back(name);
  }
  json::array resources;
  for (std::string_view name : order) {
    auto a = n.find(name);
    auto b = p.find(name);
    json::object r;
    if (DiffResource(a == n.end() ? nullptr : a->second, b == p.end() ? nullptr : b->second, r))
      resources.push_back(std::move(r));
  }
  json::object d;
  d["resources"] = std::move(resources);
  d["totalHourlyCost"] =
      Sub(now.if_contains("totalHourlyCost"), past.if_contains("totalHourlyCost"));
  d["totalMonthlyCost"] =
      Sub(now.if_contains("totalMonthlyCost"), past.if_contains("totalMonthlyCost"));
  return d;
}

// ---- estimating one side -----------------------------------------------------------------------

Side EstimateSide(const std::vector<Instance>& instances, const PriceCatalog& catalog,
                  const Configuration& config, const UsageFile* usage) {
  Side side;
  const detail::Registry& registry = TheRegistry();
  std::unordered_map<std::string, const json::object*> by_address;
  for (const Instance& i : instances) by_address.emplace(i.address, i.values);
  auto lookup = [&](std::string_view address) -> const json::object* {
    auto it = by_address.find(std::string(address));
    if (it != by_address.end()) return it->second;
    // A reference names the resource, not an instance: take its first instance.
    for (const char* suffix : {"[0]"}) {
      it = by_address.find(std::string(address) + suffix);
      if (it != by_address.end()) return it->second;
    }
    return nullptr;
  };
  side.resources.reserve(instances.size());
  for (const Instance& instance : instances) {
    ++side.detected;
    if (registry.free_types.count(instance.type)) {
      side.free.emplace_back(instance.address, instance.type);
      ++side.free_counts[instance.type];
      continue;
    }
    auto estimator = registry.estimators.find(instance.type);
    if (estimator == registry.estimators.end()) {
      ++side.unsupported[instance.type];
      continue;
    }
    std::string config_address = ReplaceIndexes(instance.address, false);
    ResourceInput input{instance.address,
                        instance.type,
                        instance.provider,
                        ResolveRegion(instance, config, config_address),
                        *instance.values,
                        usage ? usage->For(instance.address) : nullptr,
                        catalog,
                        lookup,
                        [&config, config_address](std::string_view attr) {
                          return config.References(config_address, attr);
                        }};
    CostResource resource;
    resource.name = instance.address;
    resource.resource_type = instance.type;
    Builder builder(input, resource);
    estimator->second(builder);
    ++side.supported[instance.type];
    if (!resource.no_price.empty()) ++side.no_price[instance.type];
    std::function<bool(const CostResource&)> usage_based = [&](const CostResource& r) {
      if (r.usage_based) return true;
      for (const Component& c : r.components)
        if (c.usage_based) return true;
      for (const CostResource& s : r.subresources)
        if (usage_based(s)) return true;
      return false;
    };
    if (usage_based(resource)) ++side.usage_based;
    side.resources.push_back(std::move(resource));
  }
  return side;
}

}  // namespace

// ---- UsageFile -------------------------------------------------------------------------------

UsageFile UsageFile::Parse(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    BadInput(std::string("usage file: not YAML: ") + e.what());
  }
  UsageFile file;
  if (!root || root.IsNull()) return file;
  if (!root.IsMap()) BadInput("usage file: expected a mapping with \"resource_usage\"");
  YAML::Node resources = root["resource_usage"];
  if (!resources || resources.IsNull()) return file;
  if (!resources.IsMap())
    BadInput("usage file: \"resource_usage\" must map resource addresses to usage");
  std::size_t budget = kMaxUsageValues;
  for (const auto& entry : resources) {
    if (!entry.first.IsScalar()) BadInput("usage file: resource addresses must be plain strings");
    json::value usage = YamlToJson(entry.second, 1, budget);
    if (!usage.is_object())
      BadInput("usage file: the usage of " + entry.first.Scalar() + " must be a mapping");
    file.usage_[entry.first.Scalar()] = std::move(usage);
  }
  return file;
}

const json::object* UsageFile::For(std::string_view address) const {
  if (const json::value* v = usage_.if_contains(address)) return &v->get_object();
  if (address.find('[') == std::string_view::npos) return nullptr;
  if (const json::value* v = usage_.if_contains(ReplaceIndexes(address, true)))
    return &v->get_object();
  return nullptr;
}

// ---- EstimatePlan ------------------------------------------------------------------------------

json::object EstimatePlan(const json::value& plan_value, const PriceCatalog& catalog,
                          const EstimateOptions& options) {
  if (!plan_value.is_object() || !plan_value.get_object().contains("format_version"))
    BadInput(
        "not a Terraform plan JSON document (expected the output of `terraform show -json "
        "PLANFILE`)");
  const json::object& plan = plan_value.get_object();
  const json::array* changes = ArrayAt(plan, "resource_changes");
  const json::object* planned = ObjectAt(plan, "planned_values");
  if (!changes && !planned)
    BadInput(
        "not a Terraform plan JSON document: it has neither \"resource_changes\" nor "
        "\"planned_values\"");

  std::vector<Instance> now, past;
  if (changes) {
    for (const json::value& c : *changes) {
      if (!c.is_object()) BadInput("plan: resource_changes entries must be objects");
      const json::object& change = c.get_object();
      if (StringAt(change, "mode") != "managed") continue;
      const json::object* body = ObjectAt(change, "change");
      if (!body) continue;
      std::vector<std::string> actions;
      if (const json::array* a = ArrayAt(*body, "actions"))
        for (const json::value& v : *a)
          if (v.is_string()) actions.emplace_back(v.get_string());
      bool creates_only = actions.size() == 1 && actions[0] == "create";
      bool deletes_only = actions.size() == 1 && actions[0] == "delete";
      Instance base{StringAt(change, "address"), StringAt(change, "type"),
                    ProviderShortName(StringAt(change, "provider_name")), nullptr};
      if (!deletes_only)
        if (const json::object* after = ObjectAt(*body, "after"))
          now.push_back({base.address, base.type, base.provider, after});
      if (!creates_only)
        if (const json::object* before = ObjectAt(*body, "before"))
          past.push_back({base.address, base.type, base.provider, before});
    }
  } else if (const json::object* root = ObjectAt(*planned, "root_module")) {
    CollectModuleValues(*root, now, 0);
  }
  if (options.prior_state) {
    past.clear();
    CollectStateInstances(*options.prior_state, past);
  }

  Configuration config(plan);
  Side now_side = EstimateSide(now, catalog, config, options.usage);
  Side past_side = EstimateSide(past, catalog, config, options.usage);

  Totals now_totals, past_totals;
  json::object breakdown = BreakdownJson(now_side, now_totals);
  json::object past_breakdown = BreakdownJson(past_side, past_totals);
  json::object diff = DiffBreakdown(breakdown, past_breakdown);
  json::object summary = SummaryJson(now_side);

  json::object project;
  project["name"] = options.project_name;
  project["metadata"] = json::object{{"type", "terraform_plan_json"}};
  project["pastBreakdown"] = std::move(past_breakdown);
  project["breakdown"] = std::move(breakdown);
  project["diff"] = std::move(diff);
  project["summary"] = summary;

  json::object doc;
  doc["version"] = "0.2";
  json::array sources;
  for (const CatalogSource& s : catalog.sources())
    sources.push_back(json::object{
        {"provider", s.provider}, {"effectiveDate", s.effective_date}, {"source", s.source}});
  doc["metadata"] =
      json::object{{"generator", "statehouse"}, {"priceCatalogs", std::move(sources)}};
  doc["currency"] = "USD";
  doc["projects"] = json::array{std::move(project)};
  doc["totalHourlyCost"] = now_totals.hourly.ToString();
  doc["totalMonthlyCost"] = now_totals.monthly.ToString();
  doc["pastTotalHourlyCost"] = past_totals.hourly.ToString();
  doc["pastTotalMonthlyCost"] = past_totals.monthly.ToString();
  doc["diffTotalHourlyCost"] = (now_totals.hourly - past_totals.hourly).ToString();
  doc["diffTotalMonthlyCost"] = (now_totals.monthly - past_totals.monthly).ToString();
  if (!options.time_generated.empty()) doc["timeGenerated"] = options.time_generated;
  doc["summary"] = std::move(summary);
  if (options.monthly_budget) {
    doc["budget"] = json::object{{"monthlyBudget", options.monthly_budget->ToString()},
                                 {"totalMonthlyCost", now_totals.monthly.ToString()},
                                 {"exceeded", now_totals.monthly > *options.monthly_budget}};
  }
  return doc;
}

CostTotals TotalsOf(const json::object& document) {
  CostTotals totals;
  totals.currency = StringAt(document, "currency");
  totals.total_monthly = StringAt(document, "totalMonthlyCost");
  totals.past_total_monthly = StringAt(document, "pastTotalMonthlyCost");
  totals.diff_total_monthly = StringAt(document, "diffTotalMonthlyCost");
  if (const json::object* budget = ObjectAt(document, "budget"))
    if (const json::value* e = budget->if_contains("exceeded"); e && e->is_bool())
      totals.over_budget = e->get_bool();
  return totals;
}

json::object DiffDocument(const json::object& document) {
  json::object out = document;
  if (json::value* projects = out.if_contains("projects"); projects && projects->is_array())
    for (json::value& p : projects->get_array())
      if (p.is_object()) {
        p.get_object().erase("breakdown");
        p.get_object().erase("pastBreakdown");
      }
  return out;
}

// ---- Builder ----------------------------------------------------------------------------------

namespace detail {

const json::value* Builder::ValueIn(const json::object& object, std::string_view path) const {
  const json::value* current = nullptr;
  const json::object* obj = &object;
  const json::array* arr = nullptr;
  while (!path.empty()) {
    std::size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (obj) {
      current = obj->if_contains(part);
    } else if (arr) {
      std::size_t index = 0;
      for (char c : part) {
        if (c < '0' || c > '9') return nullptr;
        index = index * 10 + (c - '0');
      }
      current = index < arr->size() ? &(*arr)[index] : nullptr;
    } else {
      return nullptr;
    }
    if (!current) return nullptr;
    obj = current->is_object() ? &current->get_object() : nullptr;
    arr = current->is_array() ? &current->get_array() : nullptr;
  }
  return current;
}

const json::value* Builder::Value(std::string_view path) const { return ValueIn(in_.values, path); }

std::optional<std::string> Builder::String(std::string_view path) const {
  const json::value* v = Value(path);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

namespace {
std::optional<Decimal> NumberOf(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return Decimal::FromInt(v->get_int64());
  if (v->is_uint64()) return Decimal::Parse(std::to_string(v->get_uint64()));
  if (v->is_double()) return Decimal::FromDouble(v->get_double());
  if (v->is_string()) return Decimal::Parse(v->get_string());
  return std::nullopt;
}
}  // namespace

std::optional<Decimal> Builder::Number(std::string_view path) const {
  return NumberOf(Value(path));
}

std::optional<bool> Builder::Bool(std::string_view path) const {
  const json::value* v = Value(path);
  if (!v || !v->is_bool()) return std::nullopt;
  return v->get_bool();
}

std::optional<Decimal> Builder::Usage(std::string_view path) const {
  if (!in_.usage) return std::nullopt;
  std::optional<Decimal> d = NumberOf(ValueIn(*in_.usage, path));
  if (d && d->IsNegative()) return std::nullopt;
  return d;
}

CostResource& Builder::Sub(std::string name) {
  out_.subresources.emplace_back();
  out_.subresources.back().name = std::move(name);
  return out_.subresources.back();
}

std::optional<Decimal> Builder::Lookup(std::string_view component, std::string_view service,
                                       Attributes attributes, std::string_view region_override) {
  std::string_view region =
      region_override.empty() ? std::string_view(in_.region) : region_override;
  if (region.empty()) {
    NoPrice("no price for " + std::string(component) + ": the " + in_.provider +
            " region is not known (set it in the provider configuration or on the resource)");
    return std::nullopt;
  }
  if (const Price* price = in_.catalog.Find(in_.provider, service, region, attributes))
    return price->amount;
  std::string what;
  for (const auto& [k, v] : attributes) {
    if (!what.empty()) what += ", ";
    what.append(k).append("=").append(v);
  }
  NoPrice("no price for " + std::string(component) + ": " + in_.provider + " " +
          std::string(service) + (what.empty() ? "" : " (" + what + ")") + " in region " +
          std::string(region) + " is not in the price catalog");
  return std::nullopt;
}

void Builder::AddPriced(CostResource& target, std::string name, std::string unit,
                        std::optional<Decimal> price, std::optional<Decimal> hourly,
                        std::optional<Decimal> monthly, bool usage_based) {
  Component c;
  c.name = std::move(name);
  c.unit = std::move(unit);
  c.hourly_quantity = hourly;
  c.monthly_quantity = hourly ? std::nullopt : monthly;
  c.price = price;
  c.usage_based = usage_based;
  target.components.push_back(std::move(c));
}

void Builder::Add(CostResource& target, std::string name, std::string unit,
                  std::string_view service, Attributes attributes, std::optional<Decimal> hourly,
                  std::optional<Decimal> monthly, bool usage_based,
                  std::string_view region_override) {
  std::optional<Decimal> price = Lookup(name, service, attributes, region_override);
  AddPriced(target, std::move(name), std::move(unit), price, hourly, monthly, usage_based);
}

Decimal D(std::string_view text) {
  std::optional<Decimal> d = Decimal::Parse(text);
  return d ? *d : Decimal();
}

std::string AwsRegionOfZone(std::string_view zone) {
  // us-east-1a -> us-east-1; local zones (us-east-1-bos-1a) -> us-east-1.
  std::string z(zone);
  std::size_t dash = 0;
  int dashes = 0;
  for (std::size_t i = 0; i < z.size(); ++i)
    if (z[i] == '-' && ++dashes == 3) {
      dash = i;
      break;
    }
  if (dashes >= 3) z = z.substr(0, dash);
  while (!z.empty() && std::isalpha(static_cast<unsigned char>(z.back()))) z.pop_back();
  return z;
}

std::string GoogleRegionOfLocation(std::string_view location) {
  // us-central1-a -> us-central1; us-central1 stays; "US" (multi-region) stays.
  std::string l(location);
  std::size_t first = l.find('-');
  if (first == std::string::npos) return l;
  std::size_t second = l.find('-', first + 1);
  return second == std::string::npos ? l : l.substr(0, second);
}

std::string AzureRegionName(std::string_view location) {
  std::string out;
  for (char c : location)
    if (c != ' ') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace detail
}  // namespace statehouse::cost
