"""A generator's images against a gallery: how many replicate it, and how strongly.

ICDiff's headline measure is the replication ratio: the share of a generator's images whose
best gallery match reaches a replication level. ``ratios`` gives it at every level threshold
(>= 1 ... >= 5); ``html_report`` shows the strongest matches side by side.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEVELS = 6


def ratios(best_levels: Sequence[int]) -> dict[str, float]:
    """``{"ratio_ge_1": ..., ..., "ratio_ge_5": ...}``: the share of images whose best match
    reaches each level (an image without any match counts as level 0)."""
    levels = np.asarray(best_levels, np.int64)
    if not len(levels):
        raise ValueError("no images to audit")
    return {f"ratio_ge_{t}": float(np.mean(levels >= t)) for t in range(1, LEVELS)}


@dataclass(frozen=True)
class ReportRow:
    query: Path
    reference: Path
    level: int
    score: float
    pdf: Sequence[float]


def _thumb(path: Path, side: int) -> str:
    """A data: URI of a JPEG thumbnail (the report is one self-contained file)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (side, side))
            rgb = im.convert("RGB")
    except OSError:
        return ""
    rgb.thumbnail((side, side))
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def html_report(
    title: str, ratio: dict[str, float], n_images: int, rows: Sequence[ReportRow], thumb_side: int
) -> str:
    """The audit as HTML: the ratio per level threshold, then each match side by side."""
    esc = html.escape
    head = "".join(
        f"<tr><td>&ge; {k.rsplit('_', 1)[1]}</td><td>{v:.1%}</td></tr>" for k, v in ratio.items()
    )
    cells = []
    for row in rows:
        bars = " ".join(f"{p:.2f}" for p in row.pdf)
        cells.append(
            "<tr>"
            f"<td><img src='{_thumb(row.query, thumb_side)}'><br>{esc(row.query.name)}</td>"
            f"<td><img src='{_thumb(row.reference, thumb_side)}'><br>{esc(row.reference.name)}</td>"
            f"<td><b>{row.level}</b><br>score {row.score:.2f}<br>"
            f"<small>P(0..5): {bars}</small></td>"
            "</tr>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title>"
        "<style>body{font-family:sans-serif}td{padding:6px;vertical-align:top}"
        "img{max-width:%dpx}</style></head><body>"
        % thumb_side
        + f"<h1>{esc(title)}</h1><p>{n_images} generated images.</p>"
        + "<h2>Replication ratio (best match level)</h2><table>"
        + head
        + "</table><h2>Strongest matches</h2><table>"
        + "<tr><th>generated</th><th>gallery</th><th>level</th></tr>"
        + "".join(cells)
        + "</table></body></html>\n"
    )
