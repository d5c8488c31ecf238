// Google Cloud resources. Compute Engine prices a machine per vCPU and per GB of memory of its
// family; the catalog's machine_types give each predefined type's vCPUs and memory.
#include <string>

#include "cost/resources.h"

namespace statehouse::cost::detail {
namespace {

const Decimal kOne = Decimal::FromInt(1);

std::string Family(const std::string& machine_type) {
  return machine_type.substr(0, machine_type.find('-'));
}

// vCPUs and memory of "e2-custom-4-8192" / "n2-custom-2-4096-ext" (memory in MB).
std::optional<MachineType> CustomMachine(const std::string& machine_type) {
  std::size_t at = machine_type.find("custom-");
  if (at == std::string::npos) return std::nullopt;
  std::string rest = machine_type.substr(at + 7);
  std::size_t dash = rest.find('-');
  if (dash == std::string::npos) return std::nullopt;
  std::optional<Decimal> cpus = Decimal::Parse(rest.substr(0, dash));
  std::string mem = rest.substr(dash + 1);
  mem = mem.substr(0, mem.find('-'));
  std::optional<Decimal> mb = Decimal::Parse(mem);
  if (!cpus || !mb) return std::nullopt;
  return MachineType{*cpus, *mb / Decimal::FromInt(1024)};
}

// The hourly price of one machine of `machine_type`, or nullopt (reason recorded).
std::optional<Decimal> MachinePrice(Builder& b, const std::string& component,
                                    const std::string& machine_type, const std::string& purchase,
                                    std::string_view region) {
  std::string family = Family(machine_type);
  if (family == "f1" || family == "g1")
    return b.Lookup(component, "compute_instance",
                    {{"machine_type", machine_type}, {"purchase", purchase}}, region);
  std::optional<MachineType> spec;
  if (const MachineType* known = b.input().catalog.FindMachine("google", machine_type))
    spec = *known;
  else
    spec = CustomMachine(machine_type);
  if (!spec) {
    b.NoPrice("no price for " + component + ": machine type " + machine_type +
              " is not in the price catalog");
    return std::nullopt;
  }
  std::optional<Decimal> cpu =
      b.Lookup(component, "compute_cpu", {{"family", family}, {"purchase", purchase}}, region);
  std::optional<Decimal> ram =
      b.Lookup(component, "compute_ram", {{"family", family}, {"purchase", purchase}}, region);
  if (!cpu || !ram) return std::nullopt;
  return *cpu * spec->vcpus + *ram * spec->memory_gb;
}

std::string DiskLabel(const std::string& type) {
  if (type == "pd-standard") return "Standard provisioned storage (pd-standard)";
  if (type == "pd-balanced") return "Balanced provisioned storage (pd-balanced)";
  if (type == "pd-ssd") return "SSD provisioned storage (pd-ssd)";
  if (type == "pd-extreme") return "Extreme provisioned storage (pd-extreme)";
  return "Provisioned storage (" + type + ")";
}

std::string PurchaseOf(Builder& b, const std::string& prefix) {
  if (b.Bool(prefix + "preemptible").value_or(false) || b.Bool(prefix + "spot").value_or(false) ||
      b.String(prefix + "provisioning_model").value_or("") == "SPOT")
    return "preemptible";
  return "on_demand";
}

std::string PurchaseLabel(const std::string& purchase) {
  return purchase == "preemptible" ? "preemptible" : "on-demand";
}

void ComputeInstance(Builder& b) {
  std::optional<std::string> type = b.String("machine_type");
  std::string purchase = PurchaseOf(b, "scheduling.0.");
  if (!type) {
    b.NoPrice("no price for the instance: machine_type is not known until apply");
  } else {
    std::string name =
        "Instance usage (Linux/UNIX, " + PurchaseLabel(purchase) + ", " + *type + ")";
    std::optional<Decimal> price = MachinePrice(b, name, *type, purchase, {});
    b.AddPriced(b.resource(), name, "hours", price, kOne, std::nullopt);
  }
  std::string disk_type = b.String("boot_disk.0.initialize_params.0.type").value_or("pd-standard");
  Decimal size = b.Number("boot_disk.0.initialize_params.0.size").value_or(Decimal::FromInt(10));
  CostResource& boot = b.Sub("boot_disk");
  b.Add(boot, DiskLabel(disk_type), "GB", "compute_disk", {{"disk_type", disk_type}}, std::nullopt,
        size);
}

void ComputeDisk(Builder& b) {
  std::string type = b.String("type").value_or("pd-standard");
  std::optional<Decimal> size = b.Number("size");
  if (!size) {
    b.NoPrice("no price for " + DiskLabel(type) + ": the disk size is not known until apply");
    b.AddPriced(b.resource(), DiskLabel(type), "GB", std::nullopt, std::nullopt, std::nullopt);
    return;
  }
  b.Add(DiskLabel(type), "GB", "compute_disk", {{"disk_type", type}}, std::nullopt, *size);
}

void SqlInstance(Builder& b) {
  std::optional<std::string> tier = b.String("settings.0.tier");
  std::string version = b.String("database_version").value_or("");
  std::string availability =
      b.String("settings.0.availability_type").value_or("ZONAL") == "REGIONAL" ? "regional"
                                                                               : "zonal";
  if (!tier) {
    b.NoPrice("no price for the SQL instance: settings.tier is not known until apply");
  } else if (!version.starts_with("MYSQL") && !version.starts_with("POSTGRES")) {
    b.NoPrice("no price for the SQL instance: " +
              (version.empty() ? std::string("this database version") : version) +
              " is not in the price catalog (MySQL and PostgreSQL are)");
  } else if (*tier == "db-f1-micro" || *tier == "db-g1-small") {
    b.Add("SQL instance (" + *tier + ", " + availability + ")", "hours", "sql_instance",
          {{"tier", *tier}, {"availability", availability}}, kOne, std::nullopt);
  } else {
    std::optional<Decimal> cpus, memory;
    if (tier->starts_with("db-custom-")) {
      if (std::optional<MachineType> m = CustomMachine("x-" + tier->substr(3))) {
        cpus = m->vcpus;
        memory = m->memory_gb;
      }
    } else if (tier->starts_with("db-n1-standard-") || tier->starts_with("db-n1-highmem-")) {
      cpus = Decimal::Parse(tier->substr(tier->rfind('-') + 1));
      if (cpus) memory = *cpus * D(tier->starts_with("db-n1-standard-") ? "3.75" : "6.5");
    }
    if (!cpus || !memory) {
      b.NoPrice("no price for the SQL instance: tier " + *tier + " is not a known Cloud SQL tier");
    } else {
      b.Add("vCPUs (" + availability + ")", "vCPU-hours", "sql_cpu",
            {{"availability", availability}}, *cpus, std::nullopt);
      b.Add("Memory (" + availability + ")", "GB-hours", "sql_memory",
            {{"availability", availability}}, *memory, std::nullopt);
    }
  }
  std::string disk =
      b.String("settings.0.disk_type").value_or("PD_SSD") == "PD_HDD" ? "hdd" : "ssd";
  Decimal size = b.Number("settings.0.disk_size").value_or(Decimal::FromInt(10));
  b.Add(std::string("Storage (") + (disk == "ssd" ? "SSD" : "HDD") + ", " + availability + ")",
        "GB", "sql_storage", {{"disk_type", disk}, {"availability", availability}}, std::nullopt,
        size);
}

bool IsZone(const std::string& location) {
  // us-central1-a is a zone, us-central1 a region.
  std::size_t first = location.find('-');
  return first != std::string::npos && location.find('-', first + 1) != std::string::npos;
}

// Nodes of a pool: per zone count times the zones it runs in.
void NodePool(Builder& b, CostResource& target, const std::string& prefix, Decimal per_zone,
              const std::string& location, std::string_view region) {
  Decimal zones = kOne;
  if (const boost::json::value* list = b.Value("node_locations");
      list && list->is_array() && !list->get_array().empty())
    zones = Decimal::FromInt(static_cast<long long>(list->get_array().size()));
  else if (!location.empty() && !IsZone(location))
    zones = Decimal::FromInt(3);  // a regional pool runs in three zones by default
  Decimal nodes = per_zone * zones;
  std::string type = b.String(prefix + "machine_type").value_or("e2-medium");
  std::string purchase = PurchaseOf(b, prefix);
  std::string name = "Instance usage (Linux/UNIX, " + PurchaseLabel(purchase) + ", " + type + ")";
  std::optional<Decimal> price = MachinePrice(b, name, type, purchase, region);
  b.AddPriced(target, name, "hours", price, nodes, std::nullopt);
  std::string disk = b.String(prefix + "disk_type").value_or("pd-balanced");
  Decimal size = b.Number(prefix + "disk_size_gb").value_or(Decimal::FromInt(100));
  b.Add(target, DiskLabel(disk), "GB", "compute_disk", {{"disk_type", disk}}, std::nullopt,
        size * nodes, false, region);
}

void ContainerCluster(Builder& b) {
  b.Add("Cluster management fee", "hours", "gke_cluster", {}, kOne, std::nullopt);
  if (b.Bool("enable_autopilot").value_or(false)) return;  // pods are billed by request
  if (b.Bool("remove_default_node_pool").value_or(false)) return;
  Decimal per_zone = b.Number("initial_node_count").value_or(kOne);
  CostResource& pool = b.Sub("default_pool");
  NodePool(b, pool, "node_config.0.", per_zone, b.String("location").value_or(""), {});
}

void ContainerNodePool(Builder& b) {
  std::string location = b.String("location").value_or("");
  std::string region;
  if (location.empty()) {
    // The pool's location is its cluster's: follow the configuration's reference.
    for (const std::string& ref : b.input().references("cluster")) {
      std::string address = ref;
      for (const char* attr : {".id", ".name", ".self_link"})
        if (address.ends_with(attr)) address.resize(address.size() - std::string_view(attr).size());
      if (const boost::json::object* cluster = b.input().lookup(address)) {
        if (const boost::json::value* l = cluster->if_contains("location"); l && l->is_string()) {
          location = std::string(l->get_string());
          region = GoogleRegionOfLocation(location);
          break;
        }
      }
    }
  }
  Decimal per_zone =
      b.Number("node_count")
          .value_or(b.Number("initial_node_count")
                        .value_or(b.Number("autoscaling.0.min_node_count").value_or(kOne)));
  NodePool(b, b.resource(), "node_config.0.", per_zone, location, region);
}

}  // namespace

void RegisterGoogle(Registry& r) {
  r.estimators["google_compute_instance"] = ComputeInstance;
  r.estimators["google_compute_disk"] = ComputeDisk;
  r.estimators["google_sql_database_instance"] = SqlInstance;
  r.estimators["google_container_cluster"] = ContainerCluster;
  r.estimators["google_container_node_pool"] = ContainerNodePool;
  for (const char* type : {"google_compute_network",
                           "google_compute_subnetwork",
                           "google_compute_firewall",
                           "google_compute_route",
                           "google_project_iam_member",
                           "google_project_iam_binding",
                           "google_project_iam_policy",
                           "google_project_iam_custom_role",
                           "google_service_account",
                           "google_service_account_key",
                           "google_service_account_iam_member",
                           "google_service_account_iam_binding",
                           "google_project_service",
                           "google_storage_bucket_iam_member",
                           "google_storage_bucket_iam_binding",
                           "google_sql_database",
                           "google_sql_user",
                           "google_compute_instance_template",
                           "google_kms_key_ring",
                           "google_compute_network_peering"})
    r.free_types.insert(type);
}

}  // namespace statehouse::cost::detail
