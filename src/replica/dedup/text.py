"""Text fingerprints: normalization, words, boilerplate lines, shingles and one-permutation
MinHash, vectorized over a whole batch.

What "the same text" means (``words`` is the reference the numpy tokenizer agrees with):

1. HTML entities are decoded (``&#8217;`` is an apostrophe, not the word "8217");
2. soft hyphens, zero-width and other invisible format characters are removed, so a word they
   split stays one word;
3. words are runs of letters and digits; a CJK ideograph or kana is a word of its own (those
   scripts have no spaces); punctuation and symbols separate words;
4. each word is NFKC-normalized and case-folded (a fullwidth H and ``h`` match; ``Straße``
   is ``strasse``);
5. boilerplate lines are dropped: a fixed list (bylines, share and follow prompts, cookie
   notices, photo credits, copyright lines...) and the lines a source repeats across its pages
   (learned per source, see ``boilerplate``).

The batch path works on the UTF-8 bytes of an Arrow string array (no Python string per text):
byte-class lookup tables find words and lines, every word, line, shingle and signature is hashed
with numpy, and only the rare non-ASCII words (once per distinct word) and candidate
boilerplate lines go through Python.

MinHash is one-permutation hashing with optimal densification (Li et al. 2012; Shrivastava
2017): each shingle is hashed once and lands in one of ``num_perm`` bins, a bin keeps its
minimum, and empty bins borrow from a pseudo-random non-empty bin chosen by the bin number only
(so equal sets get equal signatures). The fraction of equal bins estimates the Jaccard
similarity like classic ``num_perm``-permutation MinHash does.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from replica.dedup import kernels

EMPTY = np.uint32(0xFFFFFFFF)  # an empty MinHash bin; real values are at most EMPTY - 1

# Whole lines that are page furniture rather than story, matched after NFKC and case folding.
BOILERPLATE = re.compile(
    r"(?:"
    r"by [^\n.!?]{1,60}"
    r"|(?:share|tweet|email|e-mail|print|comment|comments)(?: (?:this|the) "
    r"(?:article|story|page|post))?(?: (?:on|via) [a-z ]{1,30})?(?: \(\d+\))?"
    r"|share (?:this|the) (?:article|story|page|post)[^\n]{0,40}"
    r"|(?:share on|follow (?:us|me) on) [^\n]{1,60}"
    r"|(?:sign up|subscribe)[^\n.!?]{0,80}"
    r"|(?:read more|related|see also|advertisement|sponsored|most read|trending now"
    r"|more stories|recommended)[^\n]{0,80}"
    r"|(?:photo|image|picture|credit|video)s?: [^\n]{1,80}"
    r"|(?:copyright|©)[^\n]{0,120}|[^\n]{0,80}all rights reserved\.?"
    r"|(?:updated|published|posted|last modified)(?: on)?:? [^\n.!?]{1,40}"
    r"|\d{1,3} min(?:ute)?s? read|listen to this (?:article|story)[^\n]{0,40}"
    r"|(?:we|this (?:web)?site|our site) uses? cookies[^\n]{0,300}"
    r"|(?:accept|reject|manage) (?:all )?cookies[^\n]{0,80}|cookie (?:settings|policy|preferences)"
    r"|skip to (?:main )?content|back to top|advertisement|\d{1,2}:\d{2} (?:am|pm)(?: [a-z]{2,4})?"
    r")",
)
# The first word of every line BOILERPLATE can match (a line starting with a digit or with "©"
# is also checked): the cheap filter that keeps the regex off ordinary story lines.
_TRIGGERS = [
    "by",
    "share",
    "tweet",
    "email",
    "e",
    "print",
    "comment",
    "comments",
    "follow",
    "sign",
    "subscribe",
    "read",
    "related",
    "see",
    "advertisement",
    "sponsored",
    "most",
    "trending",
    "more",
    "recommended",
    "photo",
    "photos",
    "image",
    "images",
    "picture",
    "pictures",
    "credit",
    "credits",
    "video",
    "videos",
    "copyright",
    "all",
    "updated",
    "published",
    "posted",
    "last",
    "listen",
    "we",
    "this",
    "our",
    "accept",
    "reject",
    "manage",
    "cookie",
    "skip",
    "back",
]

# --- byte classes (UTF-8) ----------------------------------------------------------------------
_NEWLINE = np.zeros(256, dtype=bool)
_NEWLINE[[0x0A, 0x0D]] = True
_SPECIAL = np.zeros(256, dtype=bool)  # lead bytes of sequences the rules above single out
_SPECIAL[[0xC2, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEF]] = True

# U+0080-U+00BF: separators, except those NFKC turns into letters or digits (ª ² ³ µ ¹ º ¼ ½ ¾)
_C2_WORD = np.zeros(64, dtype=bool)
_C2_WORD[[0x2A, 0x32, 0x33, 0x35, 0x39, 0x3A, 0x3C, 0x3D, 0x3E]] = True
# U+FF00-U+FF7F (fullwidth forms): letters, digits and halfwidth katakana are word characters
_FF_WORD = np.zeros(128, dtype=bool)
for _a, _b in ((0x10, 0x19), (0x21, 0x3A), (0x41, 0x5A), (0x66, 0x7F)):
    _FF_WORD[_a : _b + 1] = True
# invisible format characters removed before tokenizing: U+200B-U+200F, U+202A-U+202E,
# U+2060-U+2064, U+2066-U+206F (3 bytes after E2), plus U+00AD and U+FEFF below
_E2_DELETE = np.zeros(1 << 12, dtype=bool)
for _a, _b in ((0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F)):
    _E2_DELETE[_a - 0x2000 : _b - 0x2000 + 1] = True

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
_NEWLINE_ENTITY = re.compile(r"&(?:#0*1[03]|#[xX]0*[aAdD]|NewLine);?")
# the reference tokenizer: one CJK character, or a run of other word characters
_TOKEN = re.compile(
    "[\u3040-\u9fff]"
    "|[0-9A-Za-z\u00aa\u00b2\u00b3\u00b5\u00b9\u00ba\u00bc-\u00be\u00c0-\u1fff"
    "\ua000-\ufefe\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\U0010ffff]+"
)
_WORD_CHARS = re.compile(
    "[0-9a-z\u00aa\u00b2\u00b3\u00b5\u00b9\u00ba\u00bc-\u00be\u00c0-\u1fff\u3040-\U0010ffff]+"
)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on a uint64 array: a fast bijection with full avalanche."""
    x = x ^ (x >> np.uint64(30))  # a fresh array: the in-place steps below never touch input
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


