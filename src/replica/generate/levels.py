"""The D-Rep level of a replica, from its recipe alone (no similarity score involved).

A recipe is a list of operations. Each operation belongs to a family and may carry how much of
the source it keeps:

- ``kept``: the fraction of the source's area still in the replica (a crop's area, 1 - the
  covered fraction of an overlay, the pasted region's area, inpainting's kept area,
  1 - img2img strength);
- ``share``: the fraction of the replica's area the source occupies (a collage cell, a
  screenshot slot, the source on a background).

Its *content* is ``min(kept, share)`` (a missing one counts 1), and its level is

    op_level = min(CAPS[family], content_level(content))
    content_level(c) = 0 if c <= 0 else 1 + #{cut in level_cuts : cut <= c}

with three ascending ``level_cuts`` (params ``pairs.level_cuts``, default 0.2, 0.45, 0.8), so
content gives levels 1..4 and only families that keep everything untouched reach 5. A
recipe's level is the lowest level of its operations. Both maps are non-decreasing in the kept
content, so keeping more of the source never lowers a level.

Family caps, from total to no replication (ICDiff's D-Rep scale):

| level | families |
|---|---|
| 5 | reencode, resize, noise (imperceptible) |
| 4 | photometric, crop, overlay, img2img, inpaint |
| 3 | flip, rotate, perspective, embed (the source on other content) |
| 2 | stylize, collage, screenshot, meme |
| 1 | region (a small region of the source inside another image) |
| 0 | negative (another gallery image), txt2img |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from replica.config import Family

CAPS: dict[Family, int] = {
    Family.REENCODE: 5,
    Family.RESIZE: 5,
    Family.NOISE: 5,
    Family.PHOTOMETRIC: 4,
    Family.CROP: 4,
    Family.OVERLAY: 4,
    Family.IMG2IMG: 4,
    Family.INPAINT: 4,
    Family.FLIP: 3,
    Family.ROTATE: 3,
    Family.PERSPECTIVE: 3,
    Family.EMBED: 3,
    Family.STYLIZE: 2,
    Family.COLLAGE: 2,
    Family.SCREENSHOT: 2,
    Family.MEME: 2,
    Family.REGION: 1,
    Family.NEGATIVE: 0,
    Family.TXT2IMG: 0,
}
DIFFUSION = (Family.IMG2IMG, Family.INPAINT, Family.TXT2IMG)


def check_cuts(cuts: Sequence[float]) -> None:
    """Three strictly ascending cut points inside (0, 1); else a ValueError naming them."""
    if len(cuts) != 3 or not 0 < cuts[0] < cuts[1] < cuts[2] < 1:
        raise ValueError(
            f"pairs.level_cuts must be 3 ascending numbers in (0, 1), got {list(cuts)}"
        )


def content_level(content: float, cuts: Sequence[float]) -> int:
    """1..4 by how many cuts the kept content reaches; 0 when nothing of the source is kept."""
    if content <= 0:
        return 0
    return 1 + sum(content >= c for c in cuts)


def content_interval(level: int, cuts: Sequence[float]) -> tuple[float, float]:
    """The half-open content range ``[lo, hi)`` whose ``content_level`` is ``level`` (1..4)."""
    bounds = (0.0, *cuts, 1.0 + 1e-9)
    if not 1 <= level <= len(cuts) + 1:
        raise ValueError(f"content levels are 1..{len(cuts) + 1}, got {level}")
    return bounds[level - 1], bounds[level]


def op_level(op: Mapping[str, Any], cuts: Sequence[float]) -> int:
    """An operation's level: its family's cap, lowered by its kept content (module docstring)."""
    cap = CAPS[Family(op["family"])]
    if "kept" not in op and "share" not in op:
        return cap
    content = min(float(op.get("kept", 1.0)), float(op.get("share", 1.0)))
    return min(cap, content_level(content, cuts))


def recipe_level(ops: Sequence[Mapping[str, Any]], cuts: Sequence[float]) -> int:
    """The lowest level among the recipe's operations."""
    if not ops:
        raise ValueError("a recipe needs at least one operation")
    return min(op_level(op, cuts) for op in ops)
