"""Undo HTTP content codings (gzip, deflate, br) with limits, so a small body stays small.

The output may never exceed ``max_bytes``, nor ``max_ratio`` times the encoded size once past
``RATIO_FLOOR`` (a few KB of zeros that inflate to a MB are fine; 2.5 KB that inflate to GBs
are a bomb). Decompression is streamed with an output bound, so the limit is hit after at most
``limit + 1`` bytes are produced, never after inflating everything. Lenient like browsers and
warcio: unknown codings pass through, and a body that is not compressed at all although its
header says so is taken as it is; a stream that breaks after it started is an error.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

RATIO_FLOOR = 1 << 20  # outputs up to 1 MiB are never a bomb, whatever the ratio
GZIP = ("gzip", "x-gzip")
KNOWN = (*GZIP, "deflate", "br")


class DecodeError(ValueError):
    """A body could not be decoded within the limits; ``reason`` is the reject code:
    ``too_large``, ``decompression_bomb`` or ``decode_error``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Decoded bytes at most ``max_bytes`` and at most ``max_ratio`` x the encoded size."""

    max_bytes: int
    max_ratio: float


def codings(header: str | None) -> list[str]:
    """The content codings of a ``Content-Encoding`` value, in the order they were applied."""
    items = [c.strip().lower() for c in (header or "").split(",")]
    return [c for c in items if c and c != "identity"]


def decode_content(body: bytes, content_encoding: str | None, limits: Limits) -> bytes:
    """``body`` with its content codings undone (last applied first), within ``limits``."""
    if len(body) > limits.max_bytes:
        raise DecodeError("too_large", f"{len(body)} bytes > {limits.max_bytes}")
    for coding in reversed(codings(content_encoding)):
        if coding in KNOWN:
            body = inflate(body, coding, limits)
    return body


def inflate(data: bytes, coding: str, limits: Limits) -> bytes:
    """Decompress one coding with the output bound of ``limits`` (see the module doc)."""
    bound = min(limits.max_bytes, max(RATIO_FLOOR, int(limits.max_ratio * len(data))))
    if coding == "br":
        out = _brotli(data, bound)
    elif coding in GZIP:
        out = _zlib(data, 32 + zlib.MAX_WBITS, bound, members=True)  # gzip or zlib header
    else:  # deflate: zlib-wrapped as the RFC says, or raw deflate as some servers send it
        try:
            out = _zlib(data, zlib.MAX_WBITS, bound, members=False)
        except _NotCompressed:
            out = _zlib(data, -zlib.MAX_WBITS, bound, members=False)
    if out is None:
        return data
    if len(out) > bound:
        if bound == limits.max_bytes:
            raise DecodeError("too_large", f"{coding} body inflates past {limits.max_bytes} bytes")
        raise DecodeError(
            "decompression_bomb",
            f"{coding} body of {len(data)} bytes inflates past {bound} bytes "
            f"(more than {limits.max_ratio:g}x)",
        )
    return out


class _NotCompressed(Exception):
    """The data failed to decompress before producing any output."""


def _zlib(data: bytes, wbits: int, bound: int, members: bool) -> bytes | None:
    out = bytearray()
    d = zlib.decompressobj(wbits)
    pending = data
    try:
        while len(out) <= bound:
            out += d.decompress(pending, bound - len(out) + 1)
            pending = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data
                if not (members and rest[:2] == b"\x1f\x8b"):
                    return bytes(out)  # trailing bytes after the last member are ignored
                d, pending = zlib.decompressobj(wbits), rest
            elif not pending:
                if len(out) > bound:
                    break  # past the bound already: the caller refuses it
                out += d.flush(bound - len(out) + 1)
                if not d.eof:
                    raise DecodeError("decode_error", "compressed stream ends early")
    except zlib.error as exc:
        if not out and pending is data:
            if wbits == zlib.MAX_WBITS:
                raise _NotCompressed from exc
            return None
        raise DecodeError("decode_error", f"zlib: {exc}") from exc
    return bytes(out)


def _brotli(data: bytes, bound: int) -> bytes | None:
    try:
        import brotli
    except ImportError:
        raise DecodeError("decode_error", "br content coding needs the brotli package") from None
    d = brotli.Decompressor()
    out = bytearray()
    try:
        out += d.process(data, output_buffer_limit=bound + 1)
        while len(out) <= bound and not d.is_finished() and not d.can_accept_more_data():
            out += d.process(b"", output_buffer_limit=bound - len(out) + 1)
    except brotli.error as exc:
        if not out:
            return None
        raise DecodeError("decode_error", f"brotli: {exc}") from exc
    if len(out) <= bound and not d.is_finished():
        raise DecodeError("decode_error", "compressed stream ends early")
    return bytes(out)
