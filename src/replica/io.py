"""Edges shared by the steps: atomic output directories, sidecars, git state, summaries.

A step writes everything into a hidden temp directory beside its output and renames it into
place only when it finished, so the next step never reads a half-written output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIDECAR = "_meta.json"


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


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    """The commit of the working tree and whether it has uncommitted changes (None outside git)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": bool(dirty)}


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
    directory: Path, summary: StepSummary, contracts: dict[str, str], config_hash: str
) -> None:
    """Write ``_meta.json``: rows per table, contract refs, config hash, git commit, time."""
    meta = {
        **summary.to_dict(),
        "contracts": contracts,
        "config_hash": config_hash,
        "git": git_state(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(Path(directory) / SIDECAR, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
