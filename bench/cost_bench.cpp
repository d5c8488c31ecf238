// Cost estimation benchmark: cost::EstimatePlan with the shipped price catalog against a
// generated 1,500-resource plan (`terraform show -json` format: planned_values, resource_changes
// with create/update/replace/delete/no-op, prior_state, configuration with provider regions),
// side by side with the baseline of parsing the same plan text with Boost.JSON.
//
// Per round (the order alternates between rounds):
//   parse     boost::json::parse(plan text)                                     (the baseline)
//   estimate  boost::json::parse(plan text) + EstimatePlan(plan, shipped catalog) (the server
//             receives text; the catalog is loaded once, before timing, as the server does)
// Prints p50/p99 of both, the ratio estimate_p50 / parse_p50 (target <= 2) and the split of an
// estimate (parse, EstimatePlan; serializing the document, which the server also does, is
// reported apart), the load time of PriceCatalog::Shipped() (p50 over --catalog-loads loads) and
// the heap it keeps (live bytes after the load, counted by a global operator new) and the RSS
// growth of the first load, and the peak heap of one estimate next to one Boost.JSON parse
// (bytes live above the start, untimed runs); --json writes everything.
//
//   cost_bench [--resources 1500] [--rounds 40] [--warmup 3] [--catalog-loads 10]
//              [--json out.json] [--dump-plan plan.json]
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cost/catalog.h"
#include "cost/estimate.h"

namespace json = boost::json;
using statehouse::cost::EstimatePlan;
using statehouse::cost::PriceCatalog;

// Heap accounting (HeapScope) through a global operator new: one binary, one definition.
#include "heap_counter.h"

namespace {

// ---- the plan -----------------------------------------------------------------------------------

struct Gen {
  std::mt19937 rng{20250601};
  int Pick(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }
  bool Chance(int percent) { return Pick(100) < percent; }
  template <typename T, std::size_t N>
  const T& OneOf(const T (&items)[N]) {
    return items[Pick(static_cast<int>(N))];
  }
  std::string Hex(int n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < n; ++i) s += d[Pick(16)];
    return s;
  }
};

const char* kAws = "registry.terraform.io/hashicorp/aws";
const char* kGoogle = "registry.terraform.io/hashicorp/google";
const char* kAzure = "registry.terraform.io/hashicorp/azurerm";

json::object Tags(Gen& g, const std::string& name, const std::string& env) {
  json::object t;
  t["Name"] = env + "-" + name;
  t["owner"] = std::string("team-") + "abcdefgh"[g.Pick(8)];
  t["cost_center"] = "cc-" + std::to_string(1000 + g.Pick(40));
  t["environment"] = env;
  if (g.Chance(40)) t["service"] = "svc-" + std::to_string(g.Pick(25));
  t["managed_by"] = "terraform";
  return t;
}

// Provider-computed attributes a real plan lists (as null after a create, unknown until apply).
void Computed(json::object& a, std::initializer_list<const char*> names) {
  for (const char* n : names) a[n] = nullptr;
}

json::object WithTagsAll(json::object a) {
  if (auto* t = a.if_contains("tags")) a["tags_all"] = *t;
  return a;
}

const char* kInstanceTypes[] = {"t3.micro",   "t3.small",  "t3.medium",  "t3.large",
                                "m5.large",   "m5.xlarge", "m6i.large",  "c5.large",
                                "c6i.xlarge", "r5.large",  "r6i.xlarge", "t4g.medium"};
const char* kAwsZones[] = {"us-east-1a", "us-east-1b", "us-east-1c"};
const char* kVolumeTypes[] = {"gp3", "gp3", "gp3", "gp2", "io1", "st1"};

json::object BlockDevice(Gen& g, bool root) {
  std::string type = root ? (g.Chance(70) ? "gp3" : "gp2") : g.OneOf(kVolumeTypes);
  json::object d;
  d["delete_on_termination"] = true;
  if (!root) d["device_name"] = "/dev/sd" + std::string(1, static_cast<char>('f' + g.Pick(6)));
  d["encrypted"] = !g.Chance(5);
  d["iops"] = type == "io1" ? 1000 + 500 * g.Pick(8) : type == "gp3" ? 3000 + 1000 * g.Pick(2) : 0;
  d["kms_key_id"] = "";
  d["snapshot_id"] = root ? json::value(nullptr) : json::value("");
  d["tags"] = json::object{};
  d["throughput"] = type == "gp3" ? 125 + 125 * g.Pick(2) : 0;
  d["volume_size"] = root ? 20 + 10 * g.Pick(10) : 50 * (1 + g.Pick(20));
  d["volume_type"] = type;
  return d;
}

