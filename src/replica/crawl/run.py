"""Walk the sources and turn every input into a written capture or a counted reject, resumably.

Units (see ``state``): local WARC/ARC files and ``s3://`` objects, saved pages, feed, sitemap
and URL-list files are collected in the main thread in sources order; URLs (pages, images of
fetched pages, feeds, sitemaps) are fetched by a thread pool. Each unit ends with
``WarcSink.sync()`` (records durable) followed by one state transaction (unit done, rejects,
units found, WARC position), so after a kill the state's WARC position never points past what
is on disk, and anything on disk past it is cut off by ``WarcSink.resume`` and collected again.
``rows_in == rows_out + len(rejects)`` always holds.

Hostile input ends as a counted reject before any I/O: a URL from a feed, sitemap, URL list,
url index or page that is not safe (``guard.urls``) is ``unsafe_url``, a capture the WARC writer
would not write well-formed is ``unsafe_header``, and gzip files (saved pages, sitemaps) are
inflated with the ``max_body_bytes`` / ``max_decode_ratio`` bound.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from replica.config import CrawlConfig
from replica.crawl.feeds import entry_page, parse_feed
from replica.crawl.fetch import Fetcher
from replica.crawl.records import Capture, Reject
from replica.crawl.sitemaps import parse_sitemap
from replica.crawl.sources import PageRef, Source, load_url_index, lookup_page
from replica.crawl.state import CrawlState, NewUnit, Unit
from replica.crawl.warc import RecordLimits, UnsafeRecord, WarcSink, read_archive, read_stream
from replica.guard.decode import DecodeError, Limits, decode_content, inflate
from replica.guard.urls import printable, unsafe_url

STATE_FILE = "_state.sqlite"
HTML_HEADERS = [("Content-Type", "text/html")]
URL_ROLES = ("page", "image", "feed", "sitemap")


@dataclass
class CrawlResult:
    """What the crawl saw: inputs counted, captures written, rejects with reasons, WARC files."""

    rows_in: int = 0
    rows_out: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warc_files: list[str] = field(default_factory=list)


@dataclass
class Work:
    """What collecting one unit produced."""

    captures: list[Capture] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    found: list[NewUnit] = field(default_factory=list)
    robots: list[tuple[str, int, bytes]] = field(default_factory=list)
    written: int = 0


def crawl_sources(
    sources: list[Source], cfg: CrawlConfig, directory: Path, fingerprint: str
) -> CrawlResult:
    """Crawl into ``directory`` (WARC files + ``_state.sqlite``), resuming what is there."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = CrawlState(directory / STATE_FILE, fingerprint)
    try:
        if not state.seeded:
            state.seed(_seed(sources))
        fetcher = Fetcher(cfg, robots=state.robots(), next_at=state.host_times())
        collector = _Collector(sources, cfg, fetcher)
        with WarcSink(directory, cfg.warc_max_bytes) as sink:
            sink.resume(*state.warc_position())
            with ThreadPoolExecutor(max(1, cfg.workers), thread_name_prefix="fetch") as pool:
                _loop(state, sink, collector, pool, cfg)
            files = list(sink.files)
        rejects, rows_out = state.rejects(), state.rows_out()
    finally:
        state.close()
    return CrawlResult(rows_out + len(rejects), rows_out, rejects, files)


def _loop(
    state: CrawlState,
    sink: WarcSink,
    collector: _Collector,
    pool: ThreadPoolExecutor,
    cfg: CrawlConfig,
) -> None:
    inflight: dict[Future[Work], Unit] = {}
    capacity = 2 * max(1, cfg.workers)
    while True:
        room = capacity - len(inflight)
        for unit in state.pending({u.id for u in inflight.values()}, max(room, 1)):
            if unit.role not in URL_ROLES:
                _commit(state, sink, collector, unit, collector.local(unit, sink))
            elif len(inflight) < capacity:
                inflight[pool.submit(collector.remote, unit)] = unit
        if not inflight:
            if not state.pending(set(), 1):
                return
            continue
        done, _ = wait(inflight, return_when=FIRST_COMPLETED)
        for fut in sorted(done, key=lambda f: inflight[f].id):
            _commit(state, sink, collector, inflight.pop(fut), fut.result())


def _commit(
    state: CrawlState, sink: WarcSink, collector: _Collector, unit: Unit, work: Work
) -> None:
    for cap in work.captures:
        if _write(sink, cap, work.rejects):
            work.written += 1
    state.commit(
        unit.id,
        work.rejects,
        work.found,
        work.written,
        sink.sync(),
        work.robots,
        collector.fetcher.pop_host_times(),
    )


