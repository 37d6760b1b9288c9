"""The dataset's geometry and encoder: every reference and replica of a pairs dataset goes
through ``fit`` (square, aspect ratio kept) and ``encode`` (one format and quality), so no file
property tells a replica from a reference (``validate`` checks it from the files).
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from replica.config import Encoding, Fit

PAD_COLOR = (114, 114, 114)  # neutral grey letterbox
JPEG_SUBSAMPLING = 0  # 4:4:4: small pasted regions keep their colour edges
PNG_COMPRESS_LEVEL = 6
WEBP_METHOD = 4
SUFFIX = {Encoding.JPEG: "jpg", Encoding.PNG: "png", Encoding.WEBP: "webp"}


def to_rgb(image: Image.Image) -> Image.Image:
    """Upright RGB: EXIF orientation applied, alpha composited on white."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def fit(image: Image.Image, size: int, mode: Fit) -> Image.Image:
    """A ``size`` x ``size`` RGB image with the source's aspect ratio kept (crop or pad)."""
    rgb = to_rgb(image)
    if mode is Fit.PAD:
        return ImageOps.pad(rgb, (size, size), Image.Resampling.LANCZOS, color=PAD_COLOR)
    return ImageOps.fit(rgb, (size, size), Image.Resampling.LANCZOS)


def encode(image: Image.Image, encoding: Encoding, quality: int) -> bytes:
    """The dataset's bytes for an RGB image: fixed settings, no metadata (EXIF, ICC)."""
    buf = io.BytesIO()
    rgb = image.convert("RGB")
    if encoding is Encoding.JPEG:
        rgb.save(buf, "JPEG", quality=quality, subsampling=JPEG_SUBSAMPLING, optimize=False)
    elif encoding is Encoding.WEBP:
        rgb.save(buf, "WEBP", quality=quality, method=WEBP_METHOD)
    else:
        rgb.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()
