output "cluster_name" {
  value = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  value = aws_eks_cluster.this.endpoint
}

output "gpu_node_group" {
  value = aws_eks_node_group.gpu.node_group_name
}

output "bucket_arns" {
  value = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "data_bucket" {
  description = "The DVC remote: workspace.sync.dvcRemoteUrl = s3://<this>/dvc"
  value       = aws_s3_bucket.this["data"].id
}

output "efs_file_system_id" {
  description = "The chart's workspace.storageClass.fileSystemId"
  value       = aws_efs_file_system.workspace.id
}

output "steps_role_arn" {
  description = "The chart's serviceAccounts.steps.roleArn"
  value       = aws_iam_role.irsa["steps"].arn
}

output "mlflow_role_arn" {
  description = "The chart's serviceAccounts.mlflow.roleArn"
  value       = aws_iam_role.irsa["mlflow"].arn
}