json::object AwsInstance(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["ami"] = "ami-0" + g.Hex(16);
  a["associate_public_ip_address"] = g.Chance(10);
  if (g.Chance(60)) a["availability_zone"] = g.OneOf(kAwsZones);
  a["capacity_reservation_specification"] = json::array{};
  a["cpu_options"] = json::array{};
  a["credit_specification"] =
      g.Chance(30)
          ? json::array{json::object{{"cpu_credits", g.Chance(50) ? "standard" : "unlimited"}}}
          : json::array{};
  a["disable_api_stop"] = false;
  a["disable_api_termination"] = env == "prod";
  json::array ebs;
  for (int i = 0, n = g.Pick(3); i < n; ++i) ebs.push_back(BlockDevice(g, false));
  a["ebs_block_device"] = std::move(ebs);
  a["ebs_optimized"] = true;
  a["enclave_options"] = json::array{};
  a["ephemeral_block_device"] = json::array{};
  a["get_password_data"] = false;
  a["hibernation"] = false;
  a["iam_instance_profile"] = name + "-profile";
  a["instance_initiated_shutdown_behavior"] = "stop";
  a["instance_type"] = g.Chance(1) ? "p9.enormous" : g.OneOf(kInstanceTypes);
  a["key_name"] = "deploy-" + env;
  a["launch_template"] = json::array{};
  a["maintenance_options"] = json::array{json::object{{"auto_recovery", "default"}}};
  a["metadata_options"] = json::array{json::object{{"http_endpoint", "enabled"},
                                                   {"http_protocol_ipv6", "disabled"},
                                                   {"http_put_response_hop_limit", 1},
                                                   {"http_tokens", "required"},
                                                   {"instance_metadata_tags", "disabled"}}};
  a["monitoring"] = g.Chance(30);
  a["network_interface"] = json::array{};
  a["placement_group"] = nullptr;
  a["root_block_device"] = json::array{BlockDevice(g, true)};
  a["secondary_private_ips"] = json::array{};
  a["source_dest_check"] = true;
  a["subnet_id"] = "subnet-" + g.Hex(17);
  a["tags"] = Tags(g, name, env);
  // Dedicated hosts are priced for m5, c5 and r5 only (pricing/README.md).
  a["tenancy"] = a["instance_type"] == "m5.large" && g.Chance(20) ? "dedicated" : "default";
  a["timeouts"] = nullptr;
  a["user_data"] = nullptr;
  a["user_data_replace_on_change"] = false;
  a["volume_tags"] = nullptr;
  a["vpc_security_group_ids"] = json::array{"sg-" + g.Hex(17), "sg-" + g.Hex(17)};
  Computed(a, {"arn", "cpu_core_count", "cpu_threads_per_core", "host_id",
               "host_resource_group_arn", "id", "instance_lifecycle", "instance_state",
               "ipv6_address_count", "outpost_arn", "password_data", "primary_network_interface_id",
               "private_dns", "private_ip", "public_dns", "public_ip", "spot_instance_request_id"});
  return WithTagsAll(std::move(a));
}

json::object EbsVolume(Gen& g, const std::string& name, const std::string& env) {
  json::object d = BlockDevice(g, false);
  json::object a;
  a["availability_zone"] = g.OneOf(kAwsZones);
  a["encrypted"] = d["encrypted"];
  a["final_snapshot"] = false;
  a["iops"] = d["iops"];
  a["kms_key_id"] = "";
  a["multi_attach_enabled"] = false;
  a["outpost_arn"] = nullptr;
  a["size"] = d["volume_size"];
  a["snapshot_id"] = nullptr;
  a["tags"] = Tags(g, name, env);
  a["throughput"] = d["throughput"];
  a["timeouts"] = nullptr;
  a["type"] = d["volume_type"];
  Computed(a, {"arn", "id", "create_time"});
  return WithTagsAll(std::move(a));
}

const char* kDbClasses[] = {"db.t3.medium", "db.t4g.medium", "db.m5.large",
                            "db.m6g.large", "db.r5.large",   "db.r6g.xlarge"};

json::object DbInstance(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["allocated_storage"] = 100 + 50 * g.Pick(8);
  a["allow_major_version_upgrade"] = nullptr;
  a["apply_immediately"] = false;
  a["auto_minor_version_upgrade"] = true;
  a["backup_retention_period"] = 7;
  a["backup_window"] = "03:00-04:00";
  a["blue_green_update"] = json::array{};
  a["copy_tags_to_snapshot"] = true;
  a["customer_owned_ip_enabled"] = nullptr;
  a["db_subnet_group_name"] = env + "-db";
  a["delete_automated_backups"] = true;
  a["deletion_protection"] = env == "prod";
  a["domain"] = nullptr;
  a["enabled_cloudwatch_logs_exports"] = json::array{"postgresql"};
  a["engine"] = g.Chance(70) ? "postgres" : g.Chance(70) ? "mysql" : "mariadb";
  a["engine_version"] = "15.4";
  a["final_snapshot_identifier"] = nullptr;
  a["iam_database_authentication_enabled"] = false;
  a["identifier"] = env + "-" + name;
  a["instance_class"] = g.OneOf(kDbClasses);
  a["iops"] = nullptr;
  a["maintenance_window"] = "sun:05:00-sun:06:00";
  a["max_allocated_storage"] = 1000;
  a["monitoring_interval"] = 0;
  a["multi_az"] = env == "prod";
  a["parameter_group_name"] = "default.postgres15";
  a["password"] = nullptr;
  a["performance_insights_enabled"] = false;
  a["publicly_accessible"] = false;
  a["replicate_source_db"] = nullptr;
  a["restore_to_point_in_time"] = json::array{};
  a["s3_import"] = json::array{};
  a["skip_final_snapshot"] = env != "prod";
  a["storage_encrypted"] = true;
  a["storage_type"] = g.Chance(80) ? "gp3" : "gp2";
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  a["username"] = "app";
  a["vpc_security_group_ids"] = json::array{"sg-" + g.Hex(17)};
  Computed(a, {"address", "arn", "availability_zone", "ca_cert_identifier", "endpoint",
               "hosted_zone_id", "id", "kms_key_id", "latest_restorable_time", "listener_endpoint",
               "master_user_secret", "network_type", "option_group_name", "port", "resource_id",
               "status", "storage_throughput"});
  return WithTagsAll(std::move(a));
}

json::object NatGateway(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["allocation_id"] = "eipalloc-" + g.Hex(17);
  a["connectivity_type"] = "public";
  a["subnet_id"] = "subnet-" + g.Hex(17);
  a["tags"] = Tags(g, name, env);
  Computed(a, {"association_id", "id", "network_interface_id", "private_ip", "public_ip",
               "secondary_allocation_ids", "secondary_private_ip_address_count",
               "secondary_private_ip_addresses"});
  return WithTagsAll(std::move(a));
}

