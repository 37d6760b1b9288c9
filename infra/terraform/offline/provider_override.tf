# Copied beside the module only for offline checks (infra/check.py): fake credentials and no
# calls to AWS, so `terraform plan` runs without an account. Never part of a real apply.
provider "aws" {
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
