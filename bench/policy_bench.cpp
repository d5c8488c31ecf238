// Policy evaluation benchmark: ten realistic Harness-style Terraform plan policies against a
// generated 1,500-resource plan (`terraform show -json` format), side by side with the
// baseline of parsing the same plan text with Boost.JSON.
//
// Per round (the order alternates between rounds):
//   parse  boost::json::parse(plan text)                                   (the baseline)
//   eval   policy::ParseJson(plan text) (Boost.JSON + conversion to policy values; the server
//          receives text) + Evaluate(data.terraform_plan.deny) of each of the ten policies,
//          each compiled on its own as the server does (compiled once, before timing: the
//          server caches compiled policies)
// Prints p50/p99 of both, the ratio eval_p50 / parse_p50 (target <= 3), the breakdown
// (conversion, each policy), the peak heap of one evaluation (bytes live above the start,
// counted by a global operator new in an untimed run) next to the peak heap of one Boost.JSON
// parse, and the maxrss growth over the first evaluation; --json writes everything.
//
//   policy_bench [--resources 1500] [--rounds 40] [--warmup 3] [--json out.json]
//                [--dump-plan plan.json] [--dump-policies dir]
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "policy/engine.h"

namespace json = boost::json;
using statehouse::policy::CompiledPolicy;
using statehouse::policy::Engine;
using statehouse::policy::EvalOptions;
using statehouse::policy::Value;

// Heap accounting (HeapScope) through a global operator new: one binary, one definition.
#include "heap_counter.h"

namespace {

// ---- the plan -----------------------------------------------------------------------------------

const char* kProvider = "registry.terraform.io/hashicorp/aws";

struct Gen {
  std::mt19937 rng{20240601};
  int Pick(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }
  bool Chance(int percent) { return Pick(100) < percent; }
  std::string Hex(int n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < n; ++i) s += d[Pick(16)];
    return s;
  }
};

json::object Tags(Gen& g, const std::string& name, const std::string& env) {
  json::object t;
  t["Name"] = g.Chance(2) ? "Temp_" + name : env + "-" + name;
  if (!g.Chance(2)) t["owner"] = std::string("team-") + "abcdefgh"[g.Pick(8)];
  if (!g.Chance(3)) t["cost_center"] = "cc-" + std::to_string(1000 + g.Pick(40));
  t["environment"] = env;
  if (g.Chance(30)) t["service"] = "svc-" + std::to_string(g.Pick(25));
  return t;
}

json::object WithTagsAll(json::object after) {
  if (auto* t = after.if_contains("tags")) after["tags_all"] = *t;
  return after;
}

const char* kInstanceTypes[] = {"t3.micro",  "t3.small", "t3.medium", "m5.large",
                                "m5.xlarge", "c5.large", "r5.large"};
const char* kOddTypes[] = {"p4d.24xlarge", "x1e.32xlarge", "m5.24xlarge"};
const char* kZones[] = {"eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-central-1a"};

json::object Instance(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["ami"] = "ami-0" + g.Hex(16);
  a["instance_type"] = g.Chance(3) ? kOddTypes[g.Pick(3)] : kInstanceTypes[g.Pick(7)];
  a["availability_zone"] = g.Chance(1) ? "us-west-2a" : kZones[g.Pick(4)];
  a["subnet_id"] = "subnet-" + g.Hex(17);
  a["vpc_security_group_ids"] = json::array{"sg-" + g.Hex(17), "sg-" + g.Hex(17)};
  a["associate_public_ip_address"] = g.Chance(10);
  a["ebs_optimized"] = true;
  a["monitoring"] = g.Chance(50);
  a["key_name"] = "deploy-" + env;
  a["iam_instance_profile"] = name + "-profile";
  a["user_data"] = nullptr;
  a["source_dest_check"] = true;
  a["disable_api_termination"] = env == "prod";
  a["root_block_device"] = json::array{json::object{{"volume_size", 20 + 10 * g.Pick(10)},
                                                    {"volume_type", "gp3"},
                                                    {"encrypted", !g.Chance(4)},
                                                    {"delete_on_termination", true},
                                                    {"iops", 3000},
                                                    {"throughput", 125}}};
  a["ebs_block_device"] = json::array{};
  a["metadata_options"] =
      json::array{json::object{{"http_endpoint", "enabled"},
                               {"http_tokens", g.Chance(10) ? "optional" : "required"},
                               {"http_put_response_hop_limit", 1}}};
  a["credit_specification"] = json::array{};
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  return WithTagsAll(std::move(a));
}
json::object InstanceUnknown() {
  return json::object{{"arn", true},
                      {"id", true},
                      {"private_ip", true},
                      {"public_ip", true},
                      {"public_dns", true},
                      {"primary_network_interface_id", true},
                      {"tags_all", json::object{}},
                      {"root_block_device", json::array{json::object{{"volume_id", true}}}},
                      {"metadata_options", json::array{json::object{}}}};
}

