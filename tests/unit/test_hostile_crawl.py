"""Hostile input to the crawl: forged WARC headers, SSRF by special-purpose addresses, slow
servers, decompression bombs. Each probe of issue 13 is rebuilt here with loopback servers and
files the test makes itself."""

from __future__ import annotations

import gzip
import ipaddress
import json
import time
import zlib
from collections import Counter
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from replica.config import CrawlConfig
from replica.crawl import Capture, crawl_sources, load_sources
from replica.crawl.fetch import Fetcher, is_global_address
from replica.crawl.warc import UnsafeRecord, WarcSink
from tests.unit._http import CFG, Handler, Site, site_fixture  # noqa: F401 - fixture

LIVE = replace(CFG, max_body_bytes=1_000_000, workers=2)
INJECTED = "https://news.example/a\r\nWARC-Type: metadata\r\nX-Forged: 1"


def zeros_gzip(n: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([*(c.compress(bytes(1 << 20)) for _ in range(n >> 20)), c.flush()])


BOMB = zeros_gzip(64 << 20)  # 64 MiB of zeros in about 64 KB


class HostileHandler(Handler):
    """The test site plus servers that misbehave on purpose."""

    def do_GET(self) -> None:
        path = self.path
        if path.startswith("/redirect?to="):
            return self._send(302, "text/plain", b"", [("Location", path.split("=", 1)[1])])
        if path == "/trickle-body":  # headers at once, then one byte every 0.1 s
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "200")
            self.end_headers()
            return self._trickle(200)
        if path == "/trickle-headers":  # the status line, then the headers byte by byte
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            return self._trickle(200, b"X")
        if path == "/bomb":
            headers = [("Content-Encoding", "gzip")]
            return self._send(200, "text/html", BOMB, headers)
        if path == "/evil-header":  # a NUL in a header value and a CR in the reason phrase
            self.wfile.write(b"HTTP/1.1 200 OK\rX-Forged: 1\r\nContent-Type: text/html\r\n")
            self.wfile.write(b"X-Evil: a\x00b\r\nContent-Length: 4\r\n\r\n<p/>")
            return None
        return super().do_GET()

    def _trickle(self, n: int, byte: bytes = b"x") -> None:
        for _ in range(n):
            self.wfile.write(byte)
            self.wfile.flush()
            time.sleep(0.1)


@pytest.fixture(name="hostile")
def hostile_fixture(site: Site) -> Site:
    site.RequestHandlerClass = HostileHandler
    return site


# -- probe 3: SSRF by every special-purpose range --------------------------------------------
# The IANA IPv4 and IPv6 Special-Purpose Address Registries, written out again here (block,
# globally reachable; "N/A" is False), plus multicast; each block is probed at its second and
# second-to-last address and at the samples given.
IANA: list[tuple[str, bool, tuple[str, ...]]] = [
    ("0.0.0.0/8", False, ("0.0.0.0",)),
    ("10.0.0.0/8", False, ()),
    ("100.64.0.0/10", False, ("100.100.100.200",)),  # a cloud metadata address
    ("127.0.0.0/8", False, ()),
    ("169.254.0.0/16", False, ("169.254.169.254",)),
    ("172.16.0.0/12", False, ()),
    ("192.0.0.0/24", False, ("192.0.0.192",)),
    ("192.0.0.0/29", False, ()),
    ("192.0.0.8/32", False, ("192.0.0.8",)),
    ("192.0.0.9/32", True, ("192.0.0.9",)),
    ("192.0.0.10/32", True, ("192.0.0.10",)),
    ("192.0.0.170/32", False, ("192.0.0.170",)),
    ("192.0.0.171/32", False, ("192.0.0.171",)),
    ("192.0.2.0/24", False, ()),
    ("192.31.196.0/24", True, ()),
    ("192.52.193.0/24", True, ()),
    ("192.88.99.0/24", False, ()),
    ("192.168.0.0/16", False, ()),
    ("192.175.48.0/24", True, ()),
    ("198.18.0.0/15", False, ()),
    ("198.51.100.0/24", False, ()),
    ("203.0.113.0/24", False, ()),
    ("224.0.0.0/4", False, ()),
    ("240.0.0.0/4", False, ()),
    ("255.255.255.255/32", False, ("255.255.255.255",)),
    ("::1/128", False, ("::1",)),
    ("::/128", False, ("::",)),
    ("::ffff:0:0/96", False, ("::ffff:127.0.0.1", "::ffff:169.254.169.254")),
    ("64:ff9b::/96", False, ("64:ff9b::a9fe:a9fe", "64:ff9b::a64:101")),
    ("64:ff9b:1::/48", False, ()),
    ("100::/64", False, ()),
    ("100:0:0:1::/64", False, ()),
    ("2001::/23", False, ()),
    ("2001::/32", False, ("2001:0:4136:e378:8000:63bf:3fff:fdd2",)),  # Teredo
    ("2001:1::1/128", True, ("2001:1::1",)),
    ("2001:1::2/128", True, ("2001:1::2",)),
    ("2001:1::3/128", True, ("2001:1::3",)),
    ("2001:2::/48", False, ()),
    ("2001:3::/32", True, ()),
    ("2001:4:112::/48", True, ()),
    ("2001:10::/28", False, ()),
    ("2001:20::/28", True, ()),
    ("2001:30::/28", True, ()),
    ("2001:db8::/32", False, ()),
    ("2002::/16", False, ("2002:a9fe:a9fe::1", "2002:7f00:1::1")),  # 6to4 of private IPv4
    ("2620:4f:8000::/48", True, ()),
    ("3fff::/20", False, ()),
    ("5f00::/16", False, ()),
    ("fc00::/7", False, ("fd00:ec2::254",)),
    ("fe80::/10", False, ()),
    ("ff00::/8", False, ()),
]
GLOBAL = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:4700:4700::1111",
    "::ffff:93.184.216.34",  # IPv4-mapped public
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
]
NOT_GLOBAL = ["::a9fe:a9fe", "::5db8:d822", "4000::1"]  # IPv4-compatible; outside 2000::/3


