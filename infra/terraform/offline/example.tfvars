# Plausible IDs for the offline plan (infra/check.py); none of them is looked up.
cluster_name       = "replica"
node_role_arn      = "arn:aws:iam::123456789012:role/replica-gpu-nodes"
subnet_ids         = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
data_bucket_name   = "replica-dvc-example"
mlflow_bucket_name = "replica-mlflow-example"
kms_key_arn        = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
access_log_bucket  = "replica-access-logs-example"