json::object Bucket(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["bucket"] = "acme-" + env + "-" + name + "-" + g.Hex(6);
  a["acl"] = g.Chance(2) ? "public-read" : "private";
  a["force_destroy"] = false;
  a["object_lock_enabled"] = false;
  a["versioning"] = json::array{json::object{{"enabled", g.Chance(70)}, {"mfa_delete", false}}};
  if (!g.Chance(4)) {
    a["server_side_encryption_configuration"] = json::array{json::object{
        {"rule",
         json::array{json::object{
             {"apply_server_side_encryption_by_default",
              json::array{json::object{{"sse_algorithm", g.Chance(50) ? "aws:kms" : "AES256"},
                                       {"kms_master_key_id", ""}}}},
             {"bucket_key_enabled", true}}}}}};
  } else {
    a["server_side_encryption_configuration"] = json::array{};
  }
  a["lifecycle_rule"] =
      json::array{json::object{{"id", "expire-old"},
                               {"enabled", true},
                               {"prefix", "logs/"},
                               {"expiration", json::array{json::object{{"days", 90}}}}}};
  a["website"] = json::array{};
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  return WithTagsAll(std::move(a));
}
json::object BucketUnknown() {
  return json::object{{"arn", true},
                      {"id", true},
                      {"bucket_domain_name", true},
                      {"bucket_regional_domain_name", true},
                      {"hosted_zone_id", true},
                      {"region", true},
                      {"tags_all", json::object{}}};
}

json::object SecurityGroup(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["name"] = env + "-" + name;
  a["description"] = "Managed by Terraform";
  a["vpc_id"] = "vpc-" + g.Hex(17);
  a["revoke_rules_on_delete"] = false;
  json::array ingress;
  int rules = 1 + g.Pick(3);
  for (int i = 0; i < rules; ++i) {
    int port = std::vector<int>{22, 80, 443, 5432, 8080}[g.Pick(5)];
    bool open = (port == 80 || port == 443) ? g.Chance(50) : g.Chance(3);
    ingress.push_back(
        json::object{{"cidr_blocks",
                      open ? json::array{"0.0.0.0/0"} : json::array{"10.0.0.0/8", "172.16.0.0/12"}},
                     {"ipv6_cidr_blocks", json::array{}},
                     {"prefix_list_ids", json::array{}},
                     {"security_groups", json::array{}},
                     {"self", false},
                     {"description", "port " + std::to_string(port)},
                     {"from_port", port},
                     {"to_port", port},
                     {"protocol", "tcp"}});
  }
  a["ingress"] = std::move(ingress);
  a["egress"] = json::array{json::object{{"cidr_blocks", json::array{"0.0.0.0/0"}},
                                         {"ipv6_cidr_blocks", json::array{}},
                                         {"prefix_list_ids", json::array{}},
                                         {"security_groups", json::array{}},
                                         {"self", false},
                                         {"description", ""},
                                         {"from_port", 0},
                                         {"to_port", 0},
                                         {"protocol", "-1"}}};
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  return WithTagsAll(std::move(a));
}
json::object SecurityGroupUnknown() {
  return json::object{
      {"arn", true}, {"id", true}, {"owner_id", true}, {"tags_all", json::object{}}};
}

const char* kDbClasses[] = {"db.t3.medium", "db.m5.large", "db.r5.large", "db.r5.xlarge"};