@pytest.mark.parametrize(("block", "reachable", "samples"), IANA, ids=[b for b, _, _ in IANA])
def test_every_special_purpose_range_is_judged_as_the_registry_says(
    block: str, reachable: bool, samples: tuple[str, ...]
) -> None:
    net = ipaddress.ip_network(block)
    probes = [net.network_address + min(1, net.num_addresses - 1)]
    probes.append(net.broadcast_address - min(1, net.num_addresses - 1))
    probes += [ipaddress.ip_address(s) for s in samples]
    for ip in probes:
        assert is_global_address(ip) is reachable, ip


def test_embedded_ipv4_is_judged_by_the_ipv4_it_carries() -> None:
    for ip in GLOBAL:
        assert is_global_address(ipaddress.ip_address(ip)), ip
    for ip in NOT_GLOBAL:
        assert not is_global_address(ipaddress.ip_address(ip)), ip


@pytest.mark.parametrize(
    "target",
    [
        "http://100.100.100.200/latest/meta-data/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://192.0.0.192/",
    ],
)
def test_special_targets_refused_directly_and_after_a_redirect(hostile: Site, target: str) -> None:
    strict = Fetcher(replace(CFG, allow_private=()))
    direct = strict.fetch(target, "page")
    assert direct.reject is not None and direct.reject.reason == "private_address"
    hop = Fetcher(CFG).fetch(f"{hostile.url}/redirect?to={target}", "page")  # loopback allowed
    assert hop.reject is not None and hop.reject.reason == "private_address"
    assert hop.reject.url == f"{hostile.url}/redirect?to={target}"


# -- probe 4: a server that trickles bytes ---------------------------------------------------
@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-headers"])
def test_a_trickling_server_is_cut_at_the_fetch_deadline(hostile: Site, path: str) -> None:
    cfg = replace(CFG, retries=0, timeout_s=0.5, max_seconds_per_fetch=1.0)
    fetcher = Fetcher(cfg)
    fetcher.fetch(hostile.url + "/news/0", "page")  # robots.txt fetched outside the timing
    started = time.monotonic()
    got = fetcher.fetch(hostile.url + path, "page")
    elapsed = time.monotonic() - started
    assert got.reject is not None and got.reject.reason == "timeout", got
    assert "max_seconds_per_fetch=1" in (got.reject.detail or "")
    assert elapsed < 5, elapsed  # 20 s of trickle before; a read timeout never fires


# -- probe 2: gzip bomb bodies and saved pages -----------------------------------------------
def test_a_gzip_bomb_response_is_refused_on_its_decoded_size(hostile: Site) -> None:
    fetcher = Fetcher(replace(CFG, max_body_bytes=10_000_000, max_decode_ratio=100.0))
    got = fetcher.fetch(hostile.url + "/bomb", "page")
    assert got.reject is not None and got.reject.reason == "decompression_bomb", got
    small_cap = Fetcher(replace(CFG, max_body_bytes=200_000, max_decode_ratio=1e9))
    got = small_cap.fetch(hostile.url + "/bomb", "page")
    assert got.reject is not None and got.reject.reason == "too_large"


