#include "cost/estimate.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace statehouse::cost {
namespace {

namespace json = boost::json;

// testdata/catalog/: prices chosen for hand-checkable arithmetic (the estimators' lookups are
// what is tested), shared with the cost CLI's tests.
PriceCatalog TestCatalog() {
  PriceCatalog c;
  c.AddDirectory(std::string(STATEHOUSE_COST_TESTDATA) + "/catalog");
  return c;
}

json::value ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

json::value SamplePlan() {
  return ReadJson(std::string(STATEHOUSE_COST_TESTDATA) + "/sample_plan.json");
}

const json::object* FindResource(const json::object& breakdown, std::string_view name) {
  for (const json::value& r : breakdown.at("resources").as_array())
    if (r.as_object().at("name").as_string() == name) return &r.as_object();
  return nullptr;
}

const json::object* FindComponent(const json::object& resource, std::string_view name) {
  for (const json::value& c : resource.at("costComponents").as_array())
    if (c.as_object().at("name").as_string() == name) return &c.as_object();
  return nullptr;
}

std::string Str(const json::value& v) { return v.is_null() ? "null" : std::string(v.as_string()); }

// A plan of one created resource; provider regions as given.
json::value OneResourcePlan(const std::string& type, const std::string& provider,
                            json::object after, const std::string& region = "") {
  json::object plan;
  plan["format_version"] = "1.2";
  json::object change{{"address", type + ".this"},
                      {"mode", "managed"},
                      {"type", type},
                      {"name", "this"},
                      {"provider_name", "registry.terraform.io/hashicorp/" + provider},
                      {"change", json::object{{"actions", json::array{"create"}},
                                              {"before", nullptr},
                                              {"after", std::move(after)}}}};
  plan["resource_changes"] = json::array{std::move(change)};
  if (!region.empty()) {
    plan["configuration"] = json::object{
        {"provider_config",
         json::object{
             {provider,
              json::object{{"name", provider},
                           {"expressions", json::object{{"region", json::object{{"constant_value",
                                                                                 region}}}}}}}}}};
  }
  return plan;
}

json::object EstimateOne(const json::value& plan, const UsageFile* usage = nullptr) {
  static const PriceCatalog catalog = TestCatalog();
  EstimateOptions options;
  options.usage = usage;
  json::object doc = EstimatePlan(plan, catalog, options);
  const json::object& breakdown =
      doc.at("projects").as_array()[0].as_object().at("breakdown").as_object();
  EXPECT_EQ(breakdown.at("resources").as_array().size(), 1u) << json::serialize(doc);
  if (breakdown.at("resources").as_array().empty()) return {};
  return breakdown.at("resources").as_array()[0].as_object();
}

TEST(EstimateTest, SamplePlanTotalsAreHandChecked) {
  PriceCatalog catalog = TestCatalog();
  EstimateOptions options;
  options.monthly_budget = Decimal::FromInt(1000);
  json::object doc = EstimatePlan(SamplePlan(), catalog, options);
  EXPECT_EQ(doc.at("version").as_string(), "0.2");
  EXPECT_EQ(doc.at("currency").as_string(), "USD");
  // 71.68 (m5.large + 20 GB gp3) + 87.992 (t3.micro, monitoring, 8 GB gp2, io1 100 GB/1000 IOPS)
  // + 50 (gp3 500 GB, 1000 IOPS and 125 MiB/s above the free baseline) + 128.12 (RDS multi-AZ)
  // + 32.85 (NAT) + 16.425 (ALB) + 0.8 (the unpriced instance's root volume) + 73 (GKE fee)
  // + 599.0200392 (6 e2-standard-4 nodes in 3 zones and 300 GB pd-standard).
  EXPECT_EQ(doc.at("totalMonthlyCost").as_string(), "1059.8870392");
  // 9.192 (the instance before its resize) + 70.88 (the deleted m5.large with 8 GB gp2).
  EXPECT_EQ(doc.at("pastTotalMonthlyCost").as_string(), "80.072");
  EXPECT_EQ(doc.at("diffTotalMonthlyCost").as_string(), "979.8150392");
  EXPECT_TRUE(doc.at("budget").as_object().at("exceeded").as_bool());
  EXPECT_EQ(TotalsOf(doc).total_monthly, "1059.8870392");
  EXPECT_TRUE(TotalsOf(doc).over_budget);

  const json::object& project = doc.at("projects").as_array()[0].as_object();
  const json::object& breakdown = project.at("breakdown").as_object();
  const json::object* web = FindResource(breakdown, "aws_instance.web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->at("resourceType").as_string(), "aws_instance");
  EXPECT_EQ(web->at("monthlyCost").as_string(), "71.68");
  EXPECT_EQ(web->at("hourlyCost").as_string(), "0.098191780821917808");
  const json::object* usage =
      FindComponent(*web, "Instance usage (Linux/UNIX, on-demand, m5.large)");
  ASSERT_NE(usage, nullptr);
  EXPECT_EQ(usage->at("unit").as_string(), "hours");
  EXPECT_EQ(usage->at("hourlyQuantity").as_string(), "1");
  EXPECT_EQ(usage->at("monthlyQuantity").as_string(), "730");
  EXPECT_EQ(usage->at("price").as_string(), "0.096");
  EXPECT_EQ(usage->at("monthlyCost").as_string(), "70.08");
  const json::object& root = web->at("subresources").as_array()[0].as_object();
  EXPECT_EQ(root.at("name").as_string(), "root_block_device");
  const json::object* gp3 = FindComponent(root, "Storage (general purpose SSD, gp3)");
  ASSERT_NE(gp3, nullptr);
  EXPECT_EQ(gp3->at("hourlyQuantity").as_string(), "0.0273972602739726");
  EXPECT_EQ(gp3->at("monthlyCost").as_string(), "1.6");
  EXPECT_EQ(root.at("costComponents").as_array().size(), 1u)
      << "3000 IOPS and 125 MiB/s are free on gp3";

  const json::object* worker = FindResource(breakdown, "aws_instance.worker[0]");
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->at("monthlyCost").as_string(), "87.992");
  EXPECT_EQ(FindComponent(*worker, "EC2 detailed monitoring")->at("monthlyCost").as_string(),
            "2.1");
  EXPECT_EQ(FindComponent(*worker, "CPU credits"), nullptr) << "standard credits are not billed";

  const json::object* ebs = FindResource(breakdown, "aws_ebs_volume.data");
  EXPECT_EQ(ebs->at("monthlyCost").as_string(), "50");
  EXPECT_EQ(FindComponent(*ebs, "Provisioned IOPS")->at("monthlyQuantity").as_string(), "1000");
  EXPECT_EQ(FindComponent(*ebs, "Provisioned throughput")->at("monthlyQuantity").as_string(),
            "125");

  const json::object* db = FindResource(breakdown, "aws_db_instance.db");
  EXPECT_EQ(db->at("monthlyCost").as_string(), "128.12");
  EXPECT_NE(FindComponent(*db, "Database instance (on-demand, Multi-AZ, db.t3.medium)"), nullptr);
  const json::object* backup = FindComponent(*db, "Additional backup storage");
  EXPECT_TRUE(backup->at("monthlyQuantity").is_null())
      << "usage-based without usage is null, not 0";
  EXPECT_TRUE(backup->at("monthlyCost").is_null());
  EXPECT_EQ(backup->at("price").as_string(), "0.095");

  const json::object* lambda = FindResource(breakdown, "aws_lambda_function.api");
  EXPECT_TRUE(lambda->at("monthlyCost").is_null());
  EXPECT_TRUE(lambda->at("hourlyCost").is_null());

  const json::object* pool = FindResource(breakdown, "google_container_node_pool.pool");
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->at("monthlyCost").as_string(), "599.0200392");
  const json::object* nodes =
      FindComponent(*pool, "Instance usage (Linux/UNIX, on-demand, e2-standard-4)");
  EXPECT_EQ(nodes->at("hourlyQuantity").as_string(), "6");
  EXPECT_EQ(nodes->at("price").as_string(), "0.13402284");

