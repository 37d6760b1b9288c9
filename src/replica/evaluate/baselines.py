"""The baselines every evaluation reports beside the model, scored on the same pairs.

- ``phash``: 1 - Hamming distance of the 64-bit pHashes / 64;
- ``histhog``: the mean of the colour-histogram cosine and the HOG cosine;
- ``cls``: the cosine of the backbone's class-token vectors (PDF-Embedding's first token).

Each score is mapped to a normalised level by isotonic regression fitted on the validation
split (``Calibration``), so baselines and model are graded on the same scale and none gets an
unfair threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression

from replica.dedup.images import hamming
from replica.evaluate.metrics import LEVELS
from replica.scoring.features import ImageFeatures

BASELINES = ("phash", "histhog", "cls")


def _stack(items: Sequence[ImageFeatures], attr: str) -> np.ndarray:
    return np.stack([getattr(f.desc, attr) for f in items])


def pair_scores(
    name: str, queries: Sequence[ImageFeatures], refs: Sequence[ImageFeatures]
) -> np.ndarray:
    """Baseline ``name``'s similarity of each (query, reference) pair: [P]."""
    if not queries:
        return np.zeros(0)
    if name == "phash":
        d = hamming(_stack(queries, "phash").ravel(), _stack(refs, "phash").ravel())
        return 1.0 - d / 64.0
    if name == "histhog":
        hist = (_stack(queries, "hist") * _stack(refs, "hist")).sum(1)
        hog = (_stack(queries, "hog") * _stack(refs, "hog")).sum(1)
        return 0.5 * (hist + hog)
    if name == "cls":
        q = np.stack([f.tokens[0] for f in queries])
        r = np.stack([f.tokens[0] for f in refs])
        return (q * r).sum(1)
    raise ValueError(f"unknown baseline {name!r}; known: {list(BASELINES)}")


def score_matrix(
    name: str, queries: Sequence[ImageFeatures], refs: Sequence[ImageFeatures]
) -> np.ndarray:
    """Baseline ``name``'s similarity of every query to every reference: [Q, R]."""
    if name == "phash":
        q, r = _stack(queries, "phash").ravel(), _stack(refs, "phash").ravel()
        return 1.0 - hamming(q[:, None], r[None, :]) / 64.0
    if name == "histhog":
        hist = _stack(queries, "hist") @ _stack(refs, "hist").T
        hog = _stack(queries, "hog") @ _stack(refs, "hog").T
        return 0.5 * (hist + hog)
    if name == "cls":
        return np.stack([f.tokens[0] for f in queries]) @ np.stack([f.tokens[0] for f in refs]).T
    raise ValueError(f"unknown baseline {name!r}; known: {list(BASELINES)}")


@dataclass
class Calibration:
    """Isotonic map from a baseline's score to the normalised level, fitted on val pairs."""

    model: IsotonicRegression

    @classmethod
    def fit(cls, scores: np.ndarray, levels: np.ndarray) -> Calibration:
        if len(scores) < 2:
            raise ValueError(f"calibration needs labelled validation pairs, got {len(scores)}")
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        return cls(iso.fit(np.asarray(scores, np.float64), np.asarray(levels) / (LEVELS - 1)))

    def predict(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(normalised level [P], integer level [P])."""
        p = np.asarray(self.model.predict(np.asarray(scores, np.float64)), np.float64)
        return p, np.rint(p * (LEVELS - 1)).astype(np.int64)
