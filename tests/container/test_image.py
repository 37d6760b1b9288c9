"""The cpu image, as built by ``make container-test`` (``containers/build.sh``), run with podman.

Every run has networking off: the image must hold everything a step needs. The image name comes
from ``REPLICA_IMAGE`` (default ``localhost/replica:cpu``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("REPLICA_IMAGE", "localhost/replica:cpu")
CONF = ROOT / "containers" / "containers.conf"


def _podman(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONF))}
    cmd = ["podman", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module", autouse=True)
def image() -> str:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (make container-test installs it as root)")
    if _podman("image", "exists", IMAGE).returncode:
        pytest.fail(f"image {IMAGE} is missing: build it with `make container-test`")
    return IMAGE


def _run(*args: str, volumes: tuple[str, ...] = (), entrypoint: str | None = None) -> str:
    opts = ["run", "--rm", "--network", "none"]
    opts += [f"--volume={v}" for v in volumes]
    if entrypoint:
        opts += ["--entrypoint", entrypoint]
    done = _podman(*opts, IMAGE, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def test_help_lists_every_step_without_network() -> None:
    out = _run("--help")
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values()
    commands = {s.get("cmd", s.get("do", {}).get("cmd", "")).split()[1] for s in stages}
    assert commands <= set(out.split()), commands - set(out.split())


def test_runs_as_the_non_root_user_with_params_baked_in() -> None:
    assert _run("-u", entrypoint="id").strip() == "10001"
    baked = yaml.safe_load(_run("params.yaml", entrypoint="cat"))
    assert baked == yaml.safe_load((ROOT / "params.yaml").read_text())


def test_crawl_and_extract_a_warc_fixture_offline(corpus: Path, tmp_path: Path) -> None:
    """The WARC sample (real third-party captures) read from a read-only mount, offline."""
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the image's user (uid 10001) writes here
    sources = {"sources": [{"kind": "warc", "paths": ["/corpus/warc/warcio/*.warc.gz"]}]}
    (out / "sources.yaml").write_text(yaml.safe_dump(sources))
    mounts = (f"{corpus}:/corpus:ro", f"{out}:/out")

    crawl = _run(
        "crawl", "--sources", "/out/sources.yaml", "--output", "/out/crawl", volumes=mounts
    )
    assert "[crawl] in=" in crawl
    extract = _run("extract", "--input", "/out/crawl", "--output", "/out/extract", volumes=mounts)
    assert "[extract] in=" in extract
    tables = {p.stem: pq.read_table(p).num_rows for p in (out / "extract").glob("*.parquet")}
    assert {"articles", "images", "rejects"} <= set(tables), tables
    assert tables["articles"] + tables["rejects"] > 0, tables


def test_the_image_records_the_commit_and_version_it_was_built_from() -> None:
    """OCI labels, and env that stands in for the .git the image does not carry."""
    import json

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    labels = json.loads(_podman("image", "inspect", "--format", "{{json .Labels}}", IMAGE).stdout)
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.version"] == __import__("replica").__version__
    probe = "from replica.io import git_state; print(git_state()['commit'])"
    assert _run("-c", probe, entrypoint="python").strip() == head
    assert _run("--version", entrypoint="git").startswith("git version")
