"""Fuzz the URL rule and the bounded decoder: a URL judged safe is written into and read back
from a WARC header unchanged; decoding any bytes under any coding ends within the limits or
in a ``DecodeError``."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator

from replica.crawl.records import Capture
from replica.crawl.warc import WarcSink
from replica.guard.decode import DecodeError, Limits, decode_content
from replica.guard.urls import unsafe_url
from tests.fuzz._profiles import PROFILES, fuzz, url_text

LIMITS = Limits(max_bytes=50_000, max_ratio=20.0)


def url_round_trip(url: str) -> str:
    why = unsafe_url(url, 200)
    if why is not None:
        return "unsafe"
    with TemporaryDirectory() as tmp:
        with WarcSink(Path(tmp)) as sink:
            sink.write(Capture(url, b"x", http_headers=[("Content-Type", "text/html")]))
        [path] = Path(tmp).glob("*.warc.gz")
        with open(path, "rb") as fh:
            uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)]
    assert uris[1:] == [url]
    return "safe"


@st.composite
def encoded(draw: st.DrawFn) -> tuple[bytes, str]:
    body = draw(st.one_of(st.binary(max_size=300), st.integers(0, 200_000).map(bytes)))
    coding = draw(st.sampled_from(["gzip", "deflate", "br", "gzip, gzip", "identity", "x"]))
    if coding.startswith("gzip"):
        body = gzip.compress(body)
    elif coding == "deflate":
        body = zlib.compress(body)
    if draw(st.booleans()) and body:
        body = body[: draw(st.integers(0, len(body)))]
    return body, coding


def decode(args: tuple[bytes, str]) -> str:
    body, coding = args
    try:
        out = decode_content(body, coding, LIMITS)
    except DecodeError as exc:
        return f"reject:{exc.reason}"
    assert len(out) <= LIMITS.max_bytes
    return "output"


@pytest.mark.parametrize("profile", PROFILES)
def test_a_safe_url_is_a_well_formed_target_uri(profile) -> None:
    fuzz(profile, "url", url_text, url_round_trip)


@pytest.mark.parametrize("profile", PROFILES)
def test_any_body_decodes_within_limits_or_is_refused(profile) -> None:
    fuzz(profile, "decode", encoded(), decode)
