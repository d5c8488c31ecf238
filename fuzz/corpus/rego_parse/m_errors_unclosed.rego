package broken

deny[msg] {
  msg := sprintf("%s", [input.x
