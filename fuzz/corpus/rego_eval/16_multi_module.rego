package terraform_plan

import data.lib.tags
import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  not tags.tagged(rc)
  msg := sprintf("%s: untagged", [rc.address])
}

# module
package lib.tags

import rego.v1

tagged(rc) if count(object.get(rc.change, ["after", "tags"], {})) > 0
