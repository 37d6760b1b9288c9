"""Views of a test image: the clean image and what it becomes after re-compression or resizing.

Robustness is measured by scoring the same test images through a named view: ``jpeg<Q>``
(JPEG re-compression at quality Q), ``resize<F>`` (Lanczos down-scaling by factor F < 1, kept
at the smaller size, as a re-shared image is) and ``clean``. Consistency calibration scores
``consistency`` random mild views per image (seeded): a JPEG quality in [70, 95], a scale in
[0.75, 1], a crop of up to 10 % and a horizontal flip.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

_VIEW = re.compile(r"^(clean|jpeg(\d{1,3})|resize(0?\.\d+))$")


def check_view(name: str) -> None:
    """ValueError naming the grammar when ``name`` is not a view."""
    m = _VIEW.match(name)
    if m is None or (m[2] is not None and not 1 <= int(m[2]) <= 100):
        raise ValueError(f"view {name!r} must be 'clean', 'jpeg<1..100>' or 'resize<0..1>'")


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def _scale(image: Image.Image, factor: float) -> Image.Image:
    w, h = image.size
    return image.resize(
        (max(16, round(w * factor)), max(16, round(h * factor))), Image.Resampling.LANCZOS
    )


def apply_view(pixels: np.ndarray, name: str) -> np.ndarray:
    """[H, W, 3] uint8 -> the same image seen through view ``name``."""
    check_view(name)
    m = _VIEW.match(name)
    assert m is not None
    if m[1] == "clean":
        return pixels
    image = Image.fromarray(pixels)
    out = _jpeg(image, int(m[2])) if m[2] is not None else _scale(image, float(m[3]))
    return np.asarray(out.convert("RGB"))


def random_view(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mild random perturbation for consistency calibration (see module docstring)."""
    image = Image.fromarray(pixels)
    w, h = image.size
    cw, ch = round(w * rng.uniform(0.9, 1.0)), round(h * rng.uniform(0.9, 1.0))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = image.crop((left, top, left + cw, top + ch))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = _scale(image, float(rng.uniform(0.75, 1.0)))
    return np.asarray(_jpeg(image, int(rng.integers(70, 96))))