# --- the reference (one text at a time, plain Python) -------------------------------------------


def decode_entities(text: str) -> str:
    """HTML entities decoded; an entity for a line break becomes a space (lines stay lines)."""
    if "&" not in text:
        return text
    return html.unescape(_NEWLINE_ENTITY.sub(" ", text))


def _fold(token: str) -> str:
    """NFKC, case folding, then only word characters (a folded token is one word)."""
    if token.isascii():
        return token.lower()
    return "".join(_WORD_CHARS.findall(unicodedata.normalize("NFKC", token).casefold()))


def is_boilerplate_line(line: str) -> bool:
    """Whether a whole line is fixed-list page furniture (see ``BOILERPLATE``)."""
    return BOILERPLATE.fullmatch(unicodedata.normalize("NFKC", line).casefold().strip()) is not None


def words(text: str) -> list[str]:
    """The words of a text after normalization, fixed-list boilerplate lines dropped."""
    text = _INVISIBLE.sub("", decode_entities(text))
    out: list[str] = []
    for line in text.replace("\r", "\n").split("\n"):
        pairs = [(t, f) for t in _TOKEN.findall(line) if (f := _fold(t))]
        if (
            pairs
            and len(line.encode()) <= _MAX_BOILERPLATE_LINE
            and _is_candidate(*pairs[0], line)
            and is_boilerplate_line(line)
        ):
            continue
        out += [f for _, f in pairs]
    return out


