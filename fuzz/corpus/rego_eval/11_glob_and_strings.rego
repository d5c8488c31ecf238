package terraform_plan

import rego.v1

deny contains msg if {
  some s in input.strings
  glob.match("*.example.com", ["."], s)
  msg := sprintf("wildcard host %s", [s])
}

parts := split(input.workspace.repository, "/")
repo := trim_suffix(parts[count(parts) - 1], ".git")
joined := concat(",", sort([x | some x in input.strings]))
replaced := replace(input.workspace.repository, "github.com", "git.example.com")
sub := substring(input.workspace.repository, 8, 10)
idx := indexof(input.workspace.repository, "acme")
fmt := sprintf("%s|%d|%v|%.3f|%x", ["s", 42, {"a": [1, 2]}, 3.14159, 255])
