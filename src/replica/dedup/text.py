"""Text fingerprints: normalization, word shingles and one-permutation MinHash, vectorized.

A batch of texts is normalized in a handful of C-speed passes over one joined string (NFKC,
case folding, boilerplate lines, punctuation to spaces), then every word, shingle and signature
is computed with numpy over the whole batch at once: no Python loop per word or per shingle.

MinHash is one-permutation hashing with optimal densification (Li et al. 2012; Shrivastava
2017): each shingle is hashed once and lands in one of ``num_perm`` bins, a bin keeps its
minimum, and empty bins borrow from a pseudo-random non-empty bin chosen by the bin number only
(so equal sets get equal signatures). The fraction of equal bins estimates the Jaccard
similarity like classic ``num_perm``-permutation MinHash does, at the cost of one hash per
shingle instead of ``num_perm``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

SEP = "\x1e"  # record separator between the texts of a batch; never survives normalization
EMPTY = np.uint32(0xFFFFFFFF)  # an empty MinHash bin; real values are at most EMPTY - 1

# Lines that are page furniture rather than story: bylines, share/follow prompts, datelines of
# the page itself, photo credits. Matched on whole lines after case folding.
BOILERPLATE = re.compile(
    r"^[ \t]*(?:"
    r"by [^\n.!?]{1,60}"
    r"|(?:share|tweet|email|print|comment)(?: (?:this|the) (?:article|story|page|post))?"
    r"(?: on [a-z ]{1,30})?"
    r"|share (?:this|the) (?:article|story|page|post)[^\n]{0,40}"
    r"|follow (?:us|me) on [^\n]{1,40}"
    r"|(?:sign up|subscribe)[^\n.!?]{0,80}"
    r"|(?:read more|related|see also|advertisement|sponsored)[^\n]{0,80}"
    r"|(?:photo|image|picture|credit)s?: [^\n]{1,80}"
    r"|(?:copyright|©)[^\n]{0,80}|all rights reserved\.?"
    r"|(?:updated|published|posted)(?: on)?:? [^\n.!?]{1,40}"
    r"|\d{1,3} min(?:ute)?s? read|listen to this article[^\n]{0,40}"
    r")[ \t]*$",
    re.MULTILINE,
)
# Word characters: ASCII letters and digits (after case folding) and every non-ASCII character
# outside Latin-1 punctuation (U+0080-U+00BF), general punctuation and symbols (U+2000-U+2FFF)
# and CJK punctuation (U+3000-U+303F). The numpy tokenizer applies the same rule to UTF-8 bytes.
_WORD = re.compile(r"[0-9a-z\u00c0-\u1fff\u3040-\U0010ffff]+")

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_P = np.uint64(0x100000001B3)  # FNV prime: combines words into shingles
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


def _nfkc(text: str) -> str:
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


def _clean(joined: str) -> str:
    """Case-fold and drop boilerplate lines (input already NFKC)."""
    return BOILERPLATE.sub(" ", joined.casefold())


def words(text: str) -> list[str]:
    """The words of a text after normalization (the reference the numpy tokenizer agrees with)."""
    return _WORD.findall(_clean(_nfkc(text.replace(SEP, " "))))


def normalize(text: str) -> str:
    """What 'the same text' means: NFKC, case-folded, boilerplate lines and punctuation dropped,
    words separated by single spaces."""
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


@dataclass(frozen=True)
class Fingerprints:
    """Per text of a batch: exact hash of the normalized text, word count and MinHash."""

    exact: np.ndarray  # uint64[n]: order-sensitive hash of the normalized word sequence
    n_words: np.ndarray  # int64[n]: 0 means nothing left after normalization
    signature: np.ndarray  # uint32[n, num_perm]; all EMPTY when n_words == 0


def fingerprint(texts: list[str], shingle_size: int, num_perm: int, seed: int) -> Fingerprints:
    """Exact hashes and MinHash signatures of a batch of texts (numpy over the whole batch)."""
    n = len(texts)
    if n == 0:
        return Fingerprints(
            np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros((0, num_perm), np.uint32)
        )
    # 1. normalize the joined batch in C-speed passes; the separator sits on a line of its own
    #    so a boilerplate line never spans two texts
    joined = f"\n{SEP}\n".join(_nfkc(t.replace(SEP, " ") if SEP in t else t) for t in texts)
    data = _clean(joined).encode()
    # 2. words (numpy over the UTF-8 bytes); the exact hash is the hash of the word sequence
    word_hash, word_doc = _word_hashes(data)
    n_words = np.bincount(word_doc, minlength=n).astype(np.int64)
    exact = _sequence_hash(word_hash, n_words)
    # 3. shingles: hash of ``shingle_size`` consecutive words of one text
    sh_hash, sh_doc = _shingle_hashes(word_hash, word_doc, n_words, shingle_size)
    # 4. one-permutation MinHash with optimal densification
    sig = _oph(sh_hash, sh_doc, n, num_perm, seed)
    return Fingerprints(exact=exact, n_words=n_words, signature=sig)


def _word_mask(body: np.ndarray) -> np.ndarray:
    """True on the bytes of word characters (see ``_WORD``) of UTF-8 text."""
    ascii_word = ((body >= 0x30) & (body <= 0x39)) | ((body >= 0x61) & (body <= 0x7A))
    word = ascii_word | (body >= 0x80)
    # leading bytes of excluded non-ASCII ranges and the continuation bytes that follow them
    nxt = np.empty_like(body)
    nxt[:-1], nxt[-1:] = body[1:], 0
    latin1 = np.flatnonzero(body == 0xC2)  # U+0080-U+00BF: 2 bytes
    punct = np.flatnonzero((body == 0xE2) | ((body == 0xE3) & (nxt == 0x80)))  # 3 bytes
    word[latin1] = False
    word[np.minimum(latin1 + 1, len(body) - 1)] = False
    for off in range(3):
        word[np.minimum(punct + off, len(body) - 1)] = False
    return word


def _word_hashes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """uint64 hash and text index of every word in ``data`` (texts separated by SEP)."""
    buf = np.frombuffer(b"\0" * 8 + data + b"\0" * 8, dtype=np.uint8)
    body = buf[8:-8]
    is_word = _word_mask(body)
    change = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
    if is_word[:1].any():
        change = np.concatenate([[0], change])
    if is_word[-1:].any():
        change = np.concatenate([change, [len(body)]])
    starts, ends = change[0::2], change[1::2]
    seps = np.flatnonzero(body == 0x1E)
    word_doc = np.searchsorted(seps, starts)
    # little-endian 8-byte windows at every offset of the padded buffer (no copy)
    win = np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf.data, strides=(1,))
    # every byte of a word counts: its 8-byte chunks, each mixed with its chunk number, are
    # summed per word (most words are one chunk; a CJK run without spaces is one long word)
    lens = ends - starts
    n_chunks = (lens + 7) // 8
    first_chunk = np.cumsum(n_chunks) - n_chunks
    word = np.repeat(np.arange(len(lens)), n_chunks)
    j = np.arange(int(n_chunks.sum()), dtype=np.int64) - first_chunk[word]  # chunk number
    chunk = win[starts[word] + 8 * j + 8] & _MASKS[np.minimum(lens[word] - 8 * j, 8)]
    terms = mix64(chunk ^ mix64(j.astype(np.uint64) * _GOLD + _P))
    sums = np.add.reduceat(terms, first_chunk) if len(lens) else np.zeros(0, np.uint64)
    return mix64(sums ^ mix64(lens.astype(np.uint64) * _GOLD)), word_doc


def _sequence_hash(word_hash: np.ndarray, n_words: np.ndarray) -> np.ndarray:
    """Order-sensitive hash of each text's word sequence (uint64 per text)."""
    first = np.concatenate([[0], np.cumsum(n_words)[:-1]]).astype(np.int64)
    if len(word_hash) == 0:
        return mix64(n_words.astype(np.uint64))
    pos = np.arange(len(word_hash), dtype=np.int64) - np.repeat(first, n_words)
    terms = mix64(word_hash ^ mix64(pos.astype(np.uint64) + _GOLD))  # position-dependent
    # a trailing zero term keeps every start index valid (empty texts at the end)
    sums = np.add.reduceat(np.append(terms, np.uint64(0)), first)
    sums[n_words == 0] = 0
    return mix64(sums ^ mix64(n_words.astype(np.uint64)))


