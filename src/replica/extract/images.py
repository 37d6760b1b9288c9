"""Find the images a page shows, with their captions, and check captured image bytes.

Candidates per image, best first: the widest ``srcset`` entry of ``<picture><source>`` and
``<img>``, then ``src`` (or lazy-loading ``data-src``). The caption is the ``<figcaption>`` of
the enclosing ``<figure>``, else the alt text, else the ``title`` of an enclosing link.
``og:image`` (and ``og:image:secure_url``) come last, captioned by ``og:image:alt``.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from replica.config import ExtractConfig

FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
    "BMP": ("bmp", "image/bmp"),
    "TIFF": ("tiff", "image/tiff"),
}
_DESCRIPTOR = re.compile(r"^(\d+(?:\.\d+)?)([wx])$")


@dataclass(frozen=True)
class ImageRef:
    """An image shown by a page: absolute candidate URLs (best first), caption and alt text."""

    candidates: tuple[str, ...]
    caption: str | None = None
    alt: str | None = None

    @property
    def src_url(self) -> str:
        return self.candidates[0]


@dataclass(frozen=True)
class ImageInfo:
    """A decoded image's format facts."""

    width: int
    height: int
    mime: str
    ext: str


def normalize_url(url: str) -> str:
    """The key captures and references are matched on: lower-case scheme/host, no fragment."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def parse_srcset(srcset: str) -> list[str]:
    """The URLs of a ``srcset``, largest descriptor first (w and x; no descriptor counts 1x)."""
    ranked = []
    for i, item in enumerate(c.strip() for c in srcset.split(",")):
        bits = item.split()
        if not bits:
            continue
        size = 1.0
        if len(bits) > 1 and (m := _DESCRIPTOR.match(bits[-1])):
            size = float(m.group(1)) * (1 if m.group(2) == "w" else 10_000)
        ranked.append((-size, i, bits[0]))
    return [url for _, _, url in sorted(ranked)]


def find_images(html: str, base_url: str) -> list[ImageRef]:
    """Every image a page references: ``<img>`` (with ``<picture>`` sources), then og:image."""
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    base = _base(root, base_url)
    refs: list[ImageRef] = []
    for img in root.iter("img"):
        urls: list[str] = []
        # libxml2 does not know <source> is void, so <img> may sit inside it: look up the tree
        picture = next((a for a in img.iterancestors() if a.tag == "picture"), None)
        if picture is not None:
            for source in picture.iter("source"):
                urls += parse_srcset(source.get("srcset") or source.get("data-srcset") or "")
        urls += parse_srcset(img.get("srcset") or img.get("data-srcset") or "")
        urls += [img.get("src") or "", img.get("data-src") or "", img.get("data-original") or ""]
        candidates = _absolute(urls, base)
        if candidates:
            alt = _text(img.get("alt"))
            refs.append(ImageRef(candidates, _caption(img) or alt or _link_title(img), alt))
        elif any(u.strip().startswith("data:") for u in urls):
            refs.append(ImageRef(("data:",), None, _text(img.get("alt"))))
    og_alt = None
    og: list[tuple[str, ...]] = []
    for meta in root.iter("meta"):
        key = (meta.get("property") or meta.get("name") or "").lower()
        if key in ("og:image", "og:image:url", "og:image:secure_url"):
            candidates = _absolute([meta.get("content") or ""], base)
            if candidates and candidates not in og:
                og.append(candidates)
        elif key == "og:image:alt":
            og_alt = _text(meta.get("content"))
    refs += [ImageRef(c, og_alt, og_alt) for c in og]
    return refs


def _base(root: Any, page_url: str) -> str:
    for b in root.iter("base"):
        if b.get("href"):
            return urljoin(page_url, b.get("href").strip())
    return page_url


def _absolute(urls: list[str], base: str) -> tuple[str, ...]:
    """Resolve against the page (``//host/x`` takes the page's scheme); http(s) only, unique."""
    out: dict[str, None] = {}
    for u in urls:
        u = u.strip()
        if not u or u.startswith("data:"):
            continue
        try:
            full = urljoin(base, u)
        except ValueError:
            continue
        if urlsplit(full).scheme in ("http", "https", "file"):
            out[full] = None
    return tuple(out)


def _caption(img: Any) -> str | None:
    for anc in img.iterancestors():
        if anc.tag == "figure":
            cap = next(anc.iter("figcaption"), None)
            return _text(cap.text_content()) if cap is not None else None
    return None


def _link_title(img: Any) -> str | None:
    for anc in img.iterancestors():
        if anc.tag == "a":
            return _text(anc.get("title"))
    return None


def _text(value: str | None) -> str | None:
    return (" ".join(value.split()) or None) if value else None


def inspect_image(data: bytes, cfg: ExtractConfig) -> ImageInfo | str:
    """Decode image bytes under ``cfg`` (ExtractConfig) limits: ImageInfo, or a reject reason."""
    from PIL import Image

    if len(data) > cfg.max_image_bytes:
        return "image_too_large"
    if b"<svg" in data[:1024].lower():
        return "image_unsupported_format"  # vector graphics: nothing to compare pixels with
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height, fmt = img.width, img.height, img.format
                if width * height > cfg.max_image_pixels:
                    return "image_too_many_pixels"
                if fmt not in FORMATS:
                    return "image_unsupported_format"
                if min(width, height) < cfg.min_image_side:
                    return "image_too_small"
                if max(width, height) / max(1, min(width, height)) > cfg.max_image_aspect:
                    return "image_bad_aspect"
                img.load()
    except Image.DecompressionBombError:
        return "image_too_many_pixels"
    except Exception:  # Pillow raises many types for corrupt data
        return "image_undecodable"
    ext, mime = FORMATS[fmt]
    return ImageInfo(width, height, mime, ext)