json::object LoadBalancer(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["access_logs"] = json::array{
      json::object{{"bucket", "acme-" + env + "-lb-logs"}, {"enabled", true}, {"prefix", name}}};
  a["client_keep_alive"] = 3600;
  a["connection_logs"] = json::array{};
  a["customer_owned_ipv4_pool"] = nullptr;
  a["desync_mitigation_mode"] = "defensive";
  a["drop_invalid_header_fields"] = false;
  a["enable_cross_zone_load_balancing"] = nullptr;
  a["enable_deletion_protection"] = env == "prod";
  a["enable_http2"] = true;
  a["enable_tls_version_and_cipher_suite_headers"] = false;
  a["enable_waf_fail_open"] = false;
  a["enable_xff_client_port"] = false;
  a["idle_timeout"] = 60;
  a["internal"] = g.Chance(40);
  a["load_balancer_type"] = g.Chance(80) ? "application" : "network";
  a["name"] = env + "-" + name;
  a["preserve_host_header"] = false;
  a["security_groups"] = json::array{"sg-" + g.Hex(17)};
  a["subnet_mapping"] = json::array{};
  a["subnets"] = json::array{"subnet-" + g.Hex(17), "subnet-" + g.Hex(17), "subnet-" + g.Hex(17)};
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  a["xff_header_processing_mode"] = "append";
  Computed(a, {"arn", "arn_suffix", "dns_name", "id", "ip_address_type", "vpc_id", "zone_id"});
  return WithTagsAll(std::move(a));
}

json::object Bucket(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["bucket"] = "acme-" + env + "-" + name + "-" + g.Hex(6);
  a["bucket_prefix"] = nullptr;
  a["force_destroy"] = false;
  a["object_lock_enabled"] = false;
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  Computed(a, {"acceleration_status",
               "acl",
               "arn",
               "bucket_domain_name",
               "bucket_regional_domain_name",
               "cors_rule",
               "grant",
               "hosted_zone_id",
               "id",
               "lifecycle_rule",
               "logging",
               "object_lock_configuration",
               "policy",
               "region",
               "replication_configuration",
               "request_payer",
               "server_side_encryption_configuration",
               "versioning",
               "website",
               "website_domain",
               "website_endpoint"});
  return WithTagsAll(std::move(a));
}

json::object Lambda(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["architectures"] = json::array{g.Chance(30) ? "arm64" : "x86_64"};
  a["code_signing_config_arn"] = nullptr;
  a["dead_letter_config"] = json::array{};
  a["description"] = "Handles " + name;
  a["environment"] = json::array{json::object{
      {"variables",
       json::object{{"ENV", env}, {"LOG_LEVEL", "info"}, {"TABLE", name + "-table"}}}}};
  a["ephemeral_storage"] = json::array{json::object{{"size", 512}}};
  a["file_system_config"] = json::array{};
  a["filename"] = "build/" + name + ".zip";
  a["function_name"] = env + "-" + name;
  a["handler"] = "index.handler";
  a["image_config"] = json::array{};
  a["image_uri"] = nullptr;
  a["kms_key_arn"] = nullptr;
  a["layers"] = nullptr;
  a["memory_size"] = 128 << g.Pick(5);
  a["package_type"] = "Zip";
  a["publish"] = false;
  a["reserved_concurrent_executions"] = -1;
  a["role"] = "arn:aws:iam::123456789012:role/" + name;
  a["runtime"] = g.Chance(50) ? "nodejs20.x" : "python3.12";
  a["s3_bucket"] = nullptr;
  a["skip_destroy"] = false;
  a["source_code_hash"] = g.Hex(44);
  a["tags"] = Tags(g, name, env);
  a["timeout"] = 30;
  a["timeouts"] = nullptr;
  a["tracing_config"] = json::array{json::object{{"mode", "PassThrough"}}};
  a["vpc_config"] = json::array{};
  Computed(a, {"arn", "id", "invoke_arn", "last_modified", "logging_config", "qualified_arn",
               "qualified_invoke_arn", "signing_job_arn", "signing_profile_version_arn",
               "snap_start", "source_code_size", "version"});
  return WithTagsAll(std::move(a));
}

// Free and unsupported AWS resources: realistic attribute sets, no price.
json::object Vpc(Gen& g, const std::string& name, const std::string& env, int i) {
  json::object a;
  a["assign_generated_ipv6_cidr_block"] = nullptr;
  a["cidr_block"] = "10." + std::to_string(i % 250) + ".0.0/16";
  a["enable_dns_hostnames"] = true;
  a["enable_dns_support"] = true;
  a["enable_network_address_usage_metrics"] = false;
  a["instance_tenancy"] = "default";
  a["ipv4_ipam_pool_id"] = nullptr;
  a["ipv4_netmask_length"] = nullptr;
  a["ipv6_ipam_pool_id"] = nullptr;
  a["ipv6_netmask_length"] = nullptr;
  a["tags"] = Tags(g, name, env);
  Computed(a,
           {"arn", "default_network_acl_id", "default_route_table_id", "default_security_group_id",
            "dhcp_options_id", "id", "ipv6_association_id", "ipv6_cidr_block",
            "ipv6_cidr_block_network_border_group", "main_route_table_id", "owner_id"});
  return WithTagsAll(std::move(a));
}

json::object Subnet(Gen& g, const std::string& name, const std::string& env, int i) {
  json::object a;
  a["assign_ipv6_address_on_creation"] = false;
  a["availability_zone"] = kAwsZones[i % 3];
  a["cidr_block"] = "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".0/24";
  a["customer_owned_ipv4_pool"] = nullptr;
  a["enable_dns64"] = false;
  a["enable_lni_at_device_index"] = nullptr;
  a["enable_resource_name_dns_a_record_on_launch"] = false;
  a["enable_resource_name_dns_aaaa_record_on_launch"] = false;
  a["ipv6_cidr_block"] = nullptr;
  a["ipv6_native"] = false;
  a["map_customer_owned_ip_on_launch"] = nullptr;
  a["map_public_ip_on_launch"] = g.Chance(20);
  a["outpost_arn"] = nullptr;
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  a["vpc_id"] = "vpc-" + g.Hex(17);
  Computed(a, {"arn", "availability_zone_id", "id", "ipv6_cidr_block_association_id", "owner_id",
               "private_dns_hostname_type_on_launch"});
  return WithTagsAll(std::move(a));
}

