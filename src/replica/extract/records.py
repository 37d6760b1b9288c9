"""Read the crawl's WARC files into plain values: one WebRecord per response/resource.

Records come from the reader crawl uses (``crawl.warc.read_records``), so truncated,
unreadable, over-long and unsafe records are counted exactly as crawl counts them (warcinfo
records are format, not input, and are passed over). The payload is then de-chunked and its
content codings undone within ``extract.max_record_bytes`` and ``extract.max_decode_ratio``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from warcio.bufferedreaders import ChunkedDataReader

from replica.config import ExtractConfig
from replica.crawl.records import Reject
from replica.crawl.warc import RecordLimits, read_records
from replica.guard.decode import DecodeError, Limits, decode_content
from replica.guard.urls import printable


@dataclass(frozen=True)
class WebRecord:
    """A captured response: its URL, HTTP status, media type and decoded body.

    ``alias`` is the URL first requested when the crawl followed redirects to ``url``.

    ``body`` is None when the record is refused: ``reason`` is the reject code (set while
    reading: ``truncated_record``, ``warc_unreadable``, ``too_large``, ``decompression_bomb``,
    ``decode_error``, ...) and ``error`` says why.
    """

    source: str
    record_id: str
    url: str
    status: int
    mime: str
    body: bytes | None
    error: str | None = None
    alias: str | None = None
    reason: str | None = None


def read_warcs(paths: list[Path], cfg: ExtractConfig) -> Iterator[WebRecord]:
    """The records of several WARC files, in order."""
    for path in paths:
        yield from read_warc(path, cfg)


def read_warc(path: Path, cfg: ExtractConfig) -> Iterator[WebRecord]:
    """Every response/resource record of one WARC file, and one record per refused record."""
    source = printable(Path(path).name)
    limits = RecordLimits(cfg.max_record_bytes, cfg.max_url_chars)
    decode = Limits(cfg.max_record_bytes, cfg.max_decode_ratio)
    with open(path, "rb") as fh:
        for item in read_records(fh, source, limits, skip=("warcinfo",)):
            if isinstance(item, Reject):
                yield _refused(item)
            else:
                yield _web_record(*item, source, decode)


def _refused(rej: Reject) -> WebRecord:
    return WebRecord(
        source=rej.source,
        record_id=printable(rej.record_id or ""),
        url=rej.url or "",
        status=0,
        mime="",
        body=None,
        error=rej.detail,
        reason=rej.reason,
    )


def _web_record(record: Any, payload: bytes, source: str, limits: Limits) -> WebRecord:
    headers = record.rec_headers
    http = record.http_headers
    status = _status(http.get_statuscode()) if http is not None else 200
    ctype = (http.get_header("Content-Type") if http is not None else None) or (
        headers.get_header("Content-Type") or ""
    )
    body: bytes | None = payload
    error = reason = None
    if http is not None:
        if "chunked" in (http.get_header("Transfer-Encoding") or "").lower():
            body = ChunkedDataReader(BytesIO(payload)).read()  # never longer than the payload
        try:
            body = decode_content(body or b"", http.get_header("Content-Encoding"), limits)
        except DecodeError as exc:
            body, error, reason = None, str(exc), exc.reason
    alias = headers.get_header("Replica-Requested-URI")
    return WebRecord(
        source=source,
        record_id=printable(headers.get_header("WARC-Record-ID") or ""),
        url=(headers.get_header("WARC-Target-URI") or "").strip().strip("<>"),
        status=status,
        mime=ctype.split(";")[0].strip().lower(),
        body=body,
        error=error,
        alias=alias,
        reason=reason,
    )


def _status(code: str | None) -> int:
    """The HTTP status as a number; 0 when the status line has none."""
    code = (code or "").strip()
    return int(code) if code.isdigit() and len(code) == 3 else 0
