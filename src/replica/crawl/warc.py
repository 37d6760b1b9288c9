"""Read WARC/ARC files into captures (with truncation checks) and write captures as WARC.

warcio reads a clipped gzip member without complaint, so every record's body is measured
against its declared lengths: the WARC ``Content-Length`` of the block and, for un-chunked
HTTP responses, the HTTP ``Content-Length`` of the payload. ``read_records`` is the one reader
crawl and extract share, so both count truncated and unreadable records the same way.

Every record written is well-formed: ``WarcSink.write`` refuses (``UnsafeRecord``) a target URI
with control, bidi or space characters, a header name with a colon, control character or
leading space, and a header value or status line holding CR, LF, NUL or another control
character, so no input can forge a header or split a record.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from replica.crawl.records import Capture, Reject
from replica.guard.urls import control_char, printable, unsafe_url

KEPT_TYPES = ("response", "resource")
NO_BODY_STATUS = ("1", "204", "304")
# a header name: printable ASCII (warcio writes names as ASCII), no colon, and no leading space
# (that would fold the line)
_NAME = re.compile(r"[\x21-\x39\x3b-\x7e][\x20-\x39\x3b-\x7e]*")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # not encodable as UTF-8: the value cannot be written
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every C0 control but TAB, and DEL
# A capture read from a local file with no known capture time (a feed entry's content, a saved
# page missing from its url index) is dated here, so the archive is a function of its inputs.
UNKNOWN_DATE = "1970-01-01T00:00:00Z"
_RECORD_NS = uuid.UUID("5b1f4a63-1f8e-4d8b-9a0e-7c4f2f2b6a10")  # replica's WARC record ids


class UnsafeRecord(ValueError):
    """A capture cannot be written as a well-formed WARC record (reject ``unsafe_header``)."""


@dataclass(frozen=True)
class RecordLimits:
    """What a reader accepts: a record's payload as stored (``max_bytes``, checked against the
    declared length before reading) and its target URI's length."""

    max_bytes: int
    max_url_chars: int


def read_archive(path: Path, label: str, limits: RecordLimits) -> Iterator[Capture | Reject]:
    """Every record of a local WARC/ARC file as a Capture or a Reject (see ``read_stream``)."""
    with open(path, "rb") as fh:
        yield from read_stream(fh, label, limits)


def read_stream(fh: BinaryIO, label: str, limits: RecordLimits) -> Iterator[Capture | Reject]:
    """Every record of a WARC/ARC stream as a Capture or a Reject (see ``read_records``)."""
    for item in read_records(fh, label, limits):
        yield item if isinstance(item, Reject) else _capture(*item, label)


