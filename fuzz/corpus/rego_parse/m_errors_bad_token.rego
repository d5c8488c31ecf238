package broken

p := 1 +* 2
q { input.x ==== 1 }
