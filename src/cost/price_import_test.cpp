// The price file importers, on small files in the providers' real formats (testdata/), and the
// shipped catalog (pricing/*.json) against the contract of pricing/README.md.
#include "cost/price_import.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "cost/catalog.h"

namespace statehouse::cost {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string TestData(const std::string& name) {
  return ReadFile(std::string(STATEHOUSE_COST_TESTDATA) + "/" + name);
}

const std::string kPricingDir = std::string(STATEHOUSE_COST_TESTDATA) + "/../../../pricing";

PriceCatalog Load(const PriceImportResult& result) {
  PriceCatalog catalog;
  catalog.AddDocument(result.catalog_json, "imported");
  return catalog;
}

// The price as text, or "none" when the catalog has no such entry.
std::string PriceOf(const PriceCatalog& catalog, std::string_view provider,
                    std::string_view service, std::string_view region, Attributes attributes = {}) {
  const Price* price = catalog.Find(provider, service, region, attributes);
  return price == nullptr ? "none" : price->amount.ToString() + " per " + price->unit;
}

std::string ErrorOf(std::string_view text, std::string_view name = "prices.json") {
  try {
    ImportPriceFile(text, name);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "no error";
}

TEST(PriceImport, AwsEc2OfferFile) {
  PriceImportResult result = ImportPriceFile(TestData("aws_ec2_offer.json"), "index.json");
  EXPECT_EQ(result.provider, "aws");
  EXPECT_EQ(result.format, "AWS Price List offer file");
  PriceCatalog catalog = Load(result);
  ASSERT_EQ(catalog.sources().size(), 1u);
  EXPECT_EQ(catalog.sources()[0].effective_date, "2024-11-20");
  EXPECT_EQ(catalog.sources()[0].source, "imported from index.json (AWS Price List offer file)");

  // On-demand, not the reserved term's 0.0065; the $0 unused-reservation variant does not win.
  EXPECT_EQ(PriceOf(catalog, "aws", "ec2_instance", "us-east-1",
                    {{"instance_type", "t3.micro"}, {"os", "linux"}, {"tenancy", "shared"}}),
            "0.0104 per hours");
  EXPECT_EQ(PriceOf(catalog, "aws", "ec2_instance", "us-east-1",
                    {{"instance_type", "t3.micro"}, {"os", "windows"}, {"tenancy", "shared"}}),
            "0.0196 per hours");
  // Region from "location" when the product has no regionCode.
  EXPECT_EQ(PriceOf(catalog, "aws", "ec2_instance", "eu-central-1",
                    {{"instance_type", "m5.large"}, {"os", "linux"}, {"tenancy", "dedicated"}}),
            "0.127 per hours");
  // Windows with SQL Server pre-installed is not plain Windows.
  EXPECT_EQ(PriceOf(catalog, "aws", "ec2_instance", "us-east-1",
                    {{"instance_type", "m5.large"}, {"os", "windows"}, {"tenancy", "shared"}}),
            "none");
  EXPECT_EQ(PriceOf(catalog, "aws", "ebs_storage", "us-east-1", {{"volume_type", "gp3"}}),
            "0.08 per GB-months");
  // gp3: the paid tier above the free 3,000 IOPS.
  EXPECT_EQ(
      PriceOf(catalog, "aws", "ebs_iops", "us-east-1", {{"volume_type", "gp3"}, {"tier", "0"}}),
      "0.005 per IOPS-months");
  EXPECT_EQ(
      PriceOf(catalog, "aws", "ebs_iops", "us-east-1", {{"volume_type", "io2"}, {"tier", "0"}}),
      "0.065 per IOPS-months");
  EXPECT_EQ(
      PriceOf(catalog, "aws", "ebs_iops", "us-east-1", {{"volume_type", "io2"}, {"tier", "32000"}}),
      "0.0455 per IOPS-months");
  EXPECT_EQ(
      PriceOf(catalog, "aws", "ebs_iops", "us-east-1", {{"volume_type", "io2"}, {"tier", "64000"}}),
      "0.032 per IOPS-months");
  // GiBps-mo converted to MiBps-months, IOs to millions of requests.
  EXPECT_EQ(PriceOf(catalog, "aws", "ebs_throughput", "us-east-1", {{"volume_type", "gp3"}}),
            "0.04 per MiBps-months");
  EXPECT_EQ(PriceOf(catalog, "aws", "ebs_io_requests", "us-east-1", {{"volume_type", "standard"}}),
            "0.05 per 1M requests");
  EXPECT_EQ(PriceOf(catalog, "aws", "nat_gateway", "us-east-1"), "0.045 per hours");
  EXPECT_EQ(PriceOf(catalog, "aws", "nat_gateway_data", "us-east-1"), "0.045 per GB");

  EXPECT_EQ(result.mapped, 12u);  // 3 instances, storage, 4 IOPS, throughput, I/O, 2 NAT
  EXPECT_EQ(result.skipped, 3u);  // unused reservation, SQL Std, data transfer
  EXPECT_EQ(catalog.size(), result.mapped);
}

TEST(PriceImport, AwsOutputIsSortedOneEntryPerLine) {
  PriceImportResult result = ImportPriceFile(TestData("aws_ec2_offer.json"), "index.json");
  std::istringstream lines(result.catalog_json);
  std::string line;
  std::vector<std::string> entries;
  while (std::getline(lines, line))
    if (line.rfind("    {\"service\": ", 0) == 0) entries.push_back(line);
  EXPECT_EQ(entries.size(), result.mapped);
  EXPECT_TRUE(std::is_sorted(entries.begin(), entries.end()));
  EXPECT_EQ(entries.front(),
            R"(    {"service": "ebs_io_requests", "region": "us-east-1", "attributes": )"
            R"({"volume_type": "standard"}, "unit": "1M requests", "price": "0.05"},)");
  // Importing the same file again gives the same bytes (no import date inside).
  EXPECT_EQ(ImportPriceFile(TestData("aws_ec2_offer.json"), "index.json").catalog_json,
            result.catalog_json);
}

TEST(PriceImport, AwsRdsOfferFile) {
  PriceImportResult result = ImportPriceFile(TestData("aws_rds_offer.json"), "rds.json");
  PriceCatalog catalog = Load(result);
  EXPECT_EQ(catalog.sources()[0].effective_date, "2024-10-15");
  EXPECT_EQ(
      PriceOf(
          catalog, "aws", "rds_instance", "us-east-1",
          {{"instance_class", "db.t3.micro"}, {"engine", "mysql"}, {"deployment", "single-az"}}),
      "0.017 per hours");
  EXPECT_EQ(
      PriceOf(catalog, "aws", "rds_instance", "us-east-1",
              {{"instance_class", "db.t3.micro"}, {"engine", "mysql"}, {"deployment", "multi-az"}}),
      "0.034 per hours");
  EXPECT_EQ(
      PriceOf(
          catalog, "aws", "rds_instance", "us-east-1",
          {{"instance_class", "db.t3.micro"}, {"engine", "postgres"}, {"deployment", "single-az"}}),
      "0.018 per hours");
  EXPECT_EQ(PriceOf(catalog, "aws", "rds_storage", "us-east-1",
                    {{"volume_type", "gp2"}, {"deployment", "single-az"}}),
            "0.115 per GB-months");
  EXPECT_EQ(PriceOf(catalog, "aws", "rds_storage", "us-east-1",
                    {{"volume_type", "gp3"}, {"deployment", "multi-az"}}),
            "0.23 per GB-months");
  // Aurora, readable-standby clusters and the second engine's copy of gp2 storage are skipped.
  EXPECT_EQ(result.mapped, 5u);
  EXPECT_EQ(result.skipped, 4u);
}

TEST(PriceImport, AwsElastiCacheOfferFile) {
  const char* offer = R"({
    "formatVersion": "v1.0", "offerCode": "AmazonElastiCache", "version": "20240901000000",
    "publicationDate": "2024-09-01T00:00:00Z",
    "products": {
      "A": {"sku": "A", "productFamily": "Cache Instance", "attributes": {
        "instanceType": "cache.t3.micro", "cacheEngine": "Redis", "regionCode": "eu-west-1",
        "usagetype": "EU-NodeUsage:cache.t3.micro"}},
      "B": {"sku": "B", "productFamily": "Cache Instance", "attributes": {
        "instanceType": "cache.t3.micro", "cacheEngine": "Valkey", "regionCode": "eu-west-1",
        "usagetype": "EU-NodeUsage:cache.t3.micro"}}},
    "terms": {"OnDemand": {
      "A": {"A.JRTCKXETXF": {"priceDimensions": {"A.JRTCKXETXF.6YS6EN2CT7": {
        "unit": "Hrs", "beginRange": "0", "endRange": "Inf",
        "pricePerUnit": {"USD": "0.0180000000"}}}}},
      "B": {"B.JRTCKXETXF": {"priceDimensions": {"B.JRTCKXETXF.6YS6EN2CT7": {
        "unit": "Hrs", "beginRange": "0", "endRange": "Inf",
        "pricePerUnit": {"USD": "0.0144000000"}}}}}}}})";
  PriceImportResult result = ImportPriceFile(offer, "elasticache.json");
  PriceCatalog catalog = Load(result);
  EXPECT_EQ(PriceOf(catalog, "aws", "elasticache_node", "eu-west-1",
                    {{"node_type", "cache.t3.micro"}, {"engine", "redis"}}),
            "0.018 per hours");
  EXPECT_EQ(result.mapped, 1u);
  EXPECT_EQ(result.skipped, 1u);
}

