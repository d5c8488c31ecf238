# leading comment
package  comments   # after package

# a comment
p {   # brace comment
  true  # inline
  # alone
}

q = 1 { 1 == 1; 2 == 2 }  # semicolons
r := x { x := 1 } # trailing