  const json::object* mystery = FindResource(breakdown, "aws_instance.mystery");
  ASSERT_NE(mystery, nullptr);
  const json::array& reasons = mystery->at("metadata").as_object().at("noPrice").as_array();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_NE(std::string(reasons[0].as_string()).find("t9.huge"), std::string::npos) << reasons[0];
  EXPECT_NE(std::string(reasons[0].as_string()).find("us-east-1"), std::string::npos);
  EXPECT_TRUE(FindComponent(*mystery, "Instance usage (Linux/UNIX, on-demand, t9.huge)")
                  ->at("price")
                  .is_null());

  // Free, unsupported and data resources stay out of the priced resources.
  EXPECT_EQ(FindResource(breakdown, "aws_vpc.main"), nullptr);
  EXPECT_EQ(FindResource(breakdown, "aws_sqs_queue.jobs"), nullptr);
  EXPECT_EQ(breakdown.at("freeResources").as_array().size(), 1u);

  const json::object& summary = doc.at("summary").as_object();
  EXPECT_EQ(summary.at("totalDetectedResources").as_int64(), 12);
  EXPECT_EQ(summary.at("totalSupportedResources").as_int64(), 10);
  EXPECT_EQ(summary.at("totalUnsupportedResources").as_int64(), 1);
  EXPECT_EQ(summary.at("totalFreeResources").as_int64(), 1);
  EXPECT_EQ(summary.at("totalNoPriceResources").as_int64(), 1);
  EXPECT_EQ(summary.at("totalUsageBasedResources").as_int64(), 4);
  EXPECT_EQ(summary.at("unsupportedResourceCounts").as_object().at("aws_sqs_queue").as_int64(), 1);
  EXPECT_EQ(summary.at("freeResourceCounts").as_object().at("aws_vpc").as_int64(), 1);
  EXPECT_EQ(summary.at("noPriceResourceCounts").as_object().at("aws_instance").as_int64(), 1);
}