TEST(PriceImport, GoogleSkuList) {
  PriceImportResult result = ImportPriceFile(TestData("google_compute_skus.json"), "skus.json");
  EXPECT_EQ(result.provider, "google");
  EXPECT_EQ(result.format, "Google Cloud billing SKU list");
  PriceCatalog catalog = Load(result);
  // The newest effectiveTime of a mapped SKU.
  EXPECT_EQ(catalog.sources()[0].effective_date, "2024-12-02");
  // One SKU with two serviceRegions gives both regions; nanos become exact decimals.
  for (const char* region : {"us-central1", "us-east1"}) {
    EXPECT_EQ(PriceOf(catalog, "google", "compute_cpu", region,
                      {{"family", "e2"}, {"purchase", "on_demand"}}),
              "0.02181159 per vCPU-hours");
    EXPECT_EQ(PriceOf(catalog, "google", "compute_ram", region,
                      {{"family", "e2"}, {"purchase", "on_demand"}}),
              "0.00292353 per GB-hours");
  }
  EXPECT_EQ(PriceOf(catalog, "google", "compute_cpu", "us-central1",
                    {{"family", "n1"}, {"purchase", "on_demand"}}),
            "0.031611 per vCPU-hours");
  EXPECT_EQ(PriceOf(catalog, "google", "compute_cpu", "us-central1",
                    {{"family", "n2d"}, {"purchase", "preemptible"}}),
            "0.00665 per vCPU-hours");
  EXPECT_EQ(PriceOf(catalog, "google", "compute_ram", "europe-west1",
                    {{"family", "c2"}, {"purchase", "on_demand"}}),
            "0.00501 per GB-hours");
  EXPECT_EQ(
      PriceOf(catalog, "google", "compute_disk", "us-central1", {{"disk_type", "pd-standard"}}),
      "0.04 per GB-months");
  EXPECT_EQ(
      PriceOf(catalog, "google", "compute_disk", "europe-west1", {{"disk_type", "pd-balanced"}}),
      "0.1 per GB-months");
  // A free first tier is an allowance: the price is the first paid tier.
  EXPECT_EQ(PriceOf(catalog, "google", "gke_cluster", "us-central1"), "0.1 per hours");
  // units + nanos.
  EXPECT_EQ(PriceOf(catalog, "google", "sql_instance", "us-central1",
                    {{"tier", "db-g1-small"}, {"availability", "regional"}}),
            "1.25 per hours");
  // The commitment, the custom core and the regional disk are skipped.
  EXPECT_EQ(result.mapped, 11u);
  EXPECT_EQ(result.skipped, 3u);

  // A JSON array of pages (as a paging script saves them) gives the same prices.
  std::string page = TestData("google_compute_skus.json");
  PriceImportResult pages =
      ImportPriceFile("[" + page + R"(, {"skus": [], "nextPageToken": ""}])", "skus.json");
  EXPECT_EQ(pages.catalog_json, result.catalog_json);
}