def read_records(
    fh: BinaryIO, label: str, limits: RecordLimits, skip: tuple[str, ...] = ()
) -> Iterator[tuple[Any, bytes] | Reject]:
    """Every record of a WARC/ARC stream with its whole raw payload, or why it is refused.

    Rejects: ``not_a_response`` (record types other than response/resource; types in ``skip``
    are passed over silently), ``no_url``, ``unsafe_url`` (control characters, over-long,
    credentials), ``too_large`` (declared longer than ``limits.max_bytes``; not read),
    ``truncated_record`` (shorter than declared), ``malformed_http`` (an HTTP status line that
    is not printable ASCII: no WARC could hold it), and one ``warc_unreadable`` where the stream
    breaks (records before it are kept). The stream is read forward once (an S3 body works),
    never whole into memory.
    """
    records = iter(ArchiveIterator(fh, arc2warc=True))
    while True:
        try:
            record = next(records, None)
        except Exception as exc:  # warcio parsing hostile bytes fails in many ways (see below)
            yield _unreadable(label, exc)
            return
        if record is None:
            return
        if record.rec_type in skip:
            continue
        headers = record.rec_headers
        record_id = headers.get_header("WARC-Record-ID")
        url = (headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
        if record.rec_type not in KEPT_TYPES:
            shown = printable(url) or None
            yield Reject(label, "not_a_response", shown, record_id, record.rec_type)
            continue
        if not url:
            yield Reject(label, "no_url", None, record_id, "record has no WARC-Target-URI")
            continue
        why = unsafe_url(url, limits.max_url_chars, schemes=None)
        if why:
            yield Reject(label, "unsafe_url", printable(url), record_id, why)
            continue
        if record.length is not None and int(record.length) > limits.max_bytes:
            detail = f"record of {record.length} bytes > {limits.max_bytes}"
            yield Reject(label, "too_large", url, record_id, detail)
            continue
        try:
            payload = record.raw_stream.read(limits.max_bytes + 1)
        except Exception as exc:
            yield _unreadable(label, exc)
            return
        if len(payload) > limits.max_bytes:
            detail = f"payload of more than {limits.max_bytes} bytes"
            yield Reject(label, "too_large", url, record_id, detail)
            continue
        http = record.http_headers
        status = f"{http.protocol or ''} {http.statusline or ''}" if http is not None else ""
        if not (status.isascii() and status.isprintable()):
            detail = f"HTTP status line is not printable ASCII: {printable(status)[:80]!r}"
            yield Reject(label, "malformed_http", printable(url), record_id, detail)
            continue
        short = _shortfall(record.length, record.http_headers, payload)
        if short:
            yield Reject(label, "truncated_record", url, record_id, short)
            continue
        yield record, payload


def _unreadable(label: str, exc: Exception) -> Reject:
    """The one reject of a stream that cannot be parsed on. Besides its own ArchiveLoadFailed,
    warcio lets EOFError, OSError, zlib.error, ValueError and, on a response record without a
    target URI, AttributeError escape; whichever it is, the records after it are not reachable."""
    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    return Reject(label, "warc_unreadable", detail=f"{type(exc).__name__}: {detail}")


def _capture(record: Any, payload: bytes, label: str) -> Capture:
    headers = record.rec_headers
    # An ARC record has no id of its own: warcio makes up a random one when converting it.
    arc = label.lower().endswith((".arc", ".arc.gz"))
    record_id = None if arc else headers.get_header("WARC-Record-ID")
    url = (headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
    http = record.http_headers
    common = {
        "url": url,
        "payload": payload,
        "content_type": headers.get_header("Content-Type"),
        "date": headers.get_header("WARC-Date"),
        "origin": label,
        "extra_headers": {"Replica-Original-Record-ID": record_id} if record_id else {},
    }
    if http is None or record.rec_type == "resource":
        return Capture(record_type="resource", status_line=None, **common)
    return Capture(
        record_type="response",
        status_line=http.statusline,
        http_headers=list(http.headers),
        protocol=http.protocol or "HTTP/1.1",
        **common,
    )


def _shortfall(declared: int | None, http: StatusAndHeaders | None, payload: bytes) -> str | None:
    """Why a record is shorter than it says it is, or None when it is whole."""
    header_len = http.total_len if http is not None else 0
    if declared is not None and header_len + len(payload) < int(declared):
        return f"block has {header_len + len(payload)} of {declared} declared bytes"
    if http is None or "chunked" in (http.get_header("Transfer-Encoding") or "").lower():
        return None
    if (http.get_statuscode() or "").startswith(NO_BODY_STATUS):
        return None
    length = (http.get_header("Content-Length") or "").strip()
    if length.isdigit() and len(payload) < int(length):
        return f"payload has {len(payload)} of {length} bytes in HTTP Content-Length"
    return None


class WarcSink:
    """Appends captures to ``<prefix>-00000.warc.gz``, ... (one gzip member per record).

    A new file starts once the current one exceeds ``max_bytes``; each file opens with a
    warcinfo record naming the software. Record ids are derived from the record's content and
    its place in the file (``record_id``) and the warcinfo record takes the date of the file's
    first capture, so the same captures always give byte-identical WARC files. ``sync()`` makes
    everything written durable and returns the position to commit; ``resume(files, length)``
    cuts the directory back to such a position (records after it are dropped, files started
    after it deleted), so a crawl killed between writing and committing rewrites those records
    exactly once.
    """

    def __init__(self, directory: Path, max_bytes: int = 100_000_000, prefix: str = "crawl"):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.prefix = prefix
        self.files: list[str] = []
        self.records = 0
        self._fh: BinaryIO | None = None
        self._writer: WARCWriter | None = None

    def resume(self, files: list[str], length: int) -> None:
        """Continue after a committed position: ``files`` written, the last one ``length`` long."""
        self.close()
        for path in self.directory.glob(f"{self.prefix}-*.warc.gz"):
            if path.name not in files:
                path.unlink()
        self.files = list(files)
        if files:
            last = self.directory / files[-1]
            with open(last, "r+b") as fh:
                fh.truncate(length)
                os.fsync(fh.fileno())
            self._fh = open(last, "ab")  # noqa: SIM115 - closed in close()
            self._writer = WARCWriter(self._fh, gzip=True)

    def write(self, cap: Capture) -> None:
        """Append one record; ``UnsafeRecord`` (nothing written) if it would be malformed."""
        _check_capture(cap)
        date = cap.date or UNKNOWN_DATE
        writer = self._current(date)
        http = (
            StatusAndHeaders(cap.status_line, cap.http_headers, protocol=cap.protocol)
            if cap.record_type == "response" and cap.http_headers is not None
            else None
        )
        warc_headers = dict(cap.extra_headers)
        warc_headers["WARC-Date"] = date
        if cap.origin:
            warc_headers["Replica-Origin"] = cap.origin
        assert self._fh is not None
        warc_headers["WARC-Record-ID"] = record_id(
            self.files[-1], self._fh.tell(), cap.record_type, cap.url, date, cap.payload
        )
        record = writer.create_warc_record(
            cap.url,
            cap.record_type,
            payload=BytesIO(cap.payload),
            length=len(cap.payload),
            warc_content_type=(cap.content_type or "") if http is None else "",
            warc_headers_dict=warc_headers,
            http_headers=http,
        )
        writer.write_record(record)
        self.records += 1

    def sync(self) -> tuple[list[str], int]:
        """Flush and fsync; the files written so far and the byte length of the last one."""
        if self._fh is None:
            return list(self.files), 0
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return list(self.files), self._fh.tell()

    def _current(self, date: str) -> WARCWriter:
        if self._fh is not None and self._fh.tell() >= self.max_bytes:
            self.close()
            self._writer = None
        if self._writer is None:
            name = f"{self.prefix}-{len(self.files):05d}.warc.gz"
            self._fh = open(self.directory / name, "wb")  # noqa: SIM115 - closed in close()
            self._writer = WARCWriter(self._fh, gzip=True)
            info = self._writer.create_warcinfo_record(name, {"software": "replica crawl"})
            info.rec_headers.replace_header("WARC-Date", date)
            info.rec_headers.replace_header(
                "WARC-Record-ID", record_id(name, 0, "warcinfo", "", date, b"")
            )
            self._writer.write_record(info)
            self.files.append(name)
            _fsync_dir(self.directory)
        return self._writer

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh = None
        self._writer = None

    def __enter__(self) -> WarcSink:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_capture(cap: Capture) -> None:
    """Raise ``UnsafeRecord`` naming the first part of ``cap`` that would break the record."""
    bad = control_char(cap.url) or ("a space" if any(c.isspace() for c in cap.url) else None)
    if bad or not cap.url:
        raise UnsafeRecord(f"target URI {printable(cap.url, 300)!r} has {bad or 'no text'}")
    values = [("status line", cap.status_line or ""), ("protocol", cap.protocol)]
    values += [
        (f"WARC header {k!r}", v)
        for k, v in [
            *cap.extra_headers.items(),
            ("WARC-Date", cap.date or ""),
            ("Replica-Origin", cap.origin),
            ("Content-Type", cap.content_type or ""),
        ]
    ]
    names = [*cap.extra_headers, *(k for k, _ in cap.http_headers or [])]
    values += [(f"HTTP header {k!r}", v) for k, v in cap.http_headers or []]
    for name in names:
        if not _NAME.fullmatch(name):
            raise UnsafeRecord(f"header name {printable(name, 100)!r} would break the record")
    for where, value in values:
        m = _BAD_VALUE.search(value) or _SURROGATE.search(value)
        if m:
            what = "a lone surrogate" if _SURROGATE.match(m.group()) else "control character"
            raise UnsafeRecord(
                f"{printable(where, 100)} has {what} U+{ord(m.group()):04X}: "
                f"{printable(value, 200)!r}"
            )


def record_id(file: str, offset: int, record_type: str, url: str, date: str, payload: bytes) -> str:
    """A WARC-Record-ID from the record's content and its place in the archive.

    Deterministic (a rerun over the same inputs writes the same ids) and still unique within a
    crawl: two identical captures sit at different offsets.
    """
    digest = hashlib.sha256(payload).hexdigest()
    name = f"{file}\n{offset}\n{record_type}\n{url}\n{date}\n{digest}"
    return f"<urn:uuid:{uuid.uuid5(_RECORD_NS, name)}>"


def _fsync_dir(directory: Path) -> None:
    """Make a new file's directory entry durable (POSIX)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
