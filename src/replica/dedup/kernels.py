"""Compiled loops (numba) for the text fingerprints, the candidate pairs and the clustering:
the per-byte, per-shingle, per-key and per-pair work that numpy needs many whole-array passes,
sorts (or gathered copies of signature rows) for.

Each kernel computes exactly what the vectorized definition in ``text``, ``lsh`` or ``near``
describes (same words, hashes, signatures, band keys and scores, bit for bit;
``tests/unit/dedup/test_dedup_kernels.py`` holds expected fingerprints of a mixed-script corpus
and checks the grouping, pair and clustering loops against their numpy definitions). Arithmetic
is on uint64 and wraps, like numpy's. Kernels are compiled on first use and cached on disk next
to this file (``cache=True``), so a worker process or a later run loads machine code instead of
compiling. The pair-scoring loops of the clustering run on all threads (``prange``): every
iteration writes only its own outputs, so the result does not depend on the thread count.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, prange

# numba's OpenMP threads and torch's (the second pass's model) fight over the cores: with the
# OpenMP layer, embedding after a parallel kernel ran twenty times slower. Numba's own pool
# does not (the parallel kernels are called from one thread, which it needs). A layer the user
# chose (NUMBA_THREADING_LAYER, read by numba) stays.
if numba.config.THREADING_LAYER == "default":  # type: ignore[attr-defined]
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]

_U64 = np.uint64
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_GOLD = _U64(0x9E3779B97F4A7C15)
_P = _U64(0x100000001B3)
_HIGH = _U64(0x8080808080808080)
_LOW32 = _U64(0xFFFFFFFF)
_EMPTY = np.uint32(0xFFFFFFFF)
_BLOCK = 12  # group_pairs: log2 of the values of a per block


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
def entity_spans(
    data: np.ndarray, off: np.ndarray, amp: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """The end of the span from each '&' at the sorted positions ``amp``: the '&', the bytes
    up to the next tab, line feed, form feed, space, '<', '&', ';' or the end of its text,
    and one ';' there (``text._decode_entities_at``)."""
    end = np.empty(len(amp), np.int64)
    d = 0
    for k in range(len(amp)):
        p = amp[k]
        while off[d + 1] <= p:
            d += 1
        stop = off[d + 1]
        q = p + 1
        while q < stop:
            b = data[q]
            if b == 0x09 or b == 0x0A or b == 0x0C or b == 0x20 or b == 0x3C or b == 0x26:
                break
            q += 1
            if b == 0x3B:
                break
        end[k] = q
    return end


@njit(cache=True)
def span_keys(
    data: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """A 64-bit key of the bytes of every span ``start[k]:end[k]`` (FNV-1a, mixed with the
    length): what a cache of per-span results is keyed by."""
    key = np.empty(len(start), np.uint64)
    for k in range(len(start)):
        h = _GOLD
        for q in range(start[k], end[k]):
            h = (h ^ _U64(data[q])) * _P
        key[k] = mix(h ^ (_U64(end[k] - start[k]) * _GOLD))
    return key


@njit(cache=True)
def replace_spans(
    data: np.ndarray,
    off: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    new: np.ndarray,
    new_off: np.ndarray,
    which: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(bytes, offsets) with each span ``start[k]:end[k]`` of ``data`` (sorted, apart, none
    across a text's end) replaced by ``new[new_off[which[k]]:new_off[which[k] + 1]]``."""
    grow = np.empty(len(start), np.int64)
    for k in range(len(start)):
        grow[k] = new_off[which[k] + 1] - new_off[which[k]] - (end[k] - start[k])
    moved = np.empty(len(off), np.int64)
    k = 0
    total = 0
    for d in range(len(off)):  # a text moves by what the spans before its start changed
        while k < len(start) and start[k] < off[d]:
            total += grow[k]
            k += 1
        moved[d] = off[d] + total
    out = np.empty(len(data) + total, np.uint8)
    src = 0
    dst = 0
    for k in range(len(start)):
        width = start[k] - src
        out[dst : dst + width] = data[src : start[k]]
        dst += width
        w = which[k]
        width = new_off[w + 1] - new_off[w]
        out[dst : dst + width] = new[new_off[w] : new_off[w + 1]]
        dst += width
        src = end[k]
    out[dst:] = data[src:]
    return out, moved


