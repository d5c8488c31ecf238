package terraform_plan

import rego.v1

open_cidrs := {"0.0.0.0/0", "::/0"}

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "aws_security_group"
  some rule in rc.change.after.ingress
  some cidr in array.concat(object.get(rule, "cidr_blocks", []), object.get(rule, "ipv6_cidr_blocks", []))
  cidr in open_cidrs
  msg := sprintf("%s allows ingress from %s on ports %d-%d", [rc.address, cidr, rule.from_port, rule.to_port])
}

deny contains msg if {
  some rc in input.resource_changes
  some rule in rc.change.after.ingress
  some cidr in rule.cidr_blocks
  net.cidr_contains(cidr, "8.8.8.8")
  msg := sprintf("%s: %s covers public addresses", [rc.address, cidr])
}
