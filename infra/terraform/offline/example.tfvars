# Plausible values for the offline plan (infra/check.py); none of them is looked up.
cluster_name       = "replica"
availability_zones = ["us-east-1a", "us-east-1b"]
api_allowed_cidrs  = ["203.0.113.0/24"]
data_bucket_name   = "replica-dvc-example"
mlflow_bucket_name = "replica-mlflow-example"
kms_key_arn        = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
access_log_bucket  = "replica-access-logs-example"
