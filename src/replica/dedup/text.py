"""Text duplicates: exact (hash of normalized text), then MinHash LSH near duplicates.

Candidates from LSH are verified against the threshold with the MinHash Jaccard estimate, so
unverified band collisions never chain unrelated documents into one cluster.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from replica.dedup.clusters import Edge

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    """NFKC, case-folded, whitespace-collapsed text: what 'the same text' means for exact dups."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize(text).encode()).hexdigest()


def shingles(text: str, size: int) -> set[bytes]:
    """Word ``size``-grams of the normalized text (the whole text when it is shorter)."""
    words = _WORD.findall(normalize(text))
    if len(words) <= size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def exact_edges(texts: list[str], order: list[int]) -> list[Edge]:
    """Link every text to the first text in ``order`` (best first) with the same normalized hash.

    Linking to the best-ranked copy makes the exact evidence point at the row that is kept.
    """
    first: dict[str, int] = {}
    edges = []
    for i in order:
        h = text_hash(texts[i])
        if h in first:
            edges.append(Edge(first[h], i, "exact_text", 1.0))
        else:
            first[h] = i
    return edges


def near_edges(
    texts: list[str], shingle_size: int, num_perm: int, threshold: float, seed: int
) -> list[Edge]:
    """MinHash LSH candidate pairs whose estimated Jaccard reaches ``threshold``."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs: list[MinHash] = []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=seed)
        m.update_batch(list(shingles(t, shingle_size)))
        sigs.append(m)
        lsh.insert(str(i), m)
    edges = []
    for i, m in enumerate(sigs):
        for key in lsh.query(m):
            j = int(key)
            if j <= i:
                continue
            jaccard = m.jaccard(sigs[j])
            if jaccard >= threshold:
                edges.append(Edge(i, j, "minhash", float(jaccard)))
    return edges
