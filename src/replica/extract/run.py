"""From crawled records to article rows, image rows, image blobs and rejects.

1. ``analyse`` (per record, in parallel on any engine): images are kept for the index; each
   HTML page becomes an article with its image references, or a reject (``http_status``,
   ``decode_error``, ``no_text``, ``too_short``); anything else is rejected ``not_html``.
2. ``combine`` (in order, one process): images are indexed by normalized URL (and the URL
   first requested, when the crawl followed a redirect; first good capture wins), and each
   article's images are matched to captured bytes, checked and stored under
   ``blobs/<sha[:2]>/<sha256>.<ext>``; an image that fails is a reject whose detail is its URL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from replica.config import ExtractConfig
from replica.extract.articles import Article, decode_html, extract_article
from replica.extract.images import ImageInfo, ImageRef, find_images, inspect_image, normalize_url
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


@dataclass(frozen=True)
class Analysed:
    """The per-record part of extraction (parallel): a kind and what it found.

    ``kind`` is 'image' (body kept for the image index), 'page' (article and image refs) or
    'reject' (``reason``/``detail``). Page bodies are dropped once analysed.
    """

    rec: WebRecord
    kind: str
    article: Article | None = None
    refs: tuple[ImageRef, ...] = ()
    reason: str | None = None
    detail: str | None = None


def analyse(rec: WebRecord, cfg: ExtractConfig) -> Analysed:
    """Classify one record and, for an HTML page, extract its article and image references."""
    kind = _kind(rec)
    if kind == "other":
        return Analysed(rec, "reject", reason="not_html", detail=rec.mime or "unknown media type")
    if rec.body is None:
        return Analysed(rec, "reject", reason="decode_error", detail=rec.error)
    if not 200 <= rec.status < 300:
        return Analysed(rec, "reject", reason="http_status", detail=str(rec.status))
    if kind == "image":
        return Analysed(rec, "image")
    bare = replace(rec, body=None)
    html = decode_html(rec.body)
    if html is None:
        detail = "body is not text in any detectable encoding"
        return Analysed(bare, "reject", reason="decode_error", detail=detail)
    article = extract_article(html, rec.url, cfg.include_tables, cfg.favor_precision)
    if article is None:
        return Analysed(bare, "reject", reason="no_text", detail="trafilatura found no main text")
    if len(article.text) < cfg.min_text_chars:
        detail = f"{len(article.text)} < {cfg.min_text_chars} chars"
        return Analysed(bare, "reject", reason="too_short", detail=detail)
    return Analysed(bare, "page", article=article, refs=tuple(find_images(html, rec.url)))


def analyse_many(records: list[WebRecord], cfg: ExtractConfig) -> list[Analysed]:
    """``analyse`` over a chunk (the unit of work sent to a process or a Ray task)."""
    return [analyse(r, cfg) for r in records]


def extract_records(records: Iterable[WebRecord], cfg: ExtractConfig) -> ExtractResult:
    """Extract every HTML record's article and images in this process (see the module doc)."""
    return combine((analyse(r, cfg) for r in records), cfg)


def combine(parts: Iterable[Analysed], cfg: ExtractConfig) -> ExtractResult:
    """Index image bytes by URL (first good capture wins), then attach images to articles.

    ``parts`` must come in record order; every engine feeds it that order, so their outputs
    are identical.
    """
    result = ExtractResult()
    index: dict[str, bytes] = {}
    pages: list[Analysed] = []
    for part in parts:
        result.rows_in += 1
        rec = part.rec
        if part.kind == "reject":
            result.reject(rec, part.reason or "unknown", part.detail)
        elif part.kind == "image":
            result.image_records += 1
            for url in (rec.url, rec.alias):
                if url:
                    index.setdefault(normalize_url(url), rec.body or b"")
        else:
            pages.append(part)
    checked: dict[str, ImageInfo | str] = {}
    for part in pages:
        rec, article = part.rec, part.article
        assert article is not None
        article_id = hashlib.sha256(
            f"{rec.source}\n{rec.record_id}\n{rec.url}".encode()
        ).hexdigest()[:32]
        result.articles.append(
            {
                "article_id": article_id,
                "url": rec.url,
                "title": article.title,
                "text": article.text,
                "published": article.published,
                "lang": article.lang,
                "source": rec.source,
                "record_id": rec.record_id,
            }
        )
        _images(rec, part.refs, article_id, index, checked, cfg, result)
    return result


def _images(
    rec: WebRecord,
    refs: tuple[ImageRef, ...],
    article_id: str,
    index: dict[str, bytes],
    checked: dict[str, ImageInfo | str],
    cfg: ExtractConfig,
    result: ExtractResult,
) -> None:
    seen: set[str] = set()
    for ref in refs:
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
