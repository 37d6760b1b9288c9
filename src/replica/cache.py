"""A cache of per-image arrays keyed by the image's sha256 and the settings that made them.

Heavy per-image work (backbone embeddings, local descriptors, inversion features) is done once
per image and settings: retraining, evaluation and audits read it back. Entries are ``.npz``
files under ``root/<kind>/<settings key>/<sha[:2]>/<sha>.npz``, written through a temp file and
a rename and read with ``allow_pickle=False``; without a root the cache lives in memory only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

Arrays = dict[str, np.ndarray]


def settings_key(text: str) -> str:
    """A short, path-safe key for a settings description (model id, config values, ...)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ArrayCache:
    """Per-image arrays by ``(kind, key, sha256)``; ``hits``/``misses`` count lookups."""

    def __init__(self, root: Path | None = None, max_memory_items: int = 4096) -> None:
        self.root = Path(root) if root is not None else None
        self.max_memory_items = max_memory_items
        self._memory: dict[tuple[str, str, str], Arrays] = {}
        self.hits = self.misses = 0

    def _path(self, kind: str, key: str, sha: str) -> Path:
        assert self.root is not None
        return self.root / kind / key / sha[:2] / f"{sha}.npz"

    def get(self, kind: str, key: str, sha: str) -> Arrays | None:
        item = self._memory.get((kind, key, sha))
        if item is None and self.root is not None:
            path = self._path(kind, key, sha)
            if path.is_file():
                with np.load(path, allow_pickle=False) as data:
                    item = {name: data[name] for name in data.files}
                self._remember((kind, key, sha), item)
        if item is None:
            self.misses += 1
        else:
            self.hits += 1
        return item

    def put(self, kind: str, key: str, sha: str, arrays: Arrays) -> None:
        self._remember((kind, key, sha), arrays)
        if self.root is None:
            return
        path = self._path(kind, key, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{sha}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **cast(dict[str, Any], arrays))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_or_compute(
        self, kind: str, key: str, sha: str, compute: Callable[[], Arrays]
    ) -> Arrays:
        found = self.get(kind, key, sha)
        if found is None:
            found = compute()
            self.put(kind, key, sha, found)
        return found

    def _remember(self, where: tuple[str, str, str], arrays: Arrays) -> None:
        if len(self._memory) >= self.max_memory_items:
            self._memory.pop(next(iter(self._memory)))
        self._memory[where] = arrays
