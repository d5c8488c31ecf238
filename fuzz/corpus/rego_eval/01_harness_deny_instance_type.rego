package terraform_plan

allowed_types := {"t3.micro", "t3.small", "m5.large"}

deny[msg] {
  r := input.planned_values.root_module.resources[_]
  r.type == "aws_instance"
  not allowed_types[r.values.instance_type]
  msg := sprintf("%s: instance type %q is not allowed", [r.address, r.values.instance_type])
}
