package terraform_plan

import rego.v1

required := {"owner", "cost_center"}

deny contains msg if {
  some rc in input.resource_changes
  rc.change.after.tags != null
  provided := {k | some k, _ in rc.change.after.tags}
  missing := required - provided
  count(missing) > 0
  msg := sprintf("%s is missing tags %v", [rc.address, missing])
}

deny contains msg if {
  some rc in input.resource_changes
  object.get(rc.change.after, "tags", null) == null
  not "delete" in rc.change.actions
  msg := sprintf("%s has no tags", [rc.address])
}
