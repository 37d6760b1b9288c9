"""The decisions table: every promotion decision and rollback, one JSON line each.

It is the registry-independent record (MLflow tags say the same, but a registry can be wiped or
migrated): append-only, one object per line, written under an exclusive ``flock`` so
concurrent promoters on one machine never interleave lines.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def append_decision(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one JSON line and fsync it (the file and its parents are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(dict(record), sort_keys=True, allow_nan=False, default=str) + "\n"
    with path.open("a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_decisions(path: Path) -> list[dict[str, Any]]:
    """Every recorded decision, oldest first; a missing table is empty."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n} is not a JSON line: {exc}") from exc
    return rows