json::object Database(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["identifier"] = env + "-" + name;
  a["engine"] = g.Chance(70) ? "postgres" : "mysql";
  a["engine_version"] = g.Chance(70) ? "15.4" : "8.0.35";
  a["instance_class"] = g.Chance(3) ? "db.x2g.16xlarge" : kDbClasses[g.Pick(4)];
  a["allocated_storage"] = 100 + 50 * g.Pick(8);
  a["max_allocated_storage"] = 1000;
  a["storage_type"] = "gp3";
  a["storage_encrypted"] = !g.Chance(5);
  a["kms_key_id"] = "";
  a["multi_az"] = env == "prod";
  a["publicly_accessible"] = g.Chance(2);
  a["backup_retention_period"] = 7;
  a["deletion_protection"] = env == "prod";
  a["skip_final_snapshot"] = env != "prod";
  a["username"] = "app";
  a["password"] = nullptr;
  a["db_subnet_group_name"] = env + "-db";
  a["vpc_security_group_ids"] = json::array{"sg-" + g.Hex(17)};
  a["parameter_group_name"] = "default.postgres15";
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  return WithTagsAll(std::move(a));
}
json::object DatabaseUnknown() {
  return json::object{{"address", true},        {"arn", true},
                      {"endpoint", true},       {"id", true},
                      {"hosted_zone_id", true}, {"resource_id", true},
                      {"status", true},         {"tags_all", json::object{}}};
}

json::object Subnet(Gen& g, const std::string& name, const std::string& env, int i) {
  json::object a;
  a["vpc_id"] = "vpc-" + g.Hex(17);
  a["cidr_block"] = "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".0/24";
  a["availability_zone"] = kZones[i % 3];
  a["map_public_ip_on_launch"] = g.Chance(20);
  a["assign_ipv6_address_on_creation"] = false;
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  return WithTagsAll(std::move(a));
}
json::object SubnetUnknown() {
  return json::object{
      {"arn", true}, {"id", true}, {"owner_id", true}, {"tags_all", json::object{}}};
}

struct Kind {
  std::string type;
  std::string name;
  std::string module;  // "" for the root module
  int count;
};

