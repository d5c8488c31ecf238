package quantifiers

import rego.v1

all_positive if every x in input.xs { x > 0 }
all_pairs if every k, v in input.obj { is_string(k); v != null }
found if some x in input.xs
pairs := [[k, v] | some k, v in input.obj]
patterns := [a | some [a, _] in [[1, 2], [3, 4]]]
neg if not some_defined
some_defined if { some i; input.xs[i] }
member_op := 1 in [1, 2]
kv_member := 0, 1 in [1]
