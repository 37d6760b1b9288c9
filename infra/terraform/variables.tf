# Every ID comes in as a variable: the module reads nothing from the account (no data sources),
# so it plans offline and never depends on what happens to exist.

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "cluster_name" {
  description = "Name of the EKS cluster (and prefix of its IAM roles, VPC and file system)."
  type        = string
  default     = "replica"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version; infra/check.py validates the manifests against it."
  type        = string
  default     = "1.30"
}

variable "namespace" {
  description = "The Kubernetes namespace replica runs in (its IRSA roles trust it)."
  type        = string
  default     = "replica"
}

variable "vpc_cidr" {
  type    = string
  default = "10.42.0.0/16"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 18
    error_message = "vpc_cidr must be an IPv4 CIDR of /18 or larger."
  }
}

variable "availability_zones" {
  description = "Zones for the private/public subnet pairs and the file system's mount targets."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 6
    error_message = "availability_zones must list 2 to 6 zones."
  }
}

variable "api_allowed_cidrs" {
  description = "CIDRs allowed to reach the public Kubernetes API endpoint; empty: private only."
  type        = list(string)
  default     = []
  validation {
    condition     = !contains(var.api_allowed_cidrs, "0.0.0.0/0")
    error_message = "api_allowed_cidrs must not open the API to the whole internet."
  }
}

variable "oidc_thumbprint" {
  description = "Thumbprint of the OIDC issuer's root CA (EKS issuers: the Amazon root CA)."
  type        = string
  default     = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
}

variable "cpu_instance_types" {
  type    = list(string)
  default = ["m6i.2xlarge"]
}

variable "cpu_min_nodes" {
  type    = number
  default = 2
}

variable "cpu_max_nodes" {
  type    = number
  default = 10
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
