package terraform_plan

import rego.v1

allowed_prefixes := ["git::https://github.com/acme/", "app.terraform.io/acme/"]

deny contains msg if {
  some name, call in input.configuration.root_module.module_calls
  not allowed_source(call.source)
  msg := sprintf("module %s uses source %s", [name, call.source])
}

allowed_source(src) if {
  some p in allowed_prefixes
  startswith(src, p)
}

allowed_source(src) if regex.match(`^\./modules/[a-z_]+$`, src)
