"""From crawled records to article rows, image rows, image blobs and rejects.

1. Sort records: images are indexed by normalized URL (first good capture wins); HTML pages
   are kept; anything else is rejected ``not_html``.
2. Each HTML page becomes an article, or a reject (``http_status``, ``decode_error``,
   ``no_text``, ``too_short``).
3. Each accepted article's images are matched to captured bytes, checked and stored under
   ``blobs/<sha[:2]>/<sha256>.<ext>``; an image that fails is a reject whose detail is its URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from replica.config import ExtractConfig
from replica.extract.articles import extract_article
from replica.extract.images import ImageInfo, find_images, inspect_image, normalize_url
from replica.extract.records import WebRecord

HTML_MIMES = ("text/html", "application/xhtml+xml")
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


@dataclass
class ExtractResult:
    """Rows for the contracts, blob bytes by relative uri, and the record counts."""

    articles: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    rows_in: int = 0
    image_records: int = 0

    def reject(self, rec: WebRecord, reason: str, detail: str | None = None) -> None:
        self.rejects.append(
            {
                "stage": "extract",
                "source": rec.source,
                "record_id": rec.record_id,
                "url": rec.url,
                "reason": reason,
                "detail": detail,
            }
        )


def extract_records(records: Iterable[WebRecord], cfg: ExtractConfig) -> ExtractResult:
    """Extract every HTML record's article and images (see the module docstring)."""
    result = ExtractResult()
    # 1. sort: image bytes by URL, HTML pages in order, the rest rejected
    index: dict[str, bytes] = {}
    pages: list[WebRecord] = []
    for rec in records:
        result.rows_in += 1
        kind = _kind(rec)
        if kind == "other":
            result.reject(rec, "not_html", rec.mime or "unknown media type")
        elif rec.body is None:
            result.reject(rec, "decode_error", rec.error)
        elif not 200 <= rec.status < 300:
            result.reject(rec, "http_status", str(rec.status))
        elif kind == "image":
            result.image_records += 1
            index.setdefault(normalize_url(rec.url), rec.body)
        else:
            pages.append(rec)
    # 2. + 3. articles, then their images
    checked: dict[str, ImageInfo | str] = {}
    for rec in pages:
        html = _decode(rec.body or b"")
        if html is None:
            result.reject(rec, "decode_error", "body is not text in any detectable encoding")
            continue
        article = extract_article(html, rec.url, cfg.include_tables)
        if article is None:
            result.reject(rec, "no_text", "trafilatura found no main text")
            continue
        if len(article.text) < cfg.min_text_chars:
            result.reject(rec, "too_short", f"{len(article.text)} < {cfg.min_text_chars} chars")
            continue
        article_id = hashlib.sha256(
            f"{rec.source}\n{rec.record_id}\n{rec.url}".encode()
        ).hexdigest()
        result.articles.append(
            {
                "article_id": article_id[:32],
                "url": rec.url,
                "title": article.title,
                "text": article.text,
                "published": article.published,
                "lang": article.lang,
                "source": rec.source,
                "record_id": rec.record_id,
            }
        )
        _images(rec, html, article_id[:32], index, checked, cfg, result)
    return result


def _images(
    rec: WebRecord,
    html: str,
    article_id: str,
    index: dict[str, bytes],
    checked: dict[str, ImageInfo | str],
    cfg: ExtractConfig,
    result: ExtractResult,
) -> None:
    seen: set[str] = set()
    for ref in find_images(html, rec.url):
        if ref.candidates == ("data:",):
            result.reject(rec, "image_data_uri", "inline data: image without a URL")
            continue
        url = next((u for u in ref.candidates if normalize_url(u) in index), None)
        if url is None:
            result.reject(rec, "image_not_captured", ref.src_url)
            continue
        data = index[normalize_url(url)]
        sha = hashlib.sha256(data).hexdigest()
        if sha not in checked:
            checked[sha] = inspect_image(data, cfg)
        info = checked[sha]
        if isinstance(info, str):
            result.reject(rec, info, url)
            continue
        if sha in seen:
            result.reject(rec, "duplicate_in_article", url)
            continue
        seen.add(sha)
        uri = f"blobs/{sha[:2]}/{sha}.{info.ext}"
        result.blobs[uri] = data
        result.images.append(
            {
                "image_id": sha,
                "article_id": article_id,
                "sha256": sha,
                "uri": uri,
                "width": info.width,
                "height": info.height,
                "mime": info.mime,
                "caption": ref.caption,
                "alt": ref.alt,
                "src_url": url,
            }
        )


def _kind(rec: WebRecord) -> str:
    """'html', 'image' or 'other', from the media type, sniffing bytes when it is missing."""
    if rec.mime in HTML_MIMES:
        return "html"
    if rec.mime.startswith("image/"):
        return "image"
    if rec.mime in ("", "application/octet-stream", "unk", "no-type") and rec.body:
        head = rec.body[:1024]
        if head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            return "image"
        low = head.lstrip().lower()
        if low.startswith((b"<!doctype html", b"<html")):
            return "html"
    return "other"


def _decode(body: bytes) -> str | None:
    from trafilatura.utils import decode_file

    try:
        text = decode_file(body)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None
    return text if isinstance(text, str) and text.strip() else None
