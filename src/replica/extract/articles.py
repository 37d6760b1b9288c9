"""Main text and metadata of an HTML page, via trafilatura."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_LANG = re.compile(r"^[a-zA-Z]{2,3}(?=$|[-_])")


@dataclass(frozen=True)
class Article:
    """What trafilatura found: title, main text, ISO date (YYYY-MM-DD) and language code."""

    title: str | None
    text: str
    published: str | None
    lang: str | None


def extract_article(
    html: str, url: str, include_tables: bool, favor_precision: bool = False
) -> Article | None:
    """The article in a page, or None when trafilatura finds no main text."""
    from trafilatura import bare_extraction

    doc = bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_tables=include_tables,
        include_comments=False,
        favor_precision=favor_precision,
    )
    if doc is None:
        return None
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = (data.get("text") or "").strip()
    if not text:
        return None
    date = data.get("date") or ""
    return Article(
        title=(data.get("title") or "").strip() or None,
        text=text,
        published=date[:10] if _ISO_DATE.match(date) else None,
        lang=_lang(data.get("language"), html),
    )


def decode_html(body: bytes) -> str | None:
    """A page's bytes as text (trafilatura's charset detection), or None when not text."""
    from trafilatura.utils import decode_file

    try:
        text = decode_file(body)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None
    return text if isinstance(text, str) and text.strip() else None


def _lang(detected: str | None, html: str) -> str | None:
    """trafilatura's language, else the page's ``<html lang>``; lower-case primary subtag."""
    if detected and (m := _LANG.match(detected)):
        return m.group(0).lower()
    head = re.search(r"<html\b[^>]*\blang\s*=\s*[\"']?([a-zA-Z]{2,3})\b", html[:5000], re.I)
    return head.group(1).lower() if head else None
