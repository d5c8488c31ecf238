package terraform_plan

region := input.configuration.provider_config.aws.expressions.region.constant_value

deny[msg] {
  not region_allowed
  msg := sprintf("region %s is not one of %v", [region, data.config.allowed_regions])
}

region_allowed {
  region == data.config.allowed_regions[_]
}