def _is_candidate(token: str, folded: str, line: str) -> bool:
    """Whether a line may be fixed-list boilerplate: its first word is a trigger, starts with
    an ASCII digit, or the line starts with "©" (the batch path applies the same filter)."""
    return folded in _TRIGGER_SET or token[0] in "0123456789" or line.startswith("©")


_TRIGGER_SET = frozenset(_TRIGGERS)
_MAX_BOILERPLATE_LINE = 400  # bytes: no fixed-list line is longer


def normalize(text: str) -> str:
    """Words of the normalized text separated by single spaces."""
    return " ".join(words(text))


def shingles(text: str, size: int) -> set[bytes]:
    """Word ``size``-grams of the normalized text (the whole text when it is shorter)."""
    w = words(text)
    if len(w) <= size:
        return {" ".join(w).encode()} if w else set()
    return {" ".join(w[i : i + size]).encode() for i in range(len(w) - size + 1)}


def text_hash(text: str) -> int:
    """64-bit hash of the word sequence of the normalized text (exact duplicates share it)."""
    return int(fingerprint([text], 1, 1, 0).exact[0])


# --- the batch path --------------------------------------------------------------------------


def _arrow_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes of all texts back to back, int64 offsets[n + 1]); nulls are empty."""
    if texts.null_count:
        texts = texts.fill_null("")
    if pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type):
        wide = pa.types.is_large_string(texts.type)
        bufs = texts.buffers()
        off = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)
        off = off[texts.offset : texts.offset + len(texts) + 1].astype(np.int64)
        data = (
            np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
        )
        return data[off[0] : off[-1]], off - off[0]
    raise TypeError(f"texts must be an Arrow string array, got {texts.type}")


def _decode_entities_at(
    data: np.ndarray, off: np.ndarray, amp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bytes and offsets with HTML entities decoded (``decode_entities``) around the '&' at
    ``amp``, and the (sorted) texts that changed.

    Decoding is local to the span from each '&' up to the next byte no entity holds (tab,
    line feed, form feed, space, '<', '&' or ';', that ';' included): every match of
    ``html.unescape`` and of the line-break entities lies inside one such span, so decoding
    each span decodes the text. Each distinct span is decoded in Python once per process."""
    start = amp
    end = kernels.entity_spans(data, off, amp)
    keys = kernels.span_keys(data, start, end)
    uniq, first, which = np.unique(keys, return_index=True, return_inverse=True)
    raw = memoryview(data.data)
    new: list[bytes] = []
    same = np.zeros(len(uniq), dtype=bool)
    for u, (key, k) in enumerate(zip(uniq.tolist(), first.tolist(), strict=True)):
        got = _SPAN_DECODED.get(key)
        if got is None:
            span = bytes(raw[start[k] : end[k]])
            out = decode_entities(span.decode("utf-8", errors="replace")).encode()
            got = _SPAN_DECODED[key] = None if out == span else out
        same[u] = got is None
        new.append(b"" if got is None else got)
    if same.all():
        return data, off, np.zeros(0, np.int64)
    if len(_SPAN_DECODED) > _SPAN_DECODED_MAX:
        _SPAN_DECODED.clear()
    keep = ~same[which]  # spans that decode to themselves stay as they are
    start, end, which = start[keep], end[keep], which[keep]
    lens = np.array([len(x) for x in new], dtype=np.int64)
    buf = np.frombuffer(b"".join(new), dtype=np.uint8)
    decoded, moved = kernels.replace_spans(
        data, off, start, end, buf, np.concatenate([[0], np.cumsum(lens)]), which
    )
    return decoded, moved, sorted_unique(np.searchsorted(off, start, side="right") - 1)


_SPAN_DECODED: dict[int, bytes | None] = {}  # span hash -> decoded bytes (None: unchanged)
_SPAN_DECODED_MAX = 200_000


