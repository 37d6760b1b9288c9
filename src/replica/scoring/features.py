"""Features of images and of pairs, for the fusion head, the baselines and retrieval.

Per image (``ImageFeatures``), each cached by the image's sha256 and the settings that made it
(``replica.cache``): the PDF-Embedding token vectors (key: the embedding weights' digest), the
local features for verification (key: the verification settings; references also carry the
mirror image's) and the global descriptors. A reference in a gallery is therefore described
once, whatever number of queries meet it.

Per pair (``pair_matrix``), one row of named features in three groups:

- ``embedding``: the 6 token cosines and the PDF-Embedding's expected level;
- ``verify``: the local-feature verification measurements (``verify.local.FIELDS``);
- ``global``: pHash, colour histogram, HOG and thumbnail similarities (``GLOBAL_FIELDS``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from PIL import Image

from replica.cache import ArrayCache
from replica.models.copy import N_TOKENS, CopyDetector, preprocess
from replica.verify.descriptors import GLOBAL_FIELDS, GlobalDescriptors, describe, pair_vector
from replica.verify.local import FIELDS as VERIFY_FIELDS
from replica.verify.local import LocalFeatures, extract, verify

GROUPS: dict[str, tuple[str, ...]] = {
    "embedding": (*(f"emb.cos{k}" for k in range(N_TOKENS)), "emb.level"),
    "verify": tuple(f"verify.{f}" for f in VERIFY_FIELDS),
    "global": tuple(f"global.{f}" for f in GLOBAL_FIELDS),
}
ALL_FEATURES: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)
MAX_DECODE_SIDE = 1024  # larger images are shrunk once after decoding: every feature is coarser
GLOBAL_KEY = "global-v1"


def features_of(groups: Sequence[str]) -> tuple[str, ...]:
    """The feature names of ``groups``, in ``ALL_FEATURES`` order."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown feature group(s) {sorted(unknown)}; known: {sorted(GROUPS)}")
    return tuple(n for g in GROUPS for n in GROUPS[g] if g in groups)


@dataclass(frozen=True)
class ImageRef:
    """An image to describe: a file (or its bytes in ``data``, ``path`` then only names it),
    with its sha256 when known (else hashed from the bytes) and its caption when a table gave
    one (the synthetic detector's FakeInversion conditions on it)."""

    path: Path
    sha256: str | None = None
    data: bytes | None = None
    caption: str | None = None


@dataclass
class ImageFeatures:
    tokens: np.ndarray  # [6, E] unit vectors
    local: LocalFeatures
    desc: GlobalDescriptors


