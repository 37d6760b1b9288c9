"""The values the crawl passes around: a capture to write, or a reject to count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Capture:
    """One HTTP response (or WARC resource) to write as a WARC record.

    ``payload`` is the raw HTTP entity body exactly as captured (still chunked or
    content-encoded when the headers say so); ``http_headers`` is None for resource records.
    """

    url: str
    payload: bytes
    status_line: str | None = "200 OK"
    http_headers: list[tuple[str, str]] | None = None
    protocol: str = "HTTP/1.1"
    record_type: str = "response"
    content_type: str | None = None
    date: str | None = None
    origin: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reject:
    """An input the crawl refused: where it came from, a snake_case reason and a detail."""

    source: str
    reason: str
    url: str | None = None
    record_id: str | None = None
    detail: str | None = None

    def row(self, stage: str) -> dict[str, Any]:
        return {
            "stage": stage,
            "source": self.source,
            "record_id": self.record_id,
            "url": self.url,
            "reason": self.reason,
            "detail": self.detail,
        }
