package t

# sprintf with a precision past ~60 digits prints uninitialized stack bytes
a := sprintf("%.99g", [1.5])
b := sprintf("%.70e", [1.5])
c := sprintf("%.62v", [0.1])
d := sprintf("%.99\u0001", [1.5])
