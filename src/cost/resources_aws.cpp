// AWS resources: components named and measured as Infracost does.
#include <string>

#include "cost/resources.h"

namespace statehouse::cost::detail {
namespace {

const Decimal kOne = Decimal::FromInt(1);
const Decimal kMillion = Decimal::FromInt(1000000);
const Decimal kThousand = Decimal::FromInt(1000);

std::string VolumeLabel(const std::string& type) {
  if (type == "gp2" || type == "gp3") return "Storage (general purpose SSD, " + type + ")";
  if (type == "io1" || type == "io2") return "Storage (provisioned IOPS SSD, " + type + ")";
  if (type == "st1") return "Storage (throughput optimized HDD, st1)";
  if (type == "sc1") return "Storage (cold HDD, sc1)";
  if (type == "standard") return "Storage (magnetic)";
  return "Storage (" + type + ")";
}

// One EBS volume's components (an aws_ebs_volume, or an instance's root/ebs block device).
void EbsVolume(Builder& b, CostResource& target, const std::string& type,
               std::optional<Decimal> size, std::optional<Decimal> iops,
               std::optional<Decimal> throughput) {
  if (!size) {
    b.NoPrice("no price for " + VolumeLabel(type) + ": the volume size is not known until apply");
    b.AddPriced(target, VolumeLabel(type), "GB", std::nullopt, std::nullopt, std::nullopt);
    return;
  }
  b.Add(target, VolumeLabel(type), "GB", "ebs_storage", {{"volume_type", type}}, std::nullopt,
        size);
  if (type == "gp3") {
    if (iops && *iops > Decimal::FromInt(3000))
      b.Add(target, "Provisioned IOPS", "IOPS", "ebs_iops", {{"volume_type", "gp3"}, {"tier", "0"}},
            std::nullopt, *iops - Decimal::FromInt(3000));
    if (throughput && *throughput > Decimal::FromInt(125))
      b.Add(target, "Provisioned throughput", "Mbps", "ebs_throughput", {{"volume_type", "gp3"}},
            std::nullopt, *throughput - Decimal::FromInt(125));
  } else if (type == "io1") {
    b.Add(target, "Provisioned IOPS", "IOPS", "ebs_iops", {{"volume_type", "io1"}, {"tier", "0"}},
          std::nullopt, iops ? *iops : Decimal());
  } else if (type == "io2") {
    Decimal total = iops ? *iops : Decimal();
    const Decimal k32 = Decimal::FromInt(32000), k64 = Decimal::FromInt(64000);
    b.Add(target, "Provisioned IOPS (first 32K)", "IOPS", "ebs_iops",
          {{"volume_type", "io2"}, {"tier", "0"}}, std::nullopt, total < k32 ? total : k32);
    if (total > k32)
      b.Add(target, "Provisioned IOPS (32K-64K)", "IOPS", "ebs_iops",
            {{"volume_type", "io2"}, {"tier", "32000"}}, std::nullopt,
            (total < k64 ? total : k64) - k32);
    if (total > k64)
      b.Add(target, "Provisioned IOPS (over 64K)", "IOPS", "ebs_iops",
            {{"volume_type", "io2"}, {"tier", "64000"}}, std::nullopt, total - k64);
  } else if (type == "standard") {
    std::optional<Decimal> requests = b.Usage("monthly_standard_io_requests");
    b.Add(target, "I/O requests", "1M request", "ebs_io_requests", {{"volume_type", "standard"}},
          std::nullopt, requests ? std::optional(*requests / kMillion) : std::nullopt, true);
  }
}

std::string OsLabel(const std::string& os) {
  if (os == "windows") return "Windows";
  if (os == "rhel") return "RHEL";
  if (os == "suse") return "SUSE";
  return "Linux/UNIX";
}

void Instance(Builder& b) {
  std::optional<std::string> type = b.String("instance_type");
  std::string os = "linux";
  if (const boost::json::value* v =
          b.input().usage ? b.input().usage->if_contains("operating_system") : nullptr;
      v && v->is_string())
    os = std::string(v->get_string());
  std::string tenancy = b.String("tenancy").value_or("default");
  std::string tenancy_attr = tenancy == "dedicated" ? "dedicated"
                             : tenancy == "host"    ? "host"
                                                    : "shared";
  if (!type) {
    b.NoPrice("no price for the instance: instance_type is not known until apply");
  } else {
    b.Add("Instance usage (" + OsLabel(os) + ", on-demand, " + *type + ")", "hours", "ec2_instance",
          {{"instance_type", *type}, {"os", os}, {"tenancy", tenancy_attr}}, kOne, std::nullopt);
    std::string family = type->substr(0, type->find('.'));
    if (family == "t2" || family == "t3" || family == "t3a" || family == "t4g") {
      std::string credits = b.String("credit_specification.0.cpu_credits")
                                .value_or(family == "t2" ? "standard" : "unlimited");
      if (credits == "unlimited")
        b.Add("CPU credits", "vCPU-hours", "ec2_cpu_credits",
              {{"family", family}, {"os", os == "windows" ? "windows" : "linux"}}, std::nullopt,
              b.Usage("monthly_cpu_credit_hrs"), true);
    }
  }
  if (b.Bool("monitoring").value_or(false))
    b.Add("EC2 detailed monitoring", "metrics", "cloudwatch_detailed_monitoring", {}, std::nullopt,
          Decimal::FromInt(7));
  CostResource& root = b.Sub("root_block_device");
  EbsVolume(b, root, b.String("root_block_device.0.volume_type").value_or("gp2"),
            b.Number("root_block_device.0.volume_size").value_or(Decimal::FromInt(8)),
            b.Number("root_block_device.0.iops"), b.Number("root_block_device.0.throughput"));
  if (const boost::json::value* devices = b.Value("ebs_block_device");
      devices && devices->is_array()) {
    for (std::size_t i = 0; i < devices->get_array().size(); ++i) {
      std::string prefix = "ebs_block_device." + std::to_string(i) + ".";
      CostResource& device = b.Sub("ebs_block_device[" + std::to_string(i) + "]");
      EbsVolume(b, device, b.String(prefix + "volume_type").value_or("gp2"),
                b.Number(prefix + "volume_size"), b.Number(prefix + "iops"),
                b.Number(prefix + "throughput"));
    }
  }
}

void EbsVolumeResource(Builder& b) {
  EbsVolume(b, b.resource(), b.String("type").value_or("gp2"), b.Number("size"), b.Number("iops"),
            b.Number("throughput"));
}

void DbInstance(Builder& b) {
  std::optional<std::string> klass = b.String("instance_class");
  std::string engine = b.String("engine").value_or("");
  std::string deployment = b.Bool("multi_az").value_or(false) ? "multi-az" : "single-az";
  std::string az_label = deployment == "multi-az" ? "Multi-AZ" : "Single-AZ";
  if (engine == "aurora-mysql" || engine == "aurora-postgresql" || engine == "aurora") engine = "";
  if (!klass) {
    b.NoPrice("no price for the database instance: instance_class is not known until apply");
  } else if (engine != "mysql" && engine != "postgres" && engine != "mariadb") {
    b.NoPrice("no price for the database instance: engine \"" + b.String("engine").value_or("") +
              "\" is not in the price catalog (mysql, postgres and mariadb are)");
    b.AddPriced(b.resource(), "Database instance (on-demand, " + az_label + ", " + *klass + ")",
                "hours", std::nullopt, kOne, std::nullopt);
  } else {
    b.Add("Database instance (on-demand, " + az_label + ", " + *klass + ")", "hours",
          "rds_instance",
          {{"instance_class", *klass}, {"engine", engine}, {"deployment", deployment}}, kOne,
          std::nullopt);
  }
  std::optional<Decimal> iops = b.Number("iops");
  std::string storage = b.String("storage_type").value_or(iops && !iops->IsZero() ? "io1" : "gp2");
  if (std::optional<Decimal> size = b.Number("allocated_storage")) {
    b.Add(VolumeLabel(storage), "GB", "rds_storage",
          {{"volume_type", storage}, {"deployment", deployment}}, std::nullopt, *size);
    if (storage == "io1" && iops)
      b.Add("Provisioned IOPS", "IOPS", "rds_iops",
            {{"volume_type", "io1"}, {"deployment", deployment}}, std::nullopt, *iops);
  }
  b.Add("Additional backup storage", "GB", "rds_backup_storage", {}, std::nullopt,
        b.Usage("additional_backup_storage_gb"), true);
}

void NatGateway(Builder& b) {
  b.Add("NAT gateway", "hours", "nat_gateway", {}, kOne, std::nullopt);
  b.Add("Data processed", "GB", "nat_gateway_data", {}, std::nullopt,
        b.Usage("monthly_data_processed_gb"), true);
}

void LoadBalancer(Builder& b) {
  std::string type = b.String("load_balancer_type").value_or("application");
  std::string label = type == "network"   ? "Network load balancer"
                      : type == "gateway" ? "Gateway load balancer"
                                          : "Application load balancer";
  b.Add(label, "hours", "elb", {{"lb_type", type}}, kOne, std::nullopt);
  std::optional<Decimal> lcu = b.Usage("capacity_units");
  b.Add("Load balancer capacity units", "LCU", "elb_capacity_units", {{"lb_type", type}}, lcu,
        std::nullopt, true);
}

void Eip(Builder& b) { b.Add("IP address", "hours", "eip", {}, kOne, std::nullopt); }

void EksCluster(Builder& b) {
  b.Add("EKS cluster", "hours", "eks_cluster", {}, kOne, std::nullopt);
}

void EksNodeGroup(Builder& b) {
  std::string type = b.String("instance_types.0").value_or("t3.medium");
  Decimal nodes = b.Number("scaling_config.0.desired_size").value_or(kOne);
  std::string ami = b.String("ami_type").value_or("AL2_x86_64");
  std::string os = ami.find("WINDOWS") != std::string::npos ? "windows" : "linux";
  if (b.String("capacity_type").value_or("ON_DEMAND") == "SPOT") {
    b.NoPrice(
        "no price for spot instances: spot prices change by the minute and are not in the catalog");
    b.AddPriced(b.resource(), "Instance usage (" + OsLabel(os) + ", spot, " + type + ")", "hours",
                std::nullopt, nodes, std::nullopt);
  } else {
    b.Add("Instance usage (" + OsLabel(os) + ", on-demand, " + type + ")", "hours", "ec2_instance",
          {{"instance_type", type}, {"os", os}, {"tenancy", "shared"}}, nodes, std::nullopt);
  }
  if (!b.Value("launch_template.0")) {
    Decimal disk = b.Number("disk_size").value_or(Decimal::FromInt(20));
    b.Add(VolumeLabel("gp2"), "GB", "ebs_storage", {{"volume_type", "gp2"}}, std::nullopt,
          disk * nodes);
  }
}

void ElastiCacheCluster(Builder& b) {
  std::optional<std::string> node = b.String("node_type");
  std::string engine = b.String("engine").value_or("redis");
  if (engine == "valkey") engine = "redis";
  Decimal nodes = b.Number("num_cache_nodes").value_or(kOne);
  if (!node) {
    b.NoPrice("no price for the cache nodes: node_type is not known until apply");
  } else {
    b.Add("ElastiCache (on-demand, " + *node + ")", "hours", "elasticache_node",
          {{"node_type", *node}, {"engine", engine}}, nodes, std::nullopt);
  }
  std::optional<Decimal> retention = b.Number("snapshot_retention_limit");
  if (engine == "redis" && retention && *retention > kOne) {
    std::optional<Decimal> size = b.Usage("snapshot_storage_size_gb");
    b.Add("Backup storage", "GB", "elasticache_backup", {}, std::nullopt,
          size ? std::optional(*size * (*retention - kOne)) : std::nullopt, true);
  }
}

void DynamoDbTable(Builder& b) {
  std::string mode = b.String("billing_mode").value_or("PROVISIONED");
  if (mode == "PAY_PER_REQUEST") {
    std::optional<Decimal> writes = b.Usage("monthly_write_request_units");
    std::optional<Decimal> reads = b.Usage("monthly_read_request_units");
    b.Add("Write request unit (WRU)", "1M WRU", "dynamodb_write_request", {}, std::nullopt,
          writes ? std::optional(*writes / kMillion) : std::nullopt, true);
    b.Add("Read request unit (RRU)", "1M RRU", "dynamodb_read_request", {}, std::nullopt,
          reads ? std::optional(*reads / kMillion) : std::nullopt, true);
  } else {
    b.Add("Write capacity unit (WCU)", "WCU", "dynamodb_wcu", {},
          b.Number("write_capacity").value_or(Decimal()), std::nullopt);
    b.Add("Read capacity unit (RCU)", "RCU", "dynamodb_rcu", {},
          b.Number("read_capacity").value_or(Decimal()), std::nullopt);
  }
  b.Add("Data storage", "GB", "dynamodb_storage", {}, std::nullopt, b.Usage("storage_gb"), true);
}

void LambdaFunction(Builder& b) {
  std::string arch = b.String("architectures.0").value_or("x86_64");
  Decimal memory_gb =
      b.Number("memory_size").value_or(Decimal::FromInt(128)) / Decimal::FromInt(1024);
  std::optional<Decimal> requests = b.Usage("monthly_requests");
  std::optional<Decimal> duration_ms = b.Usage("request_duration_ms");
  b.Add("Requests", "1M requests", "lambda_requests", {}, std::nullopt,
        requests ? std::optional(*requests / kMillion) : std::nullopt, true);
  std::optional<Decimal> gb_seconds;
  if (requests && duration_ms) gb_seconds = *requests * (*duration_ms / kThousand) * memory_gb;
  b.Add(arch == "arm64" ? "Duration (arm64)" : "Duration", "GB-seconds", "lambda_duration",
        {{"architecture", arch}}, std::nullopt, gb_seconds, true);
}

void S3Bucket(Builder& b) {
  CostResource& standard = b.Sub("Standard");
  std::optional<Decimal> storage = b.Usage("standard.storage_gb");
  std::optional<Decimal> tier1 = b.Usage("standard.monthly_tier_1_requests");
  std::optional<Decimal> tier2 = b.Usage("standard.monthly_tier_2_requests");
  b.Add(standard, "Storage", "GB", "s3_storage", {{"storage_class", "standard"}}, std::nullopt,
        storage, true);
  b.Add(standard, "PUT, COPY, POST, LIST requests", "1k requests", "s3_requests_tier1",
        {{"storage_class", "standard"}}, std::nullopt,
        tier1 ? std::optional(*tier1 / kThousand) : std::nullopt, true);
  b.Add(standard, "GET, SELECT, and all other requests", "1k requests", "s3_requests_tier2",
        {{"storage_class", "standard"}}, std::nullopt,
        tier2 ? std::optional(*tier2 / kThousand) : std::nullopt, true);
}

void LogGroup(Builder& b) {
  b.Add("Data ingested", "GB", "cloudwatch_logs_ingestion", {}, std::nullopt,
        b.Usage("monthly_data_ingested_gb"), true);
  b.Add("Archival Storage", "GB", "cloudwatch_logs_storage", {}, std::nullopt,
        b.Usage("storage_gb"), true);
  b.Add("Insights queries data scanned", "GB", "cloudwatch_logs_insights", {}, std::nullopt,
        b.Usage("monthly_data_scanned_gb"), true);
}

}  // namespace

void RegisterAws(Registry& r) {
  r.estimators["aws_instance"] = Instance;
  r.estimators["aws_ebs_volume"] = EbsVolumeResource;
  r.estimators["aws_db_instance"] = DbInstance;
  r.estimators["aws_nat_gateway"] = NatGateway;
  r.estimators["aws_lb"] = LoadBalancer;
  r.estimators["aws_alb"] = LoadBalancer;
  r.estimators["aws_eip"] = Eip;
  r.estimators["aws_eks_cluster"] = EksCluster;
  r.estimators["aws_eks_node_group"] = EksNodeGroup;
  r.estimators["aws_elasticache_cluster"] = ElastiCacheCluster;
  r.estimators["aws_dynamodb_table"] = DynamoDbTable;
  r.estimators["aws_lambda_function"] = LambdaFunction;
  r.estimators["aws_s3_bucket"] = S3Bucket;
  r.estimators["aws_cloudwatch_log_group"] = LogGroup;
  for (const char* type : {"aws_vpc",
                           "aws_subnet",
                           "aws_security_group",
                           "aws_security_group_rule",
                           "aws_vpc_security_group_ingress_rule",
                           "aws_vpc_security_group_egress_rule",
                           "aws_internet_gateway",
                           "aws_egress_only_internet_gateway",
                           "aws_route_table",
                           "aws_route",
                           "aws_route_table_association",
                           "aws_main_route_table_association",
                           "aws_network_acl",
                           "aws_network_acl_rule",
                           "aws_default_vpc",
                           "aws_default_subnet",
                           "aws_default_security_group",
                           "aws_default_route_table",
                           "aws_default_network_acl",
                           "aws_vpc_dhcp_options",
                           "aws_vpc_dhcp_options_association",
                           "aws_eip_association",
                           "aws_network_interface",
                           "aws_network_interface_attachment",
                           "aws_key_pair",
                           "aws_launch_template",
                           "aws_launch_configuration",
                           "aws_placement_group",
                           "aws_volume_attachment",
                           "aws_iam_role",
                           "aws_iam_policy",
                           "aws_iam_role_policy",
                           "aws_iam_role_policy_attachment",
                           "aws_iam_user",
                           "aws_iam_user_policy",
                           "aws_iam_user_policy_attachment",
                           "aws_iam_group",
                           "aws_iam_group_policy",
                           "aws_iam_group_membership",
                           "aws_iam_group_policy_attachment",
                           "aws_iam_policy_attachment",
                           "aws_iam_instance_profile",
                           "aws_iam_access_key",
                           "aws_iam_openid_connect_provider",
                           "aws_iam_service_linked_role",
                           "aws_lb_target_group",
                           "aws_lb_listener",
                           "aws_lb_listener_rule",
                           "aws_lb_target_group_attachment",
                           "aws_alb_target_group",
                           "aws_alb_listener",
                           "aws_alb_listener_rule",
                           "aws_alb_target_group_attachment",
                           "aws_s3_bucket_policy",
                           "aws_s3_bucket_versioning",
                           "aws_s3_bucket_acl",
                           "aws_s3_bucket_public_access_block",
                           "aws_s3_bucket_ownership_controls",
                           "aws_s3_bucket_server_side_encryption_configuration",
                           "aws_s3_bucket_lifecycle_configuration",
                           "aws_s3_bucket_cors_configuration",
                           "aws_s3_bucket_logging",
                           "aws_s3_bucket_notification",
                           "aws_db_subnet_group",
                           "aws_db_parameter_group",
                           "aws_db_option_group",
                           "aws_elasticache_subnet_group",
                           "aws_elasticache_parameter_group",
                           "aws_cloudwatch_log_stream",
                           "aws_cloudwatch_log_resource_policy",
                           "aws_lambda_permission",
                           "aws_lambda_alias",
                           "aws_lambda_event_source_mapping",
                           "aws_eks_addon",
                           "aws_eks_access_entry",
                           "aws_eks_access_policy_association",
                           "aws_ssm_parameter",
                           "aws_autoscaling_attachment",
                           "aws_autoscaling_policy",
                           "aws_sns_topic_subscription",
                           "aws_sqs_queue_policy",
                           "aws_ecr_lifecycle_policy",
                           "aws_ecr_repository_policy",
                           "aws_kms_alias",
                           "aws_acm_certificate",
                           "aws_acm_certificate_validation",
                           "aws_ecs_cluster",
                           "aws_ecs_task_definition",
                           "aws_appautoscaling_target",
                           "aws_appautoscaling_policy"})
    r.free_types.insert(type);
  // Resources of utility providers cost nothing.
  for (const char* type :
       {"terraform_data", "null_resource", "random_id", "random_string", "random_password",
        "random_pet", "random_integer", "random_uuid", "random_shuffle", "local_file",
        "local_sensitive_file", "tls_private_key", "tls_self_signed_cert", "tls_cert_request",
        "time_sleep", "time_static", "time_rotating", "time_offset"})
    r.free_types.insert(type);
}

}  // namespace statehouse::cost::detail
