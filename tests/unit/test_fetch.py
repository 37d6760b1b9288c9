"""The live fetcher against a loopback HTTP server: politeness, limits, retries, SSRF guard."""

from __future__ import annotations

import http.server
import io
import ipaddress
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

import pytest
from PIL import Image

from replica.config import CrawlConfig
from replica.crawl.fetch import Fetcher, is_public

ROBOTS = b"User-agent: *\nDisallow: /private\n"


def png_bytes(w: int = 120, h: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), "blue").save(buf, "PNG")
    return buf.getvalue()


PAGES = {
    f"/news/{i}": (
        f"<html><head><title>Story {i}</title></head><body><article>"
        f"<p>{f'Harbour news paragraph number {i} keeps going. ' * 12}</p>"
        f'<figure><img src="/img/{i}.png"><figcaption>Photo {i}</figcaption></figure>'
        f"</article></body></html>"
    ).encode()
    for i in range(12)
}

SITEMAP_INDEX = (
    b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    b"<sitemap><loc>http://HOST/sitemap-news.xml</loc></sitemap></sitemapindex>"
)
NEWS_SITEMAP = (
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
    b"<url><loc>http://HOST/news/7</loc><news:news><news:title>Seven</news:title>"
    b"<news:publication_date>2024-01-02</news:publication_date></news:news></url>"
    b"<url><loc>http://HOST/news/8</loc></url><url><loc>http://HOST/news/0</loc></url></urlset>"
)
FEED = (
    b'<rss version="2.0"><channel><title>Site</title>'
    b"<item><title>Nine</title><link>http://HOST/news/9</link></item>"
    b"<item><title>Pdf</title><link>http://HOST/report.pdf</link></item></channel></rss>"
)