std::string MakePlan(int total) {
  Gen g;
  // Proportions of the 1,500-resource plan; scaled for other totals.
  std::vector<Kind> kinds = {{"aws_instance", "web", "", 300},
                             {"aws_instance", "worker", "", 200},
                             {"aws_s3_bucket", "data", "", 300},
                             {"aws_security_group", "svc", "", 300},
                             {"aws_db_instance", "main", "", 150},
                             {"aws_subnet", "private", "module.network", 100},
                             {"aws_db_instance", "replica", "module.db_replica", 50},
                             {"aws_s3_bucket", "logs", "module.logs", 50},
                             {"aws_instance", "app", "module.app", 50}};
  int sum = 0;
  for (auto& k : kinds) sum += k.count;
  int assigned = 0;
  for (size_t i = 0; i < kinds.size(); ++i) {
    kinds[i].count = i + 1 == kinds.size() ? total - assigned : kinds[i].count * total / sum;
    assigned += kinds[i].count;
  }

  json::array changes;
  json::array root_values;
  std::map<std::string, json::array> module_values;
  json::array config_resources;
  std::map<std::string, json::array> module_config;
  for (const Kind& k : kinds) {
    for (int i = 0; i < k.count; ++i) {
      std::string env = std::vector<std::string>{"prod", "stage", "dev"}[g.Pick(3)];
      std::string name = k.name;
      if (g.Chance(1)) name = "Legacy-" + name;  // breaks the naming convention
      std::string local = k.type + "." + name + "[" + std::to_string(i) + "]";
      std::string address = k.module.empty() ? local : k.module + "." + local;
      json::object after, unknown;
      if (k.type == "aws_instance") {
        after = Instance(g, name + "-" + std::to_string(i), env);
        unknown = InstanceUnknown();
      } else if (k.type == "aws_s3_bucket") {
        after = Bucket(g, name + "-" + std::to_string(i), env);
        unknown = BucketUnknown();
      } else if (k.type == "aws_security_group") {
        after = SecurityGroup(g, name + "-" + std::to_string(i), env);
        unknown = SecurityGroupUnknown();
      } else if (k.type == "aws_db_instance") {
        after = Database(g, name + "-" + std::to_string(i), env);
        unknown = DatabaseUnknown();
      } else {
        after = Subnet(g, name + "-" + std::to_string(i), env, i);
        unknown = SubnetUnknown();
      }
      int roll = g.Pick(100);
      json::array actions;
      json::value before = nullptr;
      json::value after_v = after;
      if (roll < 80) {
        actions = {"create"};
      } else if (roll < 90) {
        actions = {"update"};
        json::object b = after;
        b["id"] = "i-" + g.Hex(17);
        if (b.contains("tags")) b["tags"].as_object()["service"] = "old";
        before = b;
      } else if (roll < 95) {
        actions = {"no-op"};
        json::object b = after;
        b["id"] = "i-" + g.Hex(17);
        before = b;
        after_v = b;
        unknown = json::object{};
      } else if (roll < 98) {
        actions = {"delete", "create"};
        json::object b = after;
        b["id"] = "i-" + g.Hex(17);
        before = b;
      } else {
        actions = {"delete"};
        json::object b = after;
        b["id"] = "i-" + g.Hex(17);
        before = b;
        after_v = nullptr;
        unknown = json::object{};
      }
      json::object rc;
      rc["address"] = address;
      if (!k.module.empty()) rc["module_address"] = k.module;
      rc["mode"] = "managed";
      rc["type"] = k.type;
      rc["name"] = name;
      rc["index"] = i;
      rc["provider_name"] = kProvider;
      json::object change;
      change["actions"] = actions;
      change["before"] = before;
      change["after"] = after_v;
      change["after_unknown"] = unknown;
      change["before_sensitive"] =
          before.is_null() ? json::value(false) : json::value(json::object{});
      change["after_sensitive"] = k.type == "aws_db_instance"
                                      ? json::value(json::object{{"password", true}})
                                      : json::value(json::object{});
      rc["change"] = std::move(change);
      changes.push_back(std::move(rc));

      if (!after_v.is_null()) {
        json::object pv{
            {"address", address},  {"mode", "managed"}, {"type", k.type},
            {"name", name},        {"index", i},        {"provider_name", kProvider},
            {"schema_version", 1}, {"values", after_v}, {"sensitive_values", json::object{}}};
        (k.module.empty() ? root_values : module_values[k.module]).push_back(std::move(pv));
      }
      if (i == 0) {  // configuration: one block per resource (count = N)
        json::object expr;
        if (k.type == "aws_instance") {
          expr["instance_type"] = json::object{{"references", json::array{"var.instance_type"}}};
          expr["ami"] = json::object{
              {"references", json::array{"data.aws_ami.base.id", "data.aws_ami.base"}}};
        } else if (k.type == "aws_s3_bucket") {
          expr["bucket"] = json::object{{"references", json::array{"local.prefix"}}};
        }
        expr["tags"] = json::object{{"references", json::array{"local.tags"}}};
        json::object cr{{"address", k.type + "." + name},
                        {"mode", "managed"},
                        {"type", k.type},
                        {"name", name},
                        {"provider_config_key", "aws"},
                        {"expressions", expr},
                        {"schema_version", 1},
                        {"count_expression", json::object{{"constant_value", k.count}}}};
        (k.module.empty() ? config_resources : module_config[k.module]).push_back(std::move(cr));
      }
    }
  }

  json::object plan;
  plan["format_version"] = "1.2";
  plan["terraform_version"] = "1.6.6";
  plan["variables"] = json::object{{"region", json::object{{"value", "eu-west-1"}}},
                                   {"environment", json::object{{"value", "prod"}}},
                                   {"instance_type", json::object{{"value", "m5.large"}}},
                                   {"monthly_budget", json::object{{"value", "250000"}}}};
  json::array child_modules;
  for (auto& [addr, res] : module_values)
    child_modules.push_back(json::object{{"address", addr}, {"resources", res}});
  plan["planned_values"] = json::object{
      {"root_module", json::object{{"resources", root_values}, {"child_modules", child_modules}}}};
  plan["resource_changes"] = std::move(changes);
  plan["output_changes"] = json::object{{"vpc_id", json::object{{"actions", json::array{"create"}},
                                                                {"before", nullptr},
                                                                {"after_unknown", true},
                                                                {"before_sensitive", false},
                                                                {"after_sensitive", false}}}};
  plan["prior_state"] = json::object{{"format_version", "1.0"},
                                     {"terraform_version", "1.6.6"},
                                     {"values", json::object{{"root_module", json::object{}}}}};
  json::object calls;
  auto call = [&](const std::string& mod, const std::string& source, const char* version) {
    std::string key = mod.substr(std::string("module.").size());
    json::object c{{"source", source},
                   {"module", json::object{{"resources", module_config[mod]}}},
                   {"expressions",
                    json::object{{"environment",
                                  json::object{{"references", json::array{"var.environment"}}}}}}};
    if (version) c["version_constraint"] = version;
    calls[key] = std::move(c);
  };
  call("module.network", "git::https://github.com/acme/terraform-aws-network.git?ref=v2.3.1",
       nullptr);
  call("module.db_replica", "app.terraform.io/acme/rds/aws", "~> 3.0");
  call("module.logs", "terraform-aws-modules/s3-bucket/aws", "4.1.0");
  call("module.app", "./modules/app", nullptr);
  plan["configuration"] = json::object{
      {"provider_config",
       json::object{
           {"aws",
            json::object{{"name", "aws"},
                         {"full_name", kProvider},
                         {"version_constraint", "~> 5.0"},
                         {"expressions", json::object{{"region", json::object{{"constant_value",
                                                                               "eu-west-1"}}}}}}}}},
      {"root_module",
       json::object{{"resources", config_resources},
                    {"module_calls", calls},
                    {"variables", json::object{{"region", json::object{{"default", "eu-west-1"}}},
                                               {"monthly_budget", json::object{}}}}}}};
  plan["relevant_attributes"] = json::array{};
  plan["timestamp"] = "2024-06-01T12:00:00Z";
  plan["errored"] = false;
  return json::serialize(plan);
}

