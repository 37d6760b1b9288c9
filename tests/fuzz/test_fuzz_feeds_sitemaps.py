"""Fuzz the feed and sitemap readers through the crawl's collector: any bytes, or feeds and
sitemaps whose links are hostile text, end as captures the WARC writer accepts, URLs that are
safe to fetch, or counted rejects."""

from __future__ import annotations

import gzip
import html
import json
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import strategies as st

from replica.config import CrawlConfig
from replica.crawl.records import Capture, Reject
from replica.crawl.run import Work, _Collector
from replica.crawl.state import Unit
from replica.crawl.warc import WarcSink
from replica.guard.urls import unsafe_url
from tests.fuzz._profiles import PROFILES, fuzz, hostile_text, url_text

CFG = replace(CrawlConfig(), fetch_remote=True, max_url_chars=300, max_feed_entries=5)
UNIT = Unit(1, "file:feed", "fuzz", "fuzz", 0)


def _xml(text: str) -> str:
    """Text as XML character data; controls XML cannot hold become character references."""
    return "".join(
        f"&#{ord(c)};" if (ord(c) < 32 and c not in "\t\n\r") or c == "\ufffe" else html.escape(c)
        for c in text
    )


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    links = draw(st.lists(url_text, max_size=4))
    kind = draw(st.sampled_from(["rss", "atom", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "json":
        items = [
            {"url": u, "title": draw(hostile_text), "content_html": draw(hostile_text) or None}
            for u in links
        ]
        return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()
    if kind == "rss":
        body = "".join(
            f"<item><title>{_xml(draw(hostile_text))}</title><link>{_xml(u)}</link></item>"
            for u in links
        )
        return f'<rss version="2.0"><channel>{body}</channel></rss>'.encode()
    body = "".join(
        f'<entry><link href="{_xml(u)}"/><content type="html">{_xml(draw(hostile_text))}</content>'
        "</entry>"
        for u in links
    )
    return f'<feed xmlns="http://www.w3.org/2005/Atom">{body}</feed>'.encode()


@st.composite
def sitemaps(draw: st.DrawFn) -> bytes:
    locs = draw(st.lists(url_text, max_size=4))
    root = draw(st.sampled_from(["urlset", "sitemapindex"]))
    tag = "url" if root == "urlset" else "sitemap"
    body = "".join(f"<{tag}><loc>{_xml(loc)}</loc></{tag}>" for loc in locs)
    data = draw(
        st.one_of(
            st.just(f'<{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</{root}>'),
            st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
        )
    ).encode("utf-8", "surrogatepass")
    return gzip.compress(data) if draw(st.booleans()) else data


def collect(kind: str, data: bytes) -> str:
    collector = _Collector([], CFG, fetcher=None)  # type: ignore[arg-type]
    work = Work()
    items = list(
        collector._feed(data, UNIT, work)
        if kind == "feed"
        else collector._sitemap(data, UNIT, work)
    )
    assert all(isinstance(i, Capture | Reject) for i in items)
    for unit in work.found:  # everything queued for fetching is a safe http(s) URL
        assert unsafe_url(unit.key, CFG.max_url_chars) is None, unit.key
    with TemporaryDirectory() as tmp, WarcSink(Path(tmp)) as sink:
        for cap in (i for i in items if isinstance(i, Capture)):
            sink.write(cap)  # never UnsafeRecord: the link was checked before the capture
    reasons = sorted({i.reason for i in items if isinstance(i, Reject)})
    found = "found" if work.found else "none"
    return f"{found}:" + ("+".join(reasons) or "-")


@pytest.mark.parametrize("profile", PROFILES)
def test_any_feed_ends_as_captures_safe_urls_or_rejects(profile) -> None:
    fuzz(profile, "feed", feeds(), lambda data: collect("feed", data))


@pytest.mark.parametrize("profile", PROFILES)
def test_any_sitemap_ends_as_safe_urls_or_rejects(profile) -> None:
    fuzz(profile, "sitemap", sitemaps(), lambda data: collect("sitemap", data))