TEST(EstimateTest, DiffShowsAddedRemovedAndResizedInstances) {
  PriceCatalog catalog = TestCatalog();
  json::object doc = EstimatePlan(SamplePlan(), catalog);
  const json::object& project = doc.at("projects").as_array()[0].as_object();
  const json::object& past = project.at("pastBreakdown").as_object();
  EXPECT_EQ(past.at("resources").as_array().size(), 2u);
  EXPECT_EQ(past.at("totalMonthlyCost").as_string(), "80.072");
  const json::object& diff = project.at("diff").as_object();
  EXPECT_EQ(diff.at("totalMonthlyCost").as_string(), "979.8150392");

  const json::object* resized = FindResource(diff, "aws_instance.web");
  ASSERT_NE(resized, nullptr);
  EXPECT_EQ(resized->at("monthlyCost").as_string(), "62.488");  // 71.68 - 9.192
  EXPECT_EQ(FindComponent(*resized, "Instance usage (Linux/UNIX, on-demand, m5.large)")
                ->at("monthlyCost")
                .as_string(),
            "70.08");
  EXPECT_EQ(FindComponent(*resized, "Instance usage (Linux/UNIX, on-demand, t3.micro)")
                ->at("monthlyCost")
                .as_string(),
            "-7.592");
  EXPECT_EQ(FindComponent(*resized, "Instance usage (Linux/UNIX, on-demand, t3.micro)")
                ->at("monthlyQuantity")
                .as_string(),
            "-730");

  const json::object* removed = FindResource(diff, "aws_instance.legacy");
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->at("monthlyCost").as_string(), "-70.88");
  const json::object* added = FindResource(diff, "aws_instance.worker[0]");
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->at("monthlyCost").as_string(), "87.992");

  json::object diff_only = DiffDocument(doc);
  EXPECT_FALSE(diff_only.at("projects").as_array()[0].as_object().contains("breakdown"));
  EXPECT_TRUE(diff_only.at("projects").as_array()[0].as_object().contains("diff"));
  EXPECT_EQ(diff_only.at("diffTotalMonthlyCost").as_string(), "979.8150392");
}

TEST(EstimateTest, PriorStateReplacesThePlansBeforeValues) {
  PriceCatalog catalog = TestCatalog();
  json::value state = json::parse(R"({"version": 4, "serial": 3, "lineage": "x", "resources": [
    {"mode": "managed", "type": "aws_instance", "name": "old", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
     "instances": [{"index_key": 0, "attributes": {"instance_type": "m5.large", "availability_zone": "us-east-1b", "root_block_device": [{"volume_type": "gp2", "volume_size": 10}]}}]}]})");
  EstimateOptions options;
  options.prior_state = &state;
  json::object doc = EstimatePlan(SamplePlan(), catalog, options);
  const json::object& past =
      doc.at("projects").as_array()[0].as_object().at("pastBreakdown").as_object();
  ASSERT_EQ(past.at("resources").as_array().size(), 1u);
  EXPECT_EQ(past.at("resources").as_array()[0].as_object().at("name").as_string(),
            "aws_instance.old[0]");
  EXPECT_EQ(doc.at("pastTotalMonthlyCost").as_string(), "71.08");  // 70.08 + 10 GB gp2
}