def _seed(sources: list[Source]) -> list[NewUnit]:
    from replica.crawl.s3 import list_objects

    label = _labeller([f for s in sources for f in s.files])
    units = []
    for i, source in enumerate(sources):
        units += [NewUnit(f"file:{source.kind}", str(f), label(f), i) for f in source.files]
        for remote in source.remote:
            if remote.startswith("s3://"):
                units += [NewUnit("s3:warc", uri, uri, i) for uri in list_objects(remote)]
            else:
                units.append(NewUnit(source.kind, remote, remote, i))
    return units


class _Collector:
    """Turns units into Work: local files in the caller's thread, URLs in the pool."""

    def __init__(self, sources: list[Source], cfg: CrawlConfig, fetcher: Fetcher):
        self.sources, self.cfg, self.fetcher = sources, cfg, fetcher
        self._indexes: dict[int, dict[Path, dict[str, PageRef]]] = {}

    def local(self, unit: Unit, sink: WarcSink) -> Work:
        """Collect a local file or S3 object; archive records stream straight into ``sink``."""
        work = Work()
        for item in self._local_items(unit, work):
            if isinstance(item, Reject):
                work.rejects.append(item)
            elif _write(sink, item, work.rejects):
                work.written += 1
        return work

    def _local_items(self, unit: Unit, work: Work) -> Iterator[Capture | Reject]:
        path = Path(unit.key)
        limits = RecordLimits(self.cfg.max_body_bytes, self.cfg.max_url_chars)
        if unit.role == "file:warc":
            yield from read_archive(path, unit.label, limits)
        elif unit.role == "s3:warc":
            from replica.crawl.s3 import open_object

            with open_object(unit.key) as body:
                yield from read_stream(body, unit.label, limits)
        elif unit.role == "file:pages":
            if unit.source not in self._indexes:
                self._indexes[unit.source] = load_url_index(self.sources[unit.source].url_index)
            yield self._page(path, unit.label, self._indexes[unit.source])
        elif unit.role == "file:feed":
            yield from self._feed(path.read_bytes(), unit, work)
        elif unit.role == "file:sitemap":
            yield from self._sitemap(path.read_bytes(), unit, work)
        elif unit.role == "file:urls":
            for line in path.read_text().splitlines():
                url = line.strip()
                if url and not url.startswith("#"):
                    yield from self._found("page", url, unit, work)

    def remote(self, unit: Unit) -> Work:
        """Fetch a URL unit; a fetched feed, sitemap or page may find more units."""
        work = Work()
        if not self.cfg.fetch_remote:
            work.rejects.append(_disabled(unit.label, unit.key))
            return work
        try:
            got = self.fetcher.fetch(unit.key, unit.role, origin=unit.label)
        except Exception as exc:  # a bug in one fetch must not stop the crawl: count it
            work.rejects.append(
                Reject(unit.label, "fetch_failed", unit.key, detail=f"{type(exc).__name__}: {exc}")
            )
            return work
        work.robots, work.captures = got.robots, list(got.extra)
        if got.reject is not None:
            work.rejects.append(got.reject)
        cap = got.capture
        if cap is None:
            return work
        work.captures.append(cap)
        if not (cap.status_line or "").startswith("2"):
            return work
        here = Unit(unit.id, unit.role, cap.url, cap.url, unit.source)
        items: Iterator[Capture | Reject] = iter(())
        if unit.role == "feed":
            items = self._feed(cap.payload, here, work)
        elif unit.role == "sitemap":
            items = self._sitemap(cap.payload, here, work)
        elif unit.role == "page" and self.cfg.fetch_images:
            self._images(cap, here, work)
        for item in items:
            (work.captures if isinstance(item, Capture) else work.rejects).append(item)  # type: ignore[arg-type]
        return work

    def _feed(self, data: bytes, unit: Unit, work: Work) -> Iterator[Capture | Reject]:
        feed = parse_feed(data)
        if not feed.entries:
            reason = "feed_malformed" if feed.error else "feed_empty"
            yield Reject(unit.label, reason, detail=feed.error or "feed has no entries")
            return
        for i, entry in enumerate(feed.entries):
            if i >= self.cfg.max_feed_entries:
                shown = printable(entry.link) if entry.link else None
                yield Reject(unit.label, "feed_entry_limit", shown, detail=f"entry {i}")
            elif not entry.link:
                yield Reject(unit.label, "no_url", detail=f"entry {i} has no link")
            elif why := self._unsafe(entry.link):
                yield Reject(unit.label, "unsafe_url", printable(entry.link), detail=why)
            elif entry.content_html:
                yield Capture(
                    entry.link, entry_page(entry), http_headers=HTML_HEADERS, origin=unit.label
                )
            else:
                yield from self._found("page", entry.link, unit, work)

    def _sitemap(self, data: bytes, unit: Unit, work: Work) -> Iterator[Capture | Reject]:
        sitemap = parse_sitemap(data, self.cfg.max_sitemap_urls, self._limits)
        if sitemap.error:
            reason = "sitemap_url_limit" if sitemap.limited else "sitemap_malformed"
            yield Reject(unit.label, reason, unit.key, detail=sitemap.error)
        elif not sitemap.entries:
            yield Reject(unit.label, "sitemap_empty", unit.key, detail="no <url> or <sitemap>")
        role = "sitemap" if sitemap.index else "page"
        for entry in sitemap.entries:
            yield from self._found(role, entry.loc, unit, work)

    def _images(self, cap: Capture, unit: Unit, work: Work) -> None:
        from replica.extract.articles import decode_html
        from replica.extract.images import find_images

        coding = next(
            (v for k, v in cap.http_headers or [] if k.lower() == "content-encoding"), None
        )
        try:
            html = decode_html(decode_content(cap.payload, coding, self._limits))
        except DecodeError:
            html = None
        if html is None:
            return  # extract rejects the page itself as decode_error
        refs = [r for r in find_images(html, cap.url) if r.candidates != ("data:",)]
        for i, ref in enumerate(refs):
            if i >= self.cfg.max_images_per_page:
                work.rejects.append(
                    Reject(unit.label, "image_limit", printable(ref.src_url), detail=f"image {i}")
                )
            elif why := self._unsafe(ref.src_url):
                work.rejects.append(
                    Reject(unit.label, "unsafe_url", printable(ref.src_url), detail=why)
                )
            else:
                work.found.append(NewUnit("image", ref.src_url, unit.label, unit.source))

    def _found(self, role: str, url: str, unit: Unit, work: Work) -> Iterator[Reject]:
        """Queue a URL found in ``unit``, or reject it when it is unsafe or fetching is off."""
        if why := self._unsafe(url):
            yield Reject(unit.label, "unsafe_url", printable(url), detail=why)
        elif not self.cfg.fetch_remote:
            yield _disabled(unit.label, url)
        else:
            work.found.append(NewUnit(role, url, unit.label, unit.source))

    def _unsafe(self, url: str) -> str | None:
        return unsafe_url(url, self.cfg.max_url_chars)

    @property
    def _limits(self) -> Limits:
        return Limits(self.cfg.max_body_bytes, self.cfg.max_decode_ratio)

    def _page(
        self, path: Path, source: str, indexes: dict[Path, dict[str, PageRef]]
    ) -> Capture | Reject:
        ref = lookup_page(indexes, path)
        if ref is None:
            return Reject(source, "no_url", detail=f"{printable(path.name)} is in no url_index")
        if why := unsafe_url(ref.url, self.cfg.max_url_chars, schemes=("http", "https", "file")):
            return Reject(source, "unsafe_url", printable(ref.url), detail=why)
        try:
            raw = path.read_bytes()
            if path.suffix == ".gz" and raw[:2] != b"\x1f\x8b":
                return Reject(source, "page_unreadable", ref.url, detail="not a gzip file")
            body = inflate(raw, "gzip", self._limits) if path.suffix == ".gz" else raw
        except OSError as exc:
            return Reject(source, "page_unreadable", ref.url, detail=f"{type(exc).__name__}: {exc}")
        except DecodeError as exc:
            reason = "page_unreadable" if exc.reason == "decode_error" else exc.reason
            return Reject(source, reason, ref.url, detail=str(exc))
        date = ref.date.replace(" ", "T")[:19] + "Z" if ref.date else None
        return Capture(ref.url, body, http_headers=HTML_HEADERS, date=date, origin=source)


def _disabled(source: str, url: str) -> Reject:
    return Reject(source, "fetch_disabled", url, detail="crawl.fetch_remote is false")


def _write(sink: WarcSink, cap: Capture, rejects: list[Reject]) -> bool:
    """Write ``cap``; a capture that would make a malformed record is an ``unsafe_header``."""
    try:
        sink.write(cap)
    except UnsafeRecord as exc:
        rejects.append(Reject(cap.origin, "unsafe_header", printable(cap.url), detail=str(exc)))
        return False
    return True


def _labeller(files: list[Path]) -> Callable[[Path], str]:
    """Name inputs by their path below the folder all inputs share (stable across machines)."""
    if not files:
        return str
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    return lambda p: printable(Path(p).relative_to(root).as_posix())
