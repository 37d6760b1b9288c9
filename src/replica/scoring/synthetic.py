"""Score image files with a synthetic-image detector: the ``predict --family synthetic`` core.

Each file is read, decoded with the ``fakes`` step's guard (``fakes.build.decoded``) and brought
to the model's training encoding (``SyntheticScorer.prepare``: the same decode -> size policy ->
encoder the training images went through), so a PNG and a JPEG of the same picture are scored
alike. Files that cannot be used are counted rejects with a reason, never dropped silently:
``unreadable`` (the file cannot be read), ``undecodable``, ``too_large`` (past
``max_image_pixels``) and ``too_small`` (the size policy cannot make the square; or, for a
model of original files, a side below ``MIN_SIDE``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from replica.fakes.build import Reject, decoded
from replica.fakes.encode import TooSmall
from replica.models.synthetic import MIN_SIDE
from replica.scoring.features import ImageRef
from replica.train.synthetic import SyntheticScorer


@dataclass
class Scored:
    """The rows of the ``synthetic_scores`` contract and of the ``rejects`` contract."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)


def _prepared(ref: ImageRef, scorer: SyntheticScorer, max_pixels: int) -> tuple[str, np.ndarray]:
    """(sha256 of the file's bytes, the image as the model's training data held it)."""
    try:
        data = ref.data if ref.data is not None else ref.path.read_bytes()
    except OSError as exc:
        raise Reject("unreadable", f"{ref.path}: {exc}") from exc
    image = decoded(ref.path, data, max_pixels)
    try:
        pixels = scorer.prepare(image)
    except TooSmall as exc:
        raise Reject("too_small", f"{ref.path}: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise Reject("undecodable", f"{ref.path}: {exc}") from exc
    if min(pixels.shape[:2]) < MIN_SIDE:  # a model of original files scores them as they are
        raise Reject("too_small", f"{ref.path}: {pixels.shape[1]}x{pixels.shape[0]} px")
    return hashlib.sha256(data).hexdigest(), pixels


def score_images(
    scorer: SyntheticScorer,
    refs: Sequence[ImageRef],
    model_id: str,
    chunk: int,
    max_pixels: int,
    progress: Callable[[int], None] = lambda _: None,
) -> Scored:
    """Score ``refs`` ``chunk`` images at a time (bounded memory; the scorer batches inside)."""
    out = Scored()
    threshold = scorer.threshold
    for s in range(0, len(refs), max(1, chunk)):
        kept: list[tuple[ImageRef, str, np.ndarray]] = []
        for ref in refs[s : s + chunk]:
            try:
                kept.append((ref, *_prepared(ref, scorer, max_pixels)))
            except Reject as rej:
                out.rejects.append(
                    {"stage": "predict", "source": "images", "record_id": str(ref.path),
                     "url": None, "reason": rej.reason, "detail": str(rej)}
                )  # fmt: skip
        probs = scorer.score([p for _, _, p in kept], [r.caption or "" for r, _, _ in kept])
        for (ref, sha, _), p in zip(kept, probs, strict=True):
            out.rows.append(
                {"path": str(ref.path), "sha256": sha, "probability": float(p),
                 "generated": bool(p >= threshold), "threshold": threshold, "model_id": model_id}
            )  # fmt: skip
        progress(len(refs[s : s + chunk]))
    return out
