"""URL safety: a URL is stored or fetched only when it cannot forge a header or hide its text.

Refused (``unsafe_url`` names the rule): empty, longer than the limit, any control or
invisible formatting character (C0 incl. CR/LF/NUL, DEL, C1, bidi overrides and isolates,
zero-width characters, line/paragraph separators, unpaired surrogates), whitespace inside,
credentials in the authority (``user:pass@``), a scheme outside the allowed ones, or an
http(s) URL without a valid host and port.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

WEB = ("http", "https")
# Every control, format and separator character (Unicode categories Cc, Cf, Zl, Zp, Cs): C0
# incl. CR/LF/NUL, DEL, C1, soft hyphen, bidi marks/embeddings/overrides/isolates, zero-width
# characters, BOM, interlinear annotations, tags. One class for Python checks and GX regexes.
CONTROL_CHARS = (  # escapes, not the characters: the text stays JSON- and log-safe
    r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f"
)
CONTROL = re.compile(f"[{CONTROL_CHARS}]")
NO_CONTROL_REGEX = f"^[^{CONTROL_CHARS}]*\\Z"  # not "$": it matches before a final newline


def control_char(text: str) -> str | None:
    """The first control or invisible formatting character of ``text`` as ``U+XXXX at i``."""
    m = CONTROL.search(text)
    return f"U+{ord(m.group()):04X} at {m.start()}" if m else None


def unsafe_url(url: str, max_chars: int, schemes: tuple[str, ...] | None = WEB) -> str | None:
    """Why ``url`` must not be fetched or stored, or None when it is safe.

    ``schemes`` None allows any scheme (archived records: ``dns:``, ``urn:``, ...), but the
    characters, length and credentials rules still hold.
    """
    if not url:
        return "empty URL"
    if len(url) > max_chars:
        return f"longer than {max_chars} characters ({len(url)})"
    bad = control_char(url)
    if bad:
        return f"control or invisible character {bad}"
    if any(ch.isspace() for ch in url):
        return "whitespace inside the URL"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL: {exc}"
    scheme = parts.scheme.lower()
    if schemes is not None and scheme not in schemes:
        return f"scheme {scheme or 'none'!r} is not one of {list(schemes)}"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL"
    if scheme in WEB and (not parts.hostname or port == 0):
        return "no host" if not parts.hostname else "port 0"
    return None


def printable(text: str, limit: int = 2000) -> str:
    """``text`` with control/invisible characters escaped (``\\x00``, ``\\u202e``) and userinfo
    removed, cut to ``limit``: safe to store in a reject row or print."""
    from replica.guard.secrets import strip_userinfo

    out = CONTROL.sub(_escape, strip_userinfo(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
