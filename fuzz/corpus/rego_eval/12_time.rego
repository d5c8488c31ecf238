package workspace

import rego.v1

created := time.parse_rfc3339_ns("2024-01-02T03:04:05Z")
now := time.now_ns()
age_days := (now - created) / (24 * 60 * 60 * 1000000000)
date := time.date(created)
clock := time.clock(created)
weekday := time.weekday(created)
later := time.add_date(created, 0, 1, 0)
dur := time.parse_duration_ns("1h30m")

deny contains "too old" if age_days > 10000

deny contains msg if {
  input.workspace.provisioner == "ansible"
  msg := "provisioner ansible is not allowed"
}
