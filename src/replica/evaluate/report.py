"""The evaluation as people read it: the table of systems, per-family figures and plots."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

COLUMNS = (
    ("pcc", "PCC"),
    ("rmse", "RMSE"),
    ("pcc_0_3", "PCC 0-3"),
    ("level_acc", "level acc"),
    ("pm1_acc", "±1 acc"),
    ("top1", "top-1 (lvl>=3)"),
)


def _fmt(value: float, pct: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.1f}" if pct else f"{value:.3f}"


def table_text(table: Mapping[str, Mapping[str, float]]) -> str:
    """A Markdown table: one row per system, the metrics as columns."""
    head = "| system | " + " | ".join(label for _, label in COLUMNS) + " |"
    rule = "|---|" + "---|" * len(COLUMNS)
    rows = [
        f"| {name} | "
        + " | ".join(
            _fmt(m.get(key, float("nan")), key in ("pcc", "rmse", "pcc_0_3")) for key, _ in COLUMNS
        )
        + " |"
        for name, m in table.items()
    ]
    return "\n".join([head, rule, *rows])


def family_text(per_family: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Per family: pairs, mean label, and each system's level accuracy (±1 accuracy)."""
    systems = list(next(iter(per_family.values())).keys()) if per_family else []
    head = "| family | n | label | " + " | ".join(systems) + " |"
    rule = "|---|---|---|" + "---|" * len(systems)
    rows = []
    for family, by_system in per_family.items():
        first = next(iter(by_system.values()))
        cells = [
            f"{by_system[s]['level_acc']:.2f} ({by_system[s]['pm1_acc']:.2f})" for s in systems
        ]
        rows.append(
            f"| {family} | {int(first['n'])} | {first['label']:.1f} | " + " | ".join(cells) + " |"
        )
    return "\n".join([head, rule, *rows])


def retrieval_text(by_family: Mapping[str, Mapping[str, float]]) -> str:
    """Per family of the retrieval queries: their number and each system's top-1 retrieval."""
    if not by_family:
        return "(no retrieval queries)"
    systems = [s for s in next(iter(by_family.values())) if s != "n"]
    head = "| family | n | " + " | ".join(systems) + " |"
    rule = "|---|---|" + "---|" * len(systems)
    rows = [
        f"| {fam} | {int(r['n'])} | " + " | ".join(f"{r[s]:.2f}" for s in systems) + " |"
        for fam, r in by_family.items()
    ]
    return "\n".join([head, rule, *rows])


def _png(fig: object) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # type: ignore[attr-defined]
    return buf.getvalue()


def confusion_png(matrix: np.ndarray, title: str) -> bytes:
    """The confusion matrix (rows: label, columns: predicted level) as a heat map."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.5), dpi=100)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax.set(title=title, xlabel="predicted level", ylabel="labelled level")
    return _png(fig)


def family_png(
    per_family: Mapping[str, Mapping[str, Mapping[str, float]]], systems: Sequence[str]
) -> bytes:
    """Level accuracy per family, one bar per system."""
    from matplotlib.figure import Figure

    families = list(per_family)
    fig = Figure(figsize=(max(6, len(families) * 0.9), 4), dpi=100)
    ax = fig.subplots()
    width = 0.8 / max(len(systems), 1)
    x = np.arange(len(families))
    for k, system in enumerate(systems):
        acc = [per_family[f][system]["level_acc"] for f in families]
        ax.bar(x + k * width, acc, width, label=system)
    ax.set_xticks(x + 0.4 - width / 2, families, rotation=30, ha="right")
    ax.set(ylabel="level accuracy", ylim=(0, 1), title="level accuracy per family")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
