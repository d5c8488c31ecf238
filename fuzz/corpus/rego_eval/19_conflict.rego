package terraform_plan

x = 1 { true }
x = 2 { input.workspace.provisioner == "terraform" }

deny[msg] {
  x == 3
  msg := "never"
}
