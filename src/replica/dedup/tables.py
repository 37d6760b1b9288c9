"""Deduplicate article and image tables: fingerprints per batch, clusters, kept rows, evidence.

Text: exact duplicates (same normalized word sequence) first, then MinHash LSH candidates among
the distinct texts, each verified against the threshold, then connected components. The keep
policy: the earliest ``published`` wins, then the longest text, then the smallest
``article_id`` (rows without a date rank after dated ones), so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from replica.config import DedupConfig
from replica.dedup import images as img
from replica.dedup import kernels, lsh, near
from replica.dedup.boilerplate import Learned, source_keys
from replica.dedup.clusters import Clusters, cluster_ids, digest, rank_positions, resolve
from replica.dedup.semantic import Semantic
from replica.dedup.text import fingerprint


@dataclass
class TextIndex:
    """Fingerprints of the usable rows of a text table; the texts themselves are dropped."""

    row: np.ndarray  # int64: row number in the input table
    article_id: list[str]
    published: list[str | None]
    length: np.ndarray  # int64: bytes of the raw text
    exact: np.ndarray  # uint64
    signature: np.ndarray  # uint32[n, num_perm]
    rejects: list[dict[str, Any]] = field(default_factory=list)
    n_words: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # words kept
    boilerplate: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # share
    source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # 0: unknown
    sentence_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    sentence_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # row

    def __len__(self) -> int:
        return len(self.row)

    @staticmethod
    def concat(parts: list[TextIndex], num_perm: int) -> TextIndex:
        if not parts:
            return TextIndex(
                np.zeros(0, np.int64),
                [],
                [],
                np.zeros(0, np.int64),
                np.zeros(0, np.uint64),
                np.zeros((0, num_perm), np.uint32),
            )
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        return TextIndex(
            row=np.concatenate([p.row for p in parts]),
            article_id=[a for p in parts for a in p.article_id],
            published=[a for p in parts for a in p.published],
            length=np.concatenate([p.length for p in parts]),
            exact=np.concatenate([p.exact for p in parts]),
            signature=np.concatenate([p.signature for p in parts]),
            rejects=[r for p in parts for r in p.rejects],
            n_words=np.concatenate([p.n_words for p in parts]),
            boilerplate=np.concatenate([p.boilerplate for p in parts]),
            source=np.concatenate([p.source for p in parts]),
            sentence_key=np.concatenate([p.sentence_key for p in parts]),
            sentence_pos=np.concatenate(
                [p.sentence_pos + o for p, o in zip(parts, offsets, strict=True)]
            ),
        )

    def take(self, pick: np.ndarray, rejects: list[dict[str, Any]]) -> TextIndex:
        """The rows at positions ``pick`` (sorted), with ``rejects``."""
        new_pos = np.full(len(self), -1, dtype=np.int64)
        new_pos[pick] = np.arange(len(pick))
        moved = new_pos[self.sentence_pos] if len(self.sentence_pos) else self.sentence_pos
        ok = moved >= 0
        return TextIndex(
            row=self.row[pick],
            article_id=[self.article_id[i] for i in pick.tolist()],
            published=[self.published[i] for i in pick.tolist()],
            length=self.length[pick],
            exact=self.exact[pick],
            signature=self.signature[pick],
            rejects=rejects,
            n_words=self.n_words[pick],
            boilerplate=self.boilerplate[pick],
            source=self.source[pick],
            sentence_key=self.sentence_key[ok],
            sentence_pos=moved[ok],
        )


def _invalid_utf8(texts: pa.Array) -> np.ndarray:
    """bool per row: not valid UTF-8 (Arrow checks lazily, so a bad row can hide in a file)."""
    try:
        texts.validate(full=True)
        return np.zeros(len(texts), dtype=bool)
    except pa.ArrowInvalid:
        bad = np.zeros(len(texts), dtype=bool)
        for i, raw in enumerate(texts.view(pa.binary()).to_pylist()):
            if raw is not None:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    bad[i] = True
        return bad


def fingerprint_batch(
    batch: pa.RecordBatch,
    offset: int,
    cfg: DedupConfig,
    seed: int,
    learned: Learned | None = None,
) -> TextIndex:
    """Fingerprint one batch of rows (``id``, ``text``, ``published``, ``url``, ``source``;
    see ``engine.standard_batch``). Learned boilerplate lines (``learned``) are dropped.

    Refused rows become rejects: ``missing_id`` (null or blank id), ``empty_text`` (null,
    blank, or no words left after normalization), ``invalid_utf8`` and ``text_too_large``
    (over ``max_text_bytes``).
    """
    ids = batch.column("id").to_pylist()
    urls = batch.column("url").to_pylist()
    texts = batch.column("text")
    nbytes = pc.fill_null(pc.binary_length(texts), 0).to_numpy()
    bad_utf8 = _invalid_utf8(texts)
    reason = np.full(len(ids), "", dtype=object)
    id_col = batch.column("id")
    null_id = np.asarray(pc.fill_null(pc.equal(pc.utf8_trim_whitespace(id_col), ""), True))
    reason[nbytes == 0] = "empty_text"
    reason[null_id] = "missing_id"
    reason[bad_utf8 & ~null_id] = "invalid_utf8"
    reason[(nbytes > cfg.max_text_bytes) & ~null_id & ~bad_utf8] = "text_too_large"
    keep = np.flatnonzero(reason == "")
    kept_texts = texts.take(pa.array(keep))
    sources = source_key_column(batch)
    drop = learned.flags(kept_texts, sources[keep]) if learned is not None else None
    fp = fingerprint(kept_texts, cfg.shingle_size, cfg.num_perm, seed, drop, cfg.sentence_words)
    usable = fp.n_words > 0
    reason[keep[~usable]] = "empty_text"
    rejects: list[dict[str, Any]] = []
    for i in np.flatnonzero(reason != "").tolist():
        r = reason[i]
        if r == "invalid_utf8":
            raw = texts.view(pa.binary())[i].as_py()
            bad = raw.decode("utf-8", errors="replace").find("\ufffd")
            detail = f"text is not valid UTF-8 (first bad char {bad})"
        elif r == "text_too_large":
            detail = f"text has {nbytes[i]} bytes > dedup.max_text_bytes={cfg.max_text_bytes}"
        elif r == "missing_id":
            detail = f"row {offset + i} has no id (null or blank)"
        elif nbytes[i] == 0 or not (texts[i].as_py() or "").strip():
            detail = "text is empty"
        else:
            detail = "no words left after normalization (punctuation or boilerplate only)"
        rejects.append({"record_id": ids[i], "url": urls[i], "reason": r, "detail": detail})
    rows = keep[usable]
    published = batch.column("published").to_pylist()
    return TextIndex(
        row=rows + offset,
        article_id=[ids[i] for i in rows.tolist()],
        published=[published[i] for i in rows.tolist()],
        length=np.asarray(pc.binary_length(texts.take(pa.array(rows))), dtype=np.int64),
        exact=fp.exact[usable],
        signature=fp.signature[usable],
        rejects=rejects,
        n_words=fp.n_words[usable],
        boilerplate=fp.boilerplate_share[usable].astype(np.float32),
        source=sources[rows],
        sentence_key=fp.sentence_key[usable[fp.sentence_doc]],
        sentence_pos=(np.cumsum(usable) - 1)[fp.sentence_doc[usable[fp.sentence_doc]]],
    )


def source_key_column(batch: pa.RecordBatch) -> np.ndarray:
    """The source key of every row: its ``source`` column when given, else its URL host."""
    src = batch.column("source")
    if src.null_count < len(src):
        return source_keys(src, from_url=False)
    return source_keys(batch.column("url"), from_url=True)


def near_candidates(index: TextIndex, cfg: DedupConfig) -> np.ndarray:
    """Candidate pairs (row positions in ``index``) among the first copy of each text: LSH
    with bands and rows tuned to ``band_threshold``, and texts sharing a sentence.

    Both kinds are groups of texts (a band bucket, a sentence's texts), so the pairs of all
    groups are found in one pass, each pair once however many bands and sentences it shares.
    """
    bands, rows = lsh.optimal_params(
        cfg.band_threshold, cfg.num_perm, cfg.lsh_fp_weight, cfg.lsh_fn_weight
    )
    first = first_copies(index.exact)
    buckets = lsh.bucket_groups(lsh.band_columns(index.signature, first, bands, rows), first)
    return lsh.group_pairs(lsh.join_groups(buckets, sentence_groups(index, first)))


SENTENCE_MAX_TEXTS = 16  # a sentence in more texts than this is a stock phrase, not a story


def sentence_groups(index: TextIndex, first: np.ndarray) -> lsh.Groups:
    """The texts (first copies, ascending) of each sentence found in 2 to SENTENCE_MAX_TEXTS
    of them; a text repeating a sentence counts once."""
    is_first = np.zeros(len(index), dtype=bool)
    is_first[first] = True
    keep = is_first[index.sentence_pos] if len(index.sentence_pos) else np.zeros(0, bool)
    key, pos = index.sentence_key[keep], index.sentence_pos[keep].astype(np.int64)
    if np.any(pos[1:] < pos[:-1]):  # texts must ascend within a sentence's group
        order = np.argsort(pos, kind="stable")
        key, pos = key[order], pos[order]
    texts, bounds = kernels.equal_key_groups(np.ascontiguousarray(key, np.uint64), pos)
    return lsh.Groups(*kernels.distinct_groups(texts, bounds, 2, SENTENCE_MAX_TEXTS))


def sentence_candidates(index: TextIndex, first: np.ndarray) -> np.ndarray:
    """Pairs of texts (first copies) sharing a sentence found in at most SENTENCE_MAX_TEXTS
    (int64[m, 2], sorted, ``a < b``)."""
    return lsh.group_pairs(sentence_groups(index, first))


def first_copies(exact: np.ndarray) -> np.ndarray:
    """Sorted positions of the first row of every distinct exact hash."""
    order = np.argsort(exact, kind="stable")
    e = exact[order]
    head = np.ones(len(e), dtype=bool)
    head[1:] = e[1:] != e[:-1]
    return np.sort(order[head])


@dataclass(frozen=True)
class Removals:
    """Each removed row, the kept row it duplicates, the method, the score and the evidence."""

    removed: np.ndarray
    kept: np.ndarray
    method: list[str]
    score: np.ndarray
    evidence: list[str] = field(default_factory=list)


def cluster_texts(
    index: TextIndex,
    cfg: DedupConfig,
    candidates: np.ndarray | None = None,
    semantic: Semantic | None = None,
    texts: Callable[[np.ndarray], list[str]] | None = None,
) -> tuple[Clusters, Removals, dict[str, float]]:
    """Exact and near-duplicate clusters of ``index`` with the keep rule applied (see
    ``near``); ``texts(positions)`` gives cleaned texts for the second pass (without it, or
    without ``semantic``, band pairs stay apart). Returns the clusters, the removals with their
    evidence and the second pass's counts."""
    n = len(index)
    # 1. exact: every copy links to the first row with the same normalized word sequence
    order = np.argsort(index.exact, kind="stable")
    head = np.ones(n, dtype=bool)
    head[1:] = index.exact[order][1:] != index.exact[order][:-1]
    rep = np.empty(n, dtype=np.int64)
    rep[order] = order[np.maximum.accumulate(np.where(head, np.arange(n), 0))]
    exact_pairs = np.stack([rep, np.arange(n)], axis=1)[rep != np.arange(n)]
    # 2-3. candidates scored on signatures; the band below the threshold goes to the second pass
    if candidates is None:
        candidates = near_candidates(index, cfg)
    size = near.shingle_counts(index.n_words, cfg.shingle_size)
    scores = near.score_pairs(index.signature, size, candidates)
    use_semantic = semantic if texts is not None else None
    source = index.source if len(index.source) == n else np.zeros(n, np.uint64)
    links = near.decide(
        n, exact_pairs, scores, cfg, use_semantic, index.exact, texts or (lambda pos: []), source
    )
    # 4. a page holding two stories links to one of them only
    links = near.split_stories(links, index.signature, size, cfg)
    # 5. keep rule: consensus is measured within the clusters the links make
    labels = lsh.components(n, links.pairs)
    agreement = near.consensus(labels, index.signature)
    rank = near.keep_rank(
        index.published, links.concat, index.boilerplate, agreement, index.length, index.article_id
    )
    clusters = resolve(n, links.pairs, rank, labels)
    removals = _evidence(index, clusters, links, agreement, size, cfg)
    return clusters, removals, links.stats


def _evidence(
    index: TextIndex,
    clusters: Clusters,
    links: near.Links,
    agreement: np.ndarray,
    size: np.ndarray,
    cfg: DedupConfig,
) -> Removals:
    """Direct evidence between each removed row and its kept row, and why that row was kept.

    The method is the first test the pair passes: the same exact hash, ``threshold``,
    ``containment``, an accepted embedding cosine; otherwise the rows were joined through
    other copies. Decided on whole arrays; strings are made from each distinct value once."""
    removed = clusters.removed
    kept = clusters.kept_of[removed]
    sc = near.score_pairs(index.signature, size, np.stack([removed, kept], axis=1))
    j = sc.jaccard.astype(np.float64)  # the tests compare in float64, like Python floats
    c = sc.containment.astype(np.float64)
    has_cos, cos = _cosines(links.cosine, removed, kept, len(index))
    tests = [index.exact[removed] == index.exact[kept], j >= cfg.threshold, c >= cfg.containment]
    kind = np.select([*tests, has_cos], [0, 1, 2, 3], 4)
    score = np.select([kind == 0, kind == 2, kind == 3], [np.ones_like(j), c, cos], j)
    what = np.empty(len(removed), dtype=object)
    what[kind == 0] = "same normalized text"
    sel = kind == 1
    what[sel] = _formatted(j[sel], "Jaccard {:.2f}")
    sel = kind == 2
    what[sel] = _formatted(c[sel], "containment {:.2f}") + _formatted(j[sel], " (Jaccard {:.2f})")
    sel = kind == 3
    what[sel] = (
        _formatted(cos[sel], "embedding cosine {:.2f}")
        + _formatted(c[sel], ", containment {:.2f}")
        + _formatted(j[sel], " (Jaccard {:.2f})")
    )
    sel = kind == 4
    what[sel] = _formatted(j[sel], "joined through other copies (Jaccard {:.2f})")
    why = _why_kept(index, links.concat, agreement, kept, removed)
    evidence = (what + "; kept: " + why).tolist()
    methods = np.array(_METHODS, dtype=object)[kind].tolist()
    return Removals(removed, kept, methods, score, evidence)


_METHODS = ("exact_text", "minhash", "containment", "semantic", "minhash_chain")


def _cosines(
    cosine: dict[tuple[int, int], float], removed: np.ndarray, kept: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(has a cosine, the cosine or 0) of every pair (removed, kept), in either order."""
    found = np.zeros(len(removed), dtype=bool)
    values = np.zeros(len(removed), dtype=np.float64)
    if not cosine:
        return found, values
    by_pair = {tuple(sorted(k)): v for k, v in cosine.items()}
    keys = np.array([lo * n + hi for lo, hi in by_pair], dtype=np.int64)
    order = np.argsort(keys)
    keys, cos = keys[order], np.array(list(by_pair.values()), dtype=np.float64)[order]
    want = np.minimum(removed, kept) * n + np.maximum(removed, kept)
    at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    found = keys[at] == want
    values[found] = cos[at[found]]
    return found, values


def _formatted(values: np.ndarray, template: str) -> np.ndarray:
    """``template.format(float(v))`` of every value, as an object array (each distinct value,
    told apart by its bits so that -0.0 stays itself, is formatted once)."""
    uniq, inv = _distinct(values)
    return np.array([template.format(v) for v in uniq.tolist()], dtype=object)[inv]


def _py_round(values: np.ndarray, digits: int) -> np.ndarray:
    """Python's ``round(float(v), digits)`` of every value (correctly rounded from the
    decimal value; ``np.round`` scales first and can differ), each distinct value once."""
    uniq, inv = _distinct(values)
    return np.array([round(v, digits) for v in uniq.tolist()], dtype=np.float64)[inv]


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct float64 values by bit pattern, index of every value among them)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    uniq = np.unique(bits)  # few distinct values: a search beats unique's argsort
    return uniq.view(np.float64), np.searchsorted(uniq, bits)


def _why_kept(
    index: TextIndex, concat: np.ndarray, agreement: np.ndarray, k: np.ndarray, r: np.ndarray
) -> np.ndarray:
    """Per pair (kept ``k``, removed ``r``): the first keep-rule key on which the kept row
    beats the removed one, as an object array of strings."""
    published = pa.array(index.published, pa.string())
    dk, dr = published.take(pa.array(k)), published.take(pa.array(r))
    has_k, has_r = _present(dk), _present(dr)
    earlier = has_k & has_r & np.asarray(pc.fill_null(pc.less(dk, dr), False), dtype=bool)
    boil, agree = index.boilerplate.astype(np.float64), agreement.astype(np.float64)
    tests = [  # each on the rows i no earlier test settled
        lambda i: concat[r[i]] & ~concat[k[i]],
        lambda i: has_k[i] & ~has_r[i],
        lambda i: earlier[i],
        lambda i: _py_round(boil[k[i]], 2) < _py_round(boil[r[i]], 2),
        lambda i: _py_round(agree[k[i]], 3) > _py_round(agree[r[i]], 3),
        lambda i: index.length[k[i]] < index.length[r[i]],
    ]
    rule = np.full(len(k), len(tests), dtype=np.int8)
    left = np.arange(len(k))
    for code, test in enumerate(tests):
        hit = test(left)
        rule[left[hit]] = code
        left = left[~hit]
    why = np.empty(len(k), dtype=object)
    why[rule == 0] = "the removed page holds two stories, the kept one does not"
    sel = rule == 1
    why[sel] = [f"dated {d}, the removed copy is undated" for d in _strings(dk, sel)]
    sel = rule == 2
    why[sel] = [
        f"published earlier ({a} before {b})"
        for a, b in zip(_strings(dk, sel), _strings(dr, sel), strict=True)
    ]
    sel = rule == 3
    why[sel] = _formatted(
        _py_round(boil[k[sel]], 2), "less boilerplate ({:.0%} of its words, "
    ) + _formatted(_py_round(boil[r[sel]], 2), "the removed copy {:.0%})")
    sel = rule == 4
    why[sel] = _formatted(
        agree[k[sel]], "closest to the cluster's consensus (mean Jaccard {:.2f}, "
    ) + _formatted(agree[r[sel]], "removed {:.2f})")
    why[rule == 5] = "the plainer text (fewer bytes for the same words), otherwise tied"
    why[rule == 6] = "smallest id, otherwise tied"
    return why


def _present(dates: pa.Array) -> np.ndarray:
    """bool per date: present and not empty (what a Python truth test says)."""
    return np.asarray(pc.fill_null(pc.greater(pc.binary_length(dates), 0), False), dtype=bool)


def _strings(dates: pa.Array, sel: np.ndarray) -> list[str]:
    return dates.filter(pa.array(sel)).to_pylist()


def describe(
    dataset: str, ids: list[str], clusters: Clusters, removals: Removals
) -> tuple[dict[int, str], list[dict[str, Any]]]:
    """Cluster id per kept row, and ``duplicates`` rows naming the kept row and the evidence."""
    cid = cluster_ids(ids, clusters)
    dups = [
        {
            "dataset": dataset,
            "removed_id": ids[r],
            "kept_id": ids[k],
            "cluster_id": cid[k],
            "method": m,
            "score": float(s),
            "evidence": e,
        }
        for r, k, m, s, e in zip(
            removals.removed.tolist(),
            removals.kept.tolist(),
            removals.method,
            removals.score.tolist(),
            removals.evidence or [""] * len(removals.removed),
            strict=True,
        )
    ]
    return cid, dups


@dataclass
class DedupResult:
    kept: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    rejects: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def dedup_articles(
    rows: list[dict[str, Any]], cfg: DedupConfig, seed: int, semantic: Semantic | None = None
) -> DedupResult:
    """Deduplicate article rows held in memory (the step streams files; this serves small
    tables). ``semantic`` defaults to the model ``cfg`` names, loaded only if needed."""
    from replica.dedup.engine import ARTICLE_COLUMNS, Engine, TextTable, dedup_texts

    schema = pa.schema([(c, pa.string()) for c in ("article_id", "url", "text", "published")])
    table = pa.Table.from_pylist(rows, schema=schema)
    res = dedup_texts(Engine.local, TextTable(None, ARTICLE_COLUMNS, table), cfg, seed, semantic)
    index, clusters = res.index, res.clusters
    cid, dups = describe("articles", index.article_id, clusters, res.removals)
    sizes = clusters.sizes()
    kept = [
        {**rows[int(index.row[k])], "cluster_id": cid[k], "cluster_size": int(sizes[k])}
        for k in clusters.kept.tolist()
    ]
    return DedupResult(kept=kept, duplicates=dups, rejects=index.rejects, stats=res.stats)


_IMAGE_EVIDENCE = {
    "exact_bytes": "same file bytes",
    "exact_pixels": "same decoded pixels",
    "phash": "pHash Hamming distance {s:.0f}",
    "phash_flip": "pHash Hamming distance {s:.0f} to the mirrored image",
    "embedding": "embedding cosine {s:.3f}",
    "phash_chain": "joined through other copies (pHash distance {s:.0f})",
}


def _image_keep_reason(
    kept: dict[str, Any], removed: dict[str, Any], kept_articles: set[str]
) -> str:
    if kept["article_id"] in kept_articles and removed["article_id"] not in kept_articles:
        return "; kept: in an article dedup kept"
    if (kept["width"] or 0) * (kept["height"] or 0) > (removed["width"] or 0) * (
        removed["height"] or 0
    ):
        return "; kept: larger image"
    return "; kept: smallest image id, otherwise tied"


@dataclass(frozen=True)
class ImageEvidence:
    """Per image occurrence: sha256 of pixels, pHash and its mirror, optional embedding."""

    pixel_sha: list[str]
    phash: np.ndarray
    phash_flip: np.ndarray
    embedding: np.ndarray | None = None


def _first_of_group(values: list[str]) -> np.ndarray:
    """Pairs (first row with the value, row) for every later row with the same value."""
    first: dict[str, int] = {}
    pairs = [(first.setdefault(v, i), i) for i, v in enumerate(values)]
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return arr[arr[:, 0] != arr[:, 1]]


def dedup_images(
    rows: list[dict[str, Any]], ev: ImageEvidence, kept_articles: set[str], cfg: DedupConfig
) -> tuple[DedupResult, Clusters]:
    """Cluster image occurrences by exact bytes, exact pixels, pHash (and mirror) and, when
    embeddings are given, cosine similarity; keep an occurrence in a kept article, then the
    largest, then the smallest image_id.

    Every occurrence of the same bytes is one cluster, so ``images_dedup`` has one row per
    image and an image seen in several articles is not a removal of itself.
    """
    n = len(rows)
    flips = ev.phash_flip if cfg.match_flips else None
    shas = [r["sha256"] for r in rows]
    # near pairs are searched among distinct files only; exact pairs link the other copies
    _, reps = np.unique(np.array(shas, dtype=object), return_index=True)
    reps = np.sort(reps).astype(np.int64)
    near, _ = img.near_pairs(
        ev.phash[reps], None if flips is None else flips[reps], cfg.phash_max_distance
    )
    pairs = [_first_of_group(shas), _first_of_group(ev.pixel_sha), reps[near]]
    if ev.embedding is not None:
        emb_pairs, _ = img.embedding_pairs(ev.embedding[reps], cfg.embedding_threshold)
        pairs.append(reps[emb_pairs])
    rank = rank_positions(
        [
            ([r["article_id"] not in kept_articles for r in rows], "ascending"),
            # an image of unknown size (null width or height) ranks after every sized one
            (
                np.array([(r["width"] or 0) * (r["height"] or 0) for r in rows], np.int64),
                "descending",
            ),
            ([r["image_id"] for r in rows], "ascending"),
        ]
    )
    clusters = resolve(n, np.concatenate(pairs).reshape(-1, 2), rank)
    removed = clusters.removed
    kept = clusters.kept_of[removed]
    dist = img.hamming(ev.phash[removed], ev.phash[kept])
    flip_dist = (
        np.minimum(
            img.hamming(ev.phash[removed], ev.phash_flip[kept]),
            img.hamming(ev.phash_flip[removed], ev.phash[kept]),
        )
        if flips is not None
        else dist
    )
    cos = (
        (ev.embedding[removed] * ev.embedding[kept]).sum(axis=1)
        if ev.embedding is not None
        else np.full(len(removed), -1.0)
    )
    methods, scores, evidence = [], [], []
    for r, k, d, f, c in zip(
        removed.tolist(),
        kept.tolist(),
        dist.tolist(),
        flip_dist.tolist(),
        cos.tolist(),
        strict=True,
    ):
        if shas[r] == shas[k]:
            m, s = "exact_bytes", 0.0
        elif ev.pixel_sha[r] == ev.pixel_sha[k]:
            m, s = "exact_pixels", 0.0
        elif d <= cfg.phash_max_distance and d <= f:
            m, s = "phash", float(d)
        elif f <= cfg.phash_max_distance:
            m, s = "phash_flip", float(f)
        elif c >= cfg.embedding_threshold:
            m, s = "embedding", float(c)
        else:
            m, s = "phash_chain", float(min(d, f))
        methods.append(m)
        scores.append(s)
        evidence.append(
            _IMAGE_EVIDENCE[m].format(s=s) + _image_keep_reason(rows[k], rows[r], kept_articles)
        )
    ids = [r["image_id"] for r in rows]
    cid, dups = describe(
        "images", ids, clusters, Removals(removed, kept, methods, np.array(scores), evidence)
    )
    sizes = clusters.sizes()
    kept_rows = [
        {**rows[k], "cluster_id": cid[k], "cluster_size": int(sizes[k])}
        for k in clusters.kept.tolist()
    ]
    unique: dict[str, dict[str, Any]] = {}
    for d in dups:
        if d["removed_id"] != d["kept_id"]:
            unique.setdefault(d["removed_id"], d)
    return DedupResult(kept=kept_rows, duplicates=list(unique.values())), clusters


def stories(
    index: TextIndex,
    text_clusters: Clusters,
    image_rows: list[dict[str, Any]],
    image_clusters: Clusters,
) -> list[dict[str, Any]]:
    """Stories: text clusters joined when their articles share an image cluster.

    Every usable article belongs to exactly one story; a story lists its articles, the ones
    dedup kept, the kept image of every image cluster found in it, and its first date.
    """
    n = len(index)
    pos = {a: i for i, a in enumerate(index.article_id)}
    text_pairs = np.stack([np.arange(n), text_clusters.kept_of], axis=1)
    first_article: dict[int, int] = {}
    img_pairs = []
    for row, k in zip(image_rows, image_clusters.kept_of.tolist(), strict=True):
        a = pos.get(row["article_id"])
        if a is not None:
            img_pairs.append((first_article.setdefault(k, a), a))
    pairs = np.concatenate([text_pairs, np.array(img_pairs, np.int64).reshape(-1, 2)])
    label = resolve(n, pairs, np.arange(n)).kept_of
    members: dict[int, list[int]] = {}
    for i, s in enumerate(label.tolist()):
        members.setdefault(s, []).append(i)
    images: dict[int, set[str]] = {}
    for row, k in zip(image_rows, image_clusters.kept_of.tolist(), strict=True):
        a = pos.get(row["article_id"])
        if a is not None:
            images.setdefault(int(label[a]), set()).add(image_rows[k]["image_id"])
    out = []
    for s, m in members.items():
        ids = sorted(index.article_id[i] for i in m)
        kept = sorted(index.article_id[i] for i in m if text_clusters.kept_of[i] == i)
        dates = [d for d in (index.published[i] for i in m) if d]
        imgs = sorted(images.get(s, set()))
        out.append(
            {
                "story_id": digest(ids),
                "article_ids": ids,
                "kept_article_ids": kept,
                "image_ids": imgs,
                "n_articles": len(ids),
                "n_kept": len(kept),
                "n_images": len(imgs),
                "first_published": min(dates) if dates else None,
            }
        )
    return out
