"""Predictions and the ICDiff metrics: PCC and RMSE between predicted and labelled level, in %."""

from __future__ import annotations

import numpy as np
import torch

from replica.models.pdf_embedding import PDFEmbedding


def predict(
    model: PDFEmbedding, query: torch.Tensor, reference: torch.Tensor, batch_size: int
) -> np.ndarray:
    """Normalized predicted level in [0, 1] for every pair, in batches."""
    out = [
        model.predict_level(query[i : i + batch_size], reference[i : i + batch_size])
        for i in range(0, len(query), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.empty(0, dtype=np.float32)


def pcc_pct(predicted: np.ndarray, target: np.ndarray) -> float:
    """Pearson correlation x 100; undefined (ValueError) when either side is constant."""
    p, t = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    if len(p) < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        side = "labels" if len(p) < 2 or np.ptp(t) == 0 else "predictions"
        raise ValueError(f"PCC is undefined: the {side} are constant over {len(p)} pair(s)")
    return float(np.corrcoef(p, t)[0, 1] * 100.0)


def rmse_pct(predicted: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error of normalized levels x 100."""
    p, t = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
    return float(np.sqrt(np.mean((p - t) ** 2)) * 100.0)
