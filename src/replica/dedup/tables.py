"""Deduplicate article and image tables: fingerprints per batch, clusters, kept rows, evidence.

Text: exact duplicates (same normalized word sequence) first, then MinHash LSH candidates among
the distinct texts, each verified against the threshold, then connected components. The keep
policy: the earliest ``published`` wins, then the longest text, then the smallest
``article_id`` (rows without a date rank after dated ones), so the choice is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from replica.config import DedupConfig
from replica.dedup import images as img
from replica.dedup import lsh
from replica.dedup.clusters import Clusters, cluster_ids, digest, rank_positions, resolve
from replica.dedup.text import fingerprint, jaccard


@dataclass
class TextIndex:
    """Fingerprints of the usable rows of an articles table; the texts themselves are dropped."""

    row: np.ndarray  # int64: row number in the input table
    article_id: list[str]
    published: list[str | None]
    length: np.ndarray  # int64: characters of the raw text
    exact: np.ndarray  # uint64
    signature: np.ndarray  # uint32[n, num_perm]
    rejects: list[dict[str, Any]] = field(default_factory=list)

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
        return TextIndex(
            row=np.concatenate([p.row for p in parts]),
            article_id=[a for p in parts for a in p.article_id],
            published=[a for p in parts for a in p.published],
            length=np.concatenate([p.length for p in parts]),
            exact=np.concatenate([p.exact for p in parts]),
            signature=np.concatenate([p.signature for p in parts]),
            rejects=[r for p in parts for r in p.rejects],
        )


def _decode(texts: pa.Array) -> list[str | bytes | None]:
    """Python strings; a row that is not valid UTF-8 comes back as its raw bytes."""
    try:
        texts.validate(full=True)
        return texts.to_pylist()
    except pa.ArrowInvalid:
        out: list[str | bytes | None] = []
        for raw in texts.view(pa.binary()).to_pylist():
            try:
                out.append(None if raw is None else raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(raw)
        return out


def fingerprint_batch(batch: pa.RecordBatch, offset: int, cfg: DedupConfig, seed: int) -> TextIndex:
    """Fingerprint one batch of ``articles`` rows (article_id, url, text, published).

    Refused rows become rejects: ``empty_text`` (null, blank, or no words left after
    normalization), ``invalid_utf8`` and ``text_too_large`` (over ``max_text_bytes``).
    """
    ids = batch.column("article_id").to_pylist()
    urls = batch.column("url").to_pylist()
    published = batch.column("published").to_pylist()
    nbytes = pc.fill_null(pc.binary_length(batch.column("text")), 0).to_numpy()
    texts = _decode(batch.column("text"))
    rejects: list[dict[str, Any]] = []
    keep: list[int] = []
    for i, t in enumerate(texts):
        if isinstance(t, bytes):
            bad = t.decode("utf-8", errors="replace").find("\ufffd")
            reason, detail = "invalid_utf8", f"text is not valid UTF-8 (first bad char {bad})"
        elif nbytes[i] > cfg.max_text_bytes:
            reason = "text_too_large"
            detail = f"text has {nbytes[i]} bytes > dedup.max_text_bytes={cfg.max_text_bytes}"
        elif t is None or not t.strip():
            reason, detail = "empty_text", "article text is empty"
        else:
            keep.append(i)
            continue
        rejects.append({"record_id": ids[i], "url": urls[i], "reason": reason, "detail": detail})
    fp = fingerprint([texts[i] for i in keep], cfg.shingle_size, cfg.num_perm, seed)  # type: ignore[misc]
    usable = fp.n_words > 0
    for j in np.flatnonzero(~usable).tolist():
        i = keep[j]
        detail = "no words left after normalization (punctuation or boilerplate only)"
        rejects.append(
            {"record_id": ids[i], "url": urls[i], "reason": "empty_text", "detail": detail}
        )
    rows = np.array(keep, dtype=np.int64)[usable]
    return TextIndex(
        row=rows + offset,
        article_id=[ids[i] for i in rows.tolist()],
        published=[published[i] for i in rows.tolist()],
        length=np.array([len(texts[i] or "") for i in rows.tolist()], dtype=np.int64),
        exact=fp.exact[usable],
        signature=fp.signature[usable],
        rejects=rejects,
    )


def text_rank(index: TextIndex) -> np.ndarray:
    """The keep policy as a rank: earliest published, then longest, then smallest id."""
    return rank_positions(
        [
            (pa.array(index.published, pa.string()), "ascending"),
            (index.length, "descending"),
            (pa.array(index.article_id, pa.string()), "ascending"),
        ]
    )


def near_candidates(index: TextIndex, cfg: DedupConfig) -> np.ndarray:
    """LSH candidate pairs (row positions in ``index``) among the first copy of each text."""
    bands, rows = lsh.optimal_params(
        cfg.threshold, cfg.num_perm, cfg.lsh_fp_weight, cfg.lsh_fn_weight
    )
    _, first = np.unique(index.exact, return_index=True)
    keys = lsh.band_keys(index.signature[first], bands, rows)
    return lsh.candidate_pairs(keys, first.astype(np.int64))


@dataclass(frozen=True)
class Removals:
    """Each removed row, the kept row it duplicates, the method and the direct evidence."""

    removed: np.ndarray
    kept: np.ndarray
    method: list[str]
    score: np.ndarray


def cluster_texts(
    index: TextIndex, cfg: DedupConfig, candidates: np.ndarray | None = None
) -> tuple[Clusters, Removals]:
    """Exact and verified near-duplicate clusters of ``index`` with the keep policy applied.

    ``candidates`` (from ``near_candidates`` or a distributed engine computing the same pairs)
    are verified here: only pairs whose estimated Jaccard reaches the threshold join clusters.
    """
    n = len(index)
    # 1. exact: every copy links to the first row with the same normalized word sequence
    _, first, inverse = np.unique(index.exact, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()]
    exact_pairs = np.stack([rep, np.arange(n)], axis=1)[rep != np.arange(n)]
    # 2. near: LSH candidates among distinct texts, each verified against the threshold
    if candidates is None:
        candidates = near_candidates(index, cfg)
    near, _ = lsh.verify(index.signature, candidates, cfg.threshold)
    # 3. components, keep policy
    clusters = resolve(n, np.concatenate([exact_pairs, near]), text_rank(index))
    # 4. evidence between each removed row and the kept row, measured directly
    removed = clusters.removed
    kept = clusters.kept_of[removed]
    same = index.exact[removed] == index.exact[kept]
    score = np.where(same, 1.0, jaccard(index.signature[removed], index.signature[kept]))
    method = [
        "exact_text" if s else ("minhash" if j >= cfg.threshold else "minhash_chain")
        for s, j in zip(same.tolist(), score.tolist(), strict=True)
    ]
    return clusters, Removals(removed, kept, method, score)


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
        }
        for r, k, m, s in zip(
            removals.removed.tolist(),
            removals.kept.tolist(),
            removals.method,
            removals.score.tolist(),
            strict=True,
        )
    ]
    return cid, dups


@dataclass
class DedupResult:
    kept: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    rejects: list[dict[str, Any]] = field(default_factory=list)


def dedup_articles(rows: list[dict[str, Any]], cfg: DedupConfig, seed: int) -> DedupResult:
    """Deduplicate article rows held in memory (the step streams; this serves small tables)."""
    table = (
        pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [(c, pa.string()) for c in ("article_id", "url", "text", "published")]
            ),
        )
        if rows
        else None
    )
    parts = [fingerprint_batch(b, 0, cfg, seed) for b in table.to_batches()] if table else []
    index = TextIndex.concat(parts, cfg.num_perm)
    clusters, removals = cluster_texts(index, cfg)
    cid, dups = describe("articles", index.article_id, clusters, removals)
    sizes = clusters.sizes()
    kept = [
        {**rows[int(index.row[k])], "cluster_id": cid[k], "cluster_size": int(sizes[k])}
        for k in clusters.kept.tolist()
    ]
    return DedupResult(kept=kept, duplicates=dups, rejects=index.rejects)


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
    methods, scores = [], []
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
    ids = [r["image_id"] for r in rows]
    cid, dups = describe(
        "images", ids, clusters, Removals(removed, kept, methods, np.array(scores))
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
