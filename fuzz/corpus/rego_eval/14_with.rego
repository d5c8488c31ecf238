package terraform_plan

import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_instance"
  msg := sprintf("instance %s", [rc.address])
}

test_deny_with_mock if {
  count(deny) == 0 with input as {"resource_changes": []}
}

test_deny_with_data if {
  allowed with data.config.allowed_regions as ["ap-south-1"]
}

allowed if input.configuration.provider_config.aws.expressions.region.constant_value in data.config.allowed_regions

mocked := x if {
  x := count("abc") with count as mock_count
}

mock_count(_) := 99
