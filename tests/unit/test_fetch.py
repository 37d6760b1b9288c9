"""The live fetcher against a loopback HTTP server: politeness, limits, retries, SSRF guard."""

from __future__ import annotations

import ipaddress
import itertools
import threading
from dataclasses import replace

import pytest

from replica.crawl.fetch import Fetcher, is_global_address
from tests.unit._http import CFG, PAGES, ROBOTS, Site, png_bytes, site_fixture  # noqa: F401 - fixture


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
        assert not is_global_address(ipaddress.ip_address(ip)), ip
    assert is_global_address(ipaddress.ip_address("93.184.216.34"))


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
    assert bad.reject is not None and bad.reject.reason == "unsafe_url"
    dns = fetcher.fetch("http://no-such-host.invalid/x", "page")
    assert dns.reject is not None and dns.reject.reason == "dns_failed"
