"""Locality-sensitive hashing over MinHash signatures, vectorized: the bands x rows choice,
band buckets, the candidate pairs that share a bucket, their verification, and components.

The shape is the one DataTrove and NeMo Curator use, so each phase can run on a cluster:
signatures → band buckets → candidate pairs → verified pairs → connected components.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from replica.dedup import kernels


def cpu_count() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Groups(NamedTuple):
    """Groups of ids: group ``g`` is ``members[bounds[g]:bounds[g + 1]]`` (int64 both)."""

    members: np.ndarray
    bounds: np.ndarray


@lru_cache(maxsize=64)
def optimal_params(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """Bands and rows (b·r ≤ num_perm) minimizing ``fp_weight·FP + fn_weight·FN``.

    FP is the area under the probability that a pair becomes a candidate,
    ``1 - (1 - s^r)^b``, for Jaccard ``s`` below the threshold; FN the area above it of the
    probability that it does not. This is datasketch's ``_optimal_param`` with the integrals
    taken by the trapezoid rule on a fine grid over all (b, r) at once.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    grid = 4001
    lo = np.linspace(0.0, threshold, grid)
    hi = np.linspace(threshold, 1.0, grid)
    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]
        fp = np.asarray(np.trapezoid(1.0 - (1.0 - lo[None, :] ** r) ** b, lo, axis=1))
        fn = np.asarray(np.trapezoid((1.0 - hi[None, :] ** r) ** b, hi, axis=1))
        err = fp * fp_weight + fn * fn_weight
        i = int(np.argmin(err))
        if err[i] < best_err:
            best, best_err = (b, i + 1), float(err[i])
    return best


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64[n, bands]: one hash per band of ``rows`` signature values (band index mixed in
    first, then each value in turn with splitmix64; a compiled loop, ``kernels.band_keys``)."""
    return kernels.band_keys(np.ascontiguousarray(sig, dtype=np.uint32), bands, rows)


def bucket_pairs(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Every pair of ``ids`` whose ``keys`` are equal, as int64[m, 2] with ``a < b``.

    Sorting puts a bucket's members next to each other; offset ``d`` pairs each member with the
    one ``d`` places further while both stay in the bucket, so the work is the pair count.
    """
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    sid = ids[order]
    active = np.arange(len(k) - 1, dtype=np.int64)
    out = []
    d = 1
    while active.size:
        active = active[active + d < len(k)]
        active = active[k[active] == k[active + d]]
        if active.size:
            a, b = sid[active], sid[active + d]
            out.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
        d += 1
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def band_columns(sig: np.ndarray, pick: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64[bands, len(pick)]: ``band_keys(sig[pick], bands, rows).T``, computed without
    gathering the signature rows (``kernels.band_columns``)."""
    return kernels.band_columns(
        np.ascontiguousarray(sig, dtype=np.uint32), np.asarray(pick, np.int64), bands, rows
    )


def bucket_groups(columns: Iterable[np.ndarray], ids: np.ndarray) -> Groups:
    """The buckets of two or more ``ids`` sharing a key, column by column (one column of keys
    per band), as one list of groups (``kernels.equal_key_groups``); ``ids`` ascend within a
    group where ``ids`` ascend."""
    ids = np.asarray(ids, np.int64)
    parts, cuts, total = [ids[:0]], [np.zeros(1, np.int64)], 0
    with ThreadPoolExecutor(cpu_count()) as threads:  # the loop releases the GIL: bands at once
        grouped = threads.map(
            lambda col: kernels.equal_key_groups(np.ascontiguousarray(col, np.uint64), ids),
            columns,
        )
        for members, bounds in grouped:
            parts.append(members)
            cuts.append(bounds[1:] + total)
            total += len(members)
    return Groups(np.concatenate(parts), np.concatenate(cuts))


def join_groups(*groups: Groups) -> Groups:
    """One list of the groups of each argument, in order."""
    offsets = np.cumsum([0] + [len(g.members) for g in groups[:-1]])
    cuts = [g.bounds[1:] + o for g, o in zip(groups, offsets, strict=True)]
    return Groups(
        np.concatenate([g.members for g in groups]), np.concatenate([np.zeros(1, np.int64), *cuts])
    )


def group_pairs(groups: Groups) -> np.ndarray:
    """Distinct pairs of members of a common group (int64[m, 2], sorted, ``a < b``): the
    ``unique_pairs`` of every group's pairs, in one compiled pass (``kernels.group_pairs``)."""
    n = int(groups.members.max()) + 1 if len(groups.members) else 0
    return kernels.group_pairs(groups.members, groups.bounds, n)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct rows of ``pairs`` (int64[m, 2], each ``a <= b``; ``a == b`` rows dropped),
    sorted: one sort of a 64-bit key per pair (``np.unique(axis=0)`` sorts rows
    lexicographically, several times slower)."""
    if len(pairs) == 0:
        return pairs.reshape(0, 2).astype(np.int64)
    p = pairs.astype(np.int64)
    p = p[p[:, 0] != p[:, 1]]  # a text is no pair with itself
    key = np.sort((p[:, 0] << 32) | p[:, 1])
    head = np.ones(len(key), dtype=bool)
    head[1:] = key[1:] != key[:-1]
    key = key[head]
    return np.stack([key >> 32, key & 0xFFFFFFFF], axis=1)


def verify(sig: np.ndarray, pairs: np.ndarray, threshold: float, chunk: int = 1 << 16):
    """Estimated Jaccard of each candidate pair; returns (pairs at or above threshold, scores)."""
    scores = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), chunk):
        p = pairs[s : s + chunk]
        scores[s : s + chunk] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    ok = scores >= threshold
    return pairs[ok], scores[ok]


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected component of every node, labelled by its smallest member (int64[n])."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n, dtype=np.int64))
    return smallest[labels]