def test_saved_gzip_pages_and_sitemaps_are_inflated_within_limits(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "bomb.html.gz").write_bytes(BOMB)
    (tmp_path / "pages" / "ok.html.gz").write_bytes(gzip.compress(b"<p>fine</p>"))
    (tmp_path / "pages" / "fake.html.gz").write_bytes(b"<p>not gzip</p>")
    index = {n: f"https://news.example/{n}" for n in ("bomb", "ok", "fake")}
    (tmp_path / "pages" / "index.json").write_text(json.dumps(index))
    (tmp_path / "sitemap.xml.gz").write_bytes(BOMB)
    (tmp_path / "s.yaml").write_text(
        "sources:\n"
        "  - {kind: pages, paths: ['pages/*.html.gz'], url_index: ['pages/index.json']}\n"
        "  - {kind: sitemap, paths: ['sitemap.xml.gz']}\n"
    )
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), tmp_path / "c", "f")
    reasons = {(r.url, r.reason) for r in result.rejects}
    assert ("https://news.example/bomb", "decompression_bomb") in reasons
    assert ("https://news.example/fake", "page_unreadable") in reasons
    [sitemap] = [r for r in result.rejects if r.source == "sitemap.xml.gz"]
    assert sitemap.reason == "sitemap_malformed" and "inflates past" in (sitemap.detail or "")
    assert result.rows_out == 1 and result.rows_in == result.rows_out + len(result.rejects)


# -- probe 1 and 14: forged headers and hidden characters ------------------------------------
def read_back(directory: Path) -> list[tuple[str, str | None, dict[str, str]]]:
    """Every record of the crawl's WARC files: type, target URI, WARC headers."""
    out = []
    for path in sorted(directory.glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                headers = dict(rec.rec_headers.headers)
                out.append((rec.rec_type, headers.get("WARC-Target-URI"), headers))
    return out


def test_feed_links_with_cr_lf_nul_or_bidi_are_counted_rejects_and_never_headers(
    tmp_path: Path,
) -> None:
    links = [INJECTED, "https://news.example/b\x00c", "https://news.example/\u202egpj.exe"]
    items = [{"url": u, "content_html": "<p>story</p>"} for u in links]
    items.append({"url": "https://news.example/fine", "content_html": "<p>story</p>"})
    (tmp_path / "f.json").write_text(
        json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})
    )
    rss = (
        '<rss version="2.0"><channel><item><title>x</title>'
        "<link>https://news.example/r&#13;&#10;WARC-Type: metadata</link></item>"
        "</channel></rss>"
    )
    (tmp_path / "f.rss").write_text(rss)
    (tmp_path / "s.yaml").write_text("sources:\n  - {kind: feed, paths: ['f.json', 'f.rss']}\n")
    out = tmp_path / "crawl"
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), out, "fp")
    assert Counter(r.reason for r in result.rejects) == {"unsafe_url": 4}
    assert {r.url for r in result.rejects} >= {
        "https://news.example/a\\x0d\\x0aWARC-Type: metadata\\x0d\\x0aX-Forged: 1",
        "https://news.example/\\u202egpj.exe",
    }
    records = read_back(out)
    assert [(t, u) for t, u, _ in records] == [
        ("warcinfo", None),
        ("response", "https://news.example/fine"),
    ]
    assert not any("X-Forged" in h for _, _, h in records)


def test_the_warc_writer_refuses_any_header_that_would_break_a_record(tmp_path: Path) -> None:
    good = Capture("https://news.example/a", b"<p/>", http_headers=[("Content-Type", "text/html")])
    bad = [
        replace(good, url=INJECTED),
        replace(good, url="https://news.example/a b"),
        replace(good, status_line="200 OK\r\nX-Forged: 1"),
        replace(good, http_headers=[("X-Evil", "a\x00b")]),
        replace(good, http_headers=[("X-Evil", "a\nb")]),
        replace(good, http_headers=[("Bad:Name", "v")]),
        replace(good, http_headers=[(" Folded", "v")]),
        replace(good, http_headers=[("\xc3ontent-Type", "v")]),  # warcio writes names as ASCII
        replace(good, http_headers=[("X-\udcc3", "v")]),
        replace(good, http_headers=[("X-Evil", "a\udcc3b")]),  # no UTF-8 form
        replace(good, origin="feeds/x\r\nWARC-Type: metadata"),
        replace(good, date="2024-01-01T00:00:00Z\r\nX: y"),
        replace(good, extra_headers={"Replica-Original-Record-ID": "<urn:x>\nX: y"}),
    ]
    with WarcSink(tmp_path) as sink:
        for cap in bad:
            with pytest.raises(UnsafeRecord):
                sink.write(cap)
        sink.write(good)
    assert [(t, u) for t, u, _ in read_back(tmp_path)][1:] == [("response", good.url)]


