"""crawl core: sources files, WARC copying with truncation checks, feeds, pages, fetching."""

from __future__ import annotations

import gzip
import http.server
import re
import threading
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from replica.config import CrawlConfig
from replica.crawl import Capture, Reject, SourcesError, WarcSink, crawl_sources, load_sources
from replica.crawl.feeds import parse_feed
from replica.crawl.fetch import Fetcher, FetchError
from replica.crawl.warc import read_archive


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
    return list(read_archive(path, path.name))


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
        ("- kind: sitemap\n    paths: ['*.yaml']", "kind 'sitemap' is not one of"),
        ("- kind: warc\n    paths: ['*.yaml']\n    depth: 2", "unknown key(s) ['depth']"),
        ("- kind: warc\n    paths: ['nothing/*.warc']", "matches no file"),
        ("- kind: feed\n    paths: ['*.yaml']\n    url_index: ['*.yaml']", "only allowed"),
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
    written: list[Capture] = []
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), written.append)
    assert [(c.url, c.payload) for c in written] == [("https://ex.com/abc", b"<html>page</html>")]
    reasons = sorted(r.reason for r in result.rejects)
    assert reasons == ["feed_malformed", "fetch_disabled", "no_url"]
    assert result.rows_in == result.rows_out + len(result.rejects) == 4


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (
            b"<html>" + self.path.encode() + b" " + self.headers["User-Agent"].encode() + b"</html>"
        )
        if self.path == "/big":
            body = b"x" * 5000
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_fetcher_on_loopback(server: str) -> None:
    fetcher = Fetcher("replica-test/1", timeout_s=5, max_body_bytes=1000)
    page = fetcher.fetch(server + "/page")
    assert page.status_line == "200 OK" and page.payload == b"<html>/page replica-test/1</html>"
    assert fetcher.fetch(server + "/missing").status_line.startswith("404")
    with pytest.raises(FetchError) as big:
        fetcher.fetch(server + "/big")
    assert big.value.reason == "too_large"
    with pytest.raises(FetchError) as scheme:
        fetcher.fetch("ftp://127.0.0.1/x")
    assert scheme.value.reason == "bad_url"
    with pytest.raises(FetchError) as refused:
        fetcher.fetch("http://127.0.0.1:9/nothing")
    assert refused.value.reason == "fetch_failed"
