package edge

import rego.v1

# with_self
p_0 := 1
q_0 := r if { r := p_0 with p_0 as 2 }
w_0 := v if { v := data.t with data.edge.p as 3 }

# with_input_data
x_1 := y if { y := data with data as 1 }
z_1 := y if { y := input with input as data }

# object_ops
x_2 := object.union_n([{"a": {"b": 1}}, {"a": {"b": {"c": 2}}}, {"a": 3}])
y_2 := object.subset({"a": [1, 2, 3]}, {"a": [2, 3]})
z_2 := object.subset([1, 2, 3], [3, 1])
w_2 := object.get({"a": {"b": 1}}, [], 0)
v_2 := object.remove({"a": 1}, {"a": 1})
u_2 := object.filter({"a": 1}, {"a": 1})

# set_of_sets
x_3 := {{1}, {1, 2}, {{1}}, {{}}, set()}
y_3 := x_3 | {{1}}
z_3 := x_3 & {set()}
w_3 := x_3 - {{1}}

# sort_mixed
x_4 := sort([{"a"}, [1], {"a": 1}, null, true, 1, "s", 1.5, {1, 2}, [], {}])
y_4 := sort({3, 1, 2})
z_4 := max([])
w_4 := min({})
v_4 := sum([])
u_4 := product([])

# any_all
x_5 := any([])
y_5 := all({})
z_5 := any({"a": true})

# print_many
x_6 if { print(input, data, set(), {"a": [1]}, "x", null, 1.5e300, -0) }
y_6 if { print() }

# slice
x_7 := array.slice([1,2,3], -9223372036854775807, 9223372036854775807)
y_7 := array.slice([1,2,3], 2, 1)
z_7 := array.slice([1], 1e300, 1e301)

# cartesian
xs_8 := numbers.range(1, 200)
x_8 := count([1 | some a in xs_8; some b in xs_8; some c in xs_8])

# sprintf_big
s_9 := sprintf("%v", [numbers.range(1, 100000)])
t_9 := sprintf("%s%s%s%s%s%s%s%s%s%s", [s_9, s_9, s_9, s_9, s_9, s_9, s_9, s_9, s_9, s_9])
u_9 := sprintf("%s%s%s%s%s%s%s%s%s%s", [t_9, t_9, t_9, t_9, t_9, t_9, t_9, t_9, t_9, t_9])
