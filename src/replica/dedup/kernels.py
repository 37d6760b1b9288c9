"""Compiled loops (numba) for the text fingerprints and the clustering: the per-byte,
per-shingle and per-pair work that numpy needs many whole-array passes (or gathered copies of
signature rows) for.

Each kernel computes exactly what the vectorized definition in ``text``, ``lsh`` or ``near``
describes (same words, hashes, signatures, band keys and scores, bit for bit;
``tests/unit/dedup/test_dedup_kernels.py`` holds expected fingerprints of a mixed-script corpus
and checks the clustering loops against their numpy definitions). Arithmetic is on uint64 and
wraps, like numpy's. Kernels are compiled on first use and cached on disk next to this file
(``cache=True``), so a worker process or a later run loads machine code instead of compiling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

_U64 = np.uint64
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_GOLD = _U64(0x9E3779B97F4A7C15)
_P = _U64(0x100000001B3)
_HIGH = _U64(0x8080808080808080)
_LOW32 = _U64(0xFFFFFFFF)
_EMPTY = np.uint32(0xFFFFFFFF)


@njit(cache=True, inline="always")
def mix(x: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64 finalizer (``text.mix64`` on one value)."""
    x = x ^ (x >> _U64(30))
    x = x * _M1
    x = x ^ (x >> _U64(27))
    x = x * _M2
    return x ^ (x >> _U64(31))


