#!/usr/bin/env bash
# Start MLflow as a tracking server: SQLite backend store, artifacts proxied by the server to S3.
#
#   MLFLOW_ARTIFACTS_DESTINATION  s3://bucket/prefix where model files go (required)
#   MLFLOW_BACKEND_STORE_URI      default: sqlite:///$PWD/mlflow-server/mlflow.db
#                                 (a postgresql://... URI works the same way)
#   MLFLOW_HOST / MLFLOW_PORT     default: 127.0.0.1 / 5000
#   MLFLOW_S3_ENDPOINT_URL        for S3-compatible stores (MinIO, moto); unset for AWS
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION: the server's S3 credentials
#
# Clients then need only MLFLOW_TRACKING_URI=http://HOST:PORT (no S3 credentials): the server
# proxies artifact uploads and downloads.
set -euo pipefail
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION=s3://bucket/prefix}"
backend="${MLFLOW_BACKEND_STORE_URI:-sqlite:///$PWD/mlflow-server/mlflow.db}"
if [[ "$backend" == sqlite:///* ]]; then
  mkdir -p "$(dirname "${backend#sqlite:///}")"
fi
export MLFLOW_DISABLE_TELEMETRY="${MLFLOW_DISABLE_TELEMETRY:-true}"
exec mlflow server \
  --backend-store-uri "$backend" \
  --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
  --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-1}"
