"""Check the files a table points at: present, matching their sha256, decodable as images, and
how they are encoded (format, JPEG quality, chroma subsampling, mode), read from the files.

The encoding is derived from the bytes, never trusted from a column: the JPEG quality is the
IJG quality whose scaled standard luminance table equals the file's (``quality.encoding``;
other tables read as ``q~N``, the nearest IJG quality).
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from replica.guard.paths import UnsafePath, inside
from replica.quality.encoding import jpeg_quality

_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def quality_tag(luma: Sequence[int]) -> str:
    """``q<N>`` for an exact IJG table, else ``q~<N>`` for the nearest one."""
    q, exact = jpeg_quality(list(luma))
    return f"q{q}" if exact else f"q~{q}"


def encoding_of(img: Image.Image) -> str:
    """The encoding signature of an opened image, e.g. ``JPEG/q95/4:4:4/RGB``, ``PNG/RGB``."""
    fmt = img.format or "unknown"
    if fmt == "JPEG":
        from PIL import JpegImagePlugin

        quant: dict[int, Any] = getattr(img, "quantization", None) or {}
        quality = quality_tag(quant[0]) if 0 in quant else "q?"
        sampling = _SUBSAMPLING.get(JpegImagePlugin.get_sampling(img), "ss?")
        return f"JPEG/{quality}/{sampling}/{img.mode}"
    if fmt == "WEBP":
        lossless = "lossless" if "lossless" in str(img.info.get("compression", "")) else "lossy"
        return f"WEBP/{lossless}/{img.mode}"
    return f"{fmt}/{img.mode}"


@dataclass(frozen=True)
class BlobCheck:
    reason: str | None  # None when fine, else outside | missing | sha_mismatch | undecodable
    encoding: str | None  # the encoding signature when the file decodes


def check_blob(root: Path, uri: str, sha256: str | None, max_pixels: int) -> BlobCheck:
    """Read the file ``root/uri``: inside the dataset (``outside`` when the uri or a symlink
    leaves it), present, sha256 as recorded, decodes fully, and its encoding."""
    try:
        path = inside(root, uri)
    except UnsafePath:
        return BlobCheck("outside", None)
    if not path.is_file():
        return BlobCheck("missing", None)
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        return BlobCheck("sha_mismatch", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            with Image.open(path) as img:
                encoding = encoding_of(img)
                img.load()
    except Exception:
        return BlobCheck("undecodable", None)
    return BlobCheck(None, encoding)


def derive_blob_columns(
    rows: Any,
    blobs: Sequence[tuple[str, str | None]],
    root: Path,
    max_pixels: int,
) -> tuple[list[bool], list[str | None], Counter[str]]:
    """Per row of a table with ``blobs`` (uri column, sha column): ``blob_ok``, ``blob_format``.

    ``rows`` is a pandas DataFrame (or anything indexable by column name). A file shared by
    rows is read once. ``blob_format`` is the common encoding of the row's files, ``mixed:a|b``
    when they differ, None when one does not decode. Returns the two columns and the reject
    reasons counted as ``blob_<reason>``.
    """
    cache: dict[tuple[str, str | None], BlobCheck] = {}
    n = len(rows)
    ok = [True] * n
    formats: list[set[str | None]] = [set() for _ in range(n)]
    reasons: Counter[str] = Counter()
    for uri_col, sha_col in blobs:
        uris = list(rows[uri_col])
        shas = list(rows[sha_col]) if sha_col else [None] * n
        for i, (uri, sha) in enumerate(zip(uris, shas, strict=True)):
            if not isinstance(uri, str):
                check = BlobCheck("missing", None)
            else:
                key = (uri, sha if isinstance(sha, str) else None)
                if key not in cache:
                    cache[key] = check_blob(Path(root), uri, key[1], max_pixels)
                check = cache[key]
            if check.reason:
                ok[i] = False
                reasons[f"blob_{check.reason}"] += 1
            formats[i].add(check.encoding)
    derived = [
        None if None in f else next(iter(f)) if len(f) == 1 else "mixed:" + "|".join(sorted(f))  # type: ignore[arg-type]
        for f in formats
    ]
    return ok, derived, reasons
