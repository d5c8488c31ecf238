package terraform_plan

public_acls := ["public-read", "public-read-write", "authenticated-read"]

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "aws_s3_bucket"
  acl := rc.change.after.acl
  acl == public_acls[_]
  msg := sprintf("bucket %s must not be public (acl %s)", [rc.address, acl])
}

warn[msg] {
  rc := input.resource_changes[_]
  startswith(rc.type, "aws_s3")
  not rc.change.after.server_side_encryption_configuration
  msg := concat(" ", ["bucket", rc.name, "has no encryption"])
}
