"""crawl core: sources files, WARC copying with truncation checks, feeds, pages, fetching."""

from __future__ import annotations

import gzip
import re
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from replica.config import CrawlConfig
from replica.crawl import (
    Capture,
    Reject,
    SourcesError,
    StateError,
    WarcSink,
    crawl_sources,
    load_sources,
)
from replica.crawl.feeds import parse_feed
from replica.crawl.sitemaps import SitemapEntry, parse_sitemap
from replica.crawl.warc import RecordLimits, read_archive
from replica.guard.decode import Limits

LIMITS = Limits(10_000_000, 100.0)


def warc_bytes(
    records: list[tuple[str, str, bytes, str]], gz: bool = True, rec_type: str = "response"
) -> bytes:
    """A WARC of HTTP 200 responses: (url, content type, body, WARC-Date) each."""
    out = BytesIO()
    writer = WARCWriter(out, gzip=gz)
    for url, ctype, body, date in records:
        http = StatusAndHeaders(
            "200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))], "HTTP/1.1"
        )
        writer.write_record(
            writer.create_warc_record(
                url,
                rec_type,
                payload=BytesIO(body),
                length=len(body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": date},
            )
        )
    return out.getvalue()


def items(path: Path) -> list[Capture | Reject]:
    return list(read_archive(path, path.name, RecordLimits(10_000_000, 4096)))


def test_sources_resolve_relative_recursive_globs(tmp_path: Path) -> None:
    (tmp_path / "data" / "a" / "b").mkdir(parents=True)
    (tmp_path / "data" / "a" / "b" / "x.warc.gz").write_bytes(b"")
    (tmp_path / "data" / "y.warc.gz").write_bytes(b"")
    (tmp_path / "conf").mkdir()
    sources = tmp_path / "conf" / "s.yaml"
    sources.write_text("sources:\n  - kind: warc\n    paths: ['../data/**/*.warc.gz']\n")
    [src] = load_sources(sources)
    assert src.kind == "warc"
    assert sorted(p.name for p in src.files) == ["x.warc.gz", "y.warc.gz"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- kind: rss\n    paths: ['*.yaml']", "kind 'rss' is not one of"),
        ("- kind: warc\n    paths: ['*.yaml']\n    depth: 2", "unknown key(s) ['depth']"),
        ("- kind: warc\n    paths: ['nothing/*.warc']", "matches no file"),
        ("- kind: feed\n    paths: ['*.yaml']\n    url_index: ['*.yaml']", "only allowed"),
        ("- kind: pages\n    paths: ['s3://b/*.html']", "not a remote path 'pages' takes"),
        ("- kind: warc\n    paths: ['http://ex.com/a.warc']", "not a remote path 'warc' takes"),
    ],
)
def test_sources_errors_name_the_rule(tmp_path: Path, entry: str, message: str) -> None:
    sources = tmp_path / "s.yaml"
    sources.write_text("sources:\n  " + entry + "\n")
    with pytest.raises(SourcesError, match=rf"sources\[0\].*{re.escape(message)}"):
        load_sources(sources)


def test_warc_copy_keeps_url_date_headers_and_refuses_requests(tmp_path: Path) -> None:
    path = tmp_path / "a.warc.gz"
    data = warc_bytes([("http://ex.com/a", "text/html", b"<p>hi</p>", "2020-01-02T03:04:05Z")])
    data += warc_bytes(
        [("http://ex.com/a", "text/html", b"", "2020-01-02T03:04:05Z")], True, "request"
    )
    path.write_bytes(data)
    cap, rej = items(path)
    assert isinstance(cap, Capture) and isinstance(rej, Reject)
    assert (cap.url, cap.date, cap.payload) == (
        "http://ex.com/a",
        "2020-01-02T03:04:05Z",
        b"<p>hi</p>",
    )
    assert ("Content-Type", "text/html") in (cap.http_headers or [])
    assert (rej.reason, rej.detail) == ("not_a_response", "request")


