package v0

import input.request as req
import data.lib.x

deny[msg] {
  req.method == "DELETE"
  msg := "no deletes"
}
allow = true { count(deny) == 0 }
vals[x] { x := req.items[_] }
obj[k] = v { v := req.obj[k] }
