"""Fuzz the WARC readers: hand-built records with hostile URIs, headers, encodings and bodies,
then cut, flipped or spliced. Crawl and extract must turn every input into captures or counted
rejects, the WARC the crawl writes must read back whole, and extract's rows must satisfy the
contracts they are written through."""

from __future__ import annotations

import gzip
import zlib
from io import BytesIO
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator

from replica.config import ExtractConfig
from replica.contracts import ARTICLES, IMAGES, REJECTS
from replica.crawl.records import Capture, Reject
from replica.crawl.warc import RecordLimits, UnsafeRecord, WarcSink, read_stream
from replica.extract.records import read_warc
from replica.extract.run import analyse, combine
from tests.fuzz._profiles import PROFILES, fuzz, hostile_text, url_text

LIMITS = RecordLimits(max_bytes=200_000, max_url_chars=300)
CFG = ExtractConfig(min_text_chars=20, max_record_bytes=200_000, max_html_bytes=100_000)
HTML = b"<html><head><title>T</title></head><body><article><p>" + b"Words here. " * 30
HTML += b'</p><img src="/i.png" alt="x"></article></body></html>'


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """One WARC record, serialized by hand so any header text can get in."""
    uri = draw(url_text)
    body = draw(st.one_of(st.just(HTML), st.binary(max_size=300)))
    coding = draw(st.sampled_from(["", "gzip", "deflate", "br", "bogus"]))
    if coding == "gzip":
        body = gzip.compress(body)
    elif coding == "deflate":
        body = zlib.compress(body)
    headers = [("Content-Type", draw(st.sampled_from(["text/html", "image/png", "", "x/y"])))]
    if coding:
        headers.append(("Content-Encoding", coding))
    if draw(st.booleans()):
        headers.append(("Content-Length", str(len(body) + draw(st.integers(-5, 5)))))
    headers += draw(st.lists(st.tuples(hostile_text, hostile_text), max_size=2))
    if draw(st.booleans()):
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:7], body[7:]) if c)
        body += b"0\r\n\r\n"
        headers.append(("Transfer-Encoding", "chunked"))
    status = draw(st.sampled_from(["200 OK", "404 Not Found", "200 OK\rX: y", "abc"]))
    http = _enc(f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers))
    block = http + b"\r\n" + body
    rtype = draw(st.sampled_from(["response", "response", "resource", "request", "warcinfo"]))
    declared = len(block) + draw(st.sampled_from([0, 0, 0, -3, 10]))
    head = _enc(
        f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:{draw(hostile_text)}>\r\n"
        f"WARC-Target-URI: {uri}\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    raw = head + block + b"\r\n\r\n"
    return gzip.compress(raw) if draw(st.booleans()) else raw


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    data = b"".join(draw(st.lists(records(), min_size=1, max_size=4)))
    cut = draw(st.sampled_from(["whole", "truncate", "flip", "splice"]))
    if cut == "truncate" and data:
        data = data[: draw(st.integers(0, len(data)))]
    elif cut == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif cut == "splice":
        i = draw(st.integers(0, len(data)))
        data = data[:i] + draw(st.binary(max_size=40)) + data[i:]
    return data


def crawl_reads(data: bytes) -> str:
    items = list(read_stream(BytesIO(data), "fuzz.warc", LIMITS))
    assert all(isinstance(i, Capture | Reject) for i in items)
    written = 0
    with TemporaryDirectory() as tmp:
        with WarcSink(Path(tmp)) as sink:
            for cap in (i for i in items if isinstance(i, Capture)):
                try:
                    sink.write(cap)
                    written += 1
                except UnsafeRecord:
                    pass
        again = []
        for path in Path(tmp).glob("*.warc.gz"):
            with open(path, "rb") as fh:  # what the crawl wrote is whole and well-formed
                again += [r.rec_type for r in ArchiveIterator(fh)]
            again += [
                getattr(i, "reason", "ok")
                for i in read_stream(open(path, "rb"), "again", LIMITS)  # noqa: SIM115
                if not isinstance(i, Capture)
            ]
    assert again.count("response") + again.count("resource") == written
    assert "warc_unreadable" not in again and "truncated_record" not in again
    rejects = sorted({i.reason for i in items if isinstance(i, Reject)})
    return "reject:" + "+".join(rejects) if rejects else "output"


def extract_reads(data: bytes) -> str:
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.warc"
        path.write_bytes(data)
        parts = [analyse(r, CFG) for r in read_warc(path, CFG)]
    result = combine(parts, CFG)
    ARTICLES.conform(result.articles)  # what the step writes satisfies the contracts
    IMAGES.conform(result.images)
    REJECTS.conform(result.rejects)
    assert result.rows_in == len(parts)
    reasons = sorted({r["reason"] for r in result.rejects})
    return ("reject:" + "+".join(reasons)) if reasons else "output"


@pytest.mark.parametrize("profile", PROFILES)
def test_crawl_reads_any_archive_into_captures_or_rejects(profile) -> None:
    fuzz(profile, "warc.crawl", archives(), crawl_reads)


@pytest.mark.parametrize("profile", PROFILES)
def test_extract_reads_any_archive_into_rows_or_rejects(profile) -> None:
    fuzz(profile, "warc.extract", archives(), extract_reads)