TEST(PriceImport, GoogleRejectsOtherCurrencies) {
  const char* eur =
      R"({"skus": [{"skuId": "X", "description": "E2 Instance Core running in Belgium",
    "category": {"serviceDisplayName": "Compute Engine", "usageType": "OnDemand"},
    "serviceRegions": ["europe-west1"],
    "pricingInfo": [{"pricingExpression": {"usageUnit": "h", "tieredRates": [
      {"startUsageAmount": 0, "unitPrice": {"currencyCode": "EUR", "units": "0", "nanos": 22000000}}]}}]}]})";
  EXPECT_EQ(ErrorOf(eur, "eur.json"), "price file eur.json: only USD prices can be imported");
}

TEST(PriceImport, AzureRetailPrices) {
  PriceImportResult result = ImportPriceFile(TestData("azure_retail_prices.json"), "azure.json");
  EXPECT_EQ(result.provider, "azure");
  EXPECT_EQ(result.format, "Azure Retail Prices API");
  PriceCatalog catalog = Load(result);
  // The newest effectiveStartDate among the mapped items (the skipped Spot item is newer).
  EXPECT_EQ(catalog.sources()[0].effective_date, "2024-08-01");
  EXPECT_EQ(
      PriceOf(catalog, "azure", "vm", "eastus", {{"vm_size", "Standard_B2s"}, {"os", "linux"}}),
      "0.0416 per hours");
  EXPECT_EQ(
      PriceOf(catalog, "azure", "vm", "eastus", {{"vm_size", "Standard_B2s"}, {"os", "windows"}}),
      "0.0496 per hours");
  EXPECT_EQ(PriceOf(catalog, "azure", "vm", "westeurope",
                    {{"vm_size", "Standard_D2s_v3"}, {"os", "linux"}}),
            "0.096 per hours");
  // Low priority, reservation and dev/test prices are not pay-as-you-go list prices.
  EXPECT_EQ(
      PriceOf(catalog, "azure", "vm", "eastus", {{"vm_size", "Standard_D2s_v3"}, {"os", "linux"}}),
      "none");
  EXPECT_EQ(PriceOf(catalog, "azure", "vm", "eastus",
                    {{"vm_size", "Standard_D2s_v3"}, {"os", "windows"}}),
            "none");
  EXPECT_EQ(
      PriceOf(catalog, "azure", "managed_disk", "eastus", {{"tier", "P10"}, {"redundancy", "lrs"}}),
      "19.71 per months");
  EXPECT_EQ(
      PriceOf(catalog, "azure", "managed_disk", "eastus", {{"tier", "E10"}, {"redundancy", "zrs"}}),
      "14.4 per months");
  EXPECT_EQ(
      PriceOf(catalog, "azure", "managed_disk", "eastus", {{"tier", "S10"}, {"redundancy", "lrs"}}),
      "5.89 per months");
  EXPECT_EQ(PriceOf(catalog, "azure", "managed_disk_operations", "eastus",
                    {{"disk_kind", "standard_hdd"}}),
            "0.0005 per 10k operations");
  EXPECT_EQ(PriceOf(catalog, "azure", "aks_uptime_sla", "eastus", {{"sku_tier", "standard"}}),
            "0.1 per hours");
  EXPECT_EQ(result.mapped, 8u);
  EXPECT_EQ(result.skipped, 5u);  // spot, low priority, reservation, dev/test, blob storage

  // An array of pages.
  std::string page = TestData("azure_retail_prices.json");
  PriceImportResult pages = ImportPriceFile("[" + page + "," + page + "]", "azure.json");
  EXPECT_EQ(pages.catalog_json, result.catalog_json);
  EXPECT_EQ(pages.mapped, 8u);
}

