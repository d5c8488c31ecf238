package terraform_plan

import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  "delete" in rc.change.actions
  data.config.protected[rc.address]
  msg := sprintf("%s is protected and cannot be deleted", [rc.address])
}

replaced contains rc.address if {
  some rc in input.resource_changes
  rc.change.actions == ["delete", "create"]
}

every_change_known if {
  every rc in input.resource_changes {
    is_array(rc.change.actions)
  }
}
