#include "cli/cost_cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cost/catalog.h"
#include "cost/estimate.h"

namespace statehouse::cli {
namespace {

namespace json = boost::json;

// The hand-checked prices of src/cost/estimate_test.cpp (testdata/catalog/; totals there:
// 1,059.8870392 now, 80.072 before), so the tables do not move when the shipped prices do.
const cost::PriceCatalog& TestCatalog() {
  static const cost::PriceCatalog catalog = [] {
    cost::PriceCatalog c;
    c.AddDirectory(std::string(STATEHOUSE_COST_TESTDATA) + "/catalog");
    return c;
  }();
  return catalog;
}

std::string SamplePlanPath() { return std::string(STATEHOUSE_COST_TESTDATA) + "/sample_plan.json"; }

struct Result {
  int code;
  std::string out, err;
};

Result RunCost(const CostOptions& options) {
  std::ostringstream out, err;
  int code = CostCommand(options, TestCatalog(), out, err);
  return {code, out.str(), err.str()};
}

CostOptions Breakdown(std::string plan = SamplePlanPath()) {
  CostOptions o;
  o.plan_path = std::move(plan);
  return o;
}

CostOptions Diff(std::string plan = SamplePlanPath()) {
  CostOptions o = Breakdown(std::move(plan));
  o.diff = true;
  return o;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Display columns (UTF-8 box characters and arrows count one).
std::size_t Columns(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

class CostCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-cost-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(CostCliTest, BreakdownTableOfTheSamplePlan) {
  Result r = RunCost(Breakdown());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // Infracost's layout: the tree of components and subresources, usage-based components
  // without usage priced per unit, components without a price said so, the summary below.
  const char* expected = R"(Project: main

 Name                                                      Monthly Qty  Unit     Monthly Cost

 aws_instance.web
 ├─ Instance usage (Linux/UNIX, on-demand, m5.large)               730  hours          $70.08
 └─ root_block_device
    └─ Storage (general purpose SSD, gp3)                           20  GB              $1.60

 aws_instance.worker[0]
 ├─ Instance usage (Linux/UNIX, on-demand, t3.micro)               730  hours           $7.59
 ├─ EC2 detailed monitoring                                          7  metrics         $2.10
 ├─ root_block_device
 │  └─ Storage (general purpose SSD, gp2)                            8  GB              $0.80
 └─ ebs_block_device[0]
    ├─ Storage (provisioned IOPS SSD, io1)                         100  GB             $12.50
    └─ Provisioned IOPS                                          1,000  IOPS           $65.00

 aws_ebs_volume.data
 ├─ Storage (general purpose SSD, gp3)                             500  GB             $40.00
 ├─ Provisioned IOPS                                             1,000  IOPS            $5.00
 └─ Provisioned throughput                                         125  Mbps            $5.00

 aws_db_instance.db
 ├─ Database instance (on-demand, Multi-AZ, db.t3.medium)          730  hours         $105.12
 ├─ Storage (general purpose SSD, gp2)                             100  GB             $23.00
 └─ Additional backup storage                              Monthly cost depends on usage: $0.095 per GB

 aws_nat_gateway.nat
 ├─ NAT gateway                                                    730  hours          $32.85
 └─ Data processed                                         Monthly cost depends on usage: $0.045 per GB

 aws_lb.front
 ├─ Application load balancer                                      730  hours          $16.43
 └─ Load balancer capacity units                           Monthly cost depends on usage: $0.008 per LCU

 aws_lambda_function.api
 ├─ Requests                                               Monthly cost depends on usage: $0.20 per 1M requests
 └─ Duration                                               Monthly cost depends on usage: $0.0000166667 per GB-seconds

 aws_instance.mystery
 ├─ Instance usage (Linux/UNIX, on-demand, t9.huge)                730  hours        no price
 └─ root_block_device
    └─ Storage (general purpose SSD, gp2)                            8  GB              $0.80

 google_container_cluster.gke
 └─ Cluster management fee                                         730  hours          $73.00

 google_container_node_pool.pool
 ├─ Instance usage (Linux/UNIX, on-demand, e2-standard-4)        4,380  hours         $587.02
 └─ Standard provisioned storage (pd-standard)                     300  GB             $12.00

 OVERALL TOTAL                                                                      $1,059.89
──────────────────────────────────
12 cloud resources were detected:
∙ 10 were estimated, 4 of which include usage-based costs
∙ 1 is free (aws_vpc)
∙ 1 is not supported yet (aws_sqs_queue)
∙ 1 has no price: aws_instance.mystery: no price for Instance usage (Linux/UNIX, on-demand, t9.huge): aws ec2_instance (instance_type=t9.huge, os=linux, tenancy=shared) in region us-east-1 is not in the price catalog
)";
  EXPECT_EQ(r.out, expected);
}

TEST_F(CostCliTest, TableColumnsLineUp) {
  Result r = RunCost(Breakdown());
  ASSERT_EQ(r.code, 0) << r.err;
  // Every priced line ends at the right edge of the cost column, whatever its tree prefix.
  std::size_t edge = 0;
  for (const std::string& line : Lines(r.out)) {
    if (line.find('$') == std::string::npos || line.find("depends on usage") != std::string::npos ||
        line.rfind(" ", 0) != 0)
      continue;
    if (edge == 0) edge = Columns(line);
    EXPECT_EQ(Columns(line), edge) << line;
  }
  EXPECT_GT(edge, 0u);
}

TEST_F(CostCliTest, UsageFileFillsUsageBasedComponents) {
  CostOptions o = Breakdown();
  o.usage_path = Write("usage.yml", R"(version: 0.1
resource_usage:
  aws_lambda_function.api:
    monthly_requests: 1000000
    request_duration_ms: 200
  aws_nat_gateway.nat:
    monthly_data_processed_gb: 100
)");
  Result r = RunCost(o);
  ASSERT_EQ(r.code, 0) << r.err;
  // The usage-based components are priced now (and widen the unit column).
  EXPECT_NE(r.out.find("\n aws_lambda_function.api\n"
                       " ├─ Requests                                                         1  "
                       "1M requests         $0.20\n"
                       // 1M x 0.2 s x 0.5 GB = 100,000 GB-seconds at 0.0000166667.
                       " └─ Duration                                                   100,000  "
                       "GB-seconds          $1.67\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" └─ Data processed                                                 100  "
                       "GB                  $4.50\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" └─ Additional backup storage                              Monthly cost "
                       "depends on usage: $0.095 per GB\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\n OVERALL TOTAL                                                         "
                       "                 $1,066.25\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("∙ 10 were estimated, 4 of which include usage-based costs"),
            std::string::npos)
      << r.out;
}

TEST_F(CostCliTest, JsonFormatPrintsTheDocument) {
  CostOptions o = Breakdown();
  o.format = "json";
  Result r = RunCost(o);
  ASSERT_EQ(r.code, 0) << r.err;
  json::value doc = json::parse(r.out);
  EXPECT_EQ(doc.at("version").as_string(), "0.2");
  EXPECT_EQ(doc.at("totalMonthlyCost").as_string(), "1059.8870392");
  EXPECT_EQ(doc.at("pastTotalMonthlyCost").as_string(), "80.072");
  const json::object& project = doc.at("projects").as_array()[0].as_object();
  EXPECT_EQ(project.at("name").as_string(), "main");
  EXPECT_TRUE(project.contains("breakdown"));
  EXPECT_TRUE(project.contains("pastBreakdown"));
  EXPECT_FALSE(doc.as_object().contains("timeGenerated")) << "reproducible output";

  // The same document as the engine's.
  std::ifstream in(SamplePlanPath());
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(doc, json::value(cost::EstimatePlan(json::parse(text.str()), TestCatalog())));

  // diff: the engine's DiffDocument (no breakdowns).
  CostOptions d = Diff();
  d.format = "json";
  Result rd = RunCost(d);
  ASSERT_EQ(rd.code, 0) << rd.err;
  json::value diff = json::parse(rd.out);
  const json::object& dp = diff.at("projects").as_array()[0].as_object();
  EXPECT_FALSE(dp.contains("breakdown"));
  EXPECT_FALSE(dp.contains("pastBreakdown"));
  EXPECT_EQ(dp.at("diff").at("totalMonthlyCost").as_string(), "979.8150392");
  EXPECT_EQ(diff.at("diffTotalMonthlyCost").as_string(), "979.8150392");
}

TEST_F(CostCliTest, DiffTable) {
  Result r = RunCost(Diff());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_GT(lines.size(), 5u);
  EXPECT_EQ(lines[0], "Project: main");
  auto line_of = [&](std::string_view start) -> std::string {
    for (const std::string& l : lines)
      if (l.rfind(start, 0) == 0) return l;
    return "";
  };
  // Changed, added and removed resources with their monthly change; the components that moved.
  EXPECT_EQ(
      line_of(" ~ aws_instance.web "),
      " ~ aws_instance.web                                             +$62.49  ($9.19 → $71.68)");
  EXPECT_EQ(line_of("   ├─ + Instance usage (Linux/UNIX, on-demand, m5.large)"),
            "   ├─ + Instance usage (Linux/UNIX, on-demand, m5.large)        +$70.08");
  EXPECT_EQ(line_of("   └─ - Instance usage (Linux/UNIX, on-demand, t3.micro)"),
            "   └─ - Instance usage (Linux/UNIX, on-demand, t3.micro)         -$7.59");
  EXPECT_EQ(line_of(" + aws_instance.worker[0]"),
            " + aws_instance.worker[0]                                       +$87.99");
  EXPECT_EQ(line_of("      └─ + Provisioned IOPS"),
            "      └─ + Provisioned IOPS                                     +$65.00");
  EXPECT_EQ(line_of(" - aws_instance.legacy"),
            " - aws_instance.legacy                                          -$70.88");
  EXPECT_EQ(line_of(" + aws_lambda_function.api"),
            " + aws_lambda_function.api                                        $0.00  (monthly "
            "cost depends on usage)");
  EXPECT_EQ(line_of(" + aws_instance.mystery"),
            " + aws_instance.mystery                                          +$0.80  (some "
            "components have no price)");
  EXPECT_EQ(line_of("Monthly cost change:"), "Monthly cost change: +$979.82 ($80.07 → $1,059.89)");
  EXPECT_EQ(line_of("Key:"), "Key: ~ changed, + added, - removed");
  EXPECT_EQ(line_of("12 cloud resources"), "12 cloud resources were detected:");
  // Resources whose cost did not change (none here) and free/unsupported ones are not listed.
  EXPECT_EQ(line_of(" + aws_vpc"), "");
  EXPECT_EQ(line_of(" + aws_sqs_queue"), "");

  // The change column is right-aligned across resources and components.
  std::size_t edge = 0;
  for (const std::string& l : lines) {
    if (l.rfind(" ", 0) != 0 || l.find('$') == std::string::npos) continue;
    std::size_t end = l.find("  (");
    std::size_t cols = Columns(end == std::string::npos ? l : l.substr(0, end));
    if (edge == 0) edge = cols;
    EXPECT_EQ(cols, edge) << l;
  }
}

TEST_F(CostCliTest, DiffAgainstAPriorState) {
  CostOptions o = Diff();
  o.prior_state_path =
      Write("state.json", R"({"version": 4, "serial": 3, "lineage": "x", "resources": [
    {"mode": "managed", "type": "aws_instance", "name": "web", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
     "instances": [{"attributes": {"instance_type": "m5.large", "availability_zone": "us-east-1b",
                                   "root_block_device": [{"volume_type": "gp2", "volume_size": 10}]}}]}]})");
  Result r = RunCost(o);
  ASSERT_EQ(r.code, 0) << r.err;
  // 70.08 + 10 GB gp2 before; the root volume moved to 20 GB gp3.
  EXPECT_NE(r.out.find(" ~ aws_instance.web                                              +$0.60  "
                       "($71.08 → $71.68)\n"
                       "   └─ ~ root_block_device                                        +$0.60\n"
                       "      ├─ + Storage (general purpose SSD, gp3)                    +$1.60\n"
                       "      └─ - Storage (general purpose SSD, gp2)                    -$1.00\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("aws_instance.legacy"), std::string::npos) << "not in the prior state";
  EXPECT_NE(r.out.find("Monthly cost change: +$988.81 ($71.08 → $1,059.89)"), std::string::npos)
      << r.out;
}

TEST_F(CostCliTest, NumbersAndBudget) {
  // Thousands separators, up to 4 decimals (4 significant digits for tiny quantities), negative
  // costs, the budget line.
  json::object document = json::parse(R"({
    "version": "0.2", "currency": "USD",
    "projects": [{"name": "big", "breakdown": {"resources": [
      {"name": "x.y", "resourceType": "x", "metadata": {}, "monthlyCost": "1234567.125",
       "costComponents": [
         {"name": "Lots", "unit": "GB", "monthlyQuantity": "1234567.123456", "price": "1", "monthlyCost": "1234567.123456"},
         {"name": "Tiny", "unit": "GB", "monthlyQuantity": "0.0000123456", "price": "0.1", "monthlyCost": "0.00000123456"},
         {"name": "Credit", "unit": "months", "monthlyQuantity": "1", "price": "-12.5", "monthlyCost": "-12.5"},
         {"name": "Free tier", "unit": "requests", "monthlyQuantity": null, "price": "0", "monthlyCost": null, "usageBased": true}
       ], "subresources": []}], "totalMonthlyCost": "1234554.62"}}],
    "totalMonthlyCost": "1234554.62",
    "budget": {"monthlyBudget": "1000", "totalMonthlyCost": "1234554.62", "exceeded": true},
    "summary": {"totalDetectedResources": 1, "totalSupportedResources": 1}
  })")
                              .as_object();
  std::string table = BreakdownTable(document);
  EXPECT_NE(table.find("Project: big"), std::string::npos) << table;
  EXPECT_NE(table.find(" ├─ Lots        1,234,567.1235  GB      $1,234,567.12\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find(" ├─ Tiny            0.00001235  GB              $0.00\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find(" ├─ Credit                   1  months        -$12.50\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find(" └─ Free tier   Monthly cost depends on usage: free\n"), std::string::npos)
      << table;
  EXPECT_NE(table.find(" OVERALL TOTAL                          $1,234,554.62\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find(" Monthly budget $1,000.00: exceeded by $1,233,554.62\n"), std::string::npos)
      << table;
  EXPECT_NE(table.find("1 cloud resource was detected:\n∙ 1 was estimated\n"), std::string::npos)
      << table;

  // A budget that holds, from the engine.
  cost::EstimateOptions options;
  options.monthly_budget = cost::Decimal::FromInt(1000);
  std::ifstream in(SamplePlanPath());
  std::stringstream text;
  text << in.rdbuf();
  json::object doc = cost::EstimatePlan(json::parse(text.str()), TestCatalog(), options);
  EXPECT_NE(BreakdownTable(doc).find("\n Monthly budget $1,000.00: exceeded by $59.89\n"),
            std::string::npos)
      << BreakdownTable(doc);
  EXPECT_NE(DiffTable(doc).find("\nMonthly budget $1,000.00: exceeded by $59.89\n"),
            std::string::npos);
  options.monthly_budget = cost::Decimal::FromInt(2000);
  doc = cost::EstimatePlan(json::parse(text.str()), TestCatalog(), options);
  EXPECT_NE(BreakdownTable(doc).find("Monthly budget $2,000.00: within budget ($940.11 left)"),
            std::string::npos);
}

TEST_F(CostCliTest, ControlCharactersOfPlanStringsAreNotPrinted) {
  json::object document = json::parse(R"({
    "projects": [{"name": "p\u001b]0;x\u0007", "breakdown": {"resources": [
      {"name": "aws_instance.a[\"\u001b[2J\"]", "metadata": {"noPrice": ["no price for \u001b[31mX"]},
       "costComponents": [{"name": "C\r", "unit": "h\n", "monthlyQuantity": "1", "price": "1", "monthlyCost": "1"}],
       "subresources": []}]}}],
    "totalMonthlyCost": "1",
    "summary": {"totalDetectedResources": 1, "totalSupportedResources": 1, "totalNoPriceResources": 1}
  })")
                              .as_object();
  std::string table = BreakdownTable(document);
  for (char c : table) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << table;
  EXPECT_NE(table.find("Project: p?]0;x?\n"), std::string::npos) << table;
  EXPECT_NE(table.find(" aws_instance.a[\"?[2J\"]\n"), std::string::npos) << table;
  EXPECT_NE(table.find(" └─ C?                             1  h?           $1.00\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find(": aws_instance.a[\"?[2J\"]: no price for ?[31mX\n"), std::string::npos)
      << table;
}

TEST_F(CostCliTest, PlanWithoutChanges) {
  std::string plan = Write("plan.json", R"({"format_version": "1.2", "resource_changes": [
    {"address": "aws_vpc.main", "mode": "managed", "type": "aws_vpc", "name": "main",
     "provider_name": "registry.terraform.io/hashicorp/aws",
     "change": {"actions": ["no-op"], "before": {"cidr_block": "10.0.0.0/16"}, "after": {"cidr_block": "10.0.0.0/16"}}}]})");
  Result r = RunCost(Diff(plan));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("No resource changes the monthly cost."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Monthly cost change: $0.00 ($0.00 → $0.00)"), std::string::npos) << r.out;
  r = RunCost(Breakdown(plan));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(" OVERALL TOTAL                            $0.00\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 cloud resource was detected:\n∙ 1 is free (aws_vpc)\n"),
            std::string::npos)
      << r.out;
}

TEST_F(CostCliTest, BadInputExitsOneWithAClearMessage) {
  auto expect_error = [](const CostOptions& o, const std::string& message) {
    Result r = RunCost(o);
    EXPECT_EQ(r.code, 1) << message;
    EXPECT_EQ(r.out, "") << message;
    EXPECT_EQ(r.err.rfind("statehouse cost: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  };
  std::string missing = (dir_ / "missing.json").string();
  expect_error(Breakdown(missing), missing + ": no such file");
  expect_error(Breakdown(dir_.string()), "is a directory");
  expect_error(Breakdown(Write("bad.json", "{\n  \"format_version\": \"1.2\",,\n}")),
               "bad.json: not JSON (syntax error at line 2, column 27)");
  expect_error(Breakdown(Write("empty.json", "")),
               "empty.json: not JSON (incomplete JSON at line 1");
  expect_error(Breakdown(Write("two.json", "{} {}")),
               "two.json: not JSON (extra data at line 1, column 4)");
  expect_error(Breakdown(Write("state.json", R"({"version": 4, "resources": []})")),
               "not a Terraform plan JSON document");
  expect_error(Diff(Write("list.json", "[1, 2]")), "not a Terraform plan JSON document");
  expect_error(Breakdown(""), "--plan is required");

  CostOptions usage = Breakdown();
  usage.usage_path = Write("usage.yml", "resource_usage: [1, 2]\n");
  expect_error(usage, "usage file:");
  usage.usage_path = (dir_ / "nope.yml").string();
  expect_error(usage, "nope.yml: no such file");

  CostOptions prior = Diff();
  prior.prior_state_path = Write("prior.json", R"({"version": 4})");
  expect_error(prior, "prior state:");

  CostOptions format = Breakdown();
  format.format = "xml";
  expect_error(format, "--format must be table or json");
}

// Found by fuzz/cost_plan: a few hundred bytes of nested YAML aliases (a "billion laughs") made
// UsageFile::Parse expand 10^8 values (minutes, gigabytes). Refused now, at once.
TEST_F(CostCliTest, UsageFileAliasBombIsRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string previous = "a";
  for (std::string name : {"b", "c", "d", "e", "f", "g", "h"}) {
    bomb += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", *" : "*") + previous;
    bomb += "]\n";
    previous = name;
  }
  bomb += "resource_usage:\n  aws_lambda_function.api: {monthly_requests: 5, x: *h}\n";
  CostOptions o = Breakdown();
  o.usage_path = Write("bomb.yml", bomb);
  auto started = std::chrono::steady_clock::now();
  Result r = RunCost(o);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("statehouse cost: usage file: more than 100000 values"), std::string::npos)
      << r.err;
  // Aliases within the budget still work.
  o.usage_path = Write("aliases.yml",
                       R"(defaults: &lambda {monthly_requests: 1000000, request_duration_ms: 200}
resource_usage:
  aws_lambda_function.api: *lambda
)");
  r = RunCost(o);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("100,000  GB-seconds"), std::string::npos) << r.out;
}

// A resource with thousands of subresources (ebs_block_device entries) and its diff: the tables
// look names up by hash, not by scanning (the diff table of 20,000 devices took 84 s before).
TEST_F(CostCliTest, ManySubresourcesStayFast) {
  json::array devices;
  for (int i = 0; i < 12000; ++i)
    devices.push_back(json::object{{"volume_type", "gp2"}, {"volume_size", 10 + i % 5}});
  json::object after{{"instance_type", "m5.large"},
                     {"availability_zone", "us-east-1a"},
                     {"ebs_block_device", devices}};
  json::object before = after;
  before["instance_type"] = "t3.micro";
  before["ebs_block_device"].as_array().pop_back();
  json::object plan{
      {"format_version", "1.2"},
      {"resource_changes",
       json::array{json::object{{"address", "aws_instance.big"},
                                {"mode", "managed"},
                                {"type", "aws_instance"},
                                {"name", "big"},
                                {"provider_name", "registry.terraform.io/hashicorp/aws"},
                                {"change", json::object{{"actions", json::array{"update"}},
                                                        {"before", before},
                                                        {"after", after}}}}}}};
  std::string path = Write("big.json", json::serialize(plan));
  auto started = std::chrono::steady_clock::now();
  Result r = RunCost(Diff(path));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(15));
  ASSERT_EQ(r.code, 0) << r.err;
  // The instance type changed and one device was added (11999: 14 GB gp2).
  EXPECT_NE(r.out.find(" ~ aws_instance.big "), std::string::npos);
  EXPECT_NE(r.out.find("   ├─ + Instance usage (Linux/UNIX, on-demand, m5.large) "),
            std::string::npos);
  EXPECT_NE(r.out.find("   └─ + ebs_block_device[11999] "), std::string::npos)
      << r.out.substr(0, 2000);
  EXPECT_EQ(r.out.find("ebs_block_device[11998]"), std::string::npos) << "unchanged: not listed";
  r = RunCost(Breakdown(path));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(" └─ ebs_block_device[11999]\n"), std::string::npos);
}

TEST_F(CostCliTest, PricingDirectoryOverTheShippedCatalog) {
  CostOptions o = Breakdown();
  std::filesystem::create_directories(dir_ / "pricing");
  std::ofstream((dir_ / "pricing" / "override.json").string()) << R"({
    "catalog_version": 1, "provider": "aws", "currency": "USD", "effective_date": "test",
    "source": "test", "prices": [
    {"service": "ec2_instance", "region": "us-east-1", "attributes": {"instance_type": "t9.huge", "os": "linux", "tenancy": "shared"}, "unit": "hours", "price": "10"}]})";
  o.pricing_dir = (dir_ / "pricing").string();
  std::ostringstream out, err;
  ASSERT_EQ(CostCommand(o, out, err), 0) << err.str();
  // The unknown t9.huge has a price now: 730 hours at 10.
  EXPECT_NE(out.str().find("Instance usage (Linux/UNIX, on-demand, t9.huge)"), std::string::npos);
  EXPECT_NE(out.str().find("$7,300.00\n"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("has no price"), std::string::npos) << out.str();

  std::ofstream((dir_ / "pricing" / "zz-broken.json").string()) << R"({"catalog_version": 2})";
  std::ostringstream out2, err2;
  EXPECT_EQ(CostCommand(o, out2, err2), 1);
  EXPECT_NE(err2.str().find("statehouse cost: price catalog "), std::string::npos) << err2.str();
  EXPECT_NE(err2.str().find("zz-broken.json"), std::string::npos) << err2.str();

  o.pricing_dir = (dir_ / "no-such-dir").string();
  std::ostringstream out3, err3;
  EXPECT_EQ(CostCommand(o, out3, err3), 1);
  EXPECT_NE(err3.str().find("--pricing-dir"), std::string::npos) << err3.str();
}

}  // namespace
}  // namespace statehouse::cli