@njit(cache=True)
def hot_positions(data: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Positions of control bytes up to 0x0D, '&', and bytes from 0xC2 on."""
    n = 0
    for b in data:
        if b <= 0x0D or b == 0x26 or b >= 0xC2:
            n += 1
    out = np.empty(n, np.int64)
    k = 0
    for i in range(len(data)):
        b = data[i]
        if b <= 0x0D or b == 0x26 or b >= 0xC2:
            out[k] = i
            k += 1
    return out


@njit(cache=True)
def byte_positions(data: np.ndarray, value: int) -> np.ndarray:  # pragma: no cover - compiled
    """Positions of the bytes equal to ``value``."""
    n = 0
    for b in data:
        n += b == value
    out = np.empty(n, np.int64)
    k = 0
    for i in range(len(data)):
        if data[i] == value:
            out[k] = i
            k += 1
    return out


@njit(cache=True)
def invisible(
    data: np.ndarray, lead: np.ndarray, e2_delete: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Sorted positions of the bytes of soft hyphens (C2 AD), byte order marks (EF BB BF) and
    the format characters U+2000 + ``cp`` where ``e2_delete[cp]`` (E2 80-81 xx), from the
    positions ``lead`` of candidate lead bytes (``text._invisible``)."""
    n = len(data)
    out = np.empty(3 * len(lead), np.int64)
    m = 0
    for p in lead:
        b0 = data[p]
        b1 = data[p + 1] if p + 1 < n else np.uint8(0)
        b2 = data[p + 2] if p + 2 < n else np.uint8(0)
        width = 0
        if b0 == 0xC2 and b1 == 0xAD:
            width = 2
        elif b0 == 0xE2 and (b1 & 0xF0) == 0x80 and b1 < 0x82:
            if e2_delete[((np.int64(b1) & 0x3F) << 6) | (np.int64(b2) & 0x3F)]:
                width = 3
        elif b0 == 0xEF and b1 == 0xBB and b2 == 0xBF:
            width = 3
        for q in range(p, min(p + width, n)):
            if m == 0 or q > out[m - 1]:
                out[m] = q
                m += 1
    return out[:m].copy()


@njit(cache=True)
def drop_bytes(
    data: np.ndarray, gone: np.ndarray, hot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(``data`` without the bytes at the sorted positions ``gone``, the sorted positions
    ``hot`` that stay, moved left past the removed bytes)."""
    n = len(data)
    out = np.empty(n - len(gone), np.uint8)
    src = 0
    dst = 0
    for g in gone:
        width = g - src
        out[dst : dst + width] = data[src:g]
        dst += width
        src = g + 1
    out[dst:] = data[src:]
    moved = np.empty(len(hot), np.int64)
    m = 0
    j = 0
    for h in hot:
        while j < len(gone) and gone[j] < h:
            j += 1
        if j < len(gone) and gone[j] == h:
            continue
        moved[m] = h - j
        m += 1
    return out, moved[:m].copy()


@njit(cache=True)
def lower_and_word(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """(ASCII lower-cased bytes, word mask: ASCII letters and digits and every non-ASCII
    byte) in one pass."""
    n = len(data)
    body = np.empty(n, np.uint8)
    word = np.empty(n, np.bool_)
    for i in range(n):
        b = data[i]
        if 0x41 <= b <= 0x5A:
            b = b | 0x20
        body[i] = b
        word[i] = (0x61 <= b <= 0x7A) or (0x30 <= b <= 0x39) or b >= 0x80
    return body, word


@njit(cache=True)
def runs(word: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Starts and ends of the runs of True in ``word``, also cut at the sorted positions
    ``cuts`` (a cut inside a run splits it in two; other cuts change nothing)."""
    n = len(word)
    w8 = word.view(np.uint8)
    k = 0  # runs: counted first, so the outputs are allocated at their size (plus a spare)
    prev = np.uint8(0)
    for i in range(n):
        w = w8[i]
        k += w & (prev ^ np.uint8(1))
        prev = w
    start_all = np.empty(k + 1, np.int64)
    end_all = np.empty(k + 1, np.int64)
    ks = 0
    ke = 0
    prev = np.uint8(0)
    for i in range(n):  # branch-free: every byte writes the next slots, a change moves one on
        w = w8[i]
        start_all[ks] = i
        end_all[ke] = i
        ks += w & (prev ^ np.uint8(1))
        ke += prev & (w ^ np.uint8(1))
        prev = w
    end_all[k - 1 if prev else k] = n
    start, end = start_all[:k], end_all[:k]
    inner = 0
    r = 0
    for c in cuts:  # cuts strictly inside a run
        while r < k and end[r] <= c:
            r += 1
        if r < k and start[r] < c:
            inner += 1
    if inner == 0:
        return start, end
    s2 = np.empty(k + inner, np.int64)
    e2 = np.empty(k + inner, np.int64)
    m = 0
    c = 0
    for r in range(k):
        lo = start[r]
        while c < len(cuts) and cuts[c] <= lo:
            c += 1
        while c < len(cuts) and cuts[c] < end[r]:
            s2[m] = lo
            e2[m] = cuts[c]
            m += 1
            lo = cuts[c]
            c += 1
        s2[m] = lo
        e2[m] = end[r]
        m += 1
    return s2, e2


@njit(cache=True)
def first_words(
    line: np.ndarray, valid: np.ndarray, n_lines: int
) -> np.ndarray:  # pragma: no cover - compiled
    """The first valid word of every line (-1 for a line without one); ``line`` is the
    (nondecreasing) line of every word."""
    out = np.full(n_lines, -1, np.int64)
    for i in range(len(line) - 1, -1, -1):
        if valid[i]:
            out[line[i]] = i
    return out


@njit(cache=True)
def hash_spans(
    win: np.ndarray, starts: np.ndarray, ends: np.ndarray, mult: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(hash, has a non-ASCII byte) of every span ``starts[i]:ends[i]`` of the bytes under
    ``win`` (``win[p + 8]``: the 8 bytes from byte ``p`` as a little-endian uint64; see
    ``text._hash_spans``)."""
    n = len(starts)
    out = np.empty(n, np.uint64)
    high = np.empty(n, np.bool_)
    for i in range(n):
        s = starts[i]
        length = ends[i] - s
        chunk = win[s + 8]
        if length < 8:
            chunk &= (_U64(1) << _U64(8 * length)) - _U64(1)
        total = chunk * mult[0]
        hi = chunk & _HIGH
        j = 1
        while 8 * j < length:
            more = win[s + 8 * j + 8]
            rest = length - 8 * j
            if rest < 8:
                more &= (_U64(1) << _U64(8 * rest)) - _U64(1)
            hi |= more & _HIGH
            t = more * mult[j & 63]
            total += t ^ (t >> _U64(29))
            j += 1
        out[i] = mix(total ^ (_U64(length) * _GOLD))
        high[i] = hi != _U64(0)
    return out, high


@njit(cache=True)
def fold_store(
    cache: Any, gone: Any, raw: np.ndarray, folded: np.ndarray, empty: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Remember the folded hash of every raw word hash (``cache``), or that it folds to
    nothing (``gone``)."""
    for i in range(len(raw)):
        if empty[i]:
            gone[raw[i]] = True
        else:
            cache[raw[i]] = folded[i]


@njit(cache=True)
def fold_apply(
    h: np.ndarray, valid: np.ndarray, w: np.ndarray, cache: Any, gone: Any
) -> np.ndarray:  # pragma: no cover - compiled
    """Replace the hash of every word ``w`` by its folded hash (``cache``), in place; a word
    that folds to nothing (``gone``) keeps its hash and is marked invalid. Returns the words
    neither holds (left as they are)."""
    miss = np.empty(len(w), np.int64)
    m = 0
    for i in w:
        got = cache.get(h[i])
        if got is not None:
            h[i] = got
        elif h[i] in gone:
            valid[i] = False
        else:
            miss[m] = i
            m += 1
    return miss[:m].copy()


@njit(cache=True)
def sentence_keys(
    body: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    line: np.ndarray,
    hashes: np.ndarray,
    doc: np.ndarray,
    ok: np.ndarray,
    mult: np.ndarray,
    min_words: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """``text._sentence_keys`` over the words where ``ok`` (in text order): a sentence is a
    run of kept words with the same count of stops ('.', '!', '?') plus line number before
    them (words hold no stops: only the bytes between words are scanned)."""
    n = len(start)
    keys = np.empty(n, np.uint64)
    docs = np.empty(n, np.int64)
    m = 0
    stops = 0
    at = 0
    cur = -1
    total = _U64(0)
    size = 0
    first_doc = 0
    for i in range(n + 1):
        if i < n:
            if not ok[i]:
                continue
            while at < start[i]:
                b = body[at]
                if b == 0x2E or b == 0x21 or b == 0x3F:
                    stops += 1
                at += 1
            at = end[i]
            sent = stops + line[i]
        if i == n or sent != cur:
            if size >= min_words and size > 0:
                keys[m] = mix(total ^ (_U64(size) * _GOLD))
                docs[m] = first_doc
                m += 1
            if i == n:
                break
            cur = sent
            total = _U64(0)
            size = 0
            first_doc = doc[i]
        t = hashes[i] * mult[size & 63]
        total += t ^ (_U64(size) * _GOLD)
        size += 1
    return keys[:m], docs[:m]


@njit(cache=True)
def signatures(
    word_hash: np.ndarray,
    n_words: np.ndarray,
    k: int,
    num_perm: int,
    seed_mix: np.uint64,
    salt: np.uint64,
    mult: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per text (its words back to back, ``n_words`` each): the order-sensitive exact hash
    and the densified one-permutation MinHash of its word ``k``-grams (a shorter text is one
    shingle); see ``text._signatures``."""
    n = len(n_words)
    exact = np.empty(n, np.uint64)
    sig = np.full((n, num_perm), _EMPTY, np.uint32)
    mask = _U64(num_perm - 1)  # a bin by mask, not by division, for a power of two
    pow2 = num_perm & (num_perm - 1) == 0
    first = 0
    for d in range(n):
        cnt = n_words[d]
        total = _U64(0)
        for p in range(cnt):
            t = word_hash[first + p] * mult[p & 63]
            total += t ^ (_U64(p) * _GOLD)
        exact[d] = mix(total ^ mix(_U64(cnt)))
        if cnt > 0:
            width = min(k, cnt)
            for i in range(cnt - width + 1):
                acc = word_hash[first + i]
                for j in range(1, width):
                    acc = acc * _P + word_hash[first + i + j]
                h = mix(acc ^ seed_mix)
                b = (h >> _U64(32)) & mask if pow2 else (h >> _U64(32)) % _U64(num_perm)
                v = np.uint32(min(h & _LOW32, _U64(0xFFFFFFFE)))
                if v < sig[d, b]:
                    sig[d, b] = v
            _densify_row(sig, d, num_perm, salt)
        first += cnt
    return exact, sig


@njit(cache=True, inline="always")
def _densify_row(
    sig: np.ndarray, d: int, num_perm: int, salt: np.uint64
) -> None:  # pragma: no cover
    """Optimal densification of one row: an empty bin copies the first non-empty bin (of the
    row before densifying) on its probe path. The path of bin ``c`` depends only on ``(c,
    attempt, seed)``, never on the text, so equal shingle sets get equal signatures."""
    row = sig[d].copy()
    for c in range(num_perm):
        if row[c] != _EMPTY:
            continue
        attempt = 1
        while True:
            probe = mix(_U64(c) * _GOLD + mix(_U64(attempt)) + salt)
            got = row[np.int64(probe % _U64(num_perm))]
            if got != _EMPTY:
                sig[d, c] = got
                break
            attempt += 1


@njit(cache=True)
def equal_share(sig: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Share of equal signature values of rows ``a[i]`` and ``b[i]`` (the estimated Jaccard,
    ``(sig[a] == sig[b]).mean(axis=1)`` without the two gathered copies)."""
    m = len(a)
    width = sig.shape[1]
    out = np.empty(m, np.float32)
    for i in range(m):
        x = sig[a[i]]
        y = sig[b[i]]
        same = 0
        for c in range(width):
            same += x[c] == y[c]
        out[i] = np.float32(same / width)
    return out


@njit(cache=True)
def consensus(
    order: np.ndarray, start: np.ndarray, size: np.ndarray, sig: np.ndarray, peers: int
) -> np.ndarray:  # pragma: no cover - compiled
    """Mean share of equal signature values of every member of a cluster with the next
    ``peers`` members (cyclically) of its cluster, in float32 as ``near.consensus`` adds them;
    1 for singletons. ``order`` lists the members cluster by cluster, ``start``/``size`` each
    cluster's run in it."""
    n = len(order)
    width = sig.shape[1]
    out = np.ones(n, np.float32)
    for g in range(len(start)):
        s, z = start[g], size[g]
        if z < 2:
            continue
        for p in range(z):
            me = sig[order[s + p]]
            total = np.float32(0.0)
            count = np.float32(0.0)
            for d in range(1, min(peers, z - 1) + 1):
                peer = sig[order[s + (p + d) % z]]
                same = 0
                for c in range(width):
                    same += me[c] == peer[c]
                total = np.float32(np.float64(total) + same / width)
                count += np.float32(1.0)
            out[order[s + p]] = total / count
    return out


@njit(cache=True)
def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:  # pragma: no cover
    """uint64[n, bands]: the hash of each band of ``rows`` signature values, the band index
    mixed in first (``lsh.band_keys``)."""
    n = sig.shape[0]
    keys = np.empty((n, bands), np.uint64)
    for i in range(n):
        for b in range(bands):
            h = mix(_U64(b + 1))
            for c in range(b * rows, (b + 1) * rows):
                h = mix(h ^ _U64(sig[i, c]))
            keys[i, b] = h
    return keys