def test_clipped_gzip_record_is_truncated_not_silently_kept(tmp_path: Path) -> None:
    body = bytes(range(256)) * 400
    raw = warc_bytes([("http://ex.com/img", "image/png", body, "2020-01-01T00:00:00Z")])
    path = tmp_path / "clipped.warc.gz"
    path.write_bytes(raw[: len(raw) * 2 // 3])
    kinds = [(i.reason if isinstance(i, Reject) else "capture") for i in items(path)]
    assert kinds[0] == "truncated_record"
    assert "capture" not in kinds


def test_single_gzip_stream_keeps_first_record_then_rejects_file(tmp_path: Path) -> None:
    recs = [
        (f"http://ex.com/{i}", "text/html", b"<p>x</p>", "2020-01-01T00:00:00Z") for i in range(3)
    ]
    path = tmp_path / "one-stream.warc.gz"
    path.write_bytes(gzip.compress(warc_bytes(recs, gz=False)))
    out = items(path)
    assert isinstance(out[0], Capture) and out[0].url == "http://ex.com/0"
    assert isinstance(out[-1], Reject) and out[-1].reason == "warc_unreadable"
    assert "ArchiveLoadFailed" in (out[-1].detail or "")


def test_sink_rotates_and_round_trips(tmp_path: Path) -> None:
    caps = [
        Capture(f"http://ex.com/{i}", b"x" * 2000, http_headers=[("Content-Type", "text/html")])
        for i in range(5)
    ]
    with WarcSink(tmp_path, max_bytes=500) as sink:
        for c in caps:
            sink.write(c)
    assert len(sink.files) > 1
    urls = []
    for name in sink.files:
        with open(tmp_path / name, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "response":
                    urls.append(rec.rec_headers.get_header("WARC-Target-URI"))
                    assert rec.content_stream().read() == b"x" * 2000
    assert urls == [c.url for c in caps]


def test_feeds_json_atom_rss_and_malformed() -> None:
    jf = parse_feed(
        b'{"version": "https://jsonfeed.org/version/1", "items": [{"url": "http://ex.com/1",'
        b' "title": "T", "content_html": "<p>Body</p>", "date_published": "2021-10-26"}]}'
    )
    assert jf.error is None and jf.entries[0].content_html == "<p>Body</p>"
    atom = parse_feed(
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>f</title><entry><title>e</title>'
        b'<link href="http://ex.com/2"/><content type="html">&lt;p&gt;Atom body&lt;/p&gt;</content>'
        b"</entry></feed>"
    )
    assert atom.entries[0].link == "http://ex.com/2"
    assert "Atom body" in (atom.entries[0].content_html or "")
    rss = parse_feed(
        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        b"<item><link>http://ex.com/3</link><content:encoded><![CDATA[<p>Full</p>]]>"
        b"</content:encoded></item><item><link>http://ex.com/4</link></item></channel></rss>"
    )
    assert [e.content_html for e in rss.entries] == ["<p>Full</p>", None]
    broken = parse_feed(b"<rss><channel><item><title>unclosed")
    assert broken.error and not broken.entries


def test_crawl_pages_and_feeds_account_for_every_input(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "abc.html.gz").write_bytes(gzip.compress(b"<html>page</html>"))
    (tmp_path / "p" / "lost.html").write_bytes(b"<html>lost</html>")
    (tmp_path / "index.json").write_text('{"abc": {"url": "https://ex.com/abc"}}')
    (tmp_path / "f.rss").write_bytes(
        b'<rss version="2.0"><channel><item><link>http://ex.com/remote</link></item>'
        b"</channel></rss>"
    )
    (tmp_path / "bad.xml").write_bytes(b"<rss><channel><item")
    (tmp_path / "s.yaml").write_text(
        "sources:\n"
        "  - {kind: pages, paths: ['p/*'], url_index: ['index.json']}\n"
        "  - {kind: feed, paths: ['f.rss', 'bad.xml']}\n"
    )
    out = tmp_path / "out"
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), out, "fp")
    assert records(out) == [("https://ex.com/abc", b"<html>page</html>")]
    reasons = sorted(r.reason for r in result.rejects)
    assert reasons == ["feed_malformed", "fetch_disabled", "no_url"]
    assert result.rows_in == result.rows_out + len(result.rejects) == 4
    with pytest.raises(StateError, match="other sources or params"):
        crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), out, "other")


