package edge

import rego.v1

# yaml_recursive
x_0 := yaml.unmarshal("a: &a\n  b: *a\n")

# json_marshal_keys
x_1 := json.marshal({1: 2, [1]: {"a"}, null: 1.5e300})
y_1 := yaml.marshal({1: 2, [1]: {"a"}, null: -0.0})
z_1 := json.marshal_with_options({"a": [1]}, {"pretty": true, "indent": "\t", "prefix": "xx"})

# json_patch
x_2 := json.patch({"a": [1,2]}, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "move", "from": "/a", "path": "/a/0"}, {"op": "copy", "from": "", "path": "/b"}, {"op": "test", "path": "/~2", "value": 1}])

# json_filter
x_3 := json.filter({"a": {"b": 1}}, ["a/b/c/d", "", "/", "a"])
y_3 := json.remove({"a": [1, {"b": 2}]}, ["a/1/b", "a/9999999999999999999", "a/-1"])

# base64
x_4 := base64.decode("====")
y_4 := base64url.decode("_-_-_-!")
z_4 := hex.decode("abc")
w_4 := base64.decode("YQ")
v_4 := urlquery.decode("%zz%")
u_4 := urlquery.decode_object("a=%ZZ&&=&b")

# jwt
x_5 := io.jwt.decode("a.b.c")
y_5 := io.jwt.decode("eyJhbGciOiJub25lIn0.eyJleHAiOjE1MDAwfQ.")
z_5 := io.jwt.decode("...")

# bad_utf8_strings
x_6 := upper(base64.decode("/w=="))
y_6 := strings.reverse(base64.decode("wMA="))
z_6 := count(base64.decode("4oI="))
w_6 := substring(base64.decode("4oKs"), 0, 1)
v_6 := json.marshal(base64.decode("/w=="))
u_6 := regex.match(".", base64.decode("/w=="))

# sprintf_weird
x_7 := sprintf("%v %d %s %x %X %o %b %e %g %q %t %T %%", [1, 2.5, {"a"}, "hi", -1, 8, 5, 1e300, 1e-300, "q\n", true, null])
y_7 := sprintf("%[2]d %[1]s", ["a", 1])
z_7 := sprintf("%-+# 0123.456x", [255])

# sprintf_width
x_8 := sprintf("%999999999d", [1])
y_8 := sprintf("%.999999999f", [1.5])
z_8 := sprintf("%*d %[5]s %!", [1])