def _invisible(data: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """Sorted byte positions of soft hyphens, zero-width and bidi format characters and byte
    order marks (from the positions ``lead`` of special lead bytes)."""
    return kernels.invisible(data, lead, _E2_DELETE)


def _scan(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bytes with entities decoded, offsets and positions of hot bytes once the invisible
    characters are removed, the sorted positions of those characters' bytes): one scan of all
    bytes for the rare ones that matter. The bytes themselves are dropped while lower-casing
    (``kernels.lower_and_word``)."""
    data, off = _arrow_bytes(texts)
    hot = _hot(data)
    amp = hot[data[hot] == 0x26]
    if amp.size:
        decoded, new_off, changed = _decode_entities_at(data, off, amp)
        if changed.size:  # only the rewritten texts are scanned again
            hot = kernels.splice_positions(hot, off, decoded, new_off, changed)
        data, off = decoded, new_off
    gone = _invisible(data, hot[_SPECIAL[data[hot]]])
    if gone.size:  # the hot bytes that stay move left past the removed ones
        off = off - np.searchsorted(gone, off)
        hot = kernels.drop_positions(hot, gone)
    return data, off, hot, gone


_U8 = np.uint8


def _hot(data: np.ndarray) -> np.ndarray:
    """Positions of the bytes that need a closer look: control bytes (line breaks), '&', and
    lead bytes of multi-byte characters from U+0080 on (byte comparisons, no lookup table)."""
    return kernels.hot_positions(data)


@dataclass(frozen=True)
class Tokens:
    """Words and lines of a batch of texts, positions into ``body`` (its normalized bytes)."""

    body: np.ndarray  # uint8: the UTF-8 bytes, invisible characters removed, ASCII lowered
    offsets: np.ndarray  # int64[n + 1]: where each text starts in ``body``
    start: np.ndarray  # int64[w]: first byte of each word
    end: np.ndarray  # int64[w]
    hash: np.ndarray  # uint64[w]: hash of the folded word
    doc: np.ndarray  # int64[w]: text of each word
    line: np.ndarray  # int64[w]: line of each word (global line number)
    line_start: np.ndarray  # int64[l]: first byte of each line
    line_doc: np.ndarray  # int64[l]: text of each line
    valid: np.ndarray  # bool[w]: False for a word that folds to nothing

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1


def _classify_special(
    body: np.ndarray, word: np.ndarray, lead: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The word mask (``word``: ASCII letters and digits and every non-ASCII byte, corrected
    here in place for multi-byte characters), and the starts of CJK characters (``lead``:
    positions of special lead bytes)."""
    if not lead.size:
        return word, lead
    pad = np.concatenate([body, np.zeros(2, np.uint8)])
    b0, b1, b2 = pad[lead], pad[lead + 1], pad[lead + 2]
    c2 = b0 == 0xC2
    sep2 = c2 & ~_C2_WORD[b1 & 0x3F]
    sep3 = (b0 == 0xE2) | ((b0 == 0xE3) & (b1 == 0x80))
    ff = (b0 == 0xEF) & ((b1 == 0xBC) | (b1 == 0xBD))
    ff_cp = ((b1.astype(np.int64) & 0x01) << 6) | (b2.astype(np.int64) & 0x3F)
    sep3 |= ff & ~_FF_WORD[ff_cp]
    cjk = (b0 >= 0xE3) & (b0 <= 0xE9) & ~sep3
    for k in range(2):
        word[lead[sep2] + k] = False
    for k in range(3):
        word[np.minimum(lead[sep3] + k, len(body) - 1)] = False
    return word, lead[cjk]


# odd multipliers, one per chunk position (mod 64): chunks are combined multilinearly
_MULT = mix64(np.arange(1, 65, dtype=np.uint64) * _GOLD) | np.uint64(1)


def _hash_spans(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """uint64 hash of every byte span ``buf[starts:ends]`` (see ``_hash_spans_high``)."""
    return _hash_spans_high(buf, starts, ends)[0]


def _hash_spans_high(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """uint64 hash of every byte span ``buf[starts:ends]``, and whether it holds a non-ASCII
    byte: its 8-byte little-endian chunks times a random odd multiplier per chunk position
    (chunks after the first folded: ``t ^ t >> 29``), summed, then mixed with the length.
    Most words are one chunk: one multiply and one mix."""
    padded = np.concatenate([np.zeros(8, np.uint8), buf, np.zeros(8, np.uint8)])
    win = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded.data, strides=(1,))
    return kernels.hash_spans(win, starts, ends, _MULT)


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort and a compare: faster than ``np.unique`` on big arrays)."""
    a = np.sort(a)
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _owner(first_of: np.ndarray, n_items: int) -> np.ndarray:
    """Group of every item, given the first item of each group (sorted; empty groups allowed)."""
    counts = np.diff(np.append(first_of, n_items))
    return np.repeat(np.arange(len(first_of), dtype=np.int64), counts)


def tokenize(texts: pa.Array | list[str]) -> Tokens:
    """Words and lines of every text of the batch (see the module docstring for the rules)."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    data, off, hot, gone = _scan(texts)
    body, word = kernels.lower_and_word(data, gone)  # ASCII lower-cased; word-character bytes
    hot_bytes = body[hot]
    word, cjk = _classify_special(body, word, hot[_SPECIAL[hot_bytes]])
    # word runs, cut at every text start and on both sides of every CJK character
    cuts = sorted_unique(np.concatenate([off, cjk, cjk + 3])) if cjk.size else off
    start, end = kernels.runs(word, cuts)
    doc = _owner(np.searchsorted(start, off[:-1]), len(start))
    breaks = hot[_NEWLINE[hot_bytes]] + 1
    line_start = sorted_unique(np.concatenate([off[:-1], breaks]))
    line_start = line_start[line_start <= len(body)]
    line = _owner(np.searchsorted(start, line_start), len(start))
    line_doc = _line_text(off, line_start)
    h, has_high = _hash_spans_high(body, start, end)
    valid = np.ones(len(start), dtype=bool)
    _fold_non_ascii(body, start, end, h, valid, np.flatnonzero(has_high))
    return Tokens(body, off, start, end, h, doc, line, line_start, line_doc, valid)


_FOLD_CACHE_MAX = 2_000_000  # distinct words remembered per process before starting over


def _fold_non_ascii(
    body: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    h: np.ndarray,
    valid: np.ndarray,
    w: np.ndarray,
) -> None:
    """Re-hash (in place) the words ``w`` (those with non-ASCII bytes) after NFKC and case
    folding, once per distinct word (remembered across batches of this process); a word that
    folds to nothing is marked invalid."""
    if not w.size:
        return
    cache, gone = _fold_cache()
    missed = kernels.fold_apply(h, valid, w, cache, gone)
    if missed.size:  # words new to this process: folded in Python, once per distinct hash
        _, first = np.unique(h[missed], return_index=True)
        miss = missed[first]
        raw = body.tobytes()
        folded_hash = h[miss].copy()
        empty = np.zeros(len(miss), dtype=bool)
        todo_words: list[bytes] = []
        todo_at: list[int] = []
        for k, i in enumerate(miss.tolist()):
            token = raw[start[i] : end[i]].decode("utf-8", errors="replace")
            folded = _fold(token)
            if not folded:
                empty[k] = True
            elif folded != token:
                todo_words.append(folded.encode())
                todo_at.append(k)
        if todo_words:
            buf = np.frombuffer(b"".join(todo_words), dtype=np.uint8)
            lens = np.array([len(x) for x in todo_words], dtype=np.int64)
            ends = np.cumsum(lens)
            folded_hash[np.array(todo_at)] = _hash_spans(buf, ends - lens, ends)
        kernels.fold_store(cache, gone, h[miss], folded_hash, empty)
        kernels.fold_apply(h, valid, missed, cache, gone)


_FOLD_CACHES: list[Any] = []  # this process's raw word hash -> folded hash, and the words
# that fold to nothing (numba typed dicts)


def _fold_cache() -> tuple[Any, Any]:
    if not _FOLD_CACHES or len(_FOLD_CACHES[0]) + len(_FOLD_CACHES[1]) > _FOLD_CACHE_MAX:
        from numba import types
        from numba.typed import Dict

        _FOLD_CACHES[:] = [
            Dict.empty(types.uint64, types.uint64),
            Dict.empty(types.uint64, types.boolean),
        ]
    return _FOLD_CACHES[0], _FOLD_CACHES[1]


def fixed_boilerplate_lines(tok: Tokens) -> np.ndarray:
    """bool[l]: lines the fixed list calls boilerplate (checked only where the first word, a
    leading digit or "©" makes it possible; each distinct line once per process)."""
    n_lines = len(tok.line_start)
    out = np.zeros(n_lines, dtype=bool)
    if not len(tok.start):
        return out
    first = kernels.first_words(tok.line, tok.valid, n_lines)
    lines = np.flatnonzero(first >= 0)
    first_word = first[lines]
    lead = tok.body[tok.start[first_word]]
    cand = np.isin(tok.hash[first_word], _trigger_hashes()) | ((lead >= 0x30) & (lead <= 0x39))
    ls = tok.line_start[lines]
    after = tok.body[np.minimum(ls + 1, len(tok.body) - 1)]
    cand |= (tok.body[ls] == 0xC2) & (after == 0xA9) & (ls + 1 < len(tok.body))
    ends = np.append(tok.line_start[1:], len(tok.body))
    lines = lines[cand]
    nl = _NEWLINE[tok.body[np.maximum(ends[lines] - 1, 0)]] & (ends[lines] > tok.line_start[lines])
    lines = lines[ends[lines] - nl - tok.line_start[lines] <= _MAX_BOILERPLATE_LINE]
    out[lines] = _line_verdicts(tok.body, tok.line_start[lines], ends[lines])
    return out


def _line_verdicts(body: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``is_boilerplate_line`` of each line ``body[start[k]:end[k]]``: looked up by the key of
    its bytes among the lines this process has seen (sorted keys, one search for all), and
    decided in Python only for the distinct new ones."""
    keys = kernels.span_keys(body, start, end)
    known, verdict = _LINE_VERDICTS
    if len(known) > _LINE_VERDICTS_MAX:  # start over: this batch's lines are decided anew
        known, verdict = known[:0], verdict[:0]
    if not len(keys):
        return np.zeros(0, dtype=bool)
    pos = np.minimum(np.searchsorted(known, keys), max(len(known) - 1, 0))
    seen = known[pos] == keys if len(known) else np.zeros(len(keys), dtype=bool)
    if not seen.all():
        new, first = np.unique(keys[~seen], return_index=True)
        at = np.flatnonzero(~seen)[first]
        raw = memoryview(body.data)
        says = [
            is_boilerplate_line(bytes(raw[lo:hi]).decode("utf-8", errors="replace"))
            for lo, hi in zip(start[at].tolist(), end[at].tolist(), strict=True)
        ]
        known = np.concatenate([known, new])
        verdict = np.concatenate([verdict, np.array(says, dtype=bool)])
        order = np.argsort(known)
        known, verdict = known[order], verdict[order]
        _LINE_VERDICTS[:] = [known, verdict]
        pos = np.searchsorted(known, keys)
    return verdict[pos]


# candidate lines this process has decided: sorted 64-bit keys of their (lower-cased) bytes,
# and the fixed-list verdict of each
_LINE_VERDICTS: list[np.ndarray] = [np.zeros(0, np.uint64), np.zeros(0, dtype=bool)]
_LINE_VERDICTS_MAX = 200_000


_TRIGGER_CACHE: list[np.ndarray] = []


def _trigger_hashes() -> np.ndarray:
    if not _TRIGGER_CACHE:
        buf = np.frombuffer(" ".join(_TRIGGERS).encode(), dtype=np.uint8)
        lens = np.array([len(t) for t in _TRIGGERS], dtype=np.int64)
        starts = np.cumsum(lens + 1) - lens - 1
        _TRIGGER_CACHE.append(np.sort(_hash_spans(buf, starts, starts + lens)))
    return _TRIGGER_CACHE[0]


def line_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text index, hash, length in bytes) of every line of the raw texts, in the order
    ``tokenize`` numbers lines: the identity under which a source's repeated lines are learned
    (the bytes as stored, without the line break). Decoding never adds or removes a line
    break, so line ``k`` here is line ``k`` of the tokenized batch.

    A line of up to 64 bytes is hashed whole; a longer one by its length and 8 bytes at each
    of 8 evenly spaced places (a sample: lines are counted, not compared, and two different
    lines of one source sharing length and all 64 sampled bytes do not occur in practice)."""
    data, off = _arrow_bytes(texts)
    n = len(data)
    starts = _line_starts(data, off)
    ends = np.append(starts[1:], n)
    if n:
        last = data[np.maximum(ends - 1, 0)]
        ends -= ((last == 0x0A) | (last == 0x0D)) & (ends > starts)
    doc = _line_text(off, starts)
    lens = ends - starts
    return doc, kernels.line_hashes(data, starts, lens, _MULT, _MASKS, _LINE_SAMPLES), lens


_LINE_SAMPLES = 8


def _line_text(off: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The text of each line start. The empty line after a last text's final line break (or
    the only line of an empty last text) starts at the end of the bytes: it is the last
    text's, not a text past the end."""
    return np.minimum(np.searchsorted(off, starts, side="right") - 1, len(off) - 2)


def _line_starts(data: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Where every line starts: every text start and the byte after every line break."""
    low = np.flatnonzero(data <= _U8(0x0D))
    breaks = low[(data[low] == 0x0A) | (data[low] == 0x0D)] + 1
    starts = sorted_unique(np.concatenate([off[:-1], breaks]))
    return starts[starts <= len(data)]


@dataclass(frozen=True)
class Fingerprints:
    """Per text of a batch: exact hash of the normalized text, word counts and MinHash."""

    exact: np.ndarray  # uint64[n]: order-sensitive hash of the normalized word sequence
    n_words: np.ndarray  # int64[n]: words kept; 0 means nothing left after normalization
    n_raw_words: np.ndarray  # int64[n]: words before boilerplate lines were dropped
    signature: np.ndarray  # uint32[n, num_perm]; all EMPTY when n_words == 0
    sentence_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    sentence_doc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def boilerplate_share(self) -> np.ndarray:
        """Share of each text's words that were boilerplate lines (0 when none)."""
        return 1.0 - self.n_words / np.maximum(self.n_raw_words, 1)


def fingerprint(
    texts: pa.Array | list[str],
    shingle_size: int,
    num_perm: int,
    seed: int,
    drop_lines: np.ndarray | None = None,
    sentence_words: int = 0,
) -> Fingerprints:
    """Exact hashes and MinHash signatures of a batch of texts (numpy over the whole batch).

    ``drop_lines`` (bool per line, in ``line_hashes`` order) marks learned boilerplate lines to
    drop as well; a text is never emptied by learned lines alone. With ``sentence_words``, also
    a key per sentence of at least that many words (its word sequence; a sentence ends at
    ``.``, ``!``, ``?`` or a line break): texts sharing one verbatim become candidates however
    little else they share.
    """
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    n = len(texts)
    if n == 0:
        z = np.zeros(0, np.int64)
        return Fingerprints(np.zeros(0, np.uint64), z, z, np.zeros((0, num_perm), np.uint32))
    # 1. words and lines
    tok = tokenize(texts)
    # 2. boilerplate lines: the fixed list, and the learned ones (never all of a text)
    boiler = fixed_boilerplate_lines(tok)
    if drop_lines is not None and drop_lines.any():
        if len(drop_lines) != len(tok.line_start):
            raise ValueError(
                f"drop_lines has {len(drop_lines)} flags for {len(tok.line_start)} lines"
            )
        boiler = boiler | drop_lines
    word_ok, n_raw, n_words = kernels.kept_words(tok.valid, boiler, tok.line, tok.doc, n)
    if drop_lines is not None and drop_lines.any():
        emptied = (n_words == 0) & (n_raw > 0)
        if emptied.any():  # learned lines would empty these texts: apply the fixed list only
            fixed = tok.valid & ~fixed_boilerplate_lines(tok)[tok.line]
            word_ok = np.where(emptied[tok.doc], fixed, word_ok)
            n_words = np.bincount(tok.doc[word_ok], minlength=n).astype(np.int64)
    word_hash = tok.hash[word_ok]
    # 3. the exact hash, shingles (``shingle_size`` consecutive words of one text, or all of a
    # shorter text) and one-permutation MinHash with optimal densification, text by text
    exact, sig = _signatures(word_hash, n_words, shingle_size, num_perm, seed)
    fp = Fingerprints(exact=exact, n_words=n_words, n_raw_words=n_raw, signature=sig)
    if sentence_words > 0:
        key, doc = _sentence_keys(tok, word_ok, sentence_words)
        fp = Fingerprints(exact, n_words, n_raw, sig, key, doc)
    return fp


def _sentence_keys(
    tok: Tokens, word_ok: np.ndarray, min_words: int
) -> tuple[np.ndarray, np.ndarray]:
    """(key, text) of every sentence with at least ``min_words`` kept words. A sentence is a
    run of words with the same count of stops (``.``, ``!``, ``?``) and line breaks before
    them (the sum only ever groups words, so a stop that also starts a line may count twice);
    its key mixes each word's hash times a multiplier for its position (mod 64), the position
    itself, and the word count."""
    return kernels.sentence_keys(
        tok.body, tok.start, tok.end, tok.line, tok.hash, tok.doc, word_ok, _MULT, min_words,
    )  # fmt: skip


def clean_texts(texts: pa.Array | list[str], drop_lines: np.ndarray | None = None) -> list[str]:
    """Each text without its boilerplate lines (fixed list, and ``drop_lines`` as in
    ``fingerprint``), entities decoded, invisible characters removed, ASCII lower-cased: what
    the second pass shows the embedding model."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    tok = tokenize(texts)
    boiler = fixed_boilerplate_lines(tok)
    if drop_lines is not None and len(drop_lines) == len(boiler):
        boiler |= drop_lines
    ends = np.append(tok.line_start[1:], len(tok.body))
    raw = tok.body.tobytes()
    parts: list[list[bytes]] = [[] for _ in range(tok.n_docs)]
    for li in np.flatnonzero(~boiler).tolist():
        line = raw[tok.line_start[li] : ends[li]].strip()
        if line:
            parts[tok.line_doc[li]].append(line)
    return [b"\n".join(p).decode("utf-8", errors="replace") for p in parts]


def _signatures(
    word_hash: np.ndarray, n_words: np.ndarray, k: int, num_perm: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(exact hash, MinHash signature) of each text, its words back to back in ``word_hash``.

    The exact hash is order-sensitive: the sum of each word's hash times a multiplier for its
    position (mod 64), xor the position, mixed with the word count. Shingles are the
    polynomial hash (FNV prime) of ``k`` consecutive words, mixed with the seed; each lands in
    bin ``hash >> 32 mod num_perm``, the bin keeps the minimum of its low 32 bits, and empty
    bins are densified (``kernels.signatures``). A text with no words keeps an all-EMPTY row."""
    seed_mix = mix64(np.array([seed], dtype=np.uint64) + _GOLD)[0]
    salt = mix64(np.array([seed + 1], dtype=np.uint64))[0]
    exact, sig = kernels.signatures(word_hash, n_words, k, num_perm, seed_mix, salt, _MULT)
    if len(word_hash) == 0:  # no words in the whole batch: the count alone
        exact = mix64(n_words.astype(np.uint64))
    return exact, sig


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature rows ``a`` and ``b`` (same shape)."""
    return (a == b).mean(axis=-1)
