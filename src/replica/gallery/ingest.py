"""Check and index gallery files: decode/size checks, content addressing, counted rejects.

Each candidate becomes an ``images`` row (``image_id`` = ``sha256`` of the bytes, the blob at
``blobs/<sha[:2]>/<sha>.<ext>``, the original bytes unchanged) or a reject with a reason:

- ``missing_file`` / ``unreadable``: the location cannot be read;
- ``too_large``: more than ``gallery.max_bytes`` bytes (never read past the limit);
- ``not_an_image``: no image decoder recognises the bytes (text, PDF, SVG, ...);
- ``unsupported_format``: an image format outside the ``images`` contract's MIME types;
- ``decompression_bomb``: more than ``gallery.max_pixels`` pixels (checked before decoding);
- ``corrupt_image``: recognised but does not decode fully (truncated, damaged);
- ``too_small``: a side below ``gallery.min_side``;
- ``duplicate``: the same bytes (sha256) as an earlier candidate (the detail names it).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from replica.config import GalleryConfig
from replica.extract.images import FORMATS
from replica.gallery.sources import Candidate

ARTICLE_ID = "gallery"  # images rows need an article; a gallery import is its own "article"


@dataclass(frozen=True)
class Imported:
    row: dict[str, object]  # an ``images`` contract row
    data: bytes


@dataclass(frozen=True)
class Rejected:
    location: str
    reason: str
    detail: str

    def row(self) -> dict[str, object]:
        """A ``rejects`` contract row."""
        return {
            "stage": "gallery",
            "source": self.location,
            "record_id": None,
            "url": None,
            "reason": self.reason,
            "detail": self.detail,
        }


def inspect(data: bytes, cfg: GalleryConfig) -> tuple[str, int, int] | tuple[str, str]:
    """``(ext, width, height)`` of decodable image bytes, else ``(reason, detail)``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height, fmt = img.width, img.height, img.format
                if fmt not in FORMATS:
                    return "unsupported_format", f"format {fmt}"
                if width * height > cfg.max_pixels:
                    return "decompression_bomb", f"{width}x{height} > {cfg.max_pixels} pixels"
                img.load()
    except UnidentifiedImageError:
        return "not_an_image", "no image decoder recognises the bytes"
    except Image.DecompressionBombError as exc:
        return "decompression_bomb", str(exc)[:200]
    except Exception as exc:  # Pillow raises many types for damaged data
        return "corrupt_image", f"{type(exc).__name__}: {exc}"[:200]
    if min(width, height) < cfg.min_side:
        return "too_small", f"{width}x{height}, min side {cfg.min_side}"
    return FORMATS[fmt][0], width, height


def _check(
    candidate: Candidate, cfg: GalleryConfig, read: Callable[[str, int], bytes | None]
) -> Imported | Rejected:
    try:
        data = read(candidate.location, cfg.max_bytes)
    except FileNotFoundError:
        return Rejected(candidate.location, "missing_file", "no such file")
    except Exception as exc:  # OS and S3 client errors alike
        return Rejected(candidate.location, "unreadable", f"{type(exc).__name__}: {exc}"[:200])
    if data is None:
        return Rejected(candidate.location, "too_large", f"more than {cfg.max_bytes} bytes")
    facts = inspect(data, cfg)
    if len(facts) == 2:
        return Rejected(candidate.location, str(facts[0]), str(facts[1]))
    ext, width, height = facts
    sha = hashlib.sha256(data).hexdigest()
    mime = next(m for e, m in FORMATS.values() if e == ext)
    row = {
        "image_id": sha,
        "article_id": ARTICLE_ID,
        "sha256": sha,
        "uri": f"blobs/{sha[:2]}/{sha}.{ext}",
        "width": width,
        "height": height,
        "mime": mime,
        "caption": candidate.caption,
        "alt": None,
        "src_url": candidate.location,
    }
    return Imported(row, data)


def ingest(
    candidates: Sequence[Candidate],
    cfg: GalleryConfig,
    read: Callable[[str, int], bytes | None],
    workers: int = 1,
    chunk: int = 256,
) -> Iterator[Imported | Rejected]:
    """Check every candidate (threads; Pillow and hashlib release the GIL), in input order.

    The first occurrence of some bytes is imported; later ones are ``duplicate`` rejects.
    """
    seen: dict[str, str] = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, len(candidates), chunk):
            part = candidates[start : start + chunk]
            for result in pool.map(lambda c: _check(c, cfg, read), part):
                if isinstance(result, Imported):
                    sha = str(result.row["sha256"])
                    if sha in seen:
                        yield Rejected(
                            str(result.row["src_url"]), "duplicate", f"same bytes as {seen[sha]}"
                        )
                        continue
                    seen[sha] = str(result.row["src_url"])
                yield result
