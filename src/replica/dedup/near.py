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
    method = np.where(sym, "minhash", np.where(cont, "containment", "semantic"))[keep]
    pairs = np.concatenate([exact_pairs, scores.pairs[keep]])
    methods = np.concatenate([np.full(len(exact_pairs), "exact_text", dtype=object), method])
    return Links(pairs.reshape(-1, 2), methods.astype(object), cosine, np.zeros(n, bool), stats)


def split_stories(
    links: Links, sig: np.ndarray, size: np.ndarray, cfg: DedupConfig, max_neighbors: int = 24
) -> Links:
    """Step 4: a text linked to texts of different stories keeps the story explaining most of
    it; it is a concatenation when two stories each make up ``min_story_share`` of it."""
    n = len(size)
    p = links.pairs
    if not len(p):
        return links
    a = np.concatenate([p[:, 0], p[:, 1]])
    b = np.concatenate([p[:, 1], p[:, 0]])
    edge = np.concatenate([np.arange(len(p)), np.arange(len(p))])
    order = np.lexsort((b, a))
    a, b, edge = a[order], b[order], edge[order]
    start = np.searchsorted(a, np.arange(n + 1))
    deg = np.diff(start)
    # neighbour pairs of every text with two or more links: are they copies of each other?
    hub = np.flatnonzero(deg >= 2)
    if not hub.size:
        return links
    cap = np.minimum(deg[hub], max_neighbors)
    uu, vv, own = _neighbour_pairs(hub, cap, start, b)
    nb_scores = score_pairs(sig, size, np.stack([uu, vv], axis=1))
    apart = nb_scores.containment < cfg.band_containment
    ambiguous = np.unique(own[apart])
    drop = np.zeros(len(p), dtype=bool)
    concat = links.concat.copy()
    # share of text x explained by neighbour y: |x ∩ y| / |x|, from the link's own estimate
    share_pairs = np.stack([a, b], axis=1)
    sh = score_pairs(sig, size, share_pairs)
    inter = sh.jaccard * (size[a] + size[b]) / (1.0 + sh.jaccard)
    share = np.minimum(inter / size[a], 1.0)
    order = np.argsort(own, kind="stable")
    own_s = own[order]
    # each hub has at most ``max_neighbors`` neighbours: plain Python on short lists beats
    # numpy calls here (their fixed cost dominates at this size)
    for x in ambiguous.tolist():
        lo = int(start[x])
        hi = lo + min(int(deg[x]), max_neighbors)
        lo_p, hi_p = np.searchsorted(own_s, [x, x + 1])
        sel = order[lo_p:hi_p]
        linked = sel[~apart[sel]]
        root = _roots(b[lo:hi].tolist(), uu[linked].tolist(), vv[linked].tolist())
        story_share: dict[int, float] = {}
        story_fit: dict[int, float] = {}
        story_size: dict[int, float] = {}
        for r, s_, f_, z in zip(
            root,
            share[lo:hi].tolist(),
            sh.containment[lo:hi].tolist(),
            size[b[lo:hi]].tolist(),
            strict=True,
        ):
            if r in story_share:
                story_share[r] = max(story_share[r], s_)
                story_fit[r] = max(story_fit[r], f_)
                story_size[r] = max(story_size[r], z)
            else:
                story_share[r], story_fit[r], story_size[r] = s_, f_, z
        # among the stories with a text (nearly) as completely inside x, or holding x, as the
        # best one, the one explaining most of x: a page of template and story sides with the
        # story, not with pages that merely share its template
        top = max(story_fit.values()) - FIT_TIE
        best = max((g for g in story_fit if story_fit[g] >= top), key=lambda g: story_share[g])
        big = [g for g, s in story_share.items() if s >= cfg.min_story_share]
        if len(big) >= 2 and all(float(size[x]) > story_size[g] for g in big):
            concat[x] = True
        if len(story_share) < 2:
            continue
        lose = [lo + i for i, r in enumerate(root) if r != best]
        drop[edge[lose]] = True
        if deg[x] > max_neighbors:  # links beyond the ones examined go too
            drop[edge[hi : start[x + 1]]] = True
    stats = dict(links.stats)
    stats["pages_with_two_stories"] = float(concat.sum())
    stats["links_dropped_between_stories"] = float(drop.sum())
    keep = ~drop
    cos = {k: v for k, v in links.cosine.items()}
    return Links(p[keep], links.method[keep], cos, concat, stats)


def _neighbour_pairs(
    hub: np.ndarray, cap: np.ndarray, start: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (u, v) among the first ``cap`` neighbours of each hub, and its hub; built
    per neighbour count at once (a few distinct counts, no loop over hubs)."""
    us, vs, owners = [], [], []
    for d in np.unique(cap).tolist():
        hubs = hub[cap == d]
        iu, iv = np.triu_indices(d, 1)
        base = start[hubs][:, None]
        us.append(b[base + iu[None, :]].ravel())
        vs.append(b[base + iv[None, :]].ravel())
        owners.append(np.repeat(hubs, len(iu)))
    return np.concatenate(us), np.concatenate(vs), np.concatenate(owners)


def _roots(nodes: list[int], u: list[int], v: list[int]) -> list[int]:
    """The group of every node of ``nodes`` joined by the pairs (u, v), named by its
    smallest member."""
    parent = {x: x for x in nodes}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(u, v, strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return [find(x) for x in nodes]


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
