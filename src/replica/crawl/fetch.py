"""A polite, bounded and SSRF-safe HTTP fetcher (http.client, one request per connection).

Per request, in order: the URL must be absolute http(s); robots.txt of its host (fetched once,
cached) must allow it; every address the host resolves to must be public unless allow-listed
(``crawl.allow_private``), and the connection goes to the checked address, so a second DNS
answer cannot swap it; the host's rate limit (``host_delay_s``, or robots ``Crawl-delay`` when
longer) and concurrency cap (``host_concurrency``) hold. Redirects are followed by hand, each hop
checked again, up to ``max_redirects``; a URL seen twice in one chain is a ``redirect_loop``.
429, 5xx, timeouts and connection errors are retried ``retries`` times with exponential backoff
(``backoff_s`` * 2^n, or Retry-After when longer). Bodies are capped by ``max_body_bytes`` and
``max_seconds_per_fetch``; a 2xx whose media type does not fit the fetch's role is refused.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from replica.config import CrawlConfig
from replica.crawl.records import Capture, Reject

REDIRECTS = (301, 302, 303, 307, 308)
RETRY_STATUS = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER_S = 60.0
# media types a 2xx response may have, per role ("" = no Content-Type header)
ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "page": ("text/html", "application/xhtml+xml", ""),
    "image": ("image/",),
    "feed": ("application/", "text/xml", "text/plain", ""),
    "sitemap": ("application/", "text/xml", "text/plain", ""),
    "robots": ("*",),
}
HOP_HEADERS = ("transfer-encoding", "content-length", "connection", "keep-alive")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """A URL could not be fetched; ``reason`` is the reject code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass
class Fetched:
    """The outcome of one fetch: the final response or a reject, plus robots.txt captures."""

    capture: Capture | None = None
    reject: Reject | None = None
    robots: list[tuple[str, int, bytes]] = field(default_factory=list)
    extra: list[Capture] = field(default_factory=list)


@dataclass(frozen=True)
class _Response:
    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


