"""A loopback news site for the live fetcher and crawl tests, and a fetcher config for it."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
from PIL import Image

from replica.config import CrawlConfig

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


@pytest.fixture(name="site")
def site_fixture() -> Iterator[Site]:
    """A running Site (import this into a test module to use the ``site`` fixture)."""
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
