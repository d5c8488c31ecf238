// Azure resources. Managed disks are billed per disk by size tier (P10 = up to 128 GiB, ...).
#include <string>

#include "cost/resources.h"

namespace statehouse::cost::detail {
namespace {

const Decimal kOne = Decimal::FromInt(1);

struct DiskTier {
  int number;
  long long max_gb;
};
// Tier numbers and sizes as Azure publishes them; P/E start at 1 (4 GiB), S at 4 (32 GiB).
constexpr DiskTier kDiskTiers[] = {{1, 4},     {2, 8},     {3, 16},     {4, 32},    {6, 64},
                                   {10, 128},  {15, 256},  {20, 512},   {30, 1024}, {40, 2048},
                                   {50, 4096}, {60, 8192}, {70, 16384}, {80, 32767}};

// "Premium_LRS" -> letter 'P', redundancy "lrs"; nullopt for kinds not priced by tier.
struct DiskKind {
  char letter;
  std::string redundancy;
  std::string label;
};
std::optional<DiskKind> KindOf(const std::string& account_type) {
  std::size_t underscore = account_type.rfind('_');
  std::string kind = account_type.substr(0, underscore);
  std::string redundancy =
      underscore == std::string::npos ? "lrs" : account_type.substr(underscore + 1);
  for (char& c : redundancy) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (kind == "Premium") return DiskKind{'P', redundancy, "Premium SSD"};
  if (kind == "StandardSSD") return DiskKind{'E', redundancy, "Standard SSD"};
  if (kind == "Standard") return DiskKind{'S', redundancy, "Standard HDD"};
  return std::nullopt;
}

std::optional<std::string> TierOf(char letter, const Decimal& size_gb) {
  for (const DiskTier& t : kDiskTiers) {
    if (letter == 'S' && t.number < 4) continue;
    if (size_gb <= Decimal::FromInt(t.max_gb))
      return std::string(1, letter) + std::to_string(t.number);
  }
  return std::nullopt;
}

void ManagedDisk(Builder& b, CostResource& target, const std::string& account_type,
                 const Decimal& size_gb, const Decimal& count) {
  std::optional<DiskKind> kind = KindOf(account_type);
  if (!kind) {
    b.NoPrice("no price for the " + account_type +
              " disk: only Standard_*, StandardSSD_* and "
              "Premium_* disks are in the price catalog");
    b.AddPriced(target, "Storage (" + account_type + ")", "months", std::nullopt, std::nullopt,
                count);
    return;
  }
  std::optional<std::string> tier = TierOf(kind->letter, size_gb);
  std::string redundancy_label = kind->redundancy == "zrs" ? "ZRS" : "LRS";
  if (!tier) {
    b.NoPrice("no price for the disk: " + size_gb.ToString() + " GiB is above the largest tier");
    b.AddPriced(target, "Storage (" + kind->label + ", " + redundancy_label + ")", "months",
                std::nullopt, std::nullopt, count);
    return;
  }
  b.Add(target, "Storage (" + *tier + ", " + redundancy_label + ")", "months", "managed_disk",
        {{"tier", *tier}, {"redundancy", kind->redundancy}}, std::nullopt, count);
  if (kind->letter != 'P') {
    std::optional<Decimal> ops = b.Usage("monthly_disk_operations");
    b.Add(target, "Disk operations", "10k operations", "managed_disk_operations",
          {{"disk_kind", kind->letter == 'S' ? "standard_hdd" : "standard_ssd"}}, std::nullopt,
          ops ? std::optional(*ops * count / Decimal::FromInt(10000)) : std::nullopt, true);
  }
}

void VirtualMachine(Builder& b, const std::string& os) {
  std::optional<std::string> size = b.String("size");
  if (!size) {
    b.NoPrice("no price for the virtual machine: size is not known until apply");
  } else {
    b.Add("Instance usage (" + std::string(os == "windows" ? "Windows" : "Linux") +
              ", pay as you go, " + *size + ")",
          "hours", "vm", {{"vm_size", *size}, {"os", os}}, kOne, std::nullopt);
  }
  CostResource& disk = b.Sub("os_disk");
  // Without disk_size_gb the image decides: 30 GiB for Linux and 127 GiB for Windows images.
  Decimal size_gb =
      b.Number("os_disk.0.disk_size_gb").value_or(Decimal::FromInt(os == "windows" ? 127 : 30));
  ManagedDisk(b, disk, b.String("os_disk.0.storage_account_type").value_or("Standard_LRS"), size_gb,
              kOne);
}

void ManagedDiskResource(Builder& b) {
  std::optional<Decimal> size = b.Number("disk_size_gb");
  if (!size) {
    b.NoPrice("no price for the disk: disk_size_gb is not known until apply");
    return;
  }
  ManagedDisk(b, b.resource(), b.String("storage_account_type").value_or("Standard_LRS"), *size,
              kOne);
}

void KubernetesCluster(Builder& b) {
  std::string tier = b.String("sku_tier").value_or("Free");
  if (tier == "Standard" || tier == "Paid" || tier == "Premium") {
    std::string attr = tier == "Premium" ? "premium" : "standard";
    b.Add("Uptime SLA", "hours", "aks_uptime_sla", {{"sku_tier", attr}}, kOne, std::nullopt);
  }
  CostResource& pool = b.Sub("default_node_pool");
  std::optional<std::string> vm = b.String("default_node_pool.0.vm_size");
  Decimal nodes = b.Number("default_node_pool.0.node_count")
                      .value_or(b.Number("default_node_pool.0.min_count").value_or(kOne));
  if (!vm) {
    b.NoPrice("no price for the default node pool: vm_size is not known until apply");
    return;
  }
  b.Add(pool, "Instance usage (Linux, pay as you go, " + *vm + ")", "hours", "vm",
        {{"vm_size", *vm}, {"os", "linux"}}, nodes, std::nullopt);
  if (b.String("default_node_pool.0.os_disk_type").value_or("Managed") == "Managed") {
    // AKS gives premium OS disks to sizes that support premium storage ("s" in the size name).
    std::string version = vm->substr(vm->find('_') + 1);
    bool premium = version.find('s') != std::string::npos;
    Decimal size = b.Number("default_node_pool.0.os_disk_size_gb").value_or(Decimal::FromInt(128));
    ManagedDisk(b, pool, premium ? "Premium_LRS" : "StandardSSD_LRS", size, nodes);
  }
}

}  // namespace

void RegisterAzure(Registry& r) {
  r.estimators["azurerm_linux_virtual_machine"] = [](Builder& b) { VirtualMachine(b, "linux"); };
  r.estimators["azurerm_windows_virtual_machine"] = [](Builder& b) {
    VirtualMachine(b, "windows");
  };
  r.estimators["azurerm_managed_disk"] = ManagedDiskResource;
  r.estimators["azurerm_kubernetes_cluster"] = KubernetesCluster;
  for (const char* type :
       {"azurerm_resource_group", "azurerm_virtual_network", "azurerm_subnet",
        "azurerm_network_security_group", "azurerm_network_security_rule",
        "azurerm_network_interface", "azurerm_subnet_network_security_group_association",
        "azurerm_network_interface_security_group_association", "azurerm_role_assignment",
        "azurerm_role_definition", "azurerm_user_assigned_identity", "azurerm_route_table",
        "azurerm_route", "azurerm_subnet_route_table_association",
        "azurerm_virtual_network_peering", "azurerm_management_lock",
        "azurerm_virtual_machine_data_disk_attachment"})
    r.free_types.insert(type);
}

}  // namespace statehouse::cost::detail
