# The workspace's storage: EFS (NFSv4.1, ReadWriteMany across nodes and zones), encrypted with
# the project's KMS key, reachable on 2049 from the VPC only, one mount target per private subnet.
# The chart's StorageClass makes an access point per volume, owned by the image's user.

resource "aws_efs_file_system" "workspace" {
  creation_token   = "${var.cluster_name}-workspace"
  encrypted        = true
  kms_key_id       = var.kms_key_arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"
  tags             = { Name = "${var.cluster_name}-workspace" }

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }
}

resource "aws_efs_backup_policy" "workspace" {
  file_system_id = aws_efs_file_system.workspace.id
  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_security_group" "efs" {
  name        = "${var.cluster_name}-efs"
  description = "NFS from the cluster VPC to the workspace file system"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "NFS from the VPC"
    from_port   = 2049
    to_port     = 2049
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_efs_mount_target" "workspace" {
  for_each        = aws_subnet.private
  file_system_id  = aws_efs_file_system.workspace.id
  subnet_id       = each.value.id
  security_groups = [aws_security_group.efs.id]
}
