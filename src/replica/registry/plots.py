"""Plots logged with a registered model, rendered to PNG bytes (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence


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


def training_curves(
    history: Sequence[Mapping[str, float]], validation: Sequence[Mapping[str, float]], title: str
) -> bytes:
    """Training loss (and every validation metric) against the step, as PNG bytes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], label="train loss")
    for key in sorted({k for v in validation for k in v} - {"step"}):
        rows = [v for v in validation if key in v]
        ax.plot([v["step"] for v in rows], [v[key] for v in rows], marker="o", label=f"val {key}")
    ax.set(title=title, xlabel="step")
    ax.legend(loc="upper right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
