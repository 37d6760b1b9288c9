# Every ID comes in as a variable: the module reads nothing from the account (no data sources),
# so it plans offline and never depends on what happens to exist.

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "cluster_name" {
  description = "The existing EKS cluster the GPU node group joins."
  type        = string
}

variable "node_role_arn" {
  description = "IAM role of the GPU nodes (AmazonEKSWorkerNodePolicy, CNI, ECR read-only)."
  type        = string
  validation {
    condition     = can(regex("^arn:aws:iam::[0-9]{12}:role/", var.node_role_arn))
    error_message = "node_role_arn must be an IAM role ARN."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the GPU nodes."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must be one or more subnet IDs."
  }
}

variable "gpu_instance_types" {
  description = "GPU instance types (NVIDIA g5/g6/g6e/p4d/p5 families)."
  type        = list(string)
  default     = ["g5.2xlarge"]
  validation {
    condition     = length(var.gpu_instance_types) > 0 && alltrue([for t in var.gpu_instance_types : can(regex("^(g5|g6|g6e|p4d|p5)\\.", t))])
    error_message = "GPU node group must use NVIDIA GPU instance types (g5, g6, g6e, p4d, p5)."
  }
}

variable "gpu_capacity_type" {
  type    = string
  default = "ON_DEMAND"
  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_capacity_type)
    error_message = "gpu_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "gpu_max_nodes" {
  description = "Upper bound of the GPU pool; it scales from zero."
  type        = number
  default     = 4
}

variable "data_bucket_name" {
  description = "S3 bucket for the DVC remote."
  type        = string
}

variable "mlflow_bucket_name" {
  description = "S3 bucket for MLflow artifacts."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts both buckets."
  type        = string
}

variable "access_log_bucket" {
  description = "Existing bucket that receives the S3 server access logs."
  type        = string
}

variable "tags" {
  type    = map(string)
  default = { "app.kubernetes.io/part-of" = "replica" }
}
