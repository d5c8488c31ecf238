package edge

import rego.v1

# int_min_div
x_0 := (0 - 9223372036854775807 - 1) / -1

# int_min_rem
x_1 := (0 - 9223372036854775807 - 1) % -1

# int_min_abs
x_2 := abs(0 - 9223372036854775807 - 1)

# two63
x_3 := 9223372036854775808.0 + 0
y_3 := round(9223372036854775808.0)
z_3 := 9223372036854775807.0 * 1

# round_huge
x_4 := round(1e300)
y_4 := ceil(-1e300)
z_4 := floor(1e19)

# format_int_huge
x_5 := format_int(1e300, 10)
y_5 := format_int(0 - 9223372036854775807 - 1, 2)
z_5 := format_int(-1e19, 16)

# bits_shift
x_6 := bits.lsh(1, 64)
y_6 := bits.lsh(1, -1)
z_6 := bits.rsh(-8, 100)
w_6 := bits.lsh(9223372036854775807, 1)
v_6 := bits.negate(1e300)

# num_json
x_7 := 1e308 * 10
y_7 := 0 - 1e308 * 10
z_7 := x_7 - x_7
w_7 := 1 / 0
v_7 := 1 % 0
u_7 := 5.5 % 2

# range_step
x_8 := numbers.range_step(0, 9223372036854775807, 4611686018427387904)
y_8 := numbers.range_step(1, 10, 0)
