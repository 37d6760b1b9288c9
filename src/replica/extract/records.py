"""Read the crawl's WARC files into plain values: one WebRecord per response/resource."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator


@dataclass(frozen=True)
class WebRecord:
    """A captured response: its URL, HTTP status, media type and decoded body.

    ``alias`` is the URL first requested when the crawl followed redirects to ``url``.

    ``body`` is None when the transfer/content encoding could not be undone; ``error`` says why.
    """

    source: str
    record_id: str
    url: str
    status: int
    mime: str
    body: bytes | None
    error: str | None = None
    alias: str | None = None


def read_warcs(paths: list[Path]) -> Iterator[WebRecord]:
    """The records of several WARC files, in order."""
    for path in paths:
        yield from read_warc(path)


def read_warc(path: Path) -> Iterator[WebRecord]:
    """Every response/resource record of one WARC file (warcinfo and others are format only)."""
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, arc2warc=True):
            if record.rec_type not in ("response", "resource"):
                continue
            headers = record.rec_headers
            http = record.http_headers
            status = _status(http.get_statuscode()) if http is not None else 200
            ctype = (http.get_header("Content-Type") if http is not None else None) or (
                headers.get_header("Content-Type") or ""
            )
            body: bytes | None
            error = None
            try:
                body = record.content_stream().read()
            except Exception as exc:  # warcio surfaces zlib/brotli/chunk errors as many types
                body, error = None, f"{type(exc).__name__}: {exc}"
            yield WebRecord(
                source=Path(path).name,
                record_id=headers.get_header("WARC-Record-ID") or "",
                url=(headers.get_header("WARC-Target-URI") or "").strip().strip("<>"),
                status=status,
                mime=ctype.split(";")[0].strip().lower(),
                body=body,
                error=error,
                alias=headers.get_header("Replica-Requested-URI"),
            )


def _status(code: str | None) -> int:
    """The HTTP status as a number; 0 when the status line has none."""
    code = (code or "").strip()
    return int(code) if code.isdigit() and len(code) == 3 else 0
