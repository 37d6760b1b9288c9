# Copied beside the module only for the offline plan (infra/check.py): state in a local file
# instead of the S3 backend, which needs an account. `validate` runs with `init -backend=false`.
terraform {
  backend "local" {}
}
