"""Plots logged with a registered model, rendered to PNG bytes (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence


def predicted_vs_label(
    predicted: Sequence[float], target: Sequence[float], split: Sequence[str], title: str
) -> bytes:
    """Scatter of predicted vs. labelled normalized level, one colour per split, with the
    diagonal a perfect model would sit on. Returns the PNG's bytes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    for name in sorted(set(split)):
        xs = [t for t, s in zip(target, split, strict=True) if s == name]
        ys = [p for p, s in zip(predicted, split, strict=True) if s == name]
        ax.scatter(xs, ys, s=14, alpha=0.6, label=f"{name} (n={len(xs)})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--")
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), title=title)
    ax.set_xlabel("labelled level (normalized)")
    ax.set_ylabel("predicted level (normalized)")
    ax.legend(loc="upper left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # Figure without pyplot: no global backend, no GUI
    return buf.getvalue()
