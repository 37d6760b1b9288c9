# Run once per account, with local state, before the main module: the S3 bucket and DynamoDB
# table that hold and lock the main module's state (../backend.hcl.example names them).
#   terraform -chdir=infra/terraform/bootstrap init && terraform -chdir=... apply
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "state_bucket_name" {
  description = "Globally unique name of the state bucket."
  type        = string
}

variable "lock_table_name" {
  type    = string
  default = "replica-terraform-locks"
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the state (it holds secrets' metadata)."
  type        = string
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:access logs of the state bucket would need a second bootstrap bucket
  #checkov:skip=CKV2_AWS_61:every state version is kept: no lifecycle rule expires any
  bucket = var.state_bucket_name
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_dynamodb_table" "locks" {
  name         = var.lock_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}

output "state_bucket" {
  value = aws_s3_bucket.state.id
}

output "lock_table" {
  value = aws_dynamodb_table.locks.name
}