def test_a_response_with_control_characters_in_its_headers_is_an_unsafe_header_reject(
    tmp_path: Path, hostile: Site
) -> None:
    (tmp_path / "u.txt").write_text(f"{hostile.url}/evil-header\n{hostile.url}/news/1\n")
    (tmp_path / "s.yaml").write_text("sources:\n  - {kind: urls, paths: ['u.txt']}\n")
    cfg = replace(LIVE, fetch_images=False)
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), cfg, tmp_path / "c", "fp")
    [evil] = [r for r in result.rejects if r.reason == "unsafe_header"]
    assert evil.url == f"{hostile.url}/evil-header" and "U+000D" in (evil.detail or "")
    urls = [u for t, u, _ in read_back(tmp_path / "c") if t == "response"]
    assert sorted(urls) == [f"{hostile.url}/news/1", f"{hostile.url}/robots.txt"]
    assert result.rows_in == result.rows_out + len(result.rejects)


def test_unsafe_urls_found_in_pages_and_url_lists_are_never_fetched(
    tmp_path: Path, hostile: Site
) -> None:
    (tmp_path / "u.txt").write_text(
        f"{hostile.url}/news/2\u202e\n{hostile.url}/news/3?x=\x00\nftp://{hostile.url[7:]}/x\n"
        f"{hostile.url.replace('://', '://user:pw@')}/news/4\n"
    )
    (tmp_path / "s.yaml").write_text("sources:\n  - {kind: urls, paths: ['u.txt']}\n")
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), LIVE, tmp_path / "c", "fp")
    assert Counter(r.reason for r in result.rejects) == {"unsafe_url": 4}
    assert not hostile.hits  # nothing reached the server
    assert any("***@" in (r.url or "") for r in result.rejects)  # credentials not kept


def test_archive_records_with_forged_target_uris_are_refused(tmp_path: Path) -> None:
    # warcio parses header lines, so a forged URI shows up as a NUL or bidi character
    raw = BytesIO()
    for uri in ("https://a.example/\x00x", "https://a.example/\u202ex", "https://a.example/ok"):
        body = b"<p>x</p>"
        http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n"
        block = http.encode() + body
        head = (
            "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
            f"WARC-Target-URI: {uri}\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(block)}\r\n\r\n"
        )
        raw.write(head.encode() + block + b"\r\n\r\n")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.warc").write_bytes(raw.getvalue())
    (tmp_path / "s.yaml").write_text("sources:\n  - {kind: warc, paths: ['in/a.warc']}\n")
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), tmp_path / "c", "fp")
    assert Counter(r.reason for r in result.rejects) == {"unsafe_url": 2}
    assert [u for t, u, _ in read_back(tmp_path / "c") if t == "response"] == [
        "https://a.example/ok"
    ]


def test_a_response_without_target_uri_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    # found by the fuzz suite: warcio raises AttributeError on such a record
    block = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    head = b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: %d\r\n\r\n" % len(block)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.warc").write_bytes(head + block + b"\r\n\r\n")
    (tmp_path / "s.yaml").write_text("sources:\n  - {kind: warc, paths: ['in/a.warc']}\n")
    result = crawl_sources(load_sources(tmp_path / "s.yaml"), CrawlConfig(), tmp_path / "c", "fp")
    [rej] = result.rejects
    assert rej.reason == "warc_unreadable" and "AttributeError" in (rej.detail or "")


def test_a_status_line_no_warc_can_hold_is_a_reject_not_a_crash(tmp_path: Path) -> None:
    """Found by the fuzz suite: a byte 0x80 before ``HTTP/1.1`` reached the WARC writer, whose
    ASCII encoding of the status line raised UnicodeEncodeError."""
    from replica.crawl.warc import RecordLimits, read_stream

    http = b"\x80HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>x</html>"
    head = (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
        b"WARC-Target-URI: https://news.example/story\r\n"
        b"Content-Type: application/http; msgtype=response\r\n"
        b"Content-Length: " + str(len(http)).encode() + b"\r\n\r\n"
    )
    out = list(read_stream(BytesIO(head + http + b"\r\n\r\n"), "x.warc", RecordLimits(10**6, 2048)))
    assert [getattr(r, "reason", None) for r in out] == ["malformed_http"]
