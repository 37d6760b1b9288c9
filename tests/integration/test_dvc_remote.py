"""DVC remotes: the project's default local remote, and an S3 remote configured from the
environment by ``scripts/dvc-remote-s3.sh``; push/pull through moto's S3 restores every byte."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, S3, S3_ENV

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{cmd}: {res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_push_pull_round_trip_through_s3_is_byte_identical(tmp_path: Path, s3: S3) -> None:
    s3.client().create_bucket(Bucket="dvc-remote")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"PATH": f"{BIN}:{env['PATH']}", "DVC_NO_ANALYTICS": "1", **S3_ENV}
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    _run(["git", "init", "-q"], repo, env)
    _run(["dvc", "init", "-q"], repo, env)
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")  # the project's remotes
    (repo / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "dvc-remote-s3.sh", repo / "scripts")
    data = repo / "data"
    (data / "blobs").mkdir(parents=True)
    rng = random.Random(0)
    for i in range(5):
        (data / "blobs" / f"{i}.bin").write_bytes(rng.randbytes(50_000 + i))
    (data / "table.csv").write_text("id,value\n1,a\n2,b\n")
    _run(["dvc", "add", "-q", "data"], repo, env)
    _run([*git, "add", "-A"], repo, env)
    _run([*git, "commit", "-qm", "data"], repo, env)
    before = _digests(data)

    # the demo's default remote is a local directory beside the repo's .dvc
    _run(["dvc", "push", "-q"], repo, env)
    assert any((repo / ".dvc-storage").rglob("*")), "nothing pushed to the local default remote"

    # S3 from the environment; nothing about it lands in the committed config
    s3_env = env | {
        "REPLICA_DVC_REMOTE_URL": "s3://dvc-remote/store",
        "AWS_ENDPOINT_URL": s3.endpoint,
    }
    _run(["bash", "scripts/dvc-remote-s3.sh"], repo, s3_env)
    assert "dvc-remote" not in (repo / ".dvc" / "config").read_text()
    assert "s3" in _run(["dvc", "remote", "default"], repo, env)
    assert "pushed" in _run(["dvc", "push"], repo, env)
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket="dvc-remote")["Contents"]]
    assert len(keys) >= 7  # 6 files + the directory manifest

    shutil.rmtree(data)
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / ".dvc-storage")  # only S3 can restore it now
    _run(["dvc", "pull"], repo, env)
    assert _digests(data) == before
    assert "up to date" in _run(["dvc", "status"], repo, env).lower()
