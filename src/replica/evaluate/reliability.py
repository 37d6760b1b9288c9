"""Reliability diagrams of a detector's probabilities, rendered to PNG bytes (matplotlib Agg)."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np


def reliability_diagram(
    labels: np.ndarray, curves: Mapping[str, np.ndarray], bins: int, title: str
) -> bytes:
    """Observed share of generated images against the predicted probability, per bin, for
    each named probability vector in ``curves`` (e.g. raw and calibrated)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for name, prob in curves.items():
        idx = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
        xs, ys = [], []
        for b in range(bins):
            mask = idx == b
            if mask.any():
                xs.append(float(prob[mask].mean()))
                ys.append(float(labels[mask].mean()))
        ax.plot(xs, ys, marker="o", linewidth=1, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--")
    ax.set(xlim=(0, 1), ylim=(0, 1), title=title)
    ax.set_xlabel("predicted probability of generated")
    ax.set_ylabel("observed share of generated")
    ax.legend(loc="upper left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
