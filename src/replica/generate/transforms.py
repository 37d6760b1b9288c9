"""Deterministic image transforms that make replicas from light edits down to unrelated images.

Each transform draws its parameters from a seeded ``numpy`` generator, so a (seed, image,
index) triple always gives the same replica. The catalogue is ordered so that its first ten
entries already span the similarity range: blends with another gallery image from "mostly the
other image" to "mostly the source", then the classic copy-detection edits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Transform = Callable[[Image.Image, Image.Image, np.random.Generator], tuple[Image.Image, str]]


@dataclass(frozen=True)
class Applied:
    image: Image.Image
    name: str  # e.g. "blend(alpha=0.42)": the transform and its drawn parameters


def _blend(low: float, high: float) -> Transform:
    def apply(src: Image.Image, other: Image.Image, rng: np.random.Generator):
        alpha = float(rng.uniform(low, high))  # weight of the source
        return Image.blend(other, src, alpha), f"blend(alpha={alpha:.2f})"

    return apply


def _jpeg(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    import io

    quality = int(rng.integers(5, 60))
    buf = io.BytesIO()
    src.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), f"jpeg(quality={quality})"


def _crop(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    keep = float(rng.uniform(0.5, 0.9))
    w, h = src.size
    cw, ch = int(w * keep), int(h * keep)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return src.crop((x, y, x + cw, y + ch)).resize(src.size), f"crop(keep={keep:.2f})"


def _hflip(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    return ImageOps.mirror(src), "hflip"


def _color(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    b, c, s = (float(v) for v in rng.uniform([0.6, 0.5, 0.0], [1.5, 1.5, 2.0]))
    out = ImageEnhance.Brightness(src).enhance(b)
    out = ImageEnhance.Contrast(out).enhance(c)
    out = ImageEnhance.Color(out).enhance(s)
    return out, f"color(brightness={b:.2f},contrast={c:.2f},saturation={s:.2f})"


def _rotate(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    angle = float(rng.uniform(-40, 40))
    fill = tuple(int(v) for v in np.asarray(src).reshape(-1, 3).mean(0))
    return src.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=fill), (
        f"rotate(angle={angle:.1f})"
    )


def _text(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    w, h = src.size
    band = float(rng.uniform(0.2, 0.5))  # fraction of the height covered by the caption band
    out = src.copy()
    draw = ImageDraw.Draw(out)
    top = int(h * (1 - band))
    draw.rectangle((0, top, w, h), fill=(255, 255, 255))
    font = ImageFont.load_default(size=max(8, int(h * band / 3)))
    draw.text((2, top + 1), "COPY\nreplica", fill=(0, 0, 0), font=font)
    return out, f"text(band={band:.2f})"


def _resize(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    factor = float(rng.uniform(0.1, 0.5))
    w, h = src.size
    small = src.resize((max(2, int(w * factor)), max(2, int(h * factor))))
    return small.resize(src.size), f"resize(factor={factor:.2f})"


def _blur(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    radius = float(rng.uniform(0.5, 4.0))
    return src.filter(ImageFilter.GaussianBlur(radius)), f"blur(radius={radius:.1f})"


def _grayscale(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    return ImageOps.grayscale(src).convert("RGB"), "grayscale"


def _noise(src: Image.Image, other: Image.Image, rng: np.random.Generator):
    sigma = float(rng.uniform(10, 80))
    arr = np.asarray(src, dtype=np.float64) + rng.normal(0, sigma, (src.size[1], src.size[0], 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), f"noise(sigma={sigma:.0f})"


CATALOGUE: tuple[Transform, ...] = (
    _blend(0.0, 0.15),
    _blend(0.25, 0.45),
    _blend(0.5, 0.7),
    _blend(0.75, 0.95),
    _jpeg,
    _crop,
    _hflip,
    _color,
    _rotate,
    _text,
    _resize,
    _blur,
    _grayscale,
    _noise,
)


def apply_transform(
    index: int, source: Image.Image, other: Image.Image, rng: np.random.Generator
) -> Applied:
    """Apply catalogue entry ``index`` (cycling) to ``source``; ``other`` is the blend partner.

    Both images must be RGB and the same size.
    """
    image, name = CATALOGUE[index % len(CATALOGUE)](source, other, rng)
    return Applied(image.convert("RGB"), name)
