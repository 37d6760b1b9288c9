"""``replica workspace``: sync a checkout at a pinned commit and pull its data; publish once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]


def _sh(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (cmd, done.stdout, done.stderr)
    return done.stdout


def _replica(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(BIN / "replica"), "workspace", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, list[str]]:
    """A project repo with DVC-tracked data pushed to a local remote; two commits."""
    repo, remote = tmp_path / "repo", tmp_path / "remote"
    repo.mkdir()
    _sh(["git", "init", "-q"], repo)
    _sh(["dvc", "init", "-q"], repo)
    _sh(["dvc", "remote", "add", "-d", "store", str(remote)], repo)
    shas = []
    for version in ("v1", "v2"):
        (repo / "data").mkdir(exist_ok=True)
        (repo / "data" / "table.txt").write_text(f"rows of {version}\n")
        _sh(["dvc", "add", "-q", "data/table.txt"], repo)
        _sh(["dvc", "push", "-q"], repo)
        _sh(["git", "add", "-A"], repo)
        _sh([*GIT, "commit", "-qm", version], repo)
        shas.append(_sh(["git", "rev-parse", "HEAD"], repo).strip())
    return repo, shas


def test_sync_checks_out_the_pinned_commit_and_pulls_its_data(
    upstream: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo, (v1, v2) = upstream
    ws = tmp_path / "workspace"
    done = _replica(["sync", "--repo", f"file://{repo}", "--ref", v1, "--dir", str(ws)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert _sh(["git", "rev-parse", "HEAD"], ws).strip() == v1
    assert (ws / "data" / "table.txt").read_text() == "rows of v1\n"
    assert not (ws / ".replica" / "lease.json").exists(), "the lease is given back"

    (ws / "data" / "scratch.bin").write_bytes(b"a run's output")  # git-ignored by DVC
    done = _replica(["sync", "--repo", f"file://{repo}", "--ref", v2, "--dir", str(ws)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (ws / "data" / "table.txt").read_text() == "rows of v2\n"
    assert (ws / "data" / "scratch.bin").exists(), "data the checkout does not own stays"


def test_sync_waits_for_a_run_holding_the_workspace(
    upstream: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo, (v1, _) = upstream
    ws = tmp_path / "workspace"
    ws.mkdir()
    assert _replica(["lock", "--owner", "refresh/1", "--dir", str(ws)], tmp_path).returncode == 0
    args = ["sync", "--repo", f"file://{repo}", "--ref", v1, "--dir", str(ws)]
    done = _replica([*args, "--wait-minutes", "0"], tmp_path)
    assert done.returncode == 2
    assert "held by refresh/1" in done.stderr
    assert not (ws / ".git").exists(), "nothing was touched"


def test_publish_exits_99_when_the_version_was_already_published(tmp_path: Path) -> None:
    lock = "schema: '2.0'\nstages:\n  pairs:\n    cmd: x\n    outs:\n    - path: data/pairs\n"
    (tmp_path / "dvc.lock").write_text(lock + "      md5: aa.dir\n")
    assert _replica(["publish", "data/pairs"], tmp_path).returncode == 0
    again = _replica(["publish", "data/pairs"], tmp_path)
    assert again.returncode == 99 and "nothing new" in again.stdout
    (tmp_path / "dvc.lock").write_text(lock + "      md5: bb.dir\n")
    assert _replica(["publish", "data/pairs"], tmp_path).returncode == 0
    record = json.loads((tmp_path / ".replica" / "published.json").read_text())
    assert record == {"data/pairs": "bb.dir"}
