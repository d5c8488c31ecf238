package lib.helpers

import rego.v1

has_key(obj, k) if _ = obj[k]

resources_of(t) := [rc | some rc in input.resource_changes; rc.type == t]

changes(actions) := {rc.address | some rc in input.resource_changes; some a in actions; a in rc.change.actions}

max_port := max([r.to_port | some rc in input.resource_changes; some r in object.get(rc.change.after, "ingress", [])])

counts := {t: count(resources_of(t)) | some t in ["aws_instance", "aws_s3_bucket", "aws_db_instance"]}

deletes := changes(["delete"])