def parse_networks(items: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    """``crawl.allow_private`` as networks (a bare IP is a /32 or /128)."""
    try:
        return tuple(ipaddress.ip_network(i, strict=False) for i in items)
    except ValueError as exc:
        raise ValueError(f"crawl.allow_private: {exc}") from exc


def is_public(ip: IpAddress) -> bool:
    """False for private, loopback, link-local (incl. cloud metadata), multicast, reserved."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class Fetcher:
    """Fetches URLs for one crawl; thread-safe. ``robots`` and ``next_at`` seed a resumed crawl."""

    def __init__(
        self,
        cfg: CrawlConfig,
        robots: dict[str, tuple[int, bytes]] | None = None,
        next_at: dict[str, float] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.cfg = cfg
        self.allow = parse_networks(cfg.allow_private)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._slots: dict[str, threading.Semaphore] = {}
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._robots_raw = dict(robots or {})
        self.next_at: dict[str, float] = dict(next_at or {})
        self.dirty_hosts: set[str] = set()

    # -- public -------------------------------------------------------------------------------
    def pop_host_times(self) -> dict[str, float]:
        """Next request times of the hosts used since the last call (to persist)."""
        with self._lock:
            changed = {h: self.next_at[h] for h in self.dirty_hosts}
            self.dirty_hosts.clear()
        return changed

    def fetch(self, url: str, role: str = "page", origin: str = "") -> Fetched:
        """GET ``url`` for ``role`` (page, image, feed, sitemap): a Capture or a Reject."""
        out = Fetched()
        try:
            resp, requested = self._follow(url, role, out)
        except FetchError as exc:
            out.reject = Reject(origin, exc.reason, url, detail=str(exc))
            return out
        ctype = _media_type(resp.headers)
        if 200 <= resp.status < 300 and not _type_ok(ctype, role):
            detail = f"{ctype or 'no Content-Type'} is not a {role} media type"
            out.reject = Reject(origin, "unexpected_content_type", resp.url, detail=detail)
            return out
        out.capture = self._capture(resp, requested, origin)
        return out

    # -- one fetch, redirects and retries ----------------------------------------------------
    def _follow(self, url: str, role: str, out: Fetched) -> tuple[_Response, str]:
        chain = [url]
        current = url
        while True:
            _check_url(current)
            self._check_robots(current, out)
            resp = self._with_retries(current, role)
            location = _header(resp.headers, "location")
            if resp.status not in REDIRECTS or not location:
                return resp, url
            nxt = urljoin(current, location.strip())
            if nxt in chain:
                raise FetchError("redirect_loop", " -> ".join([*chain, nxt]))
            if len(chain) > self.cfg.max_redirects:
                raise FetchError("too_many_redirects", f"more than {self.cfg.max_redirects}: {nxt}")
            chain.append(nxt)
            current = nxt

    def _with_retries(self, url: str, role: str) -> _Response:
        attempt = 0
        while True:
            wait = self.cfg.backoff_s * 2**attempt
            try:
                resp = self._request(url, role)
            except FetchError as exc:
                if exc.reason not in ("timeout", "fetch_failed") or attempt >= self.cfg.retries:
                    raise
            else:
                if resp.status not in RETRY_STATUS:
                    return resp
                if attempt >= self.cfg.retries:
                    raise FetchError(
                        "retries_exhausted", f"{resp.status} {resp.reason} after {attempt} retries"
                    )
                after = _header(resp.headers, "retry-after") or ""
                if after.strip().isdigit():
                    wait = max(wait, min(float(after), MAX_RETRY_AFTER_S))
            attempt += 1
            self._sleep(wait)

    def _request(self, url: str, role: str) -> _Response:
        """One GET, no redirects: SSRF check, host slot, bounded read."""
        hostname, port = _check_url(url)
        ip = self._resolve(hostname, port)
        host = _host_key(url)
        slot = self._slot(host)
        try:
            return self._get(url, hostname, port, ip, role)
        finally:
            slot.release()

    def _resolve(self, hostname: str, port: int) -> str:
        try:
            infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError("dns_failed", f"{hostname}: {exc}") from exc
        ips = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for ip in ips:
            if not is_public(ip) and not any(ip in net for net in self.allow):
                raise FetchError(
                    "private_address", f"{hostname} resolves to {ip}, not allow-listed"
                )
        return str(ips[0])

    def _get(self, url: str, hostname: str, port: int, ip: str, role: str) -> _Response:
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            conn = _PinnedTLS(hostname, port, ip, self.cfg)
        else:
            conn = _Pinned(hostname, port, ip, self.cfg)
        deadline = time.monotonic() + self.cfg.max_seconds_per_fetch
        try:
            conn.request(
                "GET",
                path,
                headers={"User-Agent": self.cfg.user_agent, "Accept-Encoding": "identity"},
            )
            resp = conn.getresponse()
            headers = list(resp.getheaders())
            length = (_header(headers, "content-length") or "").strip()
            if length.isdigit() and int(length) > self.cfg.max_body_bytes:
                raise FetchError("too_large", f"Content-Length {length} > max_body_bytes")
            ctype = _media_type(headers)
            if 200 <= resp.status < 300 and not _type_ok(ctype, role):
                body = b""  # refused by fetch() on its media type: no need to read it
            else:
                body = _read(resp, self.cfg.max_body_bytes, deadline)
            return _Response(url, resp.status, resp.reason or "", headers, body)
        except FetchError:
            raise
        except TimeoutError as exc:
            raise FetchError("timeout", f"{type(exc).__name__}: {exc}") from exc
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            raise FetchError("fetch_failed", f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    # -- politeness ---------------------------------------------------------------------------
    def _slot(self, host: str) -> threading.Semaphore:
        """Wait for a free request slot of ``host`` and its next allowed start time."""
        with self._lock:
            slot = self._slots.setdefault(host, threading.Semaphore(self.cfg.host_concurrency))
        slot.acquire()
        with self._lock:
            now = self._clock()
            start = max(now, self.next_at.get(host, 0.0))
            self.next_at[host] = start + self._delay(host)
            self.dirty_hosts.add(host)
        if start > now:
            self._sleep(start - now)
        return slot

    def _delay(self, host: str) -> float:
        rp = self._robots.get(host)
        crawl_delay = rp.crawl_delay(self.cfg.user_agent) if rp is not None else None
        return max(self.cfg.host_delay_s, float(crawl_delay or 0))

    def _check_robots(self, url: str, out: Fetched) -> None:
        host = _host_key(url)
        with self._lock:
            host_lock = self._host_locks.setdefault(host, threading.Lock())
        with host_lock:
            if host not in self._robots:
                if host not in self._robots_raw:
                    status, body = self._fetch_robots(host, out)
                    self._robots_raw[host] = (status, body)
                    out.robots.append((host, status, body))
                self._robots[host] = _robots_parser(*self._robots_raw[host])
        if not self._robots[host].can_fetch(self.cfg.user_agent, url):
            raise FetchError("robots_disallowed", f"{host}/robots.txt disallows {url}")

    def _fetch_robots(self, host: str, out: Fetched) -> tuple[int, bytes]:
        """robots.txt status and body; unreachable counts as 503 (disallow all, RFC 9309)."""
        url = f"{host}/robots.txt"
        current = url
        for _ in range(self.cfg.max_redirects + 1):
            try:
                resp = self._with_retries(current, "robots")
            except FetchError as exc:
                if exc.reason in ("private_address", "dns_failed", "bad_url"):
                    raise
                return 503, b""
            location = _header(resp.headers, "location")
            if resp.status in REDIRECTS and location:
                current = urljoin(current, location.strip())
                continue
            out.extra.append(self._capture(resp, url, "robots.txt"))
            return resp.status, resp.body
        return 404, b""

    def _capture(self, resp: _Response, requested: str, origin: str) -> Capture:
        headers = [(k, v) for k, v in resp.headers if k.lower() not in HOP_HEADERS]
        headers.append(("Content-Length", str(len(resp.body))))
        extra = {"Replica-Requested-URI": requested} if requested != resp.url else {}
        return Capture(
            url=resp.url,
            payload=resp.body,
            status_line=f"{resp.status} {resp.reason}".strip(),
            http_headers=headers,
            date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            origin=origin,
            extra_headers=extra,
        )


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to a checked IP, with separate connect and read timeouts."""

    def __init__(self, host: str, port: int, ip: str, cfg: CrawlConfig):
        super().__init__(host, port, timeout=cfg.timeout_s)
        self._ip, self._connect_s, self._read_s = ip, cfg.connect_timeout_s, cfg.timeout_s

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self._connect_s)
        self.sock.settimeout(self._read_s)


