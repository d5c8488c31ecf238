package heads

import rego.v1

a.b.c := 1
a.b["d"] := 2
fruits[name] := color if {
  some name, color in {"apple": "red", "kiwi": "green"}
}
default allow := false
allow if input.user == "admin"
allow if {
  input.user == "ops"
} else := false
f(x, y) := x + y
g([a, b]) := a * b
h(x) if x > 0
i({"k": v}) := v
