package terraform_plan

import rego.v1

big := input.numbers[3] + 1
huge := input.numbers[4] * 10
quot := 7 / 2
remainder := 7 % 3
neg := 0 - input.numbers[2]
minus_one := -1
cmp := [c | some x in input.numbers; some y in input.numbers; c := x < y]
r := round(2.5)
c := ceil(1.2)
f := floor(-1.2)
band := bits.and(12, 10)
fmt := format_int(255, 16)
num := to_number("1e3")
deny contains "big" if big > 9007199254740993