// ---- the ten policies ---------------------------------------------------------------------------

struct PolicyText {
  const char* name;
  const char* rego;
};

const PolicyText kPolicies[] = {
    {"required_tags", R"rego(package terraform_plan

# Every taggable resource that is created or updated carries the required tags.
required_tags := ["owner", "cost_center", "environment"]

deny[msg] {
  rc := input.resource_changes[_]
  rc.change.actions[_] != "delete"
  tags := rc.change.after.tags
  tag := required_tags[_]
  not tags[tag]
  msg := sprintf("%s: missing required tag '%s'", [rc.address, tag])
}
)rego"},
    {"allowed_instance_types", R"rego(package terraform_plan

import rego.v1

allowed_instance_types := {"t3.micro", "t3.small", "t3.medium", "m5.large", "m5.xlarge", "c5.large", "r5.large"}

allowed_db_classes := {"db.t3.medium", "db.m5.large", "db.r5.large", "db.r5.xlarge"}

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_instance"
  t := rc.change.after.instance_type
  not t in allowed_instance_types
  msg := sprintf("%s: instance type %s is not allowed", [rc.address, t])
}

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_db_instance"
  c := rc.change.after.instance_class
  not c in allowed_db_classes
  msg := sprintf("%s: database class %s is not allowed", [rc.address, c])
}
)rego"},
    {"no_public_buckets", R"rego(package terraform_plan

public_acls := {"public-read", "public-read-write", "authenticated-read", "website"}

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "aws_s3_bucket"
  acl := rc.change.after.acl
  public_acls[acl]
  msg := sprintf("%s: bucket ACL '%s' makes it public", [rc.address, acl])
}

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "aws_s3_bucket"
  count(rc.change.after.website) > 0
  msg := sprintf("%s: buckets must not host websites", [rc.address])
}

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "aws_db_instance"
  rc.change.after.publicly_accessible == true
  msg := sprintf("%s: databases must not be publicly accessible", [rc.address])
}
)rego"},
    {"no_open_ingress", R"rego(package terraform_plan

import rego.v1

open_cidrs := {"0.0.0.0/0", "::/0"}

# Load balancer ports may be open to the world.
public_ports := {80, 443}

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_security_group"
  some rule in rc.change.after.ingress
  some cidr in array.concat(rule.cidr_blocks, rule.ipv6_cidr_blocks)
  cidr in open_cidrs
  some port in numbers.range(rule.from_port, rule.to_port)
  not port in public_ports
  msg := sprintf("%s: ingress from %s to port %d", [rc.address, cidr, port])
}
)rego"},
    {"allowed_regions", R"rego(package terraform_plan

allowed_regions := {"eu-west-1", "eu-central-1"}

provider_region := input.configuration.provider_config.aws.expressions.region.constant_value

deny[msg] {
  not allowed_regions[provider_region]
  msg := sprintf("provider region %s is not allowed", [provider_region])
}

deny[msg] {
  rc := input.resource_changes[_]
  zone := rc.change.after.availability_zone
  not zone_allowed(zone)
  msg := sprintf("%s: availability zone %s is outside the allowed regions", [rc.address, zone])
}

zone_allowed(zone) {
  region := allowed_regions[_]
  startswith(zone, region)
}
)rego"},
    {"allowed_module_sources", R"rego(package terraform_plan

import rego.v1

allowed_prefixes := ["git::https://github.com/acme/", "app.terraform.io/acme/"]

deny contains msg if {
  some name, call in input.configuration.root_module.module_calls
  not allowed_source(call.source)
  msg := sprintf("module %s: source %s is not an approved module source", [name, call.source])
}

deny contains msg if {
  some name, call in input.configuration.root_module.module_calls
  startswith(call.source, "git::")
  not regex.match(`\?ref=v[0-9]+\.[0-9]+\.[0-9]+$`, call.source)
  msg := sprintf("module %s: git sources must pin a release tag", [name])
}

allowed_source(src) if {
  some prefix in allowed_prefixes
  startswith(src, prefix)
}

allowed_source(src) if startswith(src, "./")
)rego"},
    {"cost_ceiling", R"rego(package terraform_plan

import rego.v1

# Rough monthly prices (USD) of what the plan creates, against the budget given as a variable.
hourly := {
  "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "m5.large": 0.096,
  "m5.xlarge": 0.192, "c5.large": 0.085, "r5.large": 0.126, "p4d.24xlarge": 32.77,
  "x1e.32xlarge": 26.688, "m5.24xlarge": 4.608,
  "db.t3.medium": 0.072, "db.m5.large": 0.171, "db.r5.large": 0.25, "db.r5.xlarge": 0.5,
  "db.x2g.16xlarge": 6.672,
}

billed(rc) if {
  some action in rc.change.actions
  action in {"create", "update"}
}

instance_cost := sum([hourly[rc.change.after.instance_type] * 730 |
  some rc in input.resource_changes
  rc.type == "aws_instance"
  billed(rc)
])

database_cost := sum([hourly[rc.change.after.instance_class] * 730 + rc.change.after.allocated_storage * 0.115 |
  some rc in input.resource_changes
  rc.type == "aws_db_instance"
  billed(rc)
])

monthly_cost := instance_cost + database_cost

budget := to_number(input.variables.monthly_budget.value)

deny contains msg if {
  monthly_cost > budget
  msg := sprintf("estimated monthly cost %.2f USD exceeds the budget of %.2f USD", [monthly_cost, budget])
}
)rego"},
    {"no_protected_deletes", R"rego(package terraform_plan

protected_types := {"aws_db_instance", "aws_s3_bucket"}

deny[msg] {
  rc := input.resource_changes[_]
  rc.change.actions[_] == "delete"
  protected_types[rc.type]
  msg := sprintf("%s: %s resources must not be deleted (actions %v)", [rc.address, rc.type, rc.change.actions])
}

deny[msg] {
  rc := input.resource_changes[_]
  rc.change.actions[_] == "delete"
  rc.change.before.tags.environment == "prod"
  not protected_types[rc.type]
  msg := sprintf("%s: production resources must not be deleted", [rc.address])
}
)rego"},
    {"encryption_required", R"rego(package terraform_plan

import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_s3_bucket"
  rc.change.after != null
  not bucket_encrypted(rc.change.after)
  msg := sprintf("%s: buckets must use server-side encryption", [rc.address])
}

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_db_instance"
  rc.change.after.storage_encrypted == false
  msg := sprintf("%s: database storage must be encrypted", [rc.address])
}

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_instance"
  some disk in rc.change.after.root_block_device
  not disk.encrypted
  msg := sprintf("%s: root volume must be encrypted", [rc.address])
}

