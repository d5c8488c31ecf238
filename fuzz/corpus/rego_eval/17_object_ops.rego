package terraform_plan

import rego.v1

after := input.resource_changes[0].change.after
merged := object.union(after, {"extra": true})
removed := object.remove(after, ["tags"])
filtered := object.filter(after, ["instance_type"])
keys := object.keys(after)
got := object.get(after, ["tags", "owner"], "none")
walked := [p | walk(input.resource_changes[2], [p, v]); is_number(v)]
pairs := [[k, v] | some k, v in input.workspace.tags]
u := union({{1, 2}, {2, 3}})
i := intersection({{1, 2}, {2, 3}})
flat := [x | some row in [[1, 2], [3]]; some x in row]
sl := array.slice([1, 2, 3, 4], 1, 3)
rev := array.reverse([1, 2, 3])
js := json.marshal({"a": [1, 2]})
un := json.unmarshal(`{"b": [true, null]}`)
b64 := base64.encode("hello")
h := crypto.sha256("abc")
n := numbers.range(1, 5)
s := sum([1, 2.5, 3])
p := product([2, 3])
m := min({3, 1, 2})
a := abs(-4)
cnt := count({"x": 1})
typ := [type_name(x) | x := [null, true, 1, "s", [], {}, set()][_]]
