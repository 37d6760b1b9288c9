"""A cache of per-image arrays keyed by the image's sha256 and the model/settings that made them.

Heavy per-image work (backbone embeddings, local descriptors, inversion features) is done once
per image and settings: retraining, evaluation and audits read it back. Entries are ``.npz``
files under ``root/<kind>/<settings key>/<sha[:2]>/<sha>.npz``, written through a temp file and
a rename (a killed run never leaves a half-written entry; concurrent writers of the same entry
are harmless) and read with ``allow_pickle=False``; without a root the cache lives in memory.

``ArrayCache`` is the store (numpy arrays, one image at a time, with a bounded memory layer);
``FeatureCache`` is its view for torch code keyed by one model id, computing missing entries in
batches (inversion features, probe embeddings).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

Arrays = dict[str, np.ndarray]


def settings_key(text: str) -> str:
    """A short, path-safe key for a settings description (model id, config values, ...)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ArrayCache:
    """Per-image arrays by ``(kind, key, sha256)``; ``hits``/``misses`` count lookups."""

    def __init__(self, root: Path | str | None = None, max_memory_items: int = 4096) -> None:
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
        fd, tmp = tempfile.mkstemp(prefix=f".{sha}.", suffix=".tmp", dir=path.parent)
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
        if self.max_memory_items <= 0:
            return
        if len(self._memory) >= self.max_memory_items:
            self._memory.pop(next(iter(self._memory)))
        self._memory[where] = arrays


class FeatureCache:
    """Tensors per image sha256 for one model id (kind ``features``), on disk only: entries
    such as inversion features are large, so nothing is held in memory."""

    KIND = "features"

    def __init__(self, root: Path | str, model_id: str) -> None:
        self.model_id = model_id
        self.key = settings_key(model_id)
        self.store = ArrayCache(root, max_memory_items=0)

    @property
    def hits(self) -> int:
        return self.store.hits

    @property
    def misses(self) -> int:
        return self.store.misses

    def get(self, sha256: str) -> dict[str, torch.Tensor] | None:
        found = self.store.get(self.KIND, self.key, sha256)
        return None if found is None else {k: torch.from_numpy(v) for k, v in found.items()}

    def put(self, sha256: str, tensors: dict[str, torch.Tensor]) -> None:
        arrays = {k: _numpy(v) for k, v in tensors.items()}
        self.store.put(self.KIND, self.key, sha256, arrays)

    def get_or_compute(
        self,
        shas: Sequence[str],
        compute: Callable[[list[int]], list[dict[str, torch.Tensor]]],
    ) -> list[dict[str, torch.Tensor]]:
        """Entries for ``shas``; ``compute`` gets the positions of the missing ones (each sha
        once) and returns their tensors in that order, which are stored before returning."""
        found: dict[str, dict[str, torch.Tensor]] = {}
        missing: list[int] = []
        pending: set[str] = set()
        for i, sha in enumerate(shas):
            if sha in found or sha in pending:
                continue
            entry = self.get(sha)
            if entry is None:
                missing.append(i)
                pending.add(sha)
            else:
                found[sha] = entry
        if missing:
            computed = compute(missing)
            if len(computed) != len(missing):
                raise ValueError(f"compute returned {len(computed)} entries for {len(missing)}")
            for i, entry in zip(missing, computed, strict=True):
                self.put(shas[i], entry)
                found[shas[i]] = entry
        return [found[sha] for sha in shas]


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as numpy, dtype kept (bfloat16, which numpy lacks, as float32)."""
    t = tensor.detach().cpu().contiguous()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def model_fingerprint(model: str) -> str:
    """A short id of the weights: for a local directory, a hash of each file's path, size and
    first and last MiB (new weights under the same path get new cache entries; hidden files and
    sidecars such as ``_meta.json`` are left out); a hub id as is."""
    root = Path(model)
    if not root.is_dir():
        return model
    digest = hashlib.sha256()
    for path in sorted(
        p for p in root.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
    ):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root).as_posix()}:{size}".encode())
        with path.open("rb") as fh:
            digest.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), 2)
                digest.update(fh.read())
    return f"{root.name}@{digest.hexdigest()[:12]}"