bucket_encrypted(after) if {
  some conf in after.server_side_encryption_configuration
  some rule in conf.rule
  some by_default in rule.apply_server_side_encryption_by_default
  by_default.sse_algorithm in {"aws:kms", "AES256"}
}
)rego"},
    {"naming_convention", R"rego(package terraform_plan

deny[msg] {
  rc := input.resource_changes[_]
  not regex.match("^[a-z][a-z0-9_]*$", rc.name)
  msg := sprintf("%s: resource name '%s' must be snake_case", [rc.address, rc.name])
}

deny[msg] {
  rc := input.resource_changes[_]
  name := rc.change.after.tags.Name
  not regex.match("^(prod|stage|dev)-[a-z0-9-]+$", name)
  msg := sprintf("%s: Name tag '%s' must look like <env>-<name>", [rc.address, name])
}
)rego"},
};

// ---- measuring ----------------------------------------------------------------------------------

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Percentile(std::vector<double> xs, double p) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  // nearest rank
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(xs.size())));
  if (rank < 1) rank = 1;
  return xs[std::min(rank, xs.size()) - 1];
}

long MaxRssKib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

struct Args {
  int resources = 1500;
  int rounds = 40;
  int warmup = 3;
  std::string json_out;
  std::string dump_plan;
  std::string dump_policies;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--resources")
      a.resources = std::stoi(next());
    else if (k == "--rounds")
      a.rounds = std::stoi(next());
    else if (k == "--warmup")
      a.warmup = std::stoi(next());
    else if (k == "--json")
      a.json_out = next();
    else if (k == "--dump-plan")
      a.dump_plan = next();
    else if (k == "--dump-policies")
      a.dump_policies = next();
    else {
      std::fprintf(stderr,
                   "usage: policy_bench [--resources N] [--rounds N] [--warmup N] [--json FILE] "
                   "[--dump-plan FILE] [--dump-policies DIR]\n");
      std::exit(k == "--help" || k == "-h" ? 0 : 2);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  const std::string plan = MakePlan(args.resources);
  if (!args.dump_plan.empty()) std::ofstream(args.dump_plan) << plan;
  constexpr size_t kN = std::size(kPolicies);
  if (!args.dump_policies.empty()) {
    std::filesystem::create_directories(args.dump_policies);
    for (const auto& p : kPolicies)
      std::ofstream(args.dump_policies + "/" + p.name + ".rego") << p.rego;
  }

  // Compile each policy on its own (as the server does), once.
  std::vector<std::shared_ptr<const CompiledPolicy>> compiled;
  auto c0 = std::chrono::steady_clock::now();
  for (const auto& p : kPolicies) {
    try {
      compiled.push_back(Engine::Compile({{std::string(p.name) + ".rego", p.rego}}));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "policy %s does not compile: %s\n", p.name, e.what());
      return 1;
    }
  }
  double compile_ms = Ms(std::chrono::steady_clock::now() - c0);
  const std::vector<std::string> deny_path = {"terraform_plan", "deny"};
  EvalOptions options;  // the engine's defaults (1 s, 64 MiB), as a server would configure
  options.timeout_ms = 10000;
  options.max_memory_bytes = size_t{1} << 30;