json::object SecurityGroup(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["description"] = "Managed by Terraform";
  json::array ingress;
  for (int i = 0, n = 1 + g.Pick(3); i < n; ++i) {
    int port = std::vector<int>{22, 80, 443, 5432, 8080}[g.Pick(5)];
    ingress.push_back(json::object{{"cidr_blocks", json::array{"10.0.0.0/8"}},
                                   {"description", "port " + std::to_string(port)},
                                   {"from_port", port},
                                   {"ipv6_cidr_blocks", json::array{}},
                                   {"prefix_list_ids", json::array{}},
                                   {"protocol", "tcp"},
                                   {"security_groups", json::array{}},
                                   {"self", false},
                                   {"to_port", port}});
  }
  a["egress"] = json::array{json::object{{"cidr_blocks", json::array{"0.0.0.0/0"}},
                                         {"description", ""},
                                         {"from_port", 0},
                                         {"ipv6_cidr_blocks", json::array{}},
                                         {"prefix_list_ids", json::array{}},
                                         {"protocol", "-1"},
                                         {"security_groups", json::array{}},
                                         {"self", false},
                                         {"to_port", 0}}};
  a["ingress"] = std::move(ingress);
  a["name"] = env + "-" + name;
  a["name_prefix"] = nullptr;
  a["revoke_rules_on_delete"] = false;
  a["tags"] = Tags(g, name, env);
  a["timeouts"] = nullptr;
  a["vpc_id"] = "vpc-" + g.Hex(17);
  Computed(a, {"arn", "id", "owner_id"});
  return WithTagsAll(std::move(a));
}

json::object IamRole(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["assume_role_policy"] =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]})";
  a["description"] = "Role of " + name;
  a["force_detach_policies"] = false;
  a["max_session_duration"] = 3600;
  a["name"] = env + "-" + name;
  a["name_prefix"] = nullptr;
  a["path"] = "/";
  a["permissions_boundary"] = nullptr;
  a["tags"] = Tags(g, name, env);
  Computed(a, {"arn", "create_date", "id", "inline_policy", "managed_policy_arns", "unique_id"});
  return WithTagsAll(std::move(a));
}

json::object SqsQueue(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["content_based_deduplication"] = false;
  a["delay_seconds"] = 0;
  a["fifo_queue"] = false;
  a["max_message_size"] = 262144;
  a["message_retention_seconds"] = 345600;
  a["name"] = env + "-" + name;
  a["receive_wait_time_seconds"] = 20;
  a["redrive_allow_policy"] = nullptr;
  a["sqs_managed_sse_enabled"] = true;
  a["tags"] = Tags(g, name, env);
  a["visibility_timeout_seconds"] = 60;
  Computed(a, {"arn", "deduplication_scope", "fifo_throughput_limit", "id",
               "kms_data_key_reuse_period_seconds", "kms_master_key_id", "name_prefix", "policy",
               "redrive_policy", "url"});
  return WithTagsAll(std::move(a));
}

json::object Route53Record(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["alias"] = json::array{};
  a["allow_overwrite"] = nullptr;
  a["cidr_routing_policy"] = json::array{};
  a["failover_routing_policy"] = json::array{};
  a["geolocation_routing_policy"] = json::array{};
  a["health_check_id"] = nullptr;
  a["latency_routing_policy"] = json::array{};
  a["multivalue_answer_routing_policy"] = nullptr;
  a["name"] = name + "." + env + ".acme.example";
  a["records"] =
      json::array{"10.0." + std::to_string(g.Pick(250)) + "." + std::to_string(g.Pick(250))};
  a["set_identifier"] = nullptr;
  a["ttl"] = 300;
  a["type"] = "A";
  a["weighted_routing_policy"] = json::array{};
  a["zone_id"] = "Z" + g.Hex(20);
  Computed(a, {"fqdn", "id"});
  return a;
}

const char* kGoogleTypes[] = {"e2-standard-2", "e2-standard-4", "e2-medium",
                              "n2-standard-4", "n2-standard-8", "n1-standard-2"};
const char* kGoogleZones[] = {"us-central1-a", "us-central1-b", "us-central1-c"};

json::object GoogleInstance(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["advanced_machine_features"] = json::array{};
  a["allow_stopping_for_update"] = true;
  a["attached_disk"] = json::array{};
  a["boot_disk"] = json::array{json::object{
      {"auto_delete", true},
      {"disk_encryption_key_raw", nullptr},
      {"initialize_params",
       json::array{json::object{{"image", "debian-cloud/debian-12"},
                                {"labels", json::object{}},
                                {"size", 20 + 10 * g.Pick(5)},
                                {"type", g.Chance(50) ? "pd-balanced" : "pd-standard"}}}},
      {"mode", "READ_WRITE"}}};
  a["can_ip_forward"] = false;
  a["deletion_protection"] = env == "prod";
  a["description"] = nullptr;
  a["desired_status"] = nullptr;
  a["enable_display"] = nullptr;
  a["guest_accelerator"] = json::array{};
  a["hostname"] = nullptr;
  a["labels"] = json::object{{"env", env}, {"team", std::string("team-") + "abcd"[g.Pick(4)]}};
  a["machine_type"] = g.OneOf(kGoogleTypes);
  a["metadata"] = json::object{{"enable-oslogin", "TRUE"}};
  a["metadata_startup_script"] = nullptr;
  a["name"] = env + "-" + name;
  a["network_interface"] = json::array{
      json::object{{"access_config", json::array{}},
                   {"alias_ip_range", json::array{}},
                   {"network", "default"},
                   {"nic_type", nullptr},
                   {"queue_count", nullptr},
                   {"subnetwork", "projects/acme/regions/us-central1/subnetworks/" + env}}};
  a["resource_policies"] = nullptr;
  a["scheduling"] = json::array{json::object{{"automatic_restart", true},
                                             {"on_host_maintenance", "MIGRATE"},
                                             {"preemptible", g.Chance(10)},
                                             {"provisioning_model", "STANDARD"}}};
  a["scratch_disk"] = json::array{};
  a["service_account"] = json::array{
      json::object{{"email", name + "@acme.iam.gserviceaccount.com"},
                   {"scopes", json::array{"https://www.googleapis.com/auth/cloud-platform"}}}};
  a["shielded_instance_config"] = json::array{json::object{
      {"enable_integrity_monitoring", true}, {"enable_secure_boot", true}, {"enable_vtpm", true}}};
  a["tags"] = json::array{env, "web"};
  a["timeouts"] = nullptr;
  a["zone"] = g.OneOf(kGoogleZones);
  Computed(a, {"cpu_platform", "current_status", "effective_labels", "id", "instance_id",
               "label_fingerprint", "metadata_fingerprint", "min_cpu_platform", "project",
               "self_link", "tags_fingerprint", "terraform_labels"});
  return a;
}

