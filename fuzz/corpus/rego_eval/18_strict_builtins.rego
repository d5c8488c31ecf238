package terraform_plan

# strict: builtin errors halt
import rego.v1

bad := to_number("not a number")
ok := to_number("42")
