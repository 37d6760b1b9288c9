"""Read ``dvc.lock``: per stage, the content hash of every dependency and output.

DVC writes the lock after each stage it runs, so the lock is the record of exactly which data
and code versions produced an output. Format (DVC 3, ``schema: '2.0'``)::

    stages:
      train:
        deps:
        - path: data/pairs
          hash: md5            # the algorithm's name ...
          md5: 3f2a...dir      # ... and the value under that name
        outs:
        - path: data/model
          md5: 9c1e...dir

Older entries carry only ``md5:`` (or ``etag:``/``checksum:`` for remote dependencies);
all are accepted. Lock files from DVC 1 (stages at the top level, no ``schema``) are read too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_HASH_KEYS = ("md5", "etag", "checksum")


class LockError(ValueError):
    """The lock file is not a DVC lock file; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LockEntry:
    """One dependency or output: its path and content hash (None when DVC recorded none)."""

    path: str
    hash: str | None


@dataclass(frozen=True)
class StageLock:
    """What DVC recorded for one stage run (``foreach`` stages are named ``stage@item``)."""

    deps: tuple[LockEntry, ...] = ()
    outs: tuple[LockEntry, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    cmd: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "cmd": self.cmd,
            "deps": [{"path": e.path, "hash": e.hash} for e in self.deps],
            "outs": [{"path": e.path, "hash": e.hash} for e in self.outs],
            "params": self.params,
        }


def parse_dvc_lock(text: str, source: str = "dvc.lock") -> dict[str, StageLock]:
    """Parse the text of a lock file into ``{stage: StageLock}``."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise LockError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise LockError(f"{source} must be a mapping, got {type(doc).__name__}")
    stages = doc.get("stages", {}) if "schema" in doc or "stages" in doc else doc
    if not isinstance(stages, dict):
        raise LockError(f"{source}: 'stages' must be a mapping, got {type(stages).__name__}")
    return {str(name): _stage(body, f"{source}:{name}") for name, body in stages.items()}


def read_dvc_lock(path: Path) -> dict[str, StageLock]:
    """Read and parse a lock file; raises FileNotFoundError when it is absent."""
    return parse_dvc_lock(Path(path).read_text(), source=str(path))


def _stage(body: Any, where: str) -> StageLock:
    if not isinstance(body, dict):
        raise LockError(f"{where} must be a mapping, got {body!r}")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise LockError(f"{where}.params must be a mapping, got {params!r}")
    cmd = body.get("cmd") or ""
    if isinstance(cmd, list):  # DVC allows a list of commands run in order
        cmd = " && ".join(str(c) for c in cmd)
    return StageLock(
        deps=_entries(body.get("deps"), f"{where}.deps"),
        outs=_entries(body.get("outs"), f"{where}.outs"),
        params=params,
        cmd=" ".join(str(cmd).split()),
    )


def _entries(items: Any, where: str) -> tuple[LockEntry, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise LockError(f"{where} must be a list, got {items!r}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise LockError(f"{where}[{i}] must be a mapping with a 'path', got {item!r}")
        out.append(LockEntry(path=item["path"], hash=_hash_of(item)))
    return tuple(out)


def _hash_of(item: dict[str, Any]) -> str | None:
    """DVC 3 names the algorithm under ``hash`` and stores the value under that name."""
    algo = item.get("hash")
    if isinstance(algo, str) and isinstance(item.get(algo), str):
        return item[algo]
    for key in _HASH_KEYS:
        if isinstance(item.get(key), str):
            return item[key]
    return None