  std::vector<double> parse_ms, eval_ms, convert_ms;
  std::vector<std::vector<double>> per_policy_ms(kN);
  std::vector<size_t> deny_counts(kN, 0);
  int64_t parse_peak = 0, eval_peak = 0;
  long rss_before_eval = 0, rss_after_eval = 0;

  // record: keep the times; memory: count the heap (untimed runs only).
  auto run_parse = [&](bool record, bool memory) {
    std::optional<HeapScope> heap;
    if (memory) heap.emplace();
    auto t0 = std::chrono::steady_clock::now();
    json::value v = json::parse(plan);
    auto t1 = std::chrono::steady_clock::now();
    if (!v.is_object()) std::abort();
    if (record) parse_ms.push_back(Ms(t1 - t0));
    if (heap) parse_peak = std::max(parse_peak, heap->PeakAbove());
  };
  auto run_eval = [&](bool record, bool memory) {
    std::optional<HeapScope> heap;
    if (memory) heap.emplace();
    auto t0 = std::chrono::steady_clock::now();
    Value input = statehouse::policy::ParseJson(plan);
    auto t1 = std::chrono::steady_clock::now();
    double total_policies = 0;
    for (size_t i = 0; i < kN; ++i) {
      auto p0 = std::chrono::steady_clock::now();
      std::optional<Value> deny = compiled[i]->Evaluate(deny_path, input, options);
      double ms = Ms(std::chrono::steady_clock::now() - p0);
      total_policies += ms;
      if (record) per_policy_ms[i].push_back(ms);
      deny_counts[i] = deny ? deny->Size() : 0;
    }
    auto t2 = std::chrono::steady_clock::now();
    if (record) {
      eval_ms.push_back(Ms(t2 - t0));
      convert_ms.push_back(Ms(t1 - t0));
    }
    if (heap) eval_peak = std::max(eval_peak, heap->PeakAbove());
  };

