"""Parse RSS / Atom / RDF feeds (feedparser) and JSON Feeds (json) into entries.

An entry that carries its full content (Atom ``content``, RSS ``content:encoded``, JSON Feed
``content_html``) becomes an HTML page of its own; others only give a link to fetch.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class FeedEntry:
    """One feed item: its link, title, publication date and full HTML content if it has one."""

    link: str | None
    title: str | None = None
    published: str | None = None
    content_html: str | None = None


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its entries, and why it is malformed (None when well-formed enough)."""

    entries: list[FeedEntry]
    error: str | None = None


def parse_feed(data: bytes) -> Feed:
    """Parse feed bytes of any supported format; a JSON Feed is recognised by its content."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return _json_feed(data)
    return _xml_feed(data)


def _json_feed(data: bytes) -> Feed:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Feed([], f"not JSON: {exc}")
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        return Feed([], "JSON document is not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
    if not isinstance(items, list):
        return Feed([], "JSON Feed has no 'items' list")
    entries = [
        FeedEntry(
            link=_str(item.get("url")) or _str(item.get("external_url")),
            title=_str(item.get("title")),
            published=_str(item.get("date_published")),
            content_html=_str(item.get("content_html"))
            or (html.escape(t) if (t := _str(item.get("content_text"))) else None),
        )
        for item in items
        if isinstance(item, dict)
    ]
    return Feed(entries)


def _xml_feed(data: bytes) -> Feed:
    import feedparser

    parsed = feedparser.parse(data)
    entries = []
    for e in parsed.entries:
        contents = [c.get("value") for c in e.get("content", []) if c.get("value")]
        entries.append(
            FeedEntry(
                link=_str(e.get("link")),
                title=_str(e.get("title")),
                published=_str(e.get("published") or e.get("updated")),
                content_html=max(contents, key=len) if contents else None,
            )
        )
    error = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        error = f"{type(exc).__name__}: {exc}" if exc else "not a well-formed feed"
        # an entry recovered from broken XML with no link, title or content is a parser artifact
        entries = [e for e in entries if e.link or e.title or e.content_html]
    return Feed(entries, error)


def _str(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def entry_page(entry: FeedEntry) -> bytes:
    """A minimal HTML page for an entry with content, so extract sees its title and date."""
    title = html.escape(entry.title or "")
    date = (
        f'<meta property="article:published_time" content="{html.escape(entry.published)}">'
        if entry.published
        else ""
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>{date}</head>'
        f"<body><article><h1>{title}</h1>{entry.content_html or ''}</article></body></html>"
    ).encode()
