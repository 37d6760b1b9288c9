"""Near-duplicate text clusters: which candidate pairs are duplicates, which story a page
belongs to when it holds two, and which copy of a cluster is kept.

1. **Candidates.** MinHash LSH tuned to ``band_threshold`` (below the duplicate threshold, so
   heavily edited copies still meet).
2. **First pass (signatures only).** Per pair, the estimated Jaccard ``J`` and the estimated
   containment ``C`` (the share of the smaller text's shingles found in the larger one, from
   ``J`` and the two sizes). ``J >= threshold`` is a duplicate; so is ``C >= containment``
   (truncations, a story inside a page that has more); two pages of one source need
   ``same_source_containment`` (their shared template inflates containment).
3. **Second pass (the band MinHash misses).** Pairs with ``C`` in
   ``[band_containment, containment)`` are decided by sentence embeddings of their texts
   (boilerplate lines dropped): ``cosine >= semantic_threshold`` is a duplicate. At most
   ``semantic_max_texts`` texts are embedded per run; pairs left over stay apart, and both
   counts are reported.
4. **Stories.** A page linked to texts that are not copies of each other holds more than one
   story (a concatenation, a follow-up that quotes an earlier story, a page whose template
   matches other pages of its site): it keeps only its links to one story, the one with a text
   most completely inside it (or holding it), then the one explaining most of it, so two
   stories never merge through it.
5. **Keep rule.** Within a cluster: not a concatenation first; then the earliest date (when
   present); then the least boilerplate; then the copy closest to the cluster's consensus
   (mean estimated Jaccard to the others); then the shortest raw text (copies with the same
   words differ in markup: entities, bylines); then the smallest id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from replica.config import DedupConfig
from replica.dedup import kernels, lsh
from replica.dedup.clusters import Clusters, rank_positions, resolve
from replica.dedup.semantic import Semantic

CONSENSUS_PEERS = 16  # members a copy is compared with for its consensus score
FIT_TIE = 0.15  # containments this close count as equal (MinHash estimates are noisy)


@dataclass(frozen=True)
class PairScores:
    pairs: np.ndarray  # int64[m, 2]: positions, a < b
    jaccard: np.ndarray  # float32[m]
    containment: np.ndarray  # float32[m]: share of the smaller text inside the larger


def shingle_counts(n_words: np.ndarray, k: int) -> np.ndarray:
    """Shingles of each text (a text shorter than ``k`` words is one shingle)."""
    return np.maximum(n_words - k + 1, 1).astype(np.float32)


def score_pairs(sig: np.ndarray, size: np.ndarray, pairs: np.ndarray) -> PairScores:
    """Estimated Jaccard and containment of each pair (from signatures and shingle counts)."""
    j = kernels.equal_share(sig, pairs[:, 0].copy(), pairs[:, 1].copy())
    sa, sb = size[pairs[:, 0]], size[pairs[:, 1]]
    inter = j * (sa + sb) / (1.0 + j)
    c = np.minimum(inter / np.minimum(sa, sb), 1.0).astype(np.float32)
    return PairScores(pairs, j, c)


@dataclass
class Links:
    """Accepted duplicate pairs and how each was decided; what the second pass cost."""

    pairs: np.ndarray  # int64[m, 2]
    method: np.ndarray  # object[m]: exact_text | minhash | containment | semantic
    cosine: dict[tuple[int, int], float] = field(default_factory=dict)
    concat: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per text
    stats: dict[str, float] = field(default_factory=dict)


def decide(
    n: int,
    exact_pairs: np.ndarray,
    scores: PairScores,
    cfg: DedupConfig,
    semantic: Semantic | None,
    exact: np.ndarray,
    texts: Callable[[np.ndarray], list[str]],
    source: np.ndarray,
) -> Links:
    """Steps 2 and 3: accepted pairs among the candidates (``texts(positions)`` gives the
    cleaned texts the embedding model reads)."""
    j, c = scores.jaccard, scores.containment
    sym = j >= cfg.threshold
    # two pages of one source share its template, which inflates their containment: they
    # need more of it, and the embedding of template-led texts cannot settle it
    a, b = scores.pairs[:, 0], scores.pairs[:, 1]
    same = (source[a] == source[b]) & (source[a] != 0)
    cont = ~sym & (c >= np.where(same, cfg.same_source_containment, cfg.containment))
    gray = ~sym & ~cont & ~same & (c >= cfg.band_containment)
    stats: dict[str, float] = {
        "candidates": float(len(j)),
        "band_pairs": float(gray.sum()),
        "band_pairs_embedded": 0.0,
        "band_pairs_accepted": 0.0,
        "texts_embedded": float(len(semantic.vectors)) if semantic else 0.0,
        "texts_over_budget": 0.0,
        "embedding_seconds": 0.0,
        "embedding_read_seconds": 0.0,
        "embedding_load_seconds": 0.0,
    }
    accepted_gray = np.zeros(len(j), dtype=bool)
    cosine: dict[tuple[int, int], float] = {}
    gidx = np.flatnonzero(gray)
    if gidx.size and semantic is not None:
        gidx = gidx[np.argsort(-c[gidx], kind="stable")]  # most promising pairs first
        gp = scores.pairs[gidx]
        # texts in order of first need, each once (copies share the exact hash)
        order = gp.ravel()
        keys = exact[order]
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)
        semantic.embed(keys[first], lambda pos: texts(order[first][pos]))
        cos = semantic.cosine(exact[gp[:, 0]], exact[gp[:, 1]])
        ok = cos >= cfg.semantic_threshold
        accepted_gray[gidx[ok]] = True
        for (a, b), v in zip(gp[ok].tolist(), cos[ok].tolist(), strict=True):
            cosine[(a, b)] = v
        stats["band_pairs_embedded"] = float(np.isfinite(cos).sum())
        stats["band_pairs_accepted"] = float(ok.sum())
        stats["texts_embedded"] = float(len(semantic.vectors))
        stats["texts_over_budget"] = float(semantic.refused)
        stats["embedding_seconds"] = semantic.seconds
        stats["embedding_read_seconds"] = semantic.read_seconds
        stats["embedding_load_seconds"] = semantic.load_seconds
    keep = sym | cont | accepted_gray
    # codes first: a string array over every candidate costs more than the scores
    code = np.concatenate(
        [np.zeros(len(exact_pairs), np.int8), np.where(sym, 1, np.where(cont, 2, 3))[keep]]
    )
    methods = np.array(["exact_text", "minhash", "containment", "semantic"], dtype=object)[code]
    pairs = np.concatenate([exact_pairs, scores.pairs[keep]])
    return Links(pairs.reshape(-1, 2), methods, cosine, np.zeros(n, bool), stats)


def split_stories(
    links: Links, sig: np.ndarray, size: np.ndarray, cfg: DedupConfig, max_neighbors: int = 24
) -> Links:
    """Step 4: a text linked to texts of different stories keeps the story explaining most of
    it; it is a concatenation when two stories each make up ``min_story_share`` of it.

    Among the first ``max_neighbors`` neighbours of a text, pairs with containment below
    ``band_containment`` are apart; the others join neighbours into stories. A text with an
    apart pair keeps, among the stories with a text (nearly, ``FIT_TIE``) as completely inside
    it, or holding it, as the best one, the story explaining most of it (its largest share
    ``|x ∩ y| / |x|``; ties go to the story met first): a page of template and story sides
    with the story, not with pages that merely share its template. Its links to the other
    stories, and those beyond the ones examined, are dropped (``kernels.split_stories``)."""
    n = len(size)
    p = links.pairs
    if not len(p):
        return links
    a = np.concatenate([p[:, 0], p[:, 1]])
    b = np.concatenate([p[:, 1], p[:, 0]])
    edge = np.concatenate([np.arange(len(p)), np.arange(len(p))])
    order = np.argsort(a * n + b, kind="stable")  # by (a, b), as lexsort, at a third the cost
    b, edge = b[order], edge[order]
    start = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=n))])
    hub = np.flatnonzero(np.diff(start) >= 2)
    if not hub.size:
        return links
    lose = np.zeros(len(b), dtype=bool)
    concat = links.concat.copy()
    kernels.split_stories(
        sig,
        size,
        start,
        b,
        hub,
        max_neighbors,
        np.float32(cfg.band_containment),  # numpy compared the float32 scores in float32
        cfg.min_story_share,
        FIT_TIE,
        lose,
        concat,
    )
    drop = np.zeros(len(p), dtype=bool)
    drop[edge[lose]] = True
    stats = dict(links.stats)
    stats["pages_with_two_stories"] = float(concat.sum())
    stats["links_dropped_between_stories"] = float(drop.sum())
    keep = ~drop
    return Links(p[keep], links.method[keep], dict(links.cosine), concat, stats)


def consensus(labels: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """Mean estimated Jaccard of every text to (up to ``CONSENSUS_PEERS``) other members of its
    cluster: the copy closest to what the cluster shares scores highest; singletons score 1."""
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    start = np.flatnonzero(np.concatenate([[True], lab[1:] != lab[:-1]]))
    size = np.diff(np.append(start, len(labels)))
    return kernels.consensus(order, start, size, sig, CONSENSUS_PEERS)


def keep_rank(
    published: list[str | None],
    concat: np.ndarray,
    boilerplate: np.ndarray,
    agreement: np.ndarray,
    length: np.ndarray,
    ids: list[str],
) -> np.ndarray:
    """Step 5 as a rank (lower is kept first)."""
    return rank_positions(
        [
            (concat.astype(np.int8), "ascending"),
            (pa.array(published, pa.string()), "ascending"),
            (np.round(boilerplate, 2), "ascending"),
            (np.round(agreement, 3), "descending"),
            (length, "ascending"),
            (pa.array(ids, pa.string()), "ascending"),
        ]
    )


def clusters_of(n: int, links: Links, rank: np.ndarray) -> Clusters:
    return resolve(n, links.pairs, rank)


__all__ = [
    "Links",
    "PairScores",
    "consensus",
    "decide",
    "keep_rank",
    "lsh",
    "score_pairs",
    "split_stories",
]
