"""Edges shared by the steps: atomic output directories, sidecars, git state, summaries.

A step writes everything into a hidden temp directory beside its output and swaps it into
place only when it finished, so the next step never reads a half-written output. The swap is
one ``renameat2(RENAME_EXCHANGE)`` on Linux, so the output path is never absent (elsewhere, or
on a file system without it, two renames with a moment between them). Temp names carry the
writer's host and pid (``.<name>.<host>.<pid>.<rand>.tmp|old``): whatever a writer killed with
``kill -9`` left beside the output is removed by the next writer of that output on the same
host. Temp files and directories are created with the umask's permissions (not mkstemp's 0600
or mkdtemp's 0700), so outputs on a shared volume stay readable as the umask says.

Each output directory describes itself in two files. ``_meta.json`` is part of the dataset (DVC
hashes it): what the step wrote and with which contracts and params, nothing that varies from run
to run, so the same inputs always give the same dataset hash. ``_run.json`` is the run record
(seconds, time, git state, orchestrator run ids); ``.dvcignore`` keeps it out of the hash.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIDECAR = "_meta.json"
AT_FDCWD = -100
RENAME_EXCHANGE = 2  # <linux/fs.h>
_SIBLING = re.compile(
    r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{8})\.(?P<pid>\d+)\.[0-9a-f]{8}\.(?:tmp|old)$"
)
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
    sweep_stale(target)
    tmp = _sibling(target, "tmp")
    os.mkdir(tmp, 0o777)  # the umask decides, as for any directory the user creates
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not (target.exists() or target.is_symlink()):
        os.replace(tmp, target)
        return
    if _exchange(tmp, target):
        old = tmp  # now holds the previous output
    else:
        old = _sibling(target, "old")
        os.replace(target, old)
        os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def new_temp_file(target: Path) -> Iterator[Path]:
    """An empty temp file beside ``target`` (umask permissions), removed unless the caller
    renamed it into place (``replace_file``)."""
    target = Path(target)
    sweep_stale(target)
    tmp = _sibling(target, "tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def replace_file(tmp: Path, target: Path) -> None:
    """Rename a finished temp file over ``target`` (atomic on POSIX)."""
    os.replace(tmp, target)


def sweep_stale(target: Path) -> list[Path]:
    """Remove the temp siblings of ``target`` that writers on this host left when killed;
    returns what was removed. Those of live writers and of other hosts stay."""
    from replica.guard.procs import alive

    removed: list[Path] = []
    parent = Path(target).parent
    if not parent.is_dir():
        return removed
    for path in parent.iterdir():
        m = _SIBLING.match(path.name)
        if not m or m["name"] != Path(target).name or m["host"] != _host_id():
            continue
        if alive(int(m["pid"]), None):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _sibling(target: Path, kind: str) -> Path:
    tag = f"{_host_id()}.{os.getpid()}.{secrets.token_hex(4)}"
    return target.parent / f".{target.name}.{tag}.{kind}"


def _host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    rc = libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, f"renameat2({str(a)!r}, {str(b)!r}, RENAME_EXCHANGE)", str(b))


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
    with new_temp_file(path) as tmp:
        tmp.write_text(text)
        replace_file(tmp, path)


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
