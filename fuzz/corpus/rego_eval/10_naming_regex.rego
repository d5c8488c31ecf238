package terraform_plan

import future.keywords.in
import future.keywords.if
import future.keywords.contains

pattern := `^[a-z][a-z0-9_]{2,30}$`

deny contains msg if {
  some rc in input.resource_changes
  not regex.match(pattern, rc.name)
  msg := sprintf("resource name %q does not match %s", [rc.name, pattern])
}

names := [lower(rc.name) | rc := input.resource_changes[_]]
upper_names := {upper(n) | n := names[_]}
by_type := {t: count([r | r := input.resource_changes[_]; r.type == t]) | t := input.resource_changes[_].type}