TEST(PriceImport, GarbageIsAnError) {
  EXPECT_EQ(ErrorOf("this is not JSON", "garbage.txt").rfind("price file garbage.txt: not JSON", 0),
            0u);
  EXPECT_EQ(ErrorOf("").rfind("price file prices.json: not JSON", 0), 0u);
  EXPECT_EQ(ErrorOf("{\"Items\": [").rfind("price file prices.json: not JSON", 0), 0u);
}

TEST(PriceImport, OtherJsonIsAClearError) {
  std::string expected =
      "price file state.json: not a price file this version can import: expected an AWS Price "
      "List offer file (\"offerCode\", \"products\", \"terms\"), a Google Cloud billing SKU list "
      "(\"skus\") or an Azure Retail Prices API reply (\"Items\"), or a JSON array of SKU or "
      "price pages";
  EXPECT_EQ(ErrorOf(R"({"version": 4, "resources": []})", "state.json"), expected);
  EXPECT_EQ(ErrorOf("[1, 2, 3]", "state.json"), expected);
  EXPECT_EQ(ErrorOf("[]", "state.json"), expected);
  EXPECT_EQ(ErrorOf(R"("just a string")", "state.json"), expected);
  // A catalog document is not a provider price file either.
  EXPECT_EQ(ErrorOf(ReadFile(kPricingDir + "/aws.json"), "state.json"), expected);
  EXPECT_EQ(ErrorOf(R"({"offerCode": "AmazonEC2", "products": {}})", "ec2.json"),
            "price file ec2.json: AWS offer file without \"products\" and \"terms\" objects");
  EXPECT_EQ(ErrorOf(R"({"BillingCurrency": "EUR", "Items": []})", "eu.json"),
            "price file eu.json: only USD prices can be imported, not EUR");
}

