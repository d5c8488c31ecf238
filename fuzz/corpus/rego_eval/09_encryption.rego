package terraform_plan

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "aws_db_instance"
  rc.change.after.storage_encrypted != true
  msg := sprintf("%s: storage must be encrypted", [rc.address])
}

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "aws_s3_bucket"
  not encrypted(rc.change.after)
  msg := sprintf("%s: bucket must be encrypted", [rc.address])
}

encrypted(after) {
  after.server_side_encryption_configuration[_].rule[_].apply_server_side_encryption_by_default[_].sse_algorithm
}
