package t

import rego.v1

s := sprintf("%v", [numbers.range(1, 20000)])
t := sprintf("%s%s%s%s%s%s%s%s%s%s", [s, s, s, s, s, s, s, s, s, s])
big := sprintf("%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s", [t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t])
