package edge

import rego.v1

# replace_empty
x_0 := replace("abc", "", "x")
y_0 := strings.replace_n({"": "x"}, "abc")
z_0 := strings.count("abc", "")
w_0 := indexof_n("aaa", "")
v_0 := split("abc", "")

# regex_empty
x_1 := regex.find_n("a*", "bbbb", -1)
y_1 := regex.replace("abc", "x*", "-")
z_1 := regex.split("", "abc")
w_1 := regex.find_all_string_submatch_n("(a*)", "baaab", -1)

# regex_backtrack
x_2 := regex.match("^(a+)+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!")

# regex_rep
x_3 := regex.match("a{1000}{1000}{1000}", "a")
y_3 := regex.match("(a{0,1000}){0,1000}", "a")
z_3 := regex.match("[\\x{10FFFF}-\\x{0}]", "a")

# glob_backtrack
x_4 := glob.match("*a*a*a*a*a*a*a*a*a*a*a*a*b", [], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
y_4 := glob.match("**.**.**.**.**.**.**.**.x", ["."], "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a")

# glob_weird
x_5 := glob.match("[", [], "a")
y_5 := glob.match("{a,{b,{c", [], "a")
z_5 := glob.match("[!]]", [], "]")
w_5 := glob.match("\\", [], "a")

# substring
x_6 := substring("héllo", -1, 3)
y_6 := substring("héllo", 9223372036854775807, 9223372036854775807)
z_6 := substring("abc", 1, -5)
w_6 := substring("abc", 2.5, 1)

# trim
x_7 := trim("aaa", "")
y_7 := trim_left("", "")
z_7 := trim_space("\u2028 x \u00a0")
w_7 := strings.reverse("e\u0301x")
v_7 := lower("İ")
u_7 := upper("ß")

# strings_any
x_8 := strings.any_prefix_match([], [])
y_8 := strings.any_suffix_match("a", ["", "a"])
z_8 := contains("", "")
w_8 := startswith("", "")
v_8 := indexof("", "")

# nul_strings
x_9 := concat("\u0000", ["a", "b"])
y_9 := regex.match("\u0000", "a\u0000b")
z_9 := glob.match("\u0000*", [], "\u0000x")
w_9 := split("a\u0000b", "\u0000")
