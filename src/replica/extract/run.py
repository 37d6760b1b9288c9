"""From crawled records to article rows, image rows, image blobs and rejects.

1. ``analyse`` (per record, in parallel on any engine): records refused while reading keep
   their reason (``truncated_record``, ``warc_unreadable``, ``too_large``,
   ``decompression_bomb``, ...); images are kept for the index; each HTML page becomes an
   article with its image references, or a reject (``http_status``, ``decode_error``,
   ``unsafe_url``, ``html_too_large``, ``no_text``, ``too_short``); anything else is rejected
   ``not_html``. An exception inside the analysis of one record is that record's
   ``extract_failed`` reject, never the end of the step.
2. ``combine`` (in order, one process): images are indexed by normalized URL (and the URL
   first requested, when the crawl followed a redirect; first good capture wins), and each
   article's images are matched to captured bytes, checked and stored under
   ``blobs/<sha[:2]>/<sha256>.<ext>``; an image that fails is a reject whose detail is its URL.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from replica.config import ExtractConfig
from replica.extract.articles import Article, decode_html, extract_article
from replica.extract.images import ImageInfo, ImageRef, find_images, inspect_image, normalize_url
from replica.extract.records import WebRecord
from replica.guard.urls import printable, unsafe_url

HTML_MIMES = ("text/html", "application/xhtml+xml")
URL_SCHEMES = ("http", "https", "file")  # what the articles contract's url expectation allows
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
    if rec.reason:
        return Analysed(rec, "reject", reason=rec.reason, detail=rec.error)
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
    if why := unsafe_url(rec.url, cfg.max_url_chars, URL_SCHEMES):
        return Analysed(
            replace(bare, url=printable(rec.url)), "reject", reason="unsafe_url", detail=why
        )
    if len(rec.body) > cfg.max_html_bytes:
        detail = f"{len(rec.body)} > {cfg.max_html_bytes} bytes"
        return Analysed(bare, "reject", reason="html_too_large", detail=detail)
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


def preload() -> None:
    """Import the parsers ``analyse`` uses, so that forked workers start with them loaded and
    their first record's time limit is not spent importing."""
    import lxml.html  # noqa: F401
    import PIL.Image  # noqa: F401
    import trafilatura  # noqa: F401


def analyse_safely(rec: WebRecord, cfg: ExtractConfig) -> Analysed:
    """``analyse``, with an exception (a parser bug on hostile input) as an ``extract_failed``
    reject of that record."""
    try:
        return analyse(rec, cfg)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        detail = f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
        return Analysed(replace(rec, body=None), "reject", reason="extract_failed", detail=detail)


def analyse_many(records: list[WebRecord], cfg: ExtractConfig) -> list[Analysed]:
    """``analyse_safely`` over a chunk (the unit of work sent to a Ray task)."""
    return [analyse_safely(r, cfg) for r in records]


def extract_records(records: Iterable[WebRecord], cfg: ExtractConfig) -> ExtractResult:
    """Extract every HTML record's article and images in this process (see the module doc)."""
    return combine((analyse_safely(r, cfg) for r in records), cfg)


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
            result.reject(rec, "image_not_captured", printable(ref.src_url))
            continue
        if why := unsafe_url(url, cfg.max_url_chars, URL_SCHEMES):
            result.reject(rec, "unsafe_url", f"{printable(url)}: {why}")
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