def _shingle_hashes(
    word_hash: np.ndarray, word_doc: np.ndarray, n_words: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of word k-grams that stay inside one text; a shorter text is one shingle."""
    first_word = np.concatenate([[0], np.cumsum(n_words)[:-1]])
    acc = word_hash.copy()
    out_h = []
    out_d = []
    for t in range(1, k + 1):
        if t > 1:
            acc = acc[:-1] * _P + word_hash[t - 1 :]
        short = np.flatnonzero(n_words == t) if t < k else np.zeros(0, np.int64)
        if short.size:  # texts of exactly t < k words: their one shingle is all their words
            out_h.append(acc[first_word[short]])
            out_d.append(short)
    if len(acc):
        valid = word_doc[: len(acc)] == word_doc[k - 1 :]
        out_h.append(acc[valid])
        out_d.append(word_doc[: len(acc)][valid])
    if not out_h:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return mix64(np.concatenate(out_h)), np.concatenate(out_d)


def _oph(hashes: np.ndarray, doc: np.ndarray, n: int, num_perm: int, seed: int) -> np.ndarray:
    """One-permutation MinHash: bin by hash, keep each bin's minimum, densify empty bins."""
    h = mix64(hashes ^ mix64(np.array([seed], dtype=np.uint64) + _GOLD))
    bins = (h >> np.uint64(32)) % np.uint64(num_perm)
    vals = np.minimum(h & np.uint64(0xFFFFFFFF), np.uint64(EMPTY - 1)).astype(np.uint32)
    sig = np.full(n * num_perm, EMPTY, dtype=np.uint32)
    np.minimum.at(sig, doc * num_perm + bins.astype(np.int64), vals)
    return densify(sig.reshape(n, num_perm), seed)


def densify(sig: np.ndarray, seed: int) -> np.ndarray:
    """Optimal densification: an empty bin copies the first non-empty bin on its probe path.

    The probe path of bin ``k`` depends only on ``(k, attempt, seed)``, never on the text, so
    two texts with the same shingles fill their empty bins identically. Rows with no shingle at
    all stay EMPTY.
    """
    num_perm = sig.shape[1]
    out = sig.copy()
    has_any = (sig != EMPTY).any(axis=1)
    rows, cols = np.nonzero((sig == EMPTY) & has_any[:, None])
    attempt = 1
    salt = mix64(np.array([seed + 1], dtype=np.uint64))
    while rows.size:
        step = mix64(np.array([attempt], dtype=np.uint64))
        probe = mix64(cols.astype(np.uint64) * _GOLD + step + salt)
        src = (probe % np.uint64(num_perm)).astype(np.int64)
        got = sig[rows, src]
        done = got != EMPTY
        out[rows[done], cols[done]] = got[done]
        rows, cols = rows[~done], cols[~done]
        attempt += 1
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature rows ``a`` and ``b`` (same shape)."""
    return (a == b).mean(axis=-1)
