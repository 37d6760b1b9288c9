"""What an image file's bytes say about how it was encoded: format, mode, size, JPEG quality.

A detector of generated images learns whatever separates its two classes; when the fakes are
PNG at 512 px and the reals JPEG at 384 px, the file encoding alone does (the confound that
invalidated DIRE's evaluation). ``validate`` stores :func:`encoding_of` of every blob as the
derived column ``blob_encoding``, so a contract's suite can require a single encoding across a
dataset (format parity) with a plain Great Expectations rule.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, JpegImagePlugin, UnidentifiedImageError

# JPEG Annex K luminance quantisation table, the base of the IJG quality scale (libjpeg, Pillow).
_IJG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def ijg_table(quality: int) -> list[int]:
    """The luminance table libjpeg writes for ``quality`` (1..100)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((v * scale + 50) // 100, 1), 255) for v in _IJG_LUMA]


def jpeg_quality(luma_table: list[int]) -> tuple[int, bool]:
    """The IJG quality whose luminance table is nearest to ``luma_table``, and whether it is
    exact. Tables are compared sorted, so zig-zag and natural order give the same answer."""
    have = sorted(luma_table)
    if len(have) != len(_IJG_LUMA):
        raise ValueError(f"a JPEG quantisation table has 64 entries, got {len(have)}")

    def distance(q: int) -> int:
        return sum(abs(a - b) for a, b in zip(sorted(ijg_table(q)), have, strict=True))

    best = min(range(1, 101), key=distance)
    return best, sorted(ijg_table(best)) == have


def describe(image: Image.Image) -> str:
    """``JPEG RGB 256x256 q90 4:2:0``-style signature of an opened (not necessarily loaded)
    image: format, mode, size and, for JPEG, the IJG quality (``q~N`` when not an IJG table)
    and the chroma subsampling."""
    fmt = image.format or "RAW"
    parts = [fmt, image.mode, f"{image.width}x{image.height}"]
    if fmt == "JPEG" and isinstance(image, JpegImagePlugin.JpegImageFile):
        tables = getattr(image, "quantization", None) or {}
        if 0 in tables:
            q, exact = jpeg_quality(list(tables[0]))
            parts.append(f"q{q}" if exact else f"q~{q}")
        parts.append(_SAMPLING.get(JpegImagePlugin.get_sampling(image), "other"))
    return " ".join(parts)


def encoding_of(path: Path) -> str | None:
    """The signature of the image file at ``path`` (None when it is missing or not an image)."""
    try:
        with Image.open(path) as image:
            return describe(image)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