TEST(EstimateTest, UsageFileFillsUsageBasedComponents) {
  UsageFile usage = UsageFile::Parse(R"(
version: 0.1
resource_usage:
  aws_lambda_function.api:
    monthly_requests: 1000000
    request_duration_ms: 200
  aws_nat_gateway.nat:
    monthly_data_processed_gb: 100
  aws_instance.worker[*]:
    operating_system: linux
)");
  PriceCatalog catalog = TestCatalog();
  EstimateOptions options;
  options.usage = &usage;
  json::object doc = EstimatePlan(SamplePlan(), catalog, options);
  const json::object& breakdown =
      doc.at("projects").as_array()[0].as_object().at("breakdown").as_object();
  const json::object* lambda = FindResource(breakdown, "aws_lambda_function.api");
  // 1M requests at 0.20; 1M x 0.2 s x 0.5 GB = 100,000 GB-seconds at 0.0000166667.
  EXPECT_EQ(FindComponent(*lambda, "Requests")->at("monthlyCost").as_string(), "0.2");
  EXPECT_EQ(FindComponent(*lambda, "Duration")->at("monthlyQuantity").as_string(), "100000");
  EXPECT_EQ(FindComponent(*lambda, "Duration")->at("monthlyCost").as_string(), "1.66667");
  EXPECT_EQ(lambda->at("monthlyCost").as_string(), "1.86667");
  const json::object* nat = FindResource(breakdown, "aws_nat_gateway.nat");
  EXPECT_EQ(nat->at("monthlyCost").as_string(), "37.35");             // 32.85 + 100 GB x 0.045
  EXPECT_EQ(doc.at("totalMonthlyCost").as_string(), "1066.2537092");  // + 1.86667 + 4.5
}

TEST(EstimateTest, UsageFileErrorsAreClear) {
  EXPECT_THROW(UsageFile::Parse("resource_usage: [1, 2]"), Error);
  EXPECT_THROW(UsageFile::Parse("resource_usage:\n  aws_s3_bucket.b: 3\n"), Error);
  EXPECT_THROW(UsageFile::Parse("{{{"), Error);
  EXPECT_TRUE(UsageFile::Parse("").empty());
  EXPECT_TRUE(UsageFile::Parse("version: 0.1\n").empty());
}

TEST(EstimateTest, BadPlansAreRefusedWithAClearError) {
  PriceCatalog catalog = TestCatalog();
  for (const char* text :
       {R"([])", R"({"resources": []})", R"({"format_version": "1.2"})", R"("plan")"}) {
    try {
      EstimatePlan(json::parse(text), catalog);
      ADD_FAILURE() << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("plan"), std::string::npos) << e.what();
    }
  }
  // Odd shapes inside a plan are skipped, never a crash.
  json::value odd = json::parse(R"({"format_version": "1.2", "resource_changes": [
    {"mode": "managed", "type": "aws_instance", "address": "aws_instance.x", "change": {"actions": "create", "after": []}},
    {"mode": "managed", "type": "aws_instance", "address": "aws_instance.y", "change": {"actions": ["create"], "after": {"instance_type": 7, "root_block_device": "x"}}}
  ]})");
  json::object doc = EstimatePlan(odd, catalog);
  EXPECT_EQ(doc.at("summary").as_object().at("totalNoPriceResources").as_int64(), 1);
}

TEST(EstimateTest, UnknownRegionIsReportedNotGuessed) {
  json::object r = EstimateOne(OneResourcePlan("aws_nat_gateway", "aws", {}));
  EXPECT_TRUE(r.at("monthlyCost").is_null());
  std::string reason(r.at("metadata").as_object().at("noPrice").as_array()[0].as_string());
  EXPECT_NE(reason.find("region is not known"), std::string::npos) << reason;
  json::object other = EstimateOne(OneResourcePlan("aws_nat_gateway", "aws", {}, "ap-south-7"));
  std::string reason2(other.at("metadata").as_object().at("noPrice").as_array()[0].as_string());
  EXPECT_NE(reason2.find("ap-south-7"), std::string::npos) << reason2;
}

