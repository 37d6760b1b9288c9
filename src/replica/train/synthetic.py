"""The ``synthetic`` family's parts: how each detector kind gets its inputs and is trained.

Each kind is an adapter with ``featurize`` (images of a view -> model inputs) and ``fit``
(inputs, labels -> a model with ``logits``), which ``train`` and ``evaluate`` share so the
candidate and its baselines are trained the same way:
- ``artefact``: artefact features + logistic regression (CPU, no weights);
- ``probe``: a frozen backbone's embedding (cached per image and backbone) + logistic regression;
- ``format``: the trivial baseline that sees only the file (format, size, bytes per pixel, JPEG
  quality): it measures how much the encoding alone gives away, and must sit at chance on a
  dataset with format parity;
- ``fakeinversion`` (see ``replica.train.fakeinversion``): the 9-channel ResNet on inversion
  features, trained by the generic loop.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from replica.cache import FeatureCache
from replica.models.synthetic import (
    ArtefactConfig,
    ArtefactDetector,
    LinearHead,
    ProbeConfig,
    ProbeDetector,
)
from replica.quality.encoding import describe

FORMATS = ("JPEG", "PNG", "WEBP")


def pixels_sha(pixels: np.ndarray) -> str:
    """Content id of decoded pixels (shape included): the cache key of a view's image."""
    digest = hashlib.sha256(str(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


class ArtefactAdapter:
    name = "artefact"
    uses_views = True

    def __init__(self, config: ArtefactConfig) -> None:
        self.config = config

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> np.ndarray:
        return ArtefactDetector(self.config).features(list(images))

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> ArtefactDetector:
        return ArtefactDetector(self.config).fit(x, labels, seed)


def format_facts(data: bytes) -> np.ndarray:
    """What the container alone says: format one-hot (JPEG, PNG, WEBP, other), log2 width and
    height, JPEG quality / 100 and 4:2:0 subsampling (0 when not JPEG). The compressed size is
    left out on purpose: it also measures content (smooth or textured), not only the file."""
    with Image.open(io.BytesIO(data)) as image:
        sig = describe(image).split()
        fmt, (w, h) = image.format or "", image.size
    onehot = [float(fmt == f) for f in FORMATS] + [float(fmt not in FORMATS)]
    quality = next((float(p.lstrip("q~")) / 100 for p in sig if p.startswith("q")), 0.0)
    return np.array(
        [
            *onehot,
            np.log2(w),
            np.log2(h),
            8.0 * len(data) / (w * h),
            quality,
            float("4:2:0" in sig),
        ],
        dtype=np.float32,
    )


class FormatAdapter:
    """The trivial baseline: a logistic regression on ``format_facts`` of the stored files."""

    name = "format"
    uses_views = False

    def __init__(self, files: Sequence[Path], c: float = 1.0) -> None:
        self.facts = np.stack([format_facts(Path(f).read_bytes()) for f in files])
        self.c = c

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> np.ndarray:
        return self.facts[rows]

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> LinearHead:
        return LinearHead.fit(x, labels, self.c, seed)


class ProbeAdapter:
    """UnivFD: frozen embeddings (cached by image and backbone) + logistic regression."""

    name = "probe"
    uses_views = True

    def __init__(self, config: ProbeConfig, cache_root: Path | None, batch_size: int = 32) -> None:
        self.config = config
        self.detector = ProbeDetector(config)
        self.cache = FeatureCache(cache_root, self.detector.model_id) if cache_root else None
        self.batch_size = batch_size

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> np.ndarray:
        images = list(images)

        def compute(positions: list[int]) -> list[dict[str, torch.Tensor]]:
            out: list[dict[str, torch.Tensor]] = []
            for s in range(0, len(positions), self.batch_size):
                chunk = [images[p] for p in positions[s : s + self.batch_size]]
                emb = self.detector.features(chunk)
                out += [{"embedding": torch.from_numpy(e.copy())} for e in emb]
            return out

        if self.cache is None:
            entries = compute(list(range(len(images))))
        else:
            entries = self.cache.get_or_compute([pixels_sha(im) for im in images], compute)
        return np.stack([e["embedding"].numpy() for e in entries])

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> ProbeDetector:
        return ProbeDetector(self.config).fit(x, labels, seed)


def load_pixels(path: Path) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3]."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def describe_model(model: Any) -> dict[str, Any]:
    """A loggable summary of a fitted model's config."""
    import dataclasses

    config = getattr(model, "config", None)
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}
