terraform {
  required_version = ">= 1.6"
  # Remote state: S3 with a DynamoDB lock table (made once by ./bootstrap). Settings come from
  # `terraform init -backend-config=backend.hcl` (backend.hcl.example); CI checks offline with
  # `init -backend=false`.
  backend "s3" {}
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = var.tags
  }
}