TEST(EstimateAwsTest, InstanceOsTenancyAndCredits) {
  UsageFile windows =
      UsageFile::Parse("resource_usage:\n  aws_instance.this:\n    operating_system: windows\n");
  json::object r = EstimateOne(
      OneResourcePlan("aws_instance", "aws", {{"instance_type", "m5.large"}}, "us-east-1"),
      &windows);
  EXPECT_EQ(FindComponent(r, "Instance usage (Windows, on-demand, m5.large)")
                ->at("monthlyCost")
                .as_string(),
            "137.24");
  r = EstimateOne(OneResourcePlan("aws_instance", "aws",
                                  {{"instance_type", "m5.large"}, {"tenancy", "dedicated"}},
                                  "us-east-1"));
  EXPECT_EQ(
      FindComponent(r, "Instance usage (Linux/UNIX, on-demand, m5.large)")->at("price").as_string(),
      "0.106");
  UsageFile credits =
      UsageFile::Parse("resource_usage:\n  aws_instance.this:\n    monthly_cpu_credit_hrs: 100\n");
  r = EstimateOne(
      OneResourcePlan("aws_instance", "aws", {{"instance_type", "t3.micro"}}, "us-east-1"),
      &credits);
  EXPECT_EQ(FindComponent(r, "CPU credits")->at("monthlyCost").as_string(), "5");
}

TEST(EstimateAwsTest, EbsVolumeTypes) {
  auto cost = [](json::object after) {
    return Str(EstimateOne(OneResourcePlan("aws_ebs_volume", "aws", std::move(after), "us-east-1"))
                   .at("monthlyCost"));
  };
  EXPECT_EQ(cost({{"type", "gp2"}, {"size", 100}}), "10");
  EXPECT_EQ(cost({{"type", "gp3"}, {"size", 100}, {"iops", 3000}, {"throughput", 125}}), "8");
  EXPECT_EQ(cost({{"type", "io1"}, {"size", 100}, {"iops", 2000}}), "142.5");  // 12.5 + 130
  // io2: 32,000 x 0.065 + 32,000 x 0.0455 + 6,000 x 0.032 + 12.5 storage.
  EXPECT_EQ(cost({{"type", "io2"}, {"size", 100}, {"iops", 70000}}), "3740.5");
  EXPECT_EQ(cost({{"type", "standard"}, {"size", 100}}), "5");  // I/O requests need usage
  EXPECT_EQ(cost({{"type", "st1"}, {"size", 500}}), "null");    // not in the test catalog
  json::object unknown_size =
      EstimateOne(OneResourcePlan("aws_ebs_volume", "aws", {{"type", "gp3"}}, "us-east-1"));
  EXPECT_TRUE(unknown_size.at("monthlyCost").is_null());
  EXPECT_FALSE(unknown_size.at("metadata").as_object().at("noPrice").as_array().empty());
}

