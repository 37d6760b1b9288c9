"""Deduplicate the ``articles`` and ``images`` tables: cluster ids, kept rows, removals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from replica.config import DedupConfig
from replica.dedup import images as img
from replica.dedup import text
from replica.dedup.clusters import resolve


@dataclass
class DedupResult:
    kept: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]


def _cluster_id(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def _finish(
    dataset: str, rows: list[dict[str, Any]], id_col: str, keep_of: list[int], removals: list
) -> DedupResult:
    members: dict[int, list[int]] = {}
    for i, k in enumerate(keep_of):
        members.setdefault(k, []).append(i)
    cluster_of = {k: _cluster_id([rows[i][id_col] for i in m]) for k, m in members.items()}
    kept = [
        {**rows[k], "cluster_id": cluster_of[k], "cluster_size": len(m)}
        for k, m in sorted(members.items())
    ]
    dups = [
        {
            "dataset": dataset,
            "removed_id": rows[r.removed][id_col],
            "kept_id": rows[r.kept][id_col],
            "cluster_id": cluster_of[r.kept],
            "method": r.method,
            "score": r.score,
        }
        for r in removals
    ]
    return DedupResult(kept=kept, duplicates=dups)


def dedup_articles(rows: list[dict[str, Any]], cfg: DedupConfig, seed: int) -> DedupResult:
    """Exact then near-duplicate text clusters; keep the earliest published, then the longest.

    Rows without a publication date rank after dated ones; ``article_id`` breaks remaining ties
    so the choice is deterministic.
    """
    texts = [r["text"] for r in rows]
    rank = [
        (r["published"] is None, r["published"] or "", -len(r["text"]), r["article_id"])
        for r in rows
    ]
    order = sorted(range(len(rows)), key=rank.__getitem__)
    edges = text.exact_edges(texts, order) + text.near_edges(
        texts, cfg.shingle_size, cfg.num_perm, cfg.threshold, seed
    )
    keep_of, removals = resolve(len(rows), edges, rank)
    return _finish("articles", rows, "article_id", keep_of, removals)


def dedup_images(
    rows: list[dict[str, Any]], hashes: list[int | None], kept_articles: set[str], cfg: DedupConfig
) -> DedupResult:
    """Exact (sha256) then pHash clusters; keep an occurrence in a kept article, then the largest.

    Every occurrence of the same bytes is one cluster, so ``images_dedup`` has one row per image.
    """
    rank = [
        (r["article_id"] not in kept_articles, -(r["width"] * r["height"]), r["image_id"])
        for r in rows
    ]
    order = sorted(range(len(rows)), key=rank.__getitem__)
    edges = img.exact_edges([r["sha256"] for r in rows], order) + img.near_edges(
        hashes, cfg.phash_max_distance
    )
    keep_of, removals = resolve(len(rows), edges, rank)
    result = _finish("images", rows, "image_id", keep_of, removals)
    # An exact duplicate shares its image_id with the kept row: it is one image, not a removal.
    # Several occurrences of one removed image yield one removal.
    unique: dict[str, dict[str, Any]] = {}
    for d in result.duplicates:
        if d["removed_id"] != d["kept_id"]:
            unique.setdefault(d["removed_id"], d)
    result.duplicates = list(unique.values())
    return result
