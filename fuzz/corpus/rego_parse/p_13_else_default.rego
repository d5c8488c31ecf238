package workspace

default tier := "unknown"

tier := "gold" {
  input.workspace.budget > 1000
} else := "silver" {
  input.workspace.budget > 100
} else := "bronze"

severity(n) := "high" { n > 10 } else := "low"

deny[msg] {
  tier == "bronze"
  msg := sprintf("tier %s workspaces need approval (%s)", [tier, severity(3)])
}
