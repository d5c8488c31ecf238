package lit.a["b c"].d

s := "esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"
raw := `raw \n string`
nums := [0, -1, 1.5, -2.5e-3, 1E10, 123456789012345678901234567890, 0.0]
obj := {"a": 1, 2: "two", [1]: {"nested": {1, 2}}, null: true}
empty_set := set()
empty_obj := {}
trailing := [1, 2, 3,]
