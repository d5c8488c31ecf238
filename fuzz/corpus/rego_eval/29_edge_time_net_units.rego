package edge

import rego.v1

# time_add_date
x_0 := time.add_date(0, 9223372036854775807, 0, 0)
y_0 := time.add_date(9223372036854775807, 1, 1, 1)
z_0 := time.add_date(0 - 9223372036854775807, -99999999999, 0, 0)

# time_huge
x_1 := time.date(9223372036854775807)
y_1 := time.clock(0 - 9223372036854775807 - 1)
z_1 := time.weekday([0 - 9223372036854775807, "Asia/Kolkata"])
w_1 := time.date(1e300)
v_1 := time.diff(0, 9223372036854775807)

# time_parse
x_2 := time.parse_ns("2006-01-02", "99999-99-99")
y_2 := time.parse_rfc3339_ns("9999999-12-31T23:59:59.999999999999Z")
z_2 := time.parse_duration_ns("9999999999999999999h")
w_2 := time.parse_duration_ns("-.5h1.000000000001s")
v_2 := time.format([1, "Nowhere/Zone", "Mon"])

# time_format
x_3 := time.format([0, "UTC", "Mon Jan _2 15:04:05.000000000 MST 2006 -07:00:00 Z07 .999 PM pm __2 002"])
y_3 := time.parse_ns("Mon Jan _2 15:04:05 MST 2006", "Mon Feb  3 04:05:06 XYZ 2024")

# units
x_4 := units.parse_bytes("99999999999999999999999EiB")
y_4 := units.parse("1e400")
z_4 := units.parse("-0.000000001n")
w_4 := units.parse_bytes("1.5.5K")
v_4 := units.parse_bytes("")

# to_number
x_5 := to_number("1e400")
y_5 := to_number("-0")
z_5 := to_number("0x10")
w_5 := to_number("NaN")
v_5 := to_number("Inf")
u_5 := to_number(" 1")

# semver
x_6 := semver.compare("1.0.0-alpha.99999999999999999999999", "1.0.0-alpha.1")
y_6 := semver.is_valid("99999999999999999999.0.0")
z_6 := semver.compare("1.0.0+build", "1.0.0-0.a.b.c.d.e")

# cidr_weird
x_7 := net.cidr_contains("10.0.0.0/99", "10.0.0.1")
y_7 := net.cidr_merge(["0.0.0.0/0", "::/0", "1.2.3.4/32", "1.2.3.5"])
z_7 := net.cidr_intersects("::ffff:1.2.3.4/200", "1.2.3.4/8")

# graph
x_8 := graph.reachable({"a": {"b"}, "b": ["a", "c"], "c": null, 1: [[1]]}, ["a", 1])
y_8 := graph.reachable({"a": "b"}, {"a"})