@njit(cache=True)
def splice_positions(
    positions: np.ndarray,
    old_off: np.ndarray,
    data: np.ndarray,
    off: np.ndarray,
    redone: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    """``hot_positions(data)`` from ``positions``, the hot positions of the texts before the
    texts ``redone`` (sorted) were rewritten (text ``d`` was ``old_off[d]:old_off[d + 1]``, is
    ``off[d]:off[d + 1]`` in ``data``): the other texts' positions move by their new offset,
    and only the rewritten texts are scanned again."""
    extra = 0
    for d in redone:
        extra += off[d + 1] - off[d]
    out = np.empty(len(positions) + extra, np.int64)
    k = 0
    j = 0
    for r in range(len(redone) + 1):
        stop = old_off[redone[r]] if r < len(redone) else old_off[-1]
        d = redone[r - 1] + 1 if r > 0 else 0  # the texts up to the next rewritten one move
        shift = off[d] - old_off[d]
        while j < len(positions) and positions[j] < stop:
            out[k] = positions[j] + shift
            k += 1
            j += 1
        if r == len(redone):
            break
        d = redone[r]
        for i in range(off[d], off[d + 1]):
            b = data[i]
            if b <= 0x0D or b == 0x26 or b >= 0xC2:
                out[k] = i
                k += 1
        while j < len(positions) and positions[j] < old_off[d + 1]:
            j += 1
    return out[:k].copy()


@njit(cache=True)
def drop_positions(positions: np.ndarray, gone: np.ndarray) -> np.ndarray:  # pragma: no cover
    """The sorted ``positions`` not in the sorted ``gone``, moved left past the removed bytes."""
    moved = np.empty(len(positions), np.int64)
    m = 0
    j = 0
    for h in positions:
        while j < len(gone) and gone[j] < h:
            j += 1
        if j < len(gone) and gone[j] == h:
            continue
        moved[m] = h - j
        m += 1
    return moved[:m].copy()


@njit(cache=True, inline="always")
def _lower_into(data: np.ndarray, body: np.ndarray, word: np.ndarray) -> None:  # pragma: no cover
    for i in range(len(data)):
        b = data[i]
        if 0x41 <= b <= 0x5A:
            b = b | 0x20
        body[i] = b
        word[i] = (0x61 <= b <= 0x7A) or (0x30 <= b <= 0x39) or b >= 0x80


@njit(cache=True)
def lower_and_word(
    data: np.ndarray, gone: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(the bytes without those at the sorted positions ``gone``, ASCII lower-cased; word
    mask: ASCII letters and digits and every non-ASCII byte) in one pass."""
    n = len(data) - len(gone)
    body = np.empty(n, np.uint8)
    word = np.empty(n, np.bool_)
    src = 0
    for g in range(len(gone) + 1):  # the bytes between two removed ones: a vectorized loop
        stop = gone[g] if g < len(gone) else len(data)
        _lower_into(data[src:stop], body[src - g : stop - g], word[src - g : stop - g])
        src = stop + 1
    return body, word


@njit(cache=True)
def runs(word: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Starts and ends of the runs of True in ``word``, also cut at the sorted positions
    ``cuts`` (a cut inside a run splits it in two; other cuts change nothing)."""
    n = len(word)
    w8 = word.view(np.uint8)
    bound = np.int64(len(cuts) + 1)  # runs, at most: those without cuts (a vectorized count)
    if n:  # plus cuts
        bound += np.int64(w8[0])
    for i in range(1, n):
        bound += w8[i] & (w8[i - 1] ^ np.uint8(1))
    start = np.empty(bound, np.int64)
    end = np.empty(bound, np.int64)
    ks = 0
    ke = 0
    j = 0
    at = cuts[0] if len(cuts) else n
    prev = np.uint8(0)
    for i in range(n):  # branch-free but for the rare cut: every byte writes the next slots,
        w = w8[i]  # a change moves a count on
        cut = np.uint8(0)
        if i == at:
            cut = np.uint8(1)
            while j < len(cuts) and cuts[j] <= i:  # repeated cuts (empty texts) count once
                j += 1
            at = cuts[j] if j < len(cuts) else n
        start[ks] = i
        end[ke] = i
        ks += w & ((prev ^ np.uint8(1)) | cut)
        ke += prev & ((w ^ np.uint8(1)) | cut)
        prev = w
    if prev:
        end[ke] = n
    return start[:ks], end[:ks]


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
def line_hashes(
    data: np.ndarray,
    starts: np.ndarray,
    lens: np.ndarray,
    mult: np.ndarray,
    masks: np.ndarray,
    samples: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """The hash of every line ``data[starts[i]:starts[i] + lens[i]]`` from ``samples`` 8-byte
    little-endian chunks (bytes past the line masked off, past the data zero): at byte
    ``8 k`` of a line of up to ``8 samples`` bytes, else at byte ``k (len - 8) / (samples -
    1)``; each times ``mult[k]``, summed, mixed with the length (``text.line_hashes``)."""
    n = len(data)
    out = np.empty(len(starts), np.uint64)
    for i in range(len(starts)):
        size = lens[i]
        total = _U64(0)
        for k in range(samples):
            at = (k * max(size - 8, 0)) // (samples - 1) if size > 8 * samples else 8 * k
            left = min(max(size - at, 0), 8)
            p = min(starts[i] + at, n)
            chunk = _U64(0)
            for q in range(min(8, n - p)):
                chunk |= _U64(data[p + q]) << _U64(8 * q)
            total += (chunk & masks[left]) * mult[k]
        out[i] = mix(total ^ (_U64(size) * _GOLD))
    return out


@njit(cache=True)
def kept_words(
    valid: np.ndarray, boiler: np.ndarray, line: np.ndarray, doc: np.ndarray, n_docs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(word kept: valid and not on a boilerplate line, valid words per text, kept words per
    text) in one pass over the words."""
    ok = np.empty(len(valid), np.bool_)
    n_raw = np.zeros(n_docs, np.int64)
    n_kept = np.zeros(n_docs, np.int64)
    for i in range(len(valid)):
        keep = valid[i] and not boiler[line[i]]
        ok[i] = keep
        n_raw[doc[i]] += valid[i]
        n_kept[doc[i]] += keep
    return ok, n_raw, n_kept


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


@njit(cache=True, parallel=True)
def equal_share(sig: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Share of equal signature values of rows ``a[i]`` and ``b[i]`` (the estimated Jaccard,
    ``(sig[a] == sig[b]).mean(axis=1)`` without the two gathered copies). Parallel: the
    loop waits on memory (two random rows per pair), and two threads keep twice the rows in
    flight."""
    m = len(a)
    width = sig.shape[1]
    out = np.empty(m, np.float32)
    for i in prange(m):
        x = sig[a[i]]
        y = sig[b[i]]
        same = 0
        for c in range(width):
            same += x[c] == y[c]
        out[i] = np.float32(same / width)
    return out


@njit(cache=True, parallel=True)
def consensus(
    order: np.ndarray, start: np.ndarray, size: np.ndarray, sig: np.ndarray, peers: int
) -> np.ndarray:  # pragma: no cover - compiled
    """Mean share of equal signature values of every member of a cluster with the next
    ``peers`` members (cyclically) of its cluster, in float32 as ``near.consensus`` adds them;
    1 for singletons. ``order`` lists the members cluster by cluster, ``start``/``size`` each
    cluster's run in it. Clusters run in parallel (each writes only its own members)."""
    n = len(order)
    width = sig.shape[1]
    out = np.ones(n, np.float32)
    for g in prange(len(start)):
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
            keys[i, b] = _band_hash(sig[i], b, rows)
    return keys


@njit(cache=True, inline="always")
def _band_hash(row: np.ndarray, b: int, rows: int) -> np.uint64:  # pragma: no cover - compiled
    """The key of band ``b`` of one signature row."""
    h = mix(_U64(b + 1))
    for c in range(b * rows, (b + 1) * rows):
        h = mix(h ^ _U64(row[c]))
    return h


@njit(cache=True)
def band_columns(
    sig: np.ndarray, pick: np.ndarray, bands: int, rows: int
) -> np.ndarray:  # pragma: no cover - compiled
    """uint64[bands, len(pick)]: ``band_keys(sig[pick], bands, rows).T`` without the gathered
    copy of the rows, each band's keys contiguous for grouping them band by band."""
    n = len(pick)
    keys = np.empty((bands, n), np.uint64)
    for i in range(n):
        row = sig[pick[i]]
        for b in range(bands):
            keys[b, i] = _band_hash(row, b, rows)
    return keys


@njit(cache=True, nogil=True)
def equal_key_groups(
    keys: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(members, bounds): the ``ids`` of the keys that occur more than once, grouped by key;
    group ``g`` is ``members[bounds[g]:bounds[g + 1]]``. These are the runs of equal keys in
    ``ids[np.argsort(keys, kind="stable")]`` less the runs of one: groups in ascending key
    order, each in the order of ``ids``.

    A stable radix partition on the top 8 bits, then on up to 16 more (as many as a part's
    size needs), leaves (for hash keys) parts of about one key; a part holding several
    distinct keys, rare, is sorted. Two sequential passes per level instead of a full sort.
    """
    n = len(keys)
    members = np.empty(n, np.int64)
    bounds = np.zeros(n // 2 + 1, np.int64)
    m = 0
    g = 0
    start = np.zeros(257, np.int64)
    for i in range(n):
        start[np.int64(keys[i] >> _U64(56)) + 1] += 1
    for t in range(256):
        start[t + 1] += start[t]
    k1 = np.empty(n, np.uint64)
    o1 = np.empty(n, np.int64)
    fill = start[:256].copy()
    for i in range(n):
        top = np.int64(keys[i] >> _U64(56))
        k1[fill[top]] = keys[i]
        o1[fill[top]] = ids[i]
        fill[top] += 1
    k2 = np.empty(_max_gap(start[:256], start[1:]), np.uint64)
    o2 = np.empty(len(k2), np.int64)
    for t in range(256):
        s = start[t]
        size = start[t + 1] - s
        if size < 2:
            continue
        bits = 1
        while (1 << bits) < size and bits < 16:
            bits += 1
        shift = _U64(56 - bits)
        mask = _U64((1 << bits) - 1)
        cnt = np.zeros((1 << bits) + 1, np.int64)
        for p in range(s, s + size):
            cnt[np.int64((k1[p] >> shift) & mask) + 1] += 1
        for u in range(1 << bits):
            cnt[u + 1] += cnt[u]
        fill2 = cnt[: 1 << bits].copy()
        for p in range(s, s + size):
            sub = np.int64((k1[p] >> shift) & mask)
            k2[fill2[sub]] = k1[p]
            o2[fill2[sub]] = o1[p]
            fill2[sub] += 1
        for u in range(1 << bits):
            a = cnt[u]
            z = cnt[u + 1]
            if z - a < 2:
                continue
            mixed = False
            for p in range(a + 1, z):
                if k2[p] != k2[a]:
                    mixed = True
                    break
            if not mixed:
                members[m : m + z - a] = o2[a:z]
                m += z - a
                g += 1
                bounds[g] = m
                continue
            order = np.argsort(k2[a:z], kind="mergesort") + a
            r = 0
            while r < z - a:
                w = r + 1
                while w < z - a and k2[order[w]] == k2[order[r]]:
                    w += 1
                if w - r >= 2:
                    for x in range(r, w):
                        members[m] = o2[order[x]]
                        m += 1
                    g += 1
                    bounds[g] = m
                r = w
    return members[:m].copy(), bounds[: g + 1].copy()


@njit(cache=True)
def distinct_groups(
    values: np.ndarray, bounds: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The groups ``values[bounds[g]:bounds[g + 1]]`` (each ascending) with repeats dropped,
    kept where ``lo`` to ``hi`` distinct values remain; (values, bounds) as the input."""
    out = np.empty(len(values), values.dtype)
    cuts = np.zeros(len(bounds), np.int64)
    m = 0
    g = 0
    for h in range(len(bounds) - 1):
        at = m
        for p in range(bounds[h], bounds[h + 1]):
            if m == at or values[p] != out[m - 1]:
                out[m] = values[p]
                m += 1
        if lo <= m - at <= hi:
            g += 1
            cuts[g] = m
        else:
            m = at
    return out[:m].copy(), cuts[: g + 1].copy()


@njit(cache=True)
def group_pairs(members: np.ndarray, bounds: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover
    """int64[m, 2]: every pair ``a < b`` of members of a common group, each once, sorted (the
    ``lsh.unique_pairs`` of the pairs within each group ``members[bounds[g]:bounds[g + 1]]``).
    Members lie in ``[0, n)`` and ascend within a group.

    The pairs are written out by blocks of 4096 values of ``a``; each block in turn is
    counting-sorted by ``a`` and each ``a``'s peers are deduplicated (a mark per peer) and
    sorted. Every step works on one block, which stays in cache, and no sort runs over all
    the pairs found (a pair shared by many bands or sentences is found many times).
    """
    blocks = (n >> _BLOCK) + 1
    width = 1 << _BLOCK
    start = np.zeros(blocks + 1, np.int64)
    for h in range(len(bounds) - 1):
        for p in range(bounds[h], bounds[h + 1]):
            start[(members[p] >> _BLOCK) + 1] += bounds[h + 1] - 1 - p
    for t in range(blocks):
        start[t + 1] += start[t]
    raw = np.empty(start[blocks], np.uint64)  # (a mod width) << 32 | b, by block of a
    fill = start[:blocks].copy()
    for h in range(len(bounds) - 1):
        for p in range(bounds[h], bounds[h + 1]):
            a = members[p]
            t = a >> _BLOCK
            high = _U64(a & (width - 1)) << _U64(32)
            for r in range(p + 1, bounds[h + 1]):
                b = members[r]
                if b != a:
                    raw[fill[t]] = high | _U64(b)
                    fill[t] += 1
    k = 0
    cnt = np.zeros(width + 1, np.int64)
    mark = np.full(n, -1, np.int64)  # the last a that found this peer
    peers = np.empty(max(1, _max_gap(start, fill)), np.int64)
    for t in range(blocks):
        cnt[:] = 0
        for p in range(start[t], fill[t]):
            cnt[np.int64(raw[p] >> _U64(32)) + 1] += 1
        for u in range(width):
            cnt[u + 1] += cnt[u]
        at = cnt[:width].copy()
        for p in range(start[t], fill[t]):
            low = np.int64(raw[p] >> _U64(32))
            peers[at[low]] = np.int64(raw[p] & _LOW32)
            at[low] += 1
        for u in range(width):
            a = (t << _BLOCK) + u
            lo = cnt[u]
            hi = lo
            for x in range(lo, cnt[u + 1]):
                b = peers[x]
                if mark[b] != a:
                    mark[b] = a
                    peers[hi] = b
                    hi += 1
            if hi - lo <= 32:
                for x in range(lo + 1, hi):  # insertion sort: most values have a few peers
                    v = peers[x]
                    y = x - 1
                    while y >= lo and peers[y] > v:
                        peers[y + 1] = peers[y]
                        y -= 1
                    peers[y + 1] = v
            else:
                peers[lo:hi].sort()
            for x in range(lo, hi):
                raw[k] = (_U64(a) << _U64(32)) | _U64(peers[x])  # k stays in blocks read
                k += 1
    out = np.empty((k, 2), np.int64)
    for x in range(k):
        out[x, 0] = np.int64(raw[x] >> _U64(32))
        out[x, 1] = np.int64(raw[x] & _LOW32)
    return out


@njit(cache=True, inline="always")
def _max_gap(start: np.ndarray, stop: np.ndarray) -> int:  # pragma: no cover - compiled
    """The largest ``stop[t] - start[t]``."""
    widest = 0
    for t in range(len(stop)):
        widest = max(widest, stop[t] - start[t])
    return widest


@njit(cache=True, inline="always")
def _pair_scores(
    sig: np.ndarray, size: np.ndarray, u: int, v: int
) -> tuple[np.float32, np.float32, np.float32]:  # pragma: no cover - compiled
    """(estimated Jaccard, shared shingles, containment) of texts ``u`` and ``v`` in float32,
    operation for operation as ``near.score_pairs`` computes them."""
    x = sig[u]
    y = sig[v]
    width = sig.shape[1]
    same = 0
    for c in range(width):
        same += x[c] == y[c]
    j = np.float32(same / width)
    su, sv = size[u], size[v]
    inter = j * (su + sv) / (np.float32(1.0) + j)
    c = inter / (su if su < sv else sv)
    return j, inter, (c if c < np.float32(1.0) else np.float32(1.0))


STORY_CHUNK = 4096  # hubs per parallel task (each task allocates its scratch once)


@njit(cache=True, parallel=True)
def split_stories(
    sig: np.ndarray,
    size: np.ndarray,
    start: np.ndarray,
    b: np.ndarray,
    hubs: np.ndarray,
    max_neighbors: int,
    band_containment: np.float32,
    min_story_share: float,
    fit_tie: float,
    lose: np.ndarray,
    concat: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``near.split_stories`` over the texts ``hubs`` (each with two or more links; ``b``
    lists every text's neighbours, ascending, from ``start[x]``): marks in ``lose`` (per
    position in ``b``) the links a hub gives up and in ``concat`` the hubs that are two
    stories. A story is a group of the first ``max_neighbors`` neighbours joined by pairs
    that are not apart, named here by its first neighbour (the order stories first appear
    in, which ``max`` breaks ties by). Hubs write disjoint positions, so tasks never race."""
    for t in prange((len(hubs) + STORY_CHUNK - 1) // STORY_CHUNK):
        parent = np.empty(max_neighbors, np.int64)
        share = np.empty(max_neighbors, np.float32)
        fit = np.empty(max_neighbors, np.float32)
        big = np.empty(max_neighbors, np.float32)
        for h in range(t * STORY_CHUNK, min((t + 1) * STORY_CHUNK, len(hubs))):
            _split_hub(
                sig,
                size,
                start,
                b,
                hubs[h],
                max_neighbors,
                band_containment,
                min_story_share,
                fit_tie,
                lose,
                concat,
                parent,
                share,
                fit,
                big,
            )


@njit(cache=True, inline="always")
def _split_hub(
    sig: np.ndarray,
    size: np.ndarray,
    start: np.ndarray,
    b: np.ndarray,
    x: int,
    max_neighbors: int,
    band_containment: np.float32,
    min_story_share: float,
    fit_tie: float,
    lose: np.ndarray,
    concat: np.ndarray,
    parent: np.ndarray,
    share: np.ndarray,
    fit: np.ndarray,
    big: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """One hub ``x`` of ``split_stories``, with scratch arrays of ``max_neighbors``."""
    lo = start[x]
    cap = min(start[x + 1] - lo, max_neighbors)
    for i in range(cap):
        parent[i] = i
    apart = False
    for i in range(cap):
        for k in range(i + 1, cap):
            if _pair_scores(sig, size, b[lo + i], b[lo + k])[2] < band_containment:
                apart = True
                continue
            ri = i  # union by the smaller first index, halving paths on the way
            while parent[ri] != ri:
                parent[ri] = parent[parent[ri]]
                ri = parent[ri]
            rk = k
            while parent[rk] != rk:
                parent[rk] = parent[parent[rk]]
                rk = parent[rk]
            if ri < rk:
                parent[rk] = ri
            elif rk < ri:
                parent[ri] = rk
    if not apart:
        return
    # per story (its first neighbour): the largest share of x, fit and size of its texts
    stories = 0
    for i in range(cap):
        r = i
        while parent[r] != r:
            r = parent[r]
        parent[i] = r
        y = b[lo + i]
        _, inter, c = _pair_scores(sig, size, x, y)
        s = inter / size[x]
        s = s if s < np.float32(1.0) else np.float32(1.0)
        if r == i:
            stories += 1
            share[i], fit[i], big[i] = s, c, size[y]
        else:
            share[r] = max(share[r], s)
            fit[r] = max(fit[r], c)
            big[r] = max(big[r], size[y])
    top = -np.inf
    for i in range(cap):
        if parent[i] == i:
            top = max(top, np.float64(fit[i]))
    top -= fit_tie  # in float64, like the Python floats of the definition
    best = -1
    n_big = 0
    larger = True
    for i in range(cap):
        if parent[i] != i:
            continue
        if np.float64(fit[i]) >= top and (best < 0 or share[i] > share[best]):
            best = i
        if np.float64(share[i]) >= min_story_share:
            n_big += 1
            larger = larger and size[x] > big[i]
    if n_big >= 2 and larger:
        concat[x] = True
    if stories < 2:
        return
    for i in range(cap):
        lose[lo + i] = parent[i] != best
    for e in range(lo + cap, start[x + 1]):  # links beyond the ones examined go too
        lose[e] = True
