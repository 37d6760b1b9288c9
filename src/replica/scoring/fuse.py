"""The detector's final answer for pairs: the fused level PDF and what follows from it."""

from __future__ import annotations

import numpy as np
import torch

from replica.models.copy import CopyDetector
from replica.scoring.features import select


def fused_pdf(detector: CopyDetector, matrix: np.ndarray) -> np.ndarray:
    """Level PDFs [P, 6] of pairs with features ``matrix`` [P, len(ALL_FEATURES)]."""
    if not len(matrix):
        return np.zeros((0, detector.config.levels), np.float32)
    x = torch.from_numpy(select(matrix, detector.config.fusion.features))
    return detector.fuse(x).numpy()


def match_probability(detector: CopyDetector, matrix: np.ndarray) -> np.ndarray | None:
    """The match head's probability that each pair's reference is its query's source [P];
    None for a model saved without a match head."""
    if detector.matcher is None:
        return None
    x = torch.from_numpy(select(matrix, detector.config.match.features))
    return detector.match(x).numpy()


def expected(pdf: np.ndarray) -> np.ndarray:
    """Expected level / (levels - 1): [P] in [0, 1]."""
    return pdf @ np.arange(pdf.shape[1]) / (pdf.shape[1] - 1)
