#!/usr/bin/env bash
# Make an S3 bucket DVC's default remote, from the environment. Written with --local into
# .dvc/config.local (git-ignored), so no bucket, endpoint or credential ever lands in the repo.
#
#   REPLICA_DVC_REMOTE_URL  s3://bucket/prefix (required)
#   AWS_ENDPOINT_URL        for S3-compatible stores (MinIO, moto); unset for AWS
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or AWS_PROFILE): read by DVC at push/pull time
#
# Then: dvc push / dvc pull. Without this, the default remote is the local directory
# .dvc-storage/ (see .dvc/config).
set -euo pipefail
: "${REPLICA_DVC_REMOTE_URL:?set REPLICA_DVC_REMOTE_URL=s3://bucket/prefix}"
dvc remote add --local --force --default s3 "$REPLICA_DVC_REMOTE_URL"
if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
  dvc remote modify --local s3 endpointurl "$AWS_ENDPOINT_URL"
fi
echo "DVC default remote: s3 -> $REPLICA_DVC_REMOTE_URL${AWS_ENDPOINT_URL:+ (endpoint $AWS_ENDPOINT_URL)}"