// --- the shipped catalog ---

struct ProviderFile {
  const char* provider;
  const char* file;
  std::vector<std::string> regions;  // the first is the provider's default region
};

const std::vector<ProviderFile>& ShippedFiles() {
  static const std::vector<ProviderFile> kFiles = {
      {"aws", "aws.json", {"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1"}},
      {"google",
       "google.json",
       {"us-central1", "us-east1", "us-west1", "europe-west1", "europe-west4"}},
      {"azure", "azure.json", {"eastus", "eastus2", "westus2", "westeurope", "northeurope"}},
  };
  return kFiles;
}

// The services pricing/README.md lists for a provider: the backticked names in the first column
// of the table under "### <provider> (`<file>`)".
std::vector<std::string> ReadmeServices(const std::string& readme, const std::string& provider) {
  std::vector<std::string> services;
  std::istringstream lines(readme);
  std::string line;
  bool in_section = false;
  static const std::regex kName("`([a-z0-9_]+)`");
  while (std::getline(lines, line)) {
    if (line.rfind("#", 0) == 0) in_section = line.rfind("### " + provider + " ", 0) == 0;
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    std::string first_cell = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), kName), end; it != end; ++it)
      services.push_back((*it)[1].str());
  }
  return services;
}

TEST(ShippedCatalog, FilesLoadAndCoverTheReadme) {
  std::string readme = ReadFile(kPricingDir + "/README.md");
  PriceCatalog catalog;
  for (const ProviderFile& file : ShippedFiles()) {
    SCOPED_TRACE(file.file);
    std::string text = ReadFile(kPricingDir + "/" + file.file);
    ASSERT_NO_THROW(catalog.AddDocument(text, file.file));
    const CatalogSource& source = catalog.sources().back();
    EXPECT_EQ(source.provider, file.provider);
    EXPECT_EQ(source.currency, "USD");
    EXPECT_GT(source.prices, 100u);
    EXPECT_NE(source.source.find("statehouse pricing import"), std::string::npos);

    std::vector<std::string> services = ReadmeServices(readme, file.provider);
    EXPECT_GE(services.size(), 4u);
    for (const std::string& service : services) {
      std::vector<std::string> regions = catalog.Regions(file.provider, service);
      std::set<std::string> have(regions.begin(), regions.end());
      EXPECT_TRUE(have.count(file.regions.front()))
          << service << " has no price in " << file.regions.front();
      for (const std::string& region : file.regions)
        EXPECT_TRUE(have.count(region)) << service << " has no price in " << region;
    }
  }
  // Spot checks of the lookups the estimators make, with their units.
  EXPECT_EQ(PriceOf(catalog, "aws", "ec2_instance", "us-east-1",
                    {{"instance_type", "t3.micro"}, {"os", "linux"}, {"tenancy", "shared"}}),
            "0.0104 per hours");
  EXPECT_EQ(PriceOf(catalog, "aws", "ec2_instance", "eu-west-1",
                    {{"instance_type", "m5.large"}, {"os", "windows"}, {"tenancy", "shared"}}),
            "0.199 per hours");
  EXPECT_EQ(
      PriceOf(
          catalog, "aws", "rds_instance", "us-east-1",
          {{"instance_class", "db.t3.micro"}, {"engine", "postgres"}, {"deployment", "multi-az"}}),
      "0.036 per hours");
  EXPECT_EQ(PriceOf(catalog, "aws", "elasticache_node", "us-west-2",
                    {{"node_type", "cache.t4g.micro"}, {"engine", "memcached"}}),
            "0.016 per hours");
  EXPECT_EQ(PriceOf(catalog, "google", "compute_cpu", "us-central1",
                    {{"family", "e2"}, {"purchase", "on_demand"}}),
            "0.02181159 per vCPU-hours");
  EXPECT_EQ(
      PriceOf(catalog, "azure", "vm", "eastus", {{"vm_size", "Standard_B2s"}, {"os", "linux"}}),
      "0.0416 per hours");
  EXPECT_EQ(PriceOf(catalog, "azure", "managed_disk", "westus2",
                    {{"tier", "P30"}, {"redundancy", "lrs"}}),
            "135.17 per months");
  EXPECT_EQ(PriceOf(catalog, "azure", "aks_uptime_sla", "northeurope", {{"sku_tier", "premium"}}),
            "0.6 per hours");
  const MachineType* micro = catalog.FindMachine("google", "e2-micro");
  ASSERT_NE(micro, nullptr);
  EXPECT_EQ(micro->vcpus.ToString(), "0.25");
  EXPECT_EQ(micro->memory_gb.ToString(), "1");
  const MachineType* n1 = catalog.FindMachine("google", "n1-standard-4");
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(n1->memory_gb.ToString(), "15");
}

// Every price a shipped file lists for a machine family has a machine type to use it, and every
// machine type's family is priced (on demand and preemptible) in every region.
TEST(ShippedCatalog, GoogleMachineTypesArePriced) {
  PriceCatalog catalog;
  std::string text = ReadFile(kPricingDir + "/google.json");
  catalog.AddDocument(text, "google.json");
  boost::json::value doc = boost::json::parse(text);
  const boost::json::object& machines = doc.at("machine_types").as_object();
  EXPECT_GE(machines.size(), 50u);
  for (const auto& [name, spec] : machines) {
    std::string family(name.substr(0, name.find('-')));
    for (const std::string& region : ShippedFiles()[1].regions)
      for (const char* purchase : {"on_demand", "preemptible"}) {
        EXPECT_NE(catalog.Find("google", "compute_cpu", region,
                               {{"family", family}, {"purchase", purchase}}),
                  nullptr)
            << name << " " << region << " " << purchase;
        EXPECT_NE(catalog.Find("google", "compute_ram", region,
                               {{"family", family}, {"purchase", purchase}}),
                  nullptr)
            << name << " " << region << " " << purchase;
      }
  }
}

}  // namespace
}  // namespace statehouse::cost
