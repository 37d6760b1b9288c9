"""Format parity: every image, real or fake, leaves through the same decode → size → encode.

``encode`` turns an opened image into the bytes the dataset stores: RGB (transparency
composited on white, as the gallery was made), brought to ``image_size`` square by the size
policy, written with one format and quality. Detectors then cannot tell the classes apart by
the file (PNG vs JPEG, 512 vs 384 px, quality 92 vs none) but only by the pixels.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from replica.config import FakesConfig, ImageFormat, SizePolicy

MIME = {
    ImageFormat.jpeg: "image/jpeg",
    ImageFormat.png: "image/png",
    ImageFormat.webp: "image/webp",
}
EXT = {ImageFormat.jpeg: "jpg", ImageFormat.png: "png", ImageFormat.webp: "webp"}
PIL_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
PIL_MIME |= {"BMP": "image/bmp", "TIFF": "image/tiff", "MPO": "image/jpeg"}


ENCODING_FILE = "encoding.json"  # the encoding a fakes dataset was written with
ENCODING_KEYS = ("parity", "format", "quality", "image_size", "size_policy")


def encoding_dict(cfg: FakesConfig) -> dict[str, Any]:
    """The parts of ``cfg`` that decide the files' encoding, as JSON-ready values."""
    return {k: getattr(cfg, k).value if hasattr(getattr(cfg, k), "value") else getattr(cfg, k)
            for k in ENCODING_KEYS}  # fmt: skip


def encoder_of(encoding: Mapping[str, Any]) -> FakesConfig | None:
    """The config that re-encodes new images like a dataset (None: it kept original files)."""
    if not encoding or not encoding.get("parity"):
        return None
    return FakesConfig(
        parity=True,
        format=ImageFormat(encoding["format"]),
        quality=int(encoding["quality"]),
        image_size=int(encoding["image_size"]),
        size_policy=SizePolicy(encoding["size_policy"]),
    )


def reencode(image: Image.Image, encoding: Mapping[str, Any]) -> Image.Image:
    """``image`` as the dataset described by ``encoding`` would hold it (decoded RGB)."""
    cfg = encoder_of(encoding)
    if cfg is None:
        return image.convert("RGB")
    with Image.open(io.BytesIO(encode(image, cfg).data)) as out:
        return out.convert("RGB")


def reencode_pixels(pixels: np.ndarray, encoding: Mapping[str, Any]) -> np.ndarray:
    """``reencode`` on uint8 RGB [H, W, 3] pixels."""
    return np.asarray(reencode(Image.fromarray(pixels), encoding))


class TooSmall(ValueError):
    """The image cannot give an ``image_size`` square without upscaling (``crop`` policy)."""


@dataclass(frozen=True)
class Encoded:
    data: bytes
    width: int
    height: int
    mime: str
    ext: str


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparent areas composited on white."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def fit(image: Image.Image, size: int, policy: SizePolicy) -> Image.Image:
    """``size`` x ``size``: short side scaled to ``size`` then centre-cropped (``resize``), or
    centre-cropped at native resolution (``crop``; TooSmall when a side is shorter)."""
    w, h = image.size
    if policy is SizePolicy.resize:
        scale = size / min(w, h)
        w, h = max(size, round(w * scale)), max(size, round(h * scale))
        image = image.resize((w, h), Image.Resampling.LANCZOS)
    elif min(w, h) < size:
        raise TooSmall(f"{w}x{h} is smaller than {size}x{size}")
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def encode(image: Image.Image, cfg: FakesConfig) -> Encoded:
    """The dataset's bytes for ``image`` under ``cfg`` (format, quality, size, policy)."""
    square = fit(to_rgb(image), cfg.image_size, cfg.size_policy)
    buf = io.BytesIO()
    if cfg.format is ImageFormat.jpeg:
        square.save(buf, format="JPEG", quality=cfg.quality, subsampling="4:2:0")
    elif cfg.format is ImageFormat.webp:
        square.save(buf, format="WEBP", quality=cfg.quality)
    else:
        square.save(buf, format="PNG")
    return Encoded(buf.getvalue(), square.width, square.height, MIME[cfg.format], EXT[cfg.format])


def check_config(cfg: FakesConfig) -> None:
    """Refuse settings no encoder honours; the message names the key and the value."""
    if not 1 <= cfg.quality <= 100:
        raise ValueError(f"fakes.quality must be in 1..100, got {cfg.quality}")
    if cfg.image_size < 16:
        raise ValueError(f"fakes.image_size must be >= 16, got {cfg.image_size}")
    if not 0 < cfg.test_fraction < 1 or not 0 <= cfg.val_fraction < 1 - cfg.test_fraction:
        raise ValueError(
            f"fakes.test_fraction ({cfg.test_fraction}) and fakes.val_fraction "
            f"({cfg.val_fraction}) must satisfy 0 < test, 0 <= val and test + val < 1"
        )