class _PinnedTLS(http.client.HTTPSConnection):
    """The TLS twin of _Pinned: SNI and certificate checks use the host name, not the IP."""

    def __init__(self, host: str, port: int, ip: str, cfg: CrawlConfig):
        super().__init__(host, port, timeout=cfg.timeout_s, context=ssl.create_default_context())
        self._ip, self._connect_s, self._read_s = ip, cfg.connect_timeout_s, cfg.timeout_s

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self._connect_s)
        sock.settimeout(self._read_s)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _check_url(url: str) -> tuple[str, int]:
    """The host name and port of an absolute http(s) URL; anything else is ``bad_url``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("bad_url", f"{url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("bad_url", f"only absolute http(s) URLs are fetched: {url!r}")
    return parts.hostname, port or (443 if scheme == "https" else 80)


def _read(resp: http.client.HTTPResponse, limit: int, deadline: float) -> bytes:
    chunks, total = [], 0
    while chunk := resp.read(65536):
        total += len(chunk)
        if total > limit:
            raise FetchError("too_large", f"body exceeds max_body_bytes={limit}")
        if time.monotonic() > deadline:
            raise FetchError("timeout", "body not complete within max_seconds_per_fetch")
        chunks.append(chunk)
    return b"".join(chunks)


def _robots_parser(status: int, body: bytes) -> urllib.robotparser.RobotFileParser:
    rp = urllib.robotparser.RobotFileParser()
    if status >= 500:
        rp.disallow_all = True  # type: ignore[attr-defined]
    elif 200 <= status < 300:
        rp.parse(body.decode("utf-8", "replace").splitlines())
    else:
        rp.allow_all = True  # type: ignore[attr-defined]
    return rp


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _type_ok(ctype: str, role: str) -> bool:
    allowed = ROLE_TYPES[role]
    if "*" in allowed:
        return True
    if not ctype:
        return "" in allowed
    return any(a and ctype.startswith(a) for a in allowed)


def _media_type(headers: list[tuple[str, str]]) -> str:
    return (_header(headers, "content-type") or "").split(";")[0].strip().lower()