json::object GoogleCluster(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["location"] = "us-central1";
  a["name"] = env + "-" + name;
  a["remove_default_node_pool"] = true;
  a["initial_node_count"] = 1;
  a["deletion_protection"] = env == "prod";
  a["enable_autopilot"] = nullptr;
  a["networking_mode"] = "VPC_NATIVE";
  a["release_channel"] = json::array{json::object{{"channel", "REGULAR"}}};
  a["resource_labels"] = json::object{{"env", env}};
  a["timeouts"] = nullptr;
  Computed(a, {"cluster_ipv4_cidr", "endpoint", "id", "label_fingerprint", "master_version",
               "operation", "project", "self_link", "services_ipv4_cidr", "tpu_ipv4_cidr_block"});
  return a;
}

json::object GoogleNodePool(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["autoscaling"] = json::array{json::object{{"location_policy", "BALANCED"},
                                              {"max_node_count", 10},
                                              {"min_node_count", 1},
                                              {"total_max_node_count", nullptr},
                                              {"total_min_node_count", nullptr}}};
  a["management"] = json::array{json::object{{"auto_repair", true}, {"auto_upgrade", true}}};
  a["name"] = env + "-" + name;
  a["node_count"] = 1 + g.Pick(4);
  a["node_config"] = json::array{
      json::object{{"disk_size_gb", 50 + 50 * g.Pick(3)},
                   {"disk_type", g.Chance(50) ? "pd-standard" : "pd-balanced"},
                   {"labels", json::object{{"pool", name}}},
                   {"machine_type", g.OneOf(kGoogleTypes)},
                   {"metadata", json::object{{"disable-legacy-endpoints", "true"}}},
                   {"oauth_scopes", json::array{"https://www.googleapis.com/auth/cloud-platform"}},
                   {"preemptible", g.Chance(20)},
                   {"spot", false},
                   {"tags", json::array{"gke-node"}}}};
  a["timeouts"] = nullptr;
  Computed(a, {"id", "initial_node_count", "instance_group_urls", "managed_instance_group_urls",
               "max_pods_per_node", "node_locations", "operation", "project", "version"});
  return a;
}

const char* kAzureSizes[] = {"Standard_B2s",    "Standard_B2ms",   "Standard_D2s_v3",
                             "Standard_D4s_v5", "Standard_E4s_v5", "Standard_F4s_v2"};
const char* kAzureLocations[] = {"eastus", "westeurope", "East US 2"};

json::object AzureVm(Gen& g, const std::string& name, const std::string& env) {
  json::object a;
  a["additional_capabilities"] = json::array{};
  a["admin_password"] = nullptr;
  a["admin_ssh_key"] = json::array{
      json::object{{"public_key", "ssh-ed25519 AAAA" + g.Hex(40)}, {"username", "azureuser"}}};
  a["admin_username"] = "azureuser";
  a["allow_extension_operations"] = true;
  a["availability_set_id"] = nullptr;
  a["boot_diagnostics"] = json::array{};
  a["computer_name"] = env + "-" + name;
  a["custom_data"] = nullptr;
  a["disable_password_authentication"] = true;
  a["encryption_at_host_enabled"] = nullptr;
  a["eviction_policy"] = nullptr;
  a["extensions_time_budget"] = "PT1H30M";
  a["identity"] = json::array{};
  a["location"] = g.OneOf(kAzureLocations);
  a["max_bid_price"] = -1;
  a["name"] = env + "-" + name;
  a["network_interface_ids"] =
      json::array{"/subscriptions/0000/resourceGroups/" + env +
                  "/providers/Microsoft.Network/networkInterfaces/" + name};
  a["os_disk"] = json::array{
      json::object{{"caching", "ReadWrite"},
                   {"disk_encryption_set_id", nullptr},
                   {"disk_size_gb", 30 << g.Pick(3)},
                   {"storage_account_type", g.Chance(50) ? "Premium_LRS" : "StandardSSD_LRS"},
                   {"write_accelerator_enabled", false}}};
  a["patch_assessment_mode"] = "ImageDefault";
  a["patch_mode"] = "ImageDefault";
  a["plan"] = json::array{};
  a["priority"] = "Regular";
  a["provision_vm_agent"] = true;
  a["resource_group_name"] = env + "-rg";
  a["secret"] = json::array{};
  a["secure_boot_enabled"] = nullptr;
  a["size"] = g.OneOf(kAzureSizes);
  a["source_image_reference"] = json::array{json::object{{"offer", "0001-com-ubuntu-server-jammy"},
                                                         {"publisher", "Canonical"},
                                                         {"sku", "22_04-lts"},
                                                         {"version", "latest"}}};
  a["tags"] = json::object{{"env", env}};
  a["timeouts"] = nullptr;
  Computed(a, {"id", "private_ip_address", "private_ip_addresses", "public_ip_address",
               "public_ip_addresses", "virtual_machine_id", "vm_agent_platform_updates_enabled"});
  return a;
}

struct Kind {
  std::string type;
  std::string name;
  std::string module;  // "" for the root module
  int count;
};

std::string ProviderOf(const std::string& type) {
  if (type.starts_with("google_")) return kGoogle;
  if (type.starts_with("azurerm_")) return kAzure;
  return kAws;
}

std::string ProviderKey(const std::string& type) {
  if (type.starts_with("google_")) return "google";
  if (type.starts_with("azurerm_")) return "azurerm";
  return "aws";
}

