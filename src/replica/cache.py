"""A feature cache keyed by image sha256 and model id, so retraining and audits do not redo
heavy per-image work (backbone embeddings, inversion features, local descriptors).

Layout: ``<root>/<model key>/<sha[:2]>/<sha>.safetensors`` holding one tensor per name, and
``<root>/<model key>/model.json`` with the full model id. The model key is a hash of the model
id, which must name everything the features depend on (weights, resolution, steps, ...).
Writes go through a temp file and a rename, so a killed run never leaves a half-written entry
and concurrent writers of the same entry are harmless (same content, last rename wins).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def model_key(model_id: str) -> str:
    return hashlib.sha256(model_id.encode()).hexdigest()[:16]


class FeatureCache:
    """Tensors per (image sha256, model id) under ``root``; counts hits and misses."""

    def __init__(self, root: Path | str, model_id: str) -> None:
        self.model_id = model_id
        self.dir = Path(root) / model_key(model_id)
        self.hits = 0
        self.misses = 0

    def path(self, sha256: str) -> Path:
        return self.dir / sha256[:2] / f"{sha256}.safetensors"

    def get(self, sha256: str) -> dict[str, torch.Tensor] | None:
        path = self.path(sha256)
        if not path.is_file():
            self.misses += 1
            return None
        self.hits += 1
        return load_file(str(path))

    def put(self, sha256: str, tensors: dict[str, torch.Tensor]) -> Path:
        path = self.path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "model.json"
        if not meta.exists():
            _atomic(meta, lambda tmp: Path(tmp).write_text(json.dumps({"model_id": self.model_id})))
        state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        _atomic(path, lambda tmp: save_file(state, tmp))
        return path

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


def _atomic(path: Path, write: Callable[[str], object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
