"""Walk the sources and turn every input into a written capture or a counted reject.

Inputs are WARC/ARC records, saved pages, feed entries (or the feed itself when it has
none) and listed URLs; ``rows_in == rows_out + len(rejects)`` always holds.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from replica.config import CrawlConfig
from replica.crawl.feeds import entry_page, parse_feed
from replica.crawl.fetch import Fetcher, FetchError
from replica.crawl.records import Capture, Reject
from replica.crawl.sources import PageRef, Source, load_url_index, lookup_page
from replica.crawl.warc import read_archive

HTML_HEADERS = [("Content-Type", "text/html")]


@dataclass
class CrawlResult:
    """What the crawl saw: inputs counted, captures written, rejects with reasons."""

    rows_in: int = 0
    rows_out: int = 0
    rejects: list[Reject] = field(default_factory=list)


def crawl_sources(
    sources: list[Source], cfg: CrawlConfig, write: Callable[[Capture], None]
) -> CrawlResult:
    """Collect every source's inputs; captures go to ``write``, refusals into the result."""
    fetcher = Fetcher(cfg.user_agent, cfg.timeout_s, cfg.max_body_bytes)
    label = _labeller([f for s in sources for f in s.files])
    result = CrawlResult()
    for source in sources:
        for item in _items(source, cfg, fetcher, label):
            result.rows_in += 1
            if isinstance(item, Capture):
                write(item)
                result.rows_out += 1
            else:
                result.rejects.append(item)
    return result


def _items(
    source: Source, cfg: CrawlConfig, fetcher: Fetcher, label: Callable[[Path], str]
) -> Iterator[Capture | Reject]:
    if source.kind == "warc":
        for path in source.files:
            yield from read_archive(path, label(path))
    elif source.kind == "pages":
        indexes = load_url_index(source.url_index)
        for path in source.files:
            yield _page(path, label(path), indexes)
    elif source.kind == "feed":
        for path in source.files:
            yield from _feed(path.read_bytes(), label(path), cfg, fetcher)
    elif source.kind == "urls":
        for path in source.files:
            for line in path.read_text().splitlines():
                url = line.strip()
                if url and not url.startswith("#"):
                    yield _fetch(url, label(path), cfg, fetcher)


def _page(path: Path, source: str, indexes: dict[Path, dict[str, PageRef]]) -> Capture | Reject:
    ref = lookup_page(indexes, path)
    if ref is None:
        return Reject(source, "no_url", detail=f"{path.name} is in no url_index")
    try:
        body = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        return Reject(source, "page_unreadable", ref.url, detail=f"{type(exc).__name__}: {exc}")
    date = ref.date.replace(" ", "T")[:19] + "Z" if ref.date else None
    return Capture(ref.url, body, http_headers=HTML_HEADERS, date=date, origin=source)


def _feed(
    data: bytes, source: str, cfg: CrawlConfig, fetcher: Fetcher
) -> Iterator[Capture | Reject]:
    feed = parse_feed(data)
    if not feed.entries:
        reason = "feed_malformed" if feed.error else "feed_empty"
        yield Reject(source, reason, detail=feed.error or "feed has no entries")
        return
    for i, entry in enumerate(feed.entries):
        if i >= cfg.max_feed_entries:
            yield Reject(source, "feed_entry_limit", entry.link, detail=f"entry {i}")
        elif not entry.link:
            yield Reject(source, "no_url", detail=f"entry {i} has no link")
        elif entry.content_html:
            yield Capture(entry.link, entry_page(entry), http_headers=HTML_HEADERS, origin=source)
        else:
            yield _fetch(entry.link, source, cfg, fetcher)


def _fetch(url: str, source: str, cfg: CrawlConfig, fetcher: Fetcher) -> Capture | Reject:
    if not cfg.fetch_remote:
        return Reject(source, "fetch_disabled", url, detail="crawl.fetch_remote is false")
    try:
        return fetcher.fetch(url, origin=source)
    except FetchError as exc:
        return Reject(source, exc.reason, url, detail=str(exc))


def _labeller(files: list[Path]) -> Callable[[Path], str]:
    """Name inputs by their path below the folder all inputs share (stable across machines)."""
    if not files:
        return str
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    return lambda p: Path(p).relative_to(root).as_posix()
