package terraform_plan

import rego.v1

by_address[rc.address] := rc.change.actions if {
  some rc in input.resource_changes
}

types[t] := n if {
  some t in {rc.type | some rc in input.resource_changes}
  n := count([1 | some rc in input.resource_changes; rc.type == t])
}

a.b.c := 1
a.b.d := 2

deny contains msg if {
  some addr, actions in by_address
  count(actions) > 1
  msg := sprintf("%s is replaced", [addr])
}