def decode(ref: ImageRef) -> np.ndarray:
    """RGB uint8 [H, W, 3], long side at most ``MAX_DECODE_SIDE``; a clear error if unreadable."""
    import io

    path = ref.path
    try:
        with Image.open(io.BytesIO(ref.data) if ref.data is not None else path) as im:
            im.draft("RGB", (MAX_DECODE_SIDE, MAX_DECODE_SIDE))  # JPEG: decode at reduced size
            rgb = im.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read image {str(path)!r}: {exc}") from exc
    if max(rgb.size) > MAX_DECODE_SIDE:
        rgb.thumbnail((MAX_DECODE_SIDE, MAX_DECODE_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


class Featurizer:
    """Computes (or reads from ``cache``) the ``ImageFeatures`` of images, batching the network."""

    def __init__(
        self,
        detector: CopyDetector,
        cache: ArrayCache | None = None,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        self.detector = detector.eval().to(device)
        self.cache = cache if cache is not None else ArrayCache()
        self.batch_size, self.device = batch_size, device
        self.model_key = detector.identity()
        self.verify_cfg = detector.config.verify
        self.decoded = 0  # images decoded (cache misses of any part)

    def sha(self, ref: ImageRef) -> str:
        if ref.sha256:
            return ref.sha256
        if ref.data is not None:
            return hashlib.sha256(ref.data).hexdigest()
        try:
            return hashlib.sha256(Path(ref.path).read_bytes()).hexdigest()
        except OSError as exc:
            raise ValueError(f"cannot read image {str(ref.path)!r}: {exc}") from exc

    def images(
        self,
        refs: Sequence[ImageRef],
        mirror: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> list[ImageFeatures]:
        """Features of each image (``mirror``: local features of the mirror image too, as
        references need). Repeated images are described once; an image is decoded only when
        some part of its features is not cached."""
        shas = [self.sha(r) for r in refs]
        parts: dict[str, dict[str, object]] = {}
        pending: list[tuple[str, np.ndarray]] = []

        def flush() -> None:
            if not pending:
                return
            batch = torch.stack([preprocess(rgb, self._size) for _, rgb in pending])
            with torch.inference_mode():
                tokens = self.detector.embedding.embed(batch.to(self.device)).cpu().numpy()
            for (sha, _), vec in zip(pending, tokens, strict=True):
                self.cache.put("tokens", self.model_key, sha, {"tokens": vec})
                parts[sha]["tokens"] = vec
            pending.clear()

        for ref, sha in zip(refs, shas, strict=True):
            if sha in parts:
                continue
            found = self.cache.get("tokens", self.model_key, sha)
            have: dict[str, object] = {
                "tokens": found["tokens"] if found is not None else None,
                "local": self._local(sha, mirror),
                "desc": self._global(sha),
            }
            parts[sha] = have
            if all(v is not None for v in have.values()):
                continue
            rgb = decode(ref)
            self.decoded += 1
            if have["local"] is None:
                local = extract(rgb, self.verify_cfg, mirror=mirror)
                kind = "local+mirror" if mirror else "local"
                self.cache.put(kind, self.verify_cfg.key(), sha, local.arrays())
                have["local"] = local
            if have["desc"] is None:
                desc = describe(rgb)
                self.cache.put("global", GLOBAL_KEY, sha, desc.arrays())
                have["desc"] = desc
            if have["tokens"] is None:
                pending.append((sha, rgb))
                if len(pending) >= self.batch_size:
                    flush()
            if progress is not None:
                progress(1)
        flush()
        return [
            ImageFeatures(
                cast(np.ndarray, parts[s]["tokens"]),
                cast(LocalFeatures, parts[s]["local"]),
                cast(GlobalDescriptors, parts[s]["desc"]),
            )
            for s in shas
        ]

    @property
    def _size(self) -> int:
        return self.detector.config.embedding.image_size

    def _local(self, sha: str, mirror: bool) -> LocalFeatures | None:
        key = self.verify_cfg.key()
        found = self.cache.get("local+mirror", key, sha)
        if found is None and not mirror:
            found = self.cache.get("local", key, sha)
        return LocalFeatures.from_arrays(found) if found is not None else None

    def _global(self, sha: str) -> GlobalDescriptors | None:
        found = self.cache.get("global", GLOBAL_KEY, sha)
        return GlobalDescriptors.from_arrays(found) if found is not None else None


def embedding_block(
    detector: CopyDetector, eq: np.ndarray, er: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Token cosines [P, 6] and the PDF-Embedding's level PDF [P, 6] of token sets [P, 6, E]."""
    with torch.no_grad():
        tq, tr = torch.from_numpy(eq), torch.from_numpy(er)
        logits = detector.embedding.logits(tq, tr)
        cos = (tq * tr).sum(-1)
    return cos.numpy(), logits.softmax(1).numpy()


def pair_matrix(
    detector: CopyDetector, queries: Sequence[ImageFeatures], refs: Sequence[ImageFeatures]
) -> np.ndarray:
    """Features of each (query, reference) pair, [P, len(ALL_FEATURES)] in that order."""
    if not queries:
        return np.zeros((0, len(ALL_FEATURES)), np.float32)
    eq = np.stack([q.tokens for q in queries])
    er = np.stack([r.tokens for r in refs])
    cos, pdf = embedding_block(detector, eq, er)
    level = pdf @ np.arange(N_TOKENS, dtype=np.float32) / (N_TOKENS - 1)
    cfg = detector.config.verify
    rows = []
    for i, (q, r) in enumerate(zip(queries, refs, strict=True)):
        rows.append(
            np.concatenate(
                [
                    cos[i],
                    [level[i]],
                    verify(q.local, r.local, cfg).vector(),
                    pair_vector(q.desc, r.desc),
                ]
            )
        )
    return np.asarray(rows, np.float32)


def select(matrix: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The columns of ``matrix`` (in ``ALL_FEATURES`` order) named ``names``."""
    index = {n: i for i, n in enumerate(ALL_FEATURES)}
    return matrix[:, [index[n] for n in names]]