class Site(http.server.ThreadingHTTPServer):
    """A small news site with misbehaving corners; records request times per path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.fail_first = 2

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (timeout tests) breaks the pipe: expected

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Site

    def do_GET(self) -> None:
        path = self.path
        with self.server.lock:
            self.server.hits[path].append(time.monotonic())
            count = len(self.server.hits[path])
        if path == "/robots.txt":
            return self._send(200, "text/plain", ROBOTS)
        if path in PAGES or path.startswith("/private"):
            return self._send(200, "text/html; charset=utf-8", PAGES.get(path, b"<p>secret</p>"))
        if path.startswith("/img/"):
            return self._send(200, "image/png", png_bytes())
        if path == "/sitemap.xml":
            return self._send(200, "application/xml", SITEMAP_INDEX.replace(b"HOST", self._host()))
        if path == "/sitemap-news.xml":
            return self._send(200, "application/xml", NEWS_SITEMAP.replace(b"HOST", self._host()))
        if path == "/feed.rss":
            return self._send(200, "application/rss+xml", FEED.replace(b"HOST", self._host()))
        if path == "/flaky":
            if count <= self.server.fail_first:
                return self._send(503, "text/plain", b"busy", [("Retry-After", "0")])
            return self._send(200, "text/html", b"<p>finally</p>")
        if path == "/always-503":
            return self._send(503, "text/plain", b"busy")
        if path in ("/loop-a", "/loop-b"):
            other = "/loop-b" if path == "/loop-a" else "/loop-a"
            return self._send(302, "text/plain", b"", [("Location", other)])
        if path == "/moved":
            return self._send(301, "text/plain", b"", [("Location", "/news/0")])
        if path == "/to-private":
            return self._send(302, "text/plain", b"", [("Location", "http://10.1.2.3/admin")])
        if path == "/big":
            return self._send(200, "text/html", b"x" * 5000)
        if path == "/big-chunked":  # no Content-Length: the cap must hold while reading
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"y" * 200)
            return None
        if path == "/slow":
            time.sleep(1.5)
            return self._send(200, "text/html", b"<p>late</p>")
        if path == "/report.pdf":
            return self._send(200, "application/pdf", b"%PDF-1.4 ...")
        return self._send(404, "text/html", b"<p>not found</p>")

    def _host(self) -> bytes:
        return f"127.0.0.1:{self.server.server_address[1]}".encode()

    def _send(
        self, status: int, ctype: str, body: bytes, extra: list[tuple[str, str]] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra or []:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[Site]:
    srv = Site()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


CFG = CrawlConfig(
    user_agent="replica-test/1",
    fetch_remote=True,
    timeout_s=0.5,
    connect_timeout_s=1.0,
    max_body_bytes=1000,
    retries=2,
    backoff_s=0.01,
    host_delay_s=0.0,
    allow_private=("127.0.0.1",),
)


def test_page_is_fetched_with_user_agent_and_robots_recorded(site: Site) -> None:
    got = Fetcher(replace(CFG, max_body_bytes=100_000)).fetch(site.url + "/news/1", "page", "t")
    assert got.reject is None and got.capture is not None
    assert got.capture.status_line == "200 OK" and got.capture.payload == PAGES["/news/1"]
    assert ("Content-Length", str(len(PAGES["/news/1"]))) in (got.capture.http_headers or [])
    assert [c.url for c in got.extra] == [site.url + "/robots.txt"]
    assert got.robots == [(site.url, 200, ROBOTS)]


def test_robots_disallow(site: Site) -> None:
    got = Fetcher(CFG).fetch(site.url + "/private/report", "page")
    assert got.capture is None and got.reject is not None
    assert got.reject.reason == "robots_disallowed"
    assert "/private/report" not in site.hits  # never requested


def test_rate_limit_is_honoured_per_host(site: Site) -> None:
    fetcher = Fetcher(replace(CFG, host_delay_s=0.25, host_concurrency=4, max_body_bytes=100_000))
    threads = [
        threading.Thread(target=fetcher.fetch, args=(f"{site.url}/news/{i}", "page"))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts = sorted(t for ts in site.hits.values() for t in ts)
    assert len(starts) == 5  # robots.txt + 4 pages
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.2, gaps


def test_retry_then_success(site: Site) -> None:
    got = Fetcher(CFG).fetch(site.url + "/flaky", "page")
    assert got.capture is not None and got.capture.payload == b"<p>finally</p>"
    assert len(site.hits["/flaky"]) == 3


def test_retries_exhausted(site: Site) -> None:
    got = Fetcher(CFG).fetch(site.url + "/always-503", "page")
    assert got.reject is not None and got.reject.reason == "retries_exhausted"
    assert len(site.hits["/always-503"]) == 3  # first try + 2 retries


def test_redirect_followed_and_loop_refused(site: Site) -> None:
    fetcher = Fetcher(replace(CFG, max_body_bytes=100_000))
    moved = fetcher.fetch(site.url + "/moved", "page")
    assert moved.capture is not None and moved.capture.url == site.url + "/news/0"
    assert moved.capture.extra_headers == {"Replica-Requested-URI": site.url + "/moved"}
    loop = fetcher.fetch(site.url + "/loop-a", "page")
    assert loop.reject is not None and loop.reject.reason == "redirect_loop"


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_oversized_body(site: Site, path: str) -> None:
    got = Fetcher(CFG).fetch(site.url + path, "page")
    assert got.reject is not None and got.reject.reason == "too_large"


def test_slow_server_times_out(site: Site) -> None:
    got = Fetcher(replace(CFG, retries=0)).fetch(site.url + "/slow", "page")
    assert got.reject is not None and got.reject.reason == "timeout"


def test_ssrf_private_addresses_refused(site: Site) -> None:
    strict = Fetcher(replace(CFG, allow_private=()))
    got = strict.fetch(site.url + "/news/0", "page")
    assert got.reject is not None and got.reject.reason == "private_address"
    assert not site.hits  # nothing reached the server, not even robots.txt
    hop = Fetcher(CFG).fetch(site.url + "/to-private", "page")
    assert hop.reject is not None and hop.reject.reason == "private_address"
    assert "10.1.2.3" in (hop.reject.detail or "")
    for ip in ("10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00:ec2::254"):
        assert not is_public(ipaddress.ip_address(ip)), ip
    assert is_public(ipaddress.ip_address("93.184.216.34"))


def test_non_html_content_refused_for_pages_accepted_for_images(site: Site) -> None:
    fetcher = Fetcher(replace(CFG, max_body_bytes=100_000))
    pdf = fetcher.fetch(site.url + "/report.pdf", "page")
    assert pdf.reject is not None and pdf.reject.reason == "unexpected_content_type"
    assert "application/pdf" in (pdf.reject.detail or "")
    img = fetcher.fetch(site.url + "/img/1.png", "image")
    assert img.capture is not None and img.capture.payload == png_bytes()
    page_as_image = fetcher.fetch(site.url + "/news/1", "image")
    assert page_as_image.reject is not None
    assert page_as_image.reject.reason == "unexpected_content_type"


def test_bad_url_and_dns_failure() -> None:
    fetcher = Fetcher(CFG)
    bad = fetcher.fetch("ftp://127.0.0.1/x", "page")
    assert bad.reject is not None and bad.reject.reason == "bad_url"
    dns = fetcher.fetch("http://no-such-host.invalid/x", "page")
    assert dns.reject is not None and dns.reject.reason == "dns_failed"
