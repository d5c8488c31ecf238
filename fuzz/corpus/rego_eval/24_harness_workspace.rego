package workspace

deny[sprintf("workspace '%s' must use opentofu, not '%s'", [input.workspace.identifier, input.workspace.provisioner])] {
  input.workspace.provisioner != "opentofu"
}

deny["workspaces need a team tag"] {
  not input.workspace.tags.team
}

deny[msg] {
  not startswith(input.workspace.repository, "https://github.com/acme/")
  msg := "repositories must live under github.com/acme"
}
