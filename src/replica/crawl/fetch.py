"""A polite, bounded and SSRF-safe HTTP fetcher (http.client, one request per connection).

Per request, in order: the URL must be a safe absolute http(s) URL (``guard.urls``: no control
or bidi characters, at most ``max_url_chars``, no credentials); robots.txt of its host (fetched
once, cached) must allow it; every address the host resolves to must be globally reachable
(``is_global_address``: the IANA special-purpose registries, IPv4 embedded in IPv6 unwrapped)
unless allow-listed (``crawl.allow_private``), and the connection goes to the checked address,
so a second DNS answer cannot swap it; the host's rate limit (``host_delay_s``, or robots
``Crawl-delay`` when longer) and concurrency cap (``host_concurrency``) hold. Redirects are
followed by hand, each hop checked again, up to ``max_redirects``; a URL seen twice in one chain
is a ``redirect_loop``. 429, 5xx, timeouts and connection errors are retried ``retries`` times
with exponential backoff (``backoff_s`` * 2^n, or Retry-After when longer). Each request (connect,
TLS, headers and body) has a real deadline, ``max_seconds_per_fetch``: a watchdog shuts the
socket down then, so a server that trickles bytes cannot hold a worker. Bodies are capped by
``max_body_bytes``, encoded and decoded (a gzip/deflate/br body is inflated with an output bound,
``max_decode_ratio``); a 2xx whose media type does not fit the fetch's role is refused.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
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
from replica.guard.decode import DecodeError, Limits, codings, decode_content
from replica.guard.urls import printable, unsafe_url

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

# The IANA IPv4 and IPv6 Special-Purpose Address Registries (2025 editions): each block and its
# "Globally Reachable" flag ("N/A" counts as False), plus multicast, which no web server uses.
# The most specific block holding an address decides; IPv6 outside them must be global
# unicast (2000::/3). IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
# addresses are judged by the IPv4 address they carry; Teredo (2001::/32) and the deprecated
# IPv4-compatible form (::/96, outside 2000::/3) are refused.
SPECIAL_PURPOSE: tuple[tuple[str, bool], ...] = (
    ("0.0.0.0/8", False),  # "this network"
    ("10.0.0.0/8", False),  # private use
    ("100.64.0.0/10", False),  # shared address space (carrier-grade NAT, cloud metadata)
    ("127.0.0.0/8", False),  # loopback
    ("169.254.0.0/16", False),  # link local (cloud metadata 169.254.169.254)
    ("172.16.0.0/12", False),  # private use
    ("192.0.0.0/24", False),  # IETF protocol assignments
    ("192.0.0.0/29", False),  # IPv4 service continuity prefix (DS-Lite)
    ("192.0.0.8/32", False),  # IPv4 dummy address
    ("192.0.0.9/32", True),  # port control protocol anycast
    ("192.0.0.10/32", True),  # traversal using relays around NAT anycast
    ("192.0.0.170/32", False),  # NAT64/DNS64 discovery
    ("192.0.0.171/32", False),  # NAT64/DNS64 discovery
    ("192.0.2.0/24", False),  # documentation (TEST-NET-1)
    ("192.31.196.0/24", True),  # AS112-v4
    ("192.52.193.0/24", True),  # AMT
    ("192.88.99.0/24", False),  # deprecated 6to4 relay anycast
    ("192.168.0.0/16", False),  # private use
    ("192.175.48.0/24", True),  # direct delegation AS112 service
    ("198.18.0.0/15", False),  # benchmarking
    ("198.51.100.0/24", False),  # documentation (TEST-NET-2)
    ("203.0.113.0/24", False),  # documentation (TEST-NET-3)
    ("224.0.0.0/4", False),  # multicast
    ("240.0.0.0/4", False),  # reserved
    ("255.255.255.255/32", False),  # limited broadcast
    ("::1/128", False),  # loopback
    ("::/128", False),  # unspecified
    ("64:ff9b:1::/48", False),  # IPv4-IPv6 translation, local use
    ("100::/64", False),  # discard-only
    ("100:0:0:1::/64", False),  # dummy IPv6 prefix
    ("2001::/23", False),  # IETF protocol assignments
    ("2001::/32", False),  # Teredo
    ("2001:1::1/128", True),  # port control protocol anycast
    ("2001:1::2/128", True),  # traversal using relays around NAT anycast
    ("2001:1::3/128", True),  # DNS-SD service registration protocol anycast
    ("2001:2::/48", False),  # benchmarking
    ("2001:3::/32", True),  # AMT
    ("2001:4:112::/48", True),  # AS112-v6
    ("2001:10::/28", False),  # deprecated ORCHID
    ("2001:20::/28", True),  # ORCHIDv2
    ("2001:30::/28", True),  # drone remote ID protocol entity tags
    ("2001:db8::/32", False),  # documentation
    ("2620:4f:8000::/48", True),  # direct delegation AS112 service
    ("3fff::/20", False),  # documentation
    ("5f00::/16", False),  # segment routing (SRv6) SIDs
    ("fc00::/7", False),  # unique local
    ("fe80::/10", False),  # link-local unicast
    ("ff00::/8", False),  # multicast
)
_SPECIAL = sorted(
    ((ipaddress.ip_network(n), g) for n, g in SPECIAL_PURPOSE),
    key=lambda item: -item[0].prefixlen,  # most specific first
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


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


def is_global_address(ip: IpAddress) -> bool:
    """Whether ``ip`` is globally reachable (see ``SPECIAL_PURPOSE``); only those are fetched."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_global_address(embedded)
    for net, reachable in _SPECIAL:
        if ip.version == net.version and ip in net:
            return reachable
    return ip.version == 4 or ip in _GLOBAL_UNICAST


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
            out.reject = Reject(origin, exc.reason, printable(url), detail=str(exc))
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
            _check_url(current, self.cfg.max_url_chars)
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
        hostname, port = _check_url(url, self.cfg.max_url_chars)
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
            if not is_global_address(ip) and not any(ip in net for net in self.allow):
                raise FetchError(
                    "private_address", f"{hostname} resolves to {ip}, not allow-listed"
                )
        return str(ips[0])

    def _get(self, url: str, hostname: str, port: int, ip: str, role: str) -> _Response:
        """One request under a watchdog that shuts the socket down at the deadline."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        limit_s = self.cfg.max_seconds_per_fetch
        deadline = time.monotonic() + limit_s
        conn: _Pinned | _PinnedTLS
        if parts.scheme.lower() == "https":
            conn = _PinnedTLS(hostname, port, ip, self.cfg, deadline)
        else:
            conn = _Pinned(hostname, port, ip, self.cfg, deadline)
        watchdog = threading.Timer(limit_s, conn.abort)
        watchdog.daemon = True
        watchdog.start()
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
                body = _read(resp, self.cfg.max_body_bytes, conn)
                self._check_decoded(body, _header(headers, "content-encoding"))
            return _Response(url, resp.status, resp.reason or "", headers, body)
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            if conn.aborted:
                raise FetchError(
                    "timeout", f"not complete within max_seconds_per_fetch={limit_s:g}"
                ) from exc
            if isinstance(exc, TimeoutError):
                raise FetchError("timeout", f"{type(exc).__name__}: {exc}") from exc
            raise FetchError("fetch_failed", f"{type(exc).__name__}: {exc}") from exc
        finally:
            watchdog.cancel()
            conn.close()

    def _check_decoded(self, body: bytes, coding: str | None) -> None:
        """A content-encoded body must also fit ``max_body_bytes`` once decoded (streamed, with
        an output bound). The capture keeps the bytes as sent; a body that does not decode is
        kept too (extract rejects it as ``decode_error``)."""
        if not body or not codings(coding):
            return
        try:
            decode_content(body, coding, Limits(self.cfg.max_body_bytes, self.cfg.max_decode_ratio))
        except DecodeError as exc:
            if exc.reason != "decode_error":
                raise FetchError(exc.reason, str(exc)) from exc

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
                if exc.reason in ("private_address", "dns_failed", "unsafe_url"):
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
        # obsolete line folding ("a\r\n  b") is one value; anything else odd stays, and the
        # WARC writer refuses it (unsafe_header)
        headers = [
            (k, _UNFOLD.sub(" ", v)) for k, v in resp.headers if k.lower() not in HOP_HEADERS
        ]
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


class _Deadline:
    """What both pinned connections share: a connect bounded by the deadline, and ``abort``
    (the watchdog's), which shuts the socket down under a blocked read or TLS handshake."""

    sock: socket.socket | None
    _ip: str
    port: int

    def _setup(self, ip: str, cfg: CrawlConfig, deadline: float) -> None:
        self._ip, self._connect_s, self._read_s = ip, cfg.connect_timeout_s, cfg.timeout_s
        self._deadline = deadline
        self._live: socket.socket | None = None
        self._abort_lock = threading.Lock()
        self.aborted = False

    def _open(self) -> socket.socket:
        left = self._deadline - time.monotonic()
        sock = socket.create_connection(
            (self._ip, self.port), max(0.001, min(self._connect_s, left))
        )
        sock.settimeout(self._read_s)
        try:
            self._watch(sock)
        except TimeoutError:
            sock.close()
            raise
        return sock

    def _watch(self, sock: socket.socket) -> None:
        with self._abort_lock:
            self._live = sock
            if self.aborted:
                raise TimeoutError("deadline passed while connecting")

    def abort(self) -> None:
        with self._abort_lock:
            self.aborted = True
            live = self._live
        if live is not None:
            with contextlib.suppress(OSError):  # the plain socket call, also under TLS
                socket.socket.shutdown(live, socket.SHUT_RDWR)


class _Pinned(_Deadline, http.client.HTTPConnection):
    """An HTTP connection to a checked IP, with connect/read timeouts and a deadline."""

    def __init__(self, host: str, port: int, ip: str, cfg: CrawlConfig, deadline: float):
        http.client.HTTPConnection.__init__(self, host, port, timeout=cfg.timeout_s)
        self._setup(ip, cfg, deadline)

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedTLS(_Deadline, http.client.HTTPSConnection):
    """The TLS twin of _Pinned: SNI and certificate checks use the host name, not the IP."""

    def __init__(self, host: str, port: int, ip: str, cfg: CrawlConfig, deadline: float):
        http.client.HTTPSConnection.__init__(
            self, host, port, timeout=cfg.timeout_s, context=ssl.create_default_context()
        )
        self._setup(ip, cfg, deadline)

    def connect(self) -> None:
        # wrap_socket takes over the descriptor: watch the TLS socket from then on
        tls = self._context.wrap_socket(  # type: ignore[attr-defined]
            self._open(), server_hostname=self.host, do_handshake_on_connect=False
        )
        self.sock = tls  # closed by close() whatever happens next
        self._watch(tls)
        tls.do_handshake()


def _check_url(url: str, max_chars: int) -> tuple[str, int]:
    """The host name and port of a safe absolute http(s) URL; anything else is ``unsafe_url``."""
    why = unsafe_url(url, max_chars)
    if why:
        raise FetchError("unsafe_url", f"{why}: {printable(url, 300)}")
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    return hostname, parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _read(resp: http.client.HTTPResponse, limit: int, conn: _Deadline) -> bytes:
    chunks, total = [], 0
    while chunk := resp.read(65536):
        total += len(chunk)
        if total > limit:
            raise FetchError("too_large", f"body exceeds max_body_bytes={limit}")
        chunks.append(chunk)
    if conn.aborted:  # a body read to "end of connection" ends early at the shutdown
        raise TimeoutError("deadline passed while reading the body")
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


_UNFOLD = re.compile(r"\r?\n[ \t]+")


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
