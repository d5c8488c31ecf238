package workspace

import rego.v1

deny contains msg if {
  some k
  input.workspace.tags[k]
  print("tag", k, input.workspace.tags[k])
  not k in {"team", "owner"}
  msg := sprintf("unexpected tag %s", [k])
}

warn contains msg if {
  some i, s in input.strings
  s == ""
  msg := sprintf("empty string at %d", [i])
}
