"""Collect raw web captures (WARC/ARC copies, saved pages, feed entries, fetched URLs) as WARC."""

from replica.crawl.records import Capture, Reject
from replica.crawl.run import CrawlResult, crawl_sources
from replica.crawl.sources import Source, SourcesError, load_sources
from replica.crawl.warc import WarcSink

__all__ = [
    "Capture",
    "CrawlResult",
    "Reject",
    "Source",
    "SourcesError",
    "WarcSink",
    "crawl_sources",
    "load_sources",
]
