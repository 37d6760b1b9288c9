"""Real services on loopback, shared by every integration test of the session: moto's S3
server and an MLflow tracking server started with ``scripts/mlflow-server.sh`` (SQLite backend,
artifacts proxied to a moto bucket)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
ARTIFACT_BUCKET = "mlflow-artifacts"


@dataclass(frozen=True)
class S3:
    endpoint: str

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """moto's S3 server on 127.0.0.1 (a free port)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``make mlflow-server``'s script on a free loopback port; yields the tracking URI."""
    s3.client().create_bucket(Bucket=ARTIFACT_BUCKET)
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {
        **os.environ,
        **S3_ENV,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{ARTIFACT_BUCKET}/artifacts",
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{home}/mlflow.db",
        "MLFLOW_PORT": str(port),
    }
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "mlflow-server.sh")],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(home / 'server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{uri}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server not healthy: {(home / 'server.log').read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
