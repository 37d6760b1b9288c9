"""Collect raw web captures (archives, saved pages, feeds, sitemaps, fetched URLs) as WARC."""

from replica.crawl.records import Capture, Reject
from replica.crawl.run import STATE_FILE, CrawlResult, crawl_sources
from replica.crawl.sources import Source, SourcesError, load_sources
from replica.crawl.state import StateError
from replica.crawl.warc import WarcSink

__all__ = [
    "STATE_FILE",
    "Capture",
    "CrawlResult",
    "Reject",
    "Source",
    "SourcesError",
    "StateError",
    "WarcSink",
    "crawl_sources",
    "load_sources",
]
