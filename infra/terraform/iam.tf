# IRSA roles: each trusted by exactly one Kubernetes service account (namespace and name) through
# the cluster's OIDC provider, and allowed only what that workload does.
locals {
  issuer = replace(aws_iam_openid_connect_provider.this.url, "https://", "")
  irsa = {
    # every replica step pod (Airflow's, KFP's, the workspace job): the DVC remote
    steps = {
      namespace       = var.namespace
      service_account = "replica-steps"
      bucket          = "data"
    }
    # the MLflow tracking server: its artifact store
    mlflow = {
      namespace       = var.namespace
      service_account = "mlflow"
      bucket          = "mlflow"
    }
    # the EFS CSI controller: creates the workspace's access points
    efs_csi = {
      namespace       = "kube-system"
      service_account = "efs-csi-controller-sa"
      bucket          = null
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa
  name     = "${var.cluster_name}-${replace(each.key, "_", "-")}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = aws_iam_openid_connect_provider.this.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.issuer}:sub" = "system:serviceaccount:${each.value.namespace}:${each.value.service_account}"
          "${local.issuer}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "efs_csi" {
  role       = aws_iam_role.irsa["efs_csi"].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
}

# Read and write one bucket (and use the key that encrypts it); nothing else.
resource "aws_iam_role_policy" "bucket" {
  for_each = { for k, v in local.irsa : k => v if v.bucket != null }
  name     = "bucket-${each.value.bucket}"
  role     = aws_iam_role.irsa[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = aws_s3_bucket.this[each.value.bucket].arn
      },
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = "${aws_s3_bucket.this[each.value.bucket].arn}/*"
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.kms_key_arn
      },
    ]
  })
}
