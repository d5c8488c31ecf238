package terraform_plan

import rego.v1

private := ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]

public_cidr(c) if {
  every p in private {
    not net.cidr_contains(p, c)
  }
}

deny contains msg if {
  some rc in input.resource_changes
  some rule in object.get(rc.change.after, "ingress", [])
  some c in rule.cidr_blocks
  public_cidr(c)
  msg := sprintf("%s: ingress from public %s", [rc.address, c])
}

overlap := net.cidr_intersects("10.0.0.0/8", "10.1.0.0/16")
expanded := count(net.cidr_expand("10.0.0.0/30"))
