locals {
  # The label and taint every GPU pod of the project selects and tolerates (Airflow DAGs,
  # KFP pipelines): nothing else is scheduled on these nodes.
  gpu_label = { "replica.io/node-pool" = "gpu" }
  gpu_taint = { key = "nvidia.com/gpu", value = "true", effect = "NO_SCHEDULE" }
  buckets = {
    data   = var.data_bucket_name
    mlflow = var.mlflow_bucket_name
  }
  # availability zone -> its index (subnet numbering)
  zones = { for i, z in var.availability_zones : z => i }
}

resource "aws_eks_node_group" "gpu" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "replica-gpu"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = [for s in aws_subnet.private : s.id]
  instance_types  = var.gpu_instance_types
  capacity_type   = var.gpu_capacity_type
  ami_type        = "AL2023_x86_64_NVIDIA"
  disk_size       = 200

  scaling_config {
    min_size     = 0
    desired_size = 0
    max_size     = var.gpu_max_nodes
  }

  update_config {
    max_unavailable = 1
  }

  labels = local.gpu_label

  taint {
    key    = local.gpu_taint.key
    value  = local.gpu_taint.value
    effect = local.gpu_taint.effect
  }

  # The cluster autoscaler scales a group up from zero only if it knows its labels and taints.
  tags = {
    "k8s.io/cluster-autoscaler/enabled"                                  = "true"
    "k8s.io/cluster-autoscaler/${var.cluster_name}"                      = "owned"
    "k8s.io/cluster-autoscaler/node-template/label/replica.io/node-pool" = "gpu"
    "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"       = "true:NoSchedule"
  }

  lifecycle {
    ignore_changes = [scaling_config[0].desired_size] # owned by the autoscaler
  }

  depends_on = [aws_iam_role_policy_attachment.nodes]
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets
  bucket   = each.value
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = aws_s3_bucket.this
  bucket        = each.value.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${each.value.id}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    id     = "abort-incomplete-uploads-and-expire-old-versions"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
  }
}