json::object Values(Gen& g, const Kind& k, const std::string& name, const std::string& env, int i) {
  const std::string& t = k.type;
  if (t == "aws_instance") return AwsInstance(g, name, env);
  if (t == "aws_ebs_volume") return EbsVolume(g, name, env);
  if (t == "aws_db_instance") return DbInstance(g, name, env);
  if (t == "aws_nat_gateway") return NatGateway(g, name, env);
  if (t == "aws_lb") return LoadBalancer(g, name, env);
  if (t == "aws_s3_bucket") return Bucket(g, name, env);
  if (t == "aws_lambda_function") return Lambda(g, name, env);
  if (t == "aws_vpc") return Vpc(g, name, env, i);
  if (t == "aws_subnet") return Subnet(g, name, env, i);
  if (t == "aws_security_group") return SecurityGroup(g, name, env);
  if (t == "aws_iam_role") return IamRole(g, name, env);
  if (t == "aws_sqs_queue") return SqsQueue(g, name, env);
  if (t == "aws_route53_record") return Route53Record(g, name, env);
  if (t == "google_compute_instance") return GoogleInstance(g, name, env);
  if (t == "google_container_cluster") return GoogleCluster(g, name, env);
  if (t == "google_container_node_pool") return GoogleNodePool(g, name, env);
  return AzureVm(g, name, env);
}

// The attributes of `values` that are null after a create: unknown until apply.
json::object Unknown(const json::object& values) {
  json::object u;
  for (const auto& [key, v] : values)
    if (v.is_null() && key != "timeouts") u[key] = true;
  return u;
}

// An existing resource's values: computed attributes known, one setting changed for updates.
json::object Existing(Gen& g, const json::object& after) {
  json::object b = after;
  for (auto& [key, v] : b) {
    if (!v.is_null() || key == "timeouts") continue;
    if (key == "availability_zone")
      v = g.OneOf(kAwsZones);
    else if (key == "region")
      v = "us-east-1";
    else
      v = json::string(std::string(key) + "-" + g.Hex(8));
  }
  if (auto* t = b.if_contains("instance_type"); t && t->is_string())
    *t = g.Chance(50) ? "t3.medium" : "m5.large";
  if (auto* t = b.if_contains("instance_class"); t && t->is_string()) *t = "db.t3.medium";
  if (auto* t = b.if_contains("machine_type"); t && t->is_string()) *t = "e2-standard-2";
  if (auto* t = b.if_contains("size"); t && t->is_string()) *t = "Standard_B2s";
  return b;
}

std::string MakePlan(int total) {
  Gen g;
  // Proportions of the 1,500-resource plan; scaled for other totals.
  std::vector<Kind> kinds = {{"aws_instance", "web", "", 150},
                             {"aws_instance", "worker", "module.app", 100},
                             {"aws_ebs_volume", "data", "module.app", 100},
                             {"aws_db_instance", "main", "module.db", 60},
                             {"aws_nat_gateway", "nat", "module.network", 20},
                             {"aws_lb", "front", "", 30},
                             {"aws_s3_bucket", "data", "", 150},
                             {"aws_lambda_function", "fn", "", 100},
                             {"aws_vpc", "main", "module.network", 20},
                             {"aws_subnet", "private", "module.network", 150},
                             {"aws_security_group", "svc", "", 200},
                             {"aws_iam_role", "svc", "", 150},
                             {"aws_sqs_queue", "jobs", "", 50},
                             {"aws_route53_record", "svc", "", 60},
                             {"google_compute_instance", "vm", "", 60},
                             {"google_container_cluster", "gke", "", 5},
                             {"google_container_node_pool", "pool", "", 20},
                             {"azurerm_linux_virtual_machine", "vm", "", 50}};
  int sum = 0;
  for (auto& k : kinds) sum += k.count;
  int assigned = 0;
  for (size_t i = 0; i < kinds.size(); ++i) {
    kinds[i].count =
        i + 1 == kinds.size() ? total - assigned : std::max(1, kinds[i].count * total / sum);
    assigned += kinds[i].count;
  }

  json::array changes;
  std::map<std::string, json::array> planned, prior;  // module ("" = root) -> resources
  std::map<std::string, json::array> config;
  for (const Kind& k : kinds) {
    for (int i = 0; i < k.count; ++i) {
      std::string env = std::vector<std::string>{"prod", "stage", "dev"}[g.Pick(3)];
      std::string local = k.type + "." + k.name + "[" + std::to_string(i) + "]";
      std::string address = k.module.empty() ? local : k.module + "." + local;
      json::object after = Values(g, k, k.name + "-" + std::to_string(i), env, i);
      json::object unknown = Unknown(after);
      int roll = g.Pick(100);
      json::array actions;
      json::value before = nullptr, after_v = after;
      if (roll < 80) {
        actions = {"create"};
      } else if (roll < 90) {
        actions = {"update"};
        before = Existing(g, after);
        json::object a = before.as_object();  // known attributes stay known
        for (const char* key : {"instance_type", "instance_class", "machine_type", "size"})
          if (after.contains(key)) a[key] = after[key];
        after_v = a;
        unknown = json::object{};
      } else if (roll < 95) {
        actions = {"no-op"};
        before = Existing(g, after);
        after_v = before;
        unknown = json::object{};
      } else if (roll < 98) {
        actions = {"delete", "create"};
        before = Existing(g, after);
      } else {
        actions = {"delete"};
        before = Existing(g, after);
        after_v = nullptr;
        unknown = json::object{};
      }
      const std::string provider = ProviderOf(k.type);
      json::object rc;
      rc["address"] = address;
      if (!k.module.empty()) rc["module_address"] = k.module;
      rc["mode"] = "managed";
      rc["type"] = k.type;
      rc["name"] = k.name;
      rc["index"] = i;
      rc["provider_name"] = provider;
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
      if (actions.size() == 2)
        change["replace_paths"] = json::array{json::array{"availability_zone"}};
      rc["change"] = std::move(change);
      changes.push_back(std::move(rc));

      auto entry = [&](const json::value& values) {
        return json::object{
            {"address", address},  {"mode", "managed"}, {"type", k.type},
            {"name", k.name},      {"index", i},        {"provider_name", provider},
            {"schema_version", 1}, {"values", values},  {"sensitive_values", json::object{}}};
      };
      if (!after_v.is_null()) planned[k.module].push_back(entry(after_v));
      if (!before.is_null()) prior[k.module].push_back(entry(before));
      if (i == 0) {  // configuration: one block per resource (count = N)
        json::object expr;
        expr["tags"] = json::object{{"references", json::array{"local.tags"}}};
        if (k.type == "google_container_node_pool")
          expr["cluster"] =
              json::object{{"references", json::array{"google_container_cluster.gke[0].id",
                                                      "google_container_cluster.gke[0]",
                                                      "google_container_cluster.gke"}}};
        config[k.module].push_back(
            json::object{{"address", k.type + "." + k.name},
                         {"mode", "managed"},
                         {"type", k.type},
                         {"name", k.name},
                         {"provider_config_key", ProviderKey(k.type)},
                         {"expressions", expr},
                         {"schema_version", 1},
                         {"count_expression", json::object{{"constant_value", k.count}}}});
      }
    }
  }

  auto module_tree = [](std::map<std::string, json::array>& by_module) {
    json::object root{{"resources", by_module[""]}};
    json::array children;
    for (auto& [mod, resources] : by_module)
      if (!mod.empty())
        children.push_back(json::object{{"address", mod}, {"resources", resources}});
    root["child_modules"] = std::move(children);
    return root;
  };
  json::object plan;
  plan["format_version"] = "1.2";
  plan["terraform_version"] = "1.9.8";
  plan["variables"] = json::object{{"region", json::object{{"value", "us-east-1"}}},
                                   {"environment", json::object{{"value", "prod"}}}};
  plan["planned_values"] = json::object{{"root_module", module_tree(planned)}};
  plan["resource_changes"] = std::move(changes);
  plan["prior_state"] = json::object{{"format_version", "1.0"},
                                     {"terraform_version", "1.9.8"},
                                     {"values", json::object{{"root_module", module_tree(prior)}}}};
  auto provider = [](const char* name, const char* full, json::object expressions) {
    return json::object{
        {"name", name}, {"full_name", full}, {"expressions", std::move(expressions)}};
  };
  json::object calls;
  for (auto& [mod, resources] : config)
    if (!mod.empty())
      calls[mod.substr(std::string("module.").size())] =
          json::object{{"source", "./modules/" + mod.substr(std::string("module.").size())},
                       {"module", json::object{{"resources", resources}}}};
  plan["configuration"] = json::object{
      {"provider_config",
       json::object{
           {"aws", provider("aws", kAws,
                            {{"region", json::object{{"references", json::array{"var.region"}}}}})},
           {"google", provider("google", kGoogle,
                               {{"project", json::object{{"constant_value", "acme"}}},
                                {"region", json::object{{"constant_value", "us-central1"}}}})},
           {"azurerm", provider("azurerm", kAzure, {{"features", json::array{json::object{}}}})}}},
      {"root_module", json::object{{"resources", config[""]}, {"module_calls", calls}}}};
  plan["timestamp"] = "2025-06-01T12:00:00Z";
  plan["applyable"] = true;
  plan["complete"] = true;
  plan["errored"] = false;
  return json::serialize(plan);
}

