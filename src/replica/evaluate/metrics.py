"""The copy detector's metrics, as D-Rep reports them and beyond.

Every system (the model and each baseline) gives, per test pair, a normalised level in [0, 1]
(``predicted``: the expected level / 5 for the model, the calibrated score for a baseline) and
an integer level (the PDF's mode for the model, the rounded calibrated score for a baseline).

- ``pcc`` and ``rmse``: Pearson correlation and root mean squared error between predicted and
  labelled normalised level, in % (ICDiff's protocol);
- ``pcc_0_3``: PCC on the pairs labelled 0-3, where copies are partial and hardest to grade;
- ``level_acc`` and ``pm1_acc``: exact and within-one accuracy of the integer level;
- ``confusion``: counts [label, predicted level];
- ``top1``: for queries labelled >= 3, the share whose best-scoring reference among all the
  split's references is their source.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LEVELS = 6
RETRIEVAL_MIN_LEVEL = 3


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


def _pcc_or_nan(predicted: np.ndarray, target: np.ndarray) -> float:
    try:
        return pcc_pct(predicted, target)
    except ValueError:
        return float("nan")


def level_metrics(
    predicted: np.ndarray, predicted_level: np.ndarray, labels: np.ndarray
) -> dict[str, float]:
    """PCC, RMSE, PCC on levels 0-3, level and +-1 accuracy of one system on labelled pairs.

    PCC over the whole set is required (a constant label or prediction is a ValueError); on the
    0-3 subset it is NaN when undefined there.
    """
    labels = np.asarray(labels, np.int64)
    target = labels / (LEVELS - 1)
    p, lv = np.asarray(predicted, np.float64), np.asarray(predicted_level, np.int64)
    low = labels <= 3
    return {
        "pcc": pcc_pct(p, target),
        "rmse": rmse_pct(p, target),
        "pcc_0_3": _pcc_or_nan(p[low], target[low]),
        "level_acc": float(np.mean(lv == labels)),
        "pm1_acc": float(np.mean(np.abs(lv - labels) <= 1)),
    }


def confusion(predicted_level: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts [label, predicted level], LEVELS x LEVELS."""
    out = np.zeros((LEVELS, LEVELS), np.int64)
    np.add.at(out, (np.asarray(labels, np.int64), np.asarray(predicted_level, np.int64)), 1)
    return out


def top1_hits(scores: np.ndarray, truth: Sequence[int]) -> np.ndarray:
    """Per query, whether its highest-scoring reference (a row of ``scores`` [Q, R]) is
    ``truth[q]``: [Q] bool (the ``top1`` metric is its mean)."""
    return np.asarray(scores).argmax(axis=1) == np.asarray(truth, np.int64)