  try {
    // First the memory runs (maxrss grows over the first evaluation), then the warm-up.
    run_parse(false, true);
    rss_before_eval = MaxRssKib();
    run_eval(false, true);
    rss_after_eval = MaxRssKib();
    for (int i = 0; i < args.warmup; ++i) {
      run_parse(false, false);
      run_eval(false, false);
    }
    for (int r = 0; r < args.rounds; ++r) {
      if (r % 2 == 0) {
        run_parse(true, false);
        run_eval(true, false);
      } else {
        run_eval(true, false);
        run_parse(true, false);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evaluation failed: %s\n", e.what());
    return 1;
  }

  double parse_p50 = Percentile(parse_ms, 50), parse_p99 = Percentile(parse_ms, 99);
  double eval_p50 = Percentile(eval_ms, 50), eval_p99 = Percentile(eval_ms, 99);
  double ratio = eval_p50 / parse_p50;
  size_t total_deny = 0;
  for (size_t n : deny_counts) total_deny += n;

  std::printf(
      "policy eval: %d resources, plan %.2f MiB, %zu policies (%zu deny messages), %d rounds"
      " (+%d warm-up), compile %.1f ms\n",
      args.resources, plan.size() / 1048576.0, kN, total_deny, args.rounds, args.warmup,
      compile_ms);
  std::printf("  %-44s p50 %8.2f ms  p99 %8.2f ms\n", "boost::json::parse (baseline)", parse_p50,
              parse_p99);
  std::printf("  %-44s p50 %8.2f ms  p99 %8.2f ms\n", "evaluation: ParseJson + 10 x Evaluate(deny)",
              eval_p50, eval_p99);
  std::printf("  %-44s p50 %8.2f ms\n", "  of which ParseJson (text -> policy values)",
              Percentile(convert_ms, 50));
  for (size_t i = 0; i < kN; ++i)
    std::printf("  %-44s p50 %8.2f ms  (%zu deny)\n",
                (std::string("  ") + kPolicies[i].name).c_str(), Percentile(per_policy_ms[i], 50),
                deny_counts[i]);
  std::printf("  ratio eval_p50 / parse_p50 = %.2f (target <= 3)\n", ratio);
  std::printf(
      "  peak heap: evaluation %.1f MiB, boost::json::parse %.1f MiB (%.2fx); maxrss growth over"
      " the first evaluation %.1f MiB\n",
      eval_peak / 1048576.0, parse_peak / 1048576.0,
      parse_peak ? static_cast<double>(eval_peak) / static_cast<double>(parse_peak) : 0.0,
      (rss_after_eval - rss_before_eval) / 1024.0);

  if (!args.json_out.empty()) {
    json::object out;
    out["resources"] = args.resources;
    out["plan_bytes"] = plan.size();
    out["policies"] = kN;
    out["rounds"] = args.rounds;
    out["warmup"] = args.warmup;
    out["compile_ms"] = compile_ms;
    out["parse_ms"] = json::object{
        {"p50", parse_p50}, {"p99", parse_p99}, {"samples", json::value_from(parse_ms)}};
    out["eval_ms"] =
        json::object{{"p50", eval_p50}, {"p99", eval_p99}, {"samples", json::value_from(eval_ms)}};
    out["convert_ms"] =
        json::object{{"p50", Percentile(convert_ms, 50)}, {"p99", Percentile(convert_ms, 99)}};
    json::object per;
    for (size_t i = 0; i < kN; ++i)
      per[kPolicies[i].name] = json::object{{"p50_ms", Percentile(per_policy_ms[i], 50)},
                                            {"p99_ms", Percentile(per_policy_ms[i], 99)},
                                            {"deny", deny_counts[i]}};
    out["per_policy"] = std::move(per);
    out["ratio_eval_p50_over_parse_p50"] = ratio;
    out["peak_heap_bytes"] = json::object{{"eval", eval_peak}, {"parse", parse_peak}};
    out["maxrss_growth_kib_first_eval"] = rss_after_eval - rss_before_eval;
    std::ofstream(args.json_out) << json::serialize(out) << "\n";
  }
  return 0;
}