// ---- measuring ----------------------------------------------------------------------------------

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Percentile(std::vector<double> xs, double p) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(xs.size())));
  if (rank < 1) rank = 1;
  return xs[std::min(rank, xs.size()) - 1];
}

// Current resident set (VmRSS), KiB.
long RssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

struct Args {
  int resources = 1500;
  int rounds = 40;
  int warmup = 3;
  int catalog_loads = 10;
  std::string json_out;
  std::string dump_plan;
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
    else if (k == "--catalog-loads")
      a.catalog_loads = std::stoi(next());
    else if (k == "--json")
      a.json_out = next();
    else if (k == "--dump-plan")
      a.dump_plan = next();
    else {
      std::fprintf(stderr,
                   "usage: cost_bench [--resources N] [--rounds N] [--warmup N] [--catalog-loads N]"
                   " [--json FILE] [--dump-plan FILE]\n");
      std::exit(k == "--help" || k == "-h" ? 0 : 2);
    }
  }
  return a;
}

json::value Stats(const std::vector<double>& xs) {
  return json::object{{"p50", Percentile(xs, 50)},
                      {"p99", Percentile(xs, 99)},
                      {"min", Percentile(xs, 0)},
                      {"samples", json::value_from(xs)}};
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  const std::string plan = MakePlan(args.resources);
  if (!args.dump_plan.empty()) std::ofstream(args.dump_plan) << plan;

  // The catalog: the heap it keeps and the RSS growth of the first load, then timed loads.
  long rss_before_catalog = RssKib();
  std::optional<PriceCatalog> catalog;
  int64_t catalog_heap = 0, catalog_load_peak = 0;
  {
    HeapScope heap;
    catalog.emplace(PriceCatalog::Shipped());
    catalog_heap = heap.LiveAbove();
    catalog_load_peak = heap.PeakAbove();
  }
  long rss_after_catalog = RssKib();
  std::vector<double> catalog_ms;
  for (int i = 0; i < args.catalog_loads; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    PriceCatalog c = PriceCatalog::Shipped();
    catalog_ms.push_back(Ms(std::chrono::steady_clock::now() - t0));
    if (c.size() != catalog->size()) std::abort();
  }

  std::vector<double> parse_ms, estimate_ms, estimate_parse_ms, estimate_engine_ms, serialize_ms;
  int64_t parse_peak = 0, estimate_peak = 0;
  size_t document_bytes = 0;
  json::object document;

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
  auto run_estimate = [&](bool record, bool memory) {
    std::optional<HeapScope> heap;
    if (memory) heap.emplace();
    auto t0 = std::chrono::steady_clock::now();
    json::value v = json::parse(plan);
    auto t1 = std::chrono::steady_clock::now();
    json::object doc = EstimatePlan(v, *catalog);
    auto t2 = std::chrono::steady_clock::now();
    if (record) {
      estimate_ms.push_back(Ms(t2 - t0));
      estimate_parse_ms.push_back(Ms(t1 - t0));
      estimate_engine_ms.push_back(Ms(t2 - t1));
      auto s0 = std::chrono::steady_clock::now();
      std::string text = json::serialize(doc);
      serialize_ms.push_back(Ms(std::chrono::steady_clock::now() - s0));
      document_bytes = text.size();
    }
    if (heap) estimate_peak = std::max(estimate_peak, heap->PeakAbove());
    if (document.empty()) document = std::move(doc);
  };

  try {
    run_parse(false, true);
    run_estimate(false, true);
    for (int i = 0; i < args.warmup; ++i) {
      run_parse(false, false);
      run_estimate(false, false);
    }
    for (int r = 0; r < args.rounds; ++r) {
      if (r % 2 == 0) {
        run_parse(true, false);
        run_estimate(true, false);
      } else {
        run_estimate(true, false);
        run_parse(true, false);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "estimate failed: %s\n", e.what());
    return 1;
  }

  double parse_p50 = Percentile(parse_ms, 50), parse_p99 = Percentile(parse_ms, 99);
  double estimate_p50 = Percentile(estimate_ms, 50), estimate_p99 = Percentile(estimate_ms, 99);
  double ratio = estimate_p50 / parse_p50;
  const json::object& summary = document.at("summary").as_object();
  auto count = [&](const char* key) { return summary.at(key).as_int64(); };

  std::printf(
      "cost estimate: %d resources, plan %.2f MiB, %d rounds (+%d warm-up); catalog: %zu prices\n",
      args.resources, plan.size() / 1048576.0, args.rounds, args.warmup, catalog->size());
  std::printf(
      "  detected %lld: %lld estimated (%lld without a price for some component), %lld free, %lld "
      "unsupported; total %s USD/month (%s before, %s change); document %.2f MiB\n",
      static_cast<long long>(count("totalDetectedResources")),
      static_cast<long long>(count("totalSupportedResources")),
      static_cast<long long>(count("totalNoPriceResources")),
      static_cast<long long>(count("totalFreeResources")),
      static_cast<long long>(count("totalUnsupportedResources")),
      std::string(document.at("totalMonthlyCost").as_string()).c_str(),
      std::string(document.at("pastTotalMonthlyCost").as_string()).c_str(),
      std::string(document.at("diffTotalMonthlyCost").as_string()).c_str(),
      document_bytes / 1048576.0);
  double parse_min = Percentile(parse_ms, 0), estimate_min = Percentile(estimate_ms, 0);
  std::printf("  %-44s p50 %8.2f ms  p99 %8.2f ms  min %8.2f ms\n", "boost::json::parse (baseline)",
              parse_p50, parse_p99, parse_min);
  std::printf("  %-44s p50 %8.2f ms  p99 %8.2f ms  min %8.2f ms\n",
              "estimate: parse + EstimatePlan", estimate_p50, estimate_p99, estimate_min);
  std::printf("  %-44s p50 %8.2f ms\n", "  of which boost::json::parse",
              Percentile(estimate_parse_ms, 50));
  std::printf("  %-44s p50 %8.2f ms\n", "  of which EstimatePlan",
              Percentile(estimate_engine_ms, 50));
  std::printf("  %-44s p50 %8.2f ms  (not in the ratio)\n", "serialize the document",
              Percentile(serialize_ms, 50));
  std::printf(
      "  ratio estimate_p50 / parse_p50 = %.2f (target <= 2); of the minimums %.2f (less noise on "
      "a "
      "busy machine)\n",
      ratio, estimate_min / parse_min);
  std::printf(
      "  catalog: PriceCatalog::Shipped() p50 %.2f ms (%d loads), keeps %.2f MiB of heap (load "
      "peak "
      "%.2f MiB), RSS +%.1f MiB at the first load\n",
      Percentile(catalog_ms, 50), args.catalog_loads, catalog_heap / 1048576.0,
      catalog_load_peak / 1048576.0, (rss_after_catalog - rss_before_catalog) / 1024.0);
  std::printf(
      "  peak heap: estimate %.1f MiB, boost::json::parse %.1f MiB (%.2fx)\n",
      estimate_peak / 1048576.0, parse_peak / 1048576.0,
      parse_peak ? static_cast<double>(estimate_peak) / static_cast<double>(parse_peak) : 0.0);

  if (!args.json_out.empty()) {
    json::object out;
    out["resources"] = args.resources;
    out["plan_bytes"] = plan.size();
    out["rounds"] = args.rounds;
    out["warmup"] = args.warmup;
    out["summary"] = summary;
    out["total_monthly_cost"] = document.at("totalMonthlyCost");
    out["document_bytes"] = document_bytes;
    out["parse_ms"] = Stats(parse_ms);
    out["estimate_ms"] = Stats(estimate_ms);
    out["estimate_parse_ms"] = json::object{{"p50", Percentile(estimate_parse_ms, 50)},
                                            {"p99", Percentile(estimate_parse_ms, 99)}};
    out["estimate_engine_ms"] = json::object{{"p50", Percentile(estimate_engine_ms, 50)},
                                             {"p99", Percentile(estimate_engine_ms, 99)}};
    out["serialize_ms"] =
        json::object{{"p50", Percentile(serialize_ms, 50)}, {"p99", Percentile(serialize_ms, 99)}};
    out["ratio_estimate_p50_over_parse_p50"] = ratio;
    out["ratio_estimate_min_over_parse_min"] = estimate_min / parse_min;
    out["catalog"] = json::object{{"prices", catalog->size()},
                                  {"load_ms", Stats(catalog_ms)},
                                  {"heap_bytes", catalog_heap},
                                  {"load_peak_heap_bytes", catalog_load_peak},
                                  {"rss_growth_kib", rss_after_catalog - rss_before_catalog}};
    out["peak_heap_bytes"] = json::object{{"estimate", estimate_peak}, {"parse", parse_peak}};
    std::ofstream(args.json_out) << json::serialize(out) << "\n";
  }
  return 0;
}
