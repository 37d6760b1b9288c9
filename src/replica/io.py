"""Edges shared by the steps: atomic output directories, sidecars, git state, summaries.

A step writes everything into a hidden temp directory beside its output and renames it into
place only when it finished, so the next step never reads a half-written output.

Each output directory describes itself in two files. ``_meta.json`` is part of the dataset (DVC
hashes it): what the step wrote and with which contracts and params, nothing that varies from run
to run, so the same inputs always give the same dataset hash. ``_run.json`` is the run record
(seconds, time, git state, orchestrator run ids); ``.dvcignore`` keeps it out of the hash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIDECAR = "_meta.json"
RUN_RECORD = "_run.json"  # listed in .dvcignore: never part of a dataset's hash
# Tracked files the pipeline itself rewrites: a run that updated them did not dirty the code.
PIPELINE_RECORDS = frozenset({"dvc.lock"})
# Where the image records the commit it was built from (no .git inside the image).
GIT_ENV = ("REPLICA_GIT_COMMIT", "REPLICA_GIT_DIRTY")
ORCHESTRATOR_ENV = ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_DAG_RUN_ID", "KFP_RUN_ID", "KFP_POD_NAME")


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temp dir; on success it replaces ``target``, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.{os.getpid()}.old"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (a copy across file systems) so datasets stay self-contained."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small text file through a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def git_state(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The commit of the working tree and whether its code has uncommitted changes.

    ``dirty`` ignores the files the pipeline writes itself (``dvc.lock``): a run that records its
    outputs leaves the code clean. Outside a git checkout (the image carries no .git) both come
    from ``REPLICA_GIT_COMMIT``/``REPLICA_GIT_DIRTY``, baked into the image when it was built;
    None when neither is known.
    """
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "-z"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        env = os.environ if environ is None else environ
        commit, dirty = env.get(GIT_ENV[0], ""), env.get(GIT_ENV[1], "").lower()
        return {
            "commit": None if commit in ("", "unknown") else commit,
            "dirty": {"true": True, "false": False}.get(dirty),
        }
    paths = {entry[3:] for entry in changed.split("\0") if len(entry) > 3}
    return {"commit": sha, "dirty": bool(paths - PIPELINE_RECORDS)}


@dataclass
class StepSummary:
    """What a step did, printed as one line and stored in the output's sidecar."""

    step: str
    rows_in: int = 0
    rows_out: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    outputs: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    def finish(self) -> StepSummary:
        self.seconds = time.monotonic() - self.started
        return self

    def line(self) -> str:
        rejects = ", ".join(f"{k}={v}" for k, v in sorted(self.rejects.items())) or "none"
        outs = " ".join(f"{k}={v}" for k, v in self.outputs.items())
        return (
            f"[{self.step}] in={self.rows_in} out={self.rows_out} ({outs}) "
            f"rejects={sum(self.rejects.values())} ({rejects}) {self.seconds:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rejects": dict(self.rejects),
            "outputs": self.outputs,
            "seconds": round(self.seconds, 3),
        }


def write_sidecar(
    directory: Path,
    summary: StepSummary,
    contracts: dict[str, str],
    config_hash: str,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Write ``_meta.json`` (what was written: rows, rejects, contracts, config hash and the params
    sections the step ran with) and ``_run.json`` (how long, when, git state, orchestrator)."""
    record = summary.to_dict()
    seconds = record.pop("seconds")
    meta = {**record, "contracts": contracts, "config_hash": config_hash}
    if params is not None:
        meta["params"] = dict(params)
    run = {
        "step": summary.step,
        "seconds": seconds,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "orchestrator": {k: v for k in ORCHESTRATOR_ENV if (v := os.environ.get(k))},
    }
    for name, doc in ((SIDECAR, meta), (RUN_RECORD, run)):
        atomic_write_text(Path(directory) / name, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
