"""A minimal HTTP fetcher: http/https only, a timeout, a body size cap, our user agent.

Politeness (robots.txt, rate limits) and SSRF guards belong to the full fetcher, not this one.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from replica.crawl.records import Capture


class FetchError(Exception):
    """A URL could not be fetched; ``reason`` is the reject code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Fetcher:
    """Fetch settings, from ``params.yaml`` ``crawl``."""

    user_agent: str
    timeout_s: float
    max_body_bytes: int

    def fetch(self, url: str, origin: str = "") -> Capture:
        """GET ``url`` into a Capture (any HTTP status); raise FetchError when it cannot."""
        if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).netloc:
            raise FetchError("bad_url", f"only absolute http(s) URLs are fetched: {url!r}")
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        try:
            try:
                resp = urllib.request.urlopen(request, timeout=self.timeout_s)
            except urllib.error.HTTPError as err:
                resp = err  # an error status is still a response worth recording
            with resp:
                body = resp.read(self.max_body_bytes + 1)
                status, reason, final = resp.status, resp.reason or "", resp.geturl() or url
                headers = [
                    (k, v) for k, v in resp.headers.items() if k.lower() != "transfer-encoding"
                ]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FetchError("fetch_failed", f"{type(exc).__name__}: {exc}") from exc
        if len(body) > self.max_body_bytes:
            raise FetchError("too_large", f"body exceeds max_body_bytes={self.max_body_bytes}")
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        return Capture(
            url=final,
            payload=body,
            status_line=f"{status} {reason}".strip(),
            http_headers=headers,
            date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            origin=origin,
        )
