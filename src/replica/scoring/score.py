"""Scoring with a copy detector: given pairs, or queries against a gallery (top-k).

Both run in chunks of ``chunk`` queries so memory stays flat on long lists; reference features
come from the cache after their first use, so a gallery is described once for all queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from replica.models.copy import CopyDetector
from replica.scoring.features import Featurizer, ImageRef, pair_matrix
from replica.scoring.fuse import fused_pdf
from replica.scoring.retrieval import Gallery


def score_pairs(
    fz: Featurizer,
    queries: Sequence[ImageRef],
    references: Sequence[ImageRef],
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Fused level PDFs [P, 6] of the pairs (queries[i], references[i])."""
    detector = fz.detector
    out = [np.zeros((0, detector.config.levels), np.float32)]
    for start in range(0, len(queries), chunk):
        q = fz.images(queries[start : start + chunk])
        r = fz.images(references[start : start + chunk], mirror=True)
        out.append(fused_pdf(detector, pair_matrix(detector, q, r)))
        if progress is not None:
            progress(len(q))
    return np.concatenate(out)


@dataclass(frozen=True)
class Hit:
    """A query's ranked match in the gallery."""

    query: int
    reference: int
    rank: int
    pdf: np.ndarray
    score: float  # expected level / 5


def search(
    fz: Featurizer,
    queries: Sequence[ImageRef],
    gallery: Sequence[ImageRef],
    shortlist: int,
    top: int,
    chunk: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[Hit]:
    """The ``top`` best gallery references of each query (see ``retrieval.Gallery``)."""
    detector: CopyDetector = fz.detector
    index = Gallery(
        fz.images(gallery, mirror=True), detector.config.verify.method, detector.config.verify.ratio
    )
    hits: list[Hit] = []
    for start in range(0, len(queries), chunk):
        feats = fz.images(queries[start : start + chunk])
        for offset, matches in enumerate(index.search(detector, feats, shortlist, top)):
            hits.extend(
                Hit(start + offset, m.reference, rank, m.pdf, m.score)
                for rank, m in enumerate(matches, 1)
            )
        if progress is not None:
            progress(len(feats))
    return hits
