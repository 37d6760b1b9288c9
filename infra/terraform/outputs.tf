output "gpu_node_group" {
  value = aws_eks_node_group.gpu.node_group_name
}

output "bucket_arns" {
  value = { for k, b in aws_s3_bucket.this : k => b.arn }
}