TEST(EstimateAwsTest, OtherServices) {
  auto one = [](const std::string& type, json::object after, const UsageFile* usage = nullptr) {
    return EstimateOne(OneResourcePlan(type, "aws", std::move(after), "us-east-1"), usage);
  };
  EXPECT_EQ(Str(one("aws_eip", {}).at("monthlyCost")), "3.65");
  EXPECT_EQ(Str(one("aws_eks_cluster", {}).at("monthlyCost")), "73");
  // 3 t3.medium nodes (3 x 30.368) and 3 x 20 GB gp2.
  EXPECT_EQ(Str(one("aws_eks_node_group",
                    {{"scaling_config", json::array{json::object{{"desired_size", 3}}}}})
                    .at("monthlyCost")),
            "97.104");
  EXPECT_EQ(Str(one("aws_elasticache_cluster",
                    {{"node_type", "cache.t3.micro"}, {"engine", "redis"}, {"num_cache_nodes", 2}})
                    .at("monthlyCost")),
            "24.82");
  EXPECT_EQ(Str(one("aws_dynamodb_table",
                    {{"billing_mode", "PROVISIONED"}, {"read_capacity", 10}, {"write_capacity", 5}})
                    .at("monthlyCost")),
            "3.3215");
  UsageFile ddb = UsageFile::Parse(
      "resource_usage:\n  aws_dynamodb_table.this:\n    monthly_write_request_units: 2000000\n    "
      "monthly_read_request_units: 4000000\n    storage_gb: 10\n");
  EXPECT_EQ(
      Str(one("aws_dynamodb_table", {{"billing_mode", "PAY_PER_REQUEST"}}, &ddb).at("monthlyCost")),
      "6");
  UsageFile s3 = UsageFile::Parse(
      "resource_usage:\n  aws_s3_bucket.this:\n    standard:\n      storage_gb: 1000\n      "
      "monthly_tier_1_requests: 100000\n      monthly_tier_2_requests: 1000000\n");
  EXPECT_EQ(Str(one("aws_s3_bucket", {}, &s3).at("monthlyCost")), "23.9");  // 23 + 0.5 + 0.4
  EXPECT_TRUE(one("aws_s3_bucket", {}).at("monthlyCost").is_null());
  UsageFile logs = UsageFile::Parse(
      "resource_usage:\n  aws_cloudwatch_log_group.this:\n    monthly_data_ingested_gb: 10\n    "
      "storage_gb: 100\n");
  EXPECT_EQ(Str(one("aws_cloudwatch_log_group", {}, &logs).at("monthlyCost")), "8");
  UsageFile lcu = UsageFile::Parse("resource_usage:\n  aws_lb.this:\n    capacity_units: 2\n");
  EXPECT_EQ(Str(one("aws_lb", {}, &lcu).at("monthlyCost")), "28.105");  // 16.425 + 2 x 730 x 0.008
}

TEST(EstimateGoogleTest, InstancesDisksSqlAndClusters) {
  auto one = [](const std::string& type, json::object after) {
    return EstimateOne(OneResourcePlan(type, "google", std::move(after)));
  };
  json::object vm =
      one("google_compute_instance", {{"zone", "us-central1-a"}, {"machine_type", "e2-medium"}});
  // e2-medium: 1 vCPU x 0.02181159 + 4 GB x 0.00292353 = 0.03350571/h; 10 GB pd-standard boot disk.
  EXPECT_EQ(Str(vm.at("monthlyCost")), "24.8591683");
  json::object spot = one("google_compute_instance",
                          {{"zone", "us-central1-b"},
                           {"machine_type", "n2-custom-2-4096"},
                           {"scheduling", json::array{json::object{{"preemptible", true}}}}});
  EXPECT_EQ(Str(FindComponent(spot, "Instance usage (Linux/UNIX, preemptible, n2-custom-2-4096)")
                    ->at("price")),
            "0.0194");
  EXPECT_EQ(
      Str(one("google_compute_instance", {{"zone", "us-central1-a"}, {"machine_type", "f1-micro"}})
              .at("monthlyCost")),
      "5.948");
  EXPECT_EQ(
      Str(one("google_compute_disk", {{"zone", "us-central1-c"}, {"type", "pd-ssd"}, {"size", 100}})
              .at("monthlyCost")),
      "17");
  EXPECT_EQ(Str(one("google_sql_database_instance",
                    {{"region", "us-central1"},
                     {"database_version", "POSTGRES_15"},
                     {"settings", json::array{json::object{{"tier", "db-f1-micro"}}}}})
                    .at("monthlyCost")),
            "9.365");  // 7.665 + 10 GB x 0.17
  // db-custom-2-7680, regional: 2 x 0.0826 + 7.5 x 0.014 per hour, 20 GB SSD x 0.34.
  EXPECT_EQ(Str(one("google_sql_database_instance",
                    {{"region", "us-central1"},
                     {"database_version", "MYSQL_8_0"},
                     {"settings", json::array{json::object{{"tier", "db-custom-2-7680"},
                                                           {"availability_type", "REGIONAL"},
                                                           {"disk_size", 20}}}}})
                    .at("monthlyCost")),
            "204.046");
  json::object sqlserver =
      one("google_sql_database_instance",
          {{"region", "us-central1"},
           {"database_version", "SQLSERVER_2019_STANDARD"},
           {"settings", json::array{json::object{{"tier", "db-custom-2-7680"}}}}});
  EXPECT_NE(
      std::string(sqlserver.at("metadata").as_object().at("noPrice").as_array()[0].as_string())
          .find("SQLSERVER"),
      std::string::npos);
  // A zonal cluster with its default pool: the fee plus 2 e2-medium nodes with 100 GB pd-balanced.
  json::object gke =
      one("google_container_cluster", {{"location", "us-central1-a"}, {"initial_node_count", 2}});
  EXPECT_EQ(Str(gke.at("monthlyCost")), "141.9183366");  // 73 + 2 x 24.4591683 + 200 x 0.1
}

