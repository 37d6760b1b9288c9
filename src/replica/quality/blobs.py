"""Check the files a table points at: present, matching their sha256, decodable as images."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from PIL import Image

from replica.guard.paths import UnsafePath, inside


def check_blob(root: Path, uri: str, sha256: str | None, max_pixels: int) -> str | None:
    """None when the blob ``root/uri`` is fine, else a reason code: outside (the uri leaves
    the dataset), missing, sha_mismatch, undecodable."""
    try:
        path = inside(root, uri)
    except UnsafePath:
        return "outside"
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        return "sha_mismatch"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            with Image.open(path) as img:
                img.load()
    except Exception:
        return "undecodable"
    return None
