"""Parse XML sitemaps, sitemap indexes and Google News sitemaps (lxml, streamed, gzip or not).

A small parser of our own rather than ultimate-sitemap-parser: that library fetches sitemaps
itself (requests, no robots/SSRF/WARC control), while the crawl fetches through its own
fetcher and only needs the bytes parsed. Namespaces are ignored (local names), so the
sitemaps.org, Google News (``news:``) and image (``image:``) extensions all read the same.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from replica.guard.decode import DecodeError, Limits, inflate


@dataclass(frozen=True)
class SitemapEntry:
    """One ``<url>`` (or, in an index, ``<sitemap>``) with its optional news/image details."""

    loc: str
    lastmod: str | None = None
    news_title: str | None = None
    news_published: str | None = None
    images: tuple[str, ...] = ()


@dataclass
class Sitemap:
    """A parsed sitemap: ``index`` when its entries are sitemaps; ``error`` when malformed."""

    entries: list[SitemapEntry] = field(default_factory=list)
    index: bool = False
    error: str | None = None
    limited: bool = False


def parse_sitemap(data: bytes, limit: int, limits: Limits) -> Sitemap:
    """Entries of a sitemap (at most ``limit``; more is an error naming the count); a gzipped
    one is inflated within ``limits`` (a bomb is an error, not a full memory)."""
    from lxml import etree

    if data[:2] == b"\x1f\x8b":
        try:
            data = inflate(data, "gzip", limits)
        except DecodeError as exc:
            return Sitemap(error=f"gzip: {exc}")
    out = Sitemap()
    root_seen = False
    try:
        for _, elem in etree.iterparse(
            io.BytesIO(data),
            events=("end",),
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
        ):
            tag = etree.QName(elem).localname if isinstance(elem.tag, str) else ""
            if tag in ("urlset", "sitemapindex"):
                root_seen = True
                out.index = tag == "sitemapindex"
            elif tag in ("url", "sitemap") and elem.getparent() is not None:
                entry = _entry(elem)
                if entry is not None:
                    if len(out.entries) >= limit:
                        out.error = f"more than max_sitemap_urls={limit} entries"
                        out.limited = True
                        return out
                    out.entries.append(entry)
                elem.clear()
    except etree.XMLSyntaxError as exc:
        out.error = f"XMLSyntaxError: {exc}"
        return out
    if not root_seen:
        out.error = "no <urlset> or <sitemapindex> root"
    return out


def _entry(elem: object) -> SitemapEntry | None:
    from lxml import etree

    values: dict[str, str] = {}
    images: list[str] = []
    for child in elem.iter():  # type: ignore[attr-defined]
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        text = (child.text or "").strip()
        parent = child.getparent()
        pname = etree.QName(parent).localname if parent is not None else ""
        if name == "loc" and pname == "image":
            images.append(text)
        elif name in ("loc", "lastmod") and child.getparent() is elem:
            values[name] = text
        elif name == "title" and pname == "news":
            values["news_title"] = text
        elif name == "publication_date":
            values["news_published"] = text
    if not values.get("loc"):
        return None
    return SitemapEntry(
        loc=values["loc"],
        lastmod=values.get("lastmod") or None,
        news_title=values.get("news_title") or None,
        news_published=values.get("news_published") or None,
        images=tuple(i for i in images if i),
    )