TEST(EstimateAzureTest, VirtualMachinesDisksAndAks) {
  auto one = [](const std::string& type, json::object after, const UsageFile* usage = nullptr) {
    return EstimateOne(OneResourcePlan(type, "azurerm", std::move(after)), usage);
  };
  json::object linux_vm =
      one("azurerm_linux_virtual_machine",
          {{"location", "East US"},
           {"size", "Standard_B2s"},
           {"os_disk", json::array{json::object{{"storage_account_type", "Premium_LRS"},
                                                {"disk_size_gb", 100}}}}});
  EXPECT_EQ(Str(linux_vm.at("monthlyCost")), "50.078");  // 30.368 + P10 19.71
  json::object windows_vm =
      one("azurerm_windows_virtual_machine",
          {{"location", "eastus"},
           {"size", "Standard_B2s"},
           {"os_disk", json::array{json::object{{"storage_account_type", "Standard_LRS"},
                                                {"disk_size_gb", 30}}}}});
  EXPECT_EQ(Str(windows_vm.at("monthlyCost")), "37.748");  // 36.208 + S4 1.54
  UsageFile ops = UsageFile::Parse(
      "resource_usage:\n  azurerm_managed_disk.this:\n    monthly_disk_operations: 1000000\n");
  EXPECT_EQ(Str(one("azurerm_managed_disk",
                    {{"location", "eastus"},
                     {"storage_account_type", "StandardSSD_LRS"},
                     {"disk_size_gb", 128}},
                    &ops)
                    .at("monthlyCost")),
            "9.8");
  json::object ultra = one(
      "azurerm_managed_disk",
      {{"location", "eastus"}, {"storage_account_type", "UltraSSD_LRS"}, {"disk_size_gb", 128}});
  EXPECT_TRUE(ultra.at("monthlyCost").is_null());
  // Standard tier: the uptime SLA, 3 D2s_v3 nodes and their 128 GB premium OS disks (P10).
  json::object aks =
      one("azurerm_kubernetes_cluster",
          {{"location", "westeurope"},
           {"sku_tier", "Standard"},
           {"default_node_pool",
            json::array{json::object{{"vm_size", "Standard_D2s_v3"}, {"node_count", 3}}}}});
  EXPECT_EQ(Str(aks.at("monthlyCost")), "389.89");  // 73 + 3 x 83.95 + 3 x 21.68
}

TEST(CatalogTest, RefusesMalformedDocumentsWithoutChangingAnything) {
  PriceCatalog c = TestCatalog();
  std::size_t before = c.size();
  EXPECT_THROW(c.AddDocument("{", "x"), Error);
  EXPECT_THROW(c.AddDocument(R"({"catalog_version": 2})", "x"), Error);
  EXPECT_THROW(
      c.AddDocument(
          R"({"catalog_version": 1, "provider": "aws", "currency": "USD", "effective_date": "d", "source": "s",
      "prices": [{"service": "eip", "region": "us-east-1", "unit": "hours", "price": "0.001"}, {"service": "eip", "region": "x", "unit": "hours", "price": "-1"}]})",
          "x"),
      Error);
  EXPECT_EQ(c.size(), before);
  EXPECT_EQ(c.Find("aws", "eip", "us-east-1")->amount.ToString(), "0.005");
  // A later document replaces an entry with the same key.
  c.AddDocument(
      R"({"catalog_version": 1, "provider": "aws", "currency": "USD", "effective_date": "d", "source": "s",
      "prices": [{"service": "eip", "region": "us-east-1", "unit": "hours", "price": "0.0036"}]})",
      "y");
  EXPECT_EQ(c.Find("aws", "eip", "us-east-1")->amount.ToString(), "0.0036");
  EXPECT_EQ(c.sources().back().origin, "y");
}

}  // namespace
}  // namespace statehouse::cost
