package terraform_plan

import rego.v1

v := input.terraform_version
ok_version if semver.compare(v, "1.5.0") >= 0
valid := semver.is_valid(v)
mem := units.parse_bytes("512MiB")
cpu := units.parse("250m")
uuid_like := regex.find_n(`[0-9]+`, "a1b22c333", -1)
tpl := strings.replace_n({"{{name}}": "web"}, "host-{{name}}")
upper_first := concat("", [upper(substring(v, 0, 1)), substring(v, 1, -1)])
deny contains msg if {
  not ok_version
  msg := sprintf("terraform %s is too old", [v])
}