def records(directory: Path) -> list[tuple[str, bytes]]:
    """(url, payload) of every response/resource record in a crawl directory, in order."""
    found = []
    for warc in sorted(directory.glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("response", "resource"):
                    url = rec.rec_headers.get_header("WARC-Target-URI")
                    found.append((url, rec.content_stream().read()))
    return found


def test_sink_resume_cuts_uncommitted_records(tmp_path: Path) -> None:
    cap = Capture("http://ex.com/1", b"one", http_headers=[("Content-Type", "text/html")])
    with WarcSink(tmp_path, max_bytes=10_000) as sink:
        sink.write(cap)
        position = sink.sync()
        sink.write(replace(cap, url="http://ex.com/2"))  # written, never committed
        sink.max_bytes = 0
        sink.write(replace(cap, url="http://ex.com/3"))  # starts a second file
    assert len(list(tmp_path.glob("*.warc.gz"))) == 2
    with WarcSink(tmp_path) as again:
        again.resume(*position)
        again.write(replace(cap, url="http://ex.com/4"))
    assert [u for u, _ in records(tmp_path)] == ["http://ex.com/1", "http://ex.com/4"]


def test_sitemaps_urlset_index_news_gzip_and_malformed(corpus: Path) -> None:
    base = corpus / "sitemaps"
    plain = parse_sitemap((base / "trafilatura" / "sitemap.xml").read_bytes(), 1000, LIMITS)
    gz = parse_sitemap((base / "trafilatura" / "sitemap.xml.gz").read_bytes(), 1000, LIMITS)
    assert not plain.index and len(plain.entries) == 84 and plain.entries == gz.entries
    assert plain.entries[0] == SitemapEntry("https://www.sitemaps.org/", lastmod="2016-11-21")
    index = parse_sitemap((base / "trafilatura" / "sitemap2.xml").read_bytes(), 1000, LIMITS)
    assert index.index and index.entries[0].loc == "http://www.example.com/sitemap1.xml.gz"
    [news] = parse_sitemap(
        (base / "news-crawl" / "sitemap-news.xml").read_bytes(), 10, LIMITS
    ).entries
    assert (news.loc, news.news_title, news.news_published) == (
        "http://www.example.com/business/article55.html",
        "Companies A, B in Merger Talks",
        "2008-12-23",
    )
    assert news.images == ("http://example.com/image.jpg", "http://example.com/photo.jpg")
    limited = parse_sitemap((base / "trafilatura" / "sitemap.xml").read_bytes(), 10, LIMITS)
    assert limited.limited and len(limited.entries) == 10
    assert "XMLSyntaxError" in (parse_sitemap(b"<urlset><url><loc>x", 10, LIMITS).error or "")
    assert parse_sitemap(b"<rss/>", 10, LIMITS).error == "no <urlset> or <sitemapindex> root"


def test_bad_yaml_and_bad_url_index_are_sources_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("sources: [unclosed\n")
    with pytest.raises(SourcesError, match=r"bad\.yaml: not valid YAML"):
        load_sources(tmp_path / "bad.yaml")
    (tmp_path / "a.html").write_text("<html>a</html>")
    (tmp_path / "index.json").write_text("not json")
    (tmp_path / "s.yaml").write_text(
        "sources:\n  - {kind: pages, paths: ['a.html'], url_index: ['index.json']}\n"
    )
    with pytest.raises(SourcesError, match=r"index\.json' is not JSON"):
        crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), tmp_path / "out", "fp")
