"""Clusters from duplicate pairs: connected components, the kept row of each, and removals.

Every removed row names the kept row of its cluster; the caller supplies the evidence between
the two (a direct score), so a removal stays explainable even when the cluster was joined
through a chain of pairs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from replica.dedup.lsh import components


@dataclass(frozen=True)
class Clusters:
    """``kept_of[i]``: the row kept for row ``i``'s cluster (``i`` itself when kept)."""

    kept_of: np.ndarray  # int64[n]

    @property
    def kept(self) -> np.ndarray:
        return np.flatnonzero(self.kept_of == np.arange(len(self.kept_of)))

    @property
    def removed(self) -> np.ndarray:
        return np.flatnonzero(self.kept_of != np.arange(len(self.kept_of)))

    def sizes(self) -> np.ndarray:
        """Cluster size of every row (int64[n])."""
        return np.bincount(self.kept_of, minlength=len(self.kept_of))[self.kept_of]


def rank_positions(columns: Sequence[tuple[pa.Array | np.ndarray | list, str]]) -> np.ndarray:
    """Position of every row in the order given by ``(values, "ascending"|"descending")`` keys.

    Nulls sort last in every key, so a row without a publication date ranks after dated ones.
    """
    names = [f"k{i}" for i in range(len(columns))]
    table = pa.table({n: pa.array(v) for n, (v, _) in zip(names, columns, strict=True)})
    keys = [(n, o, "at_end") for n, (_, o) in zip(names, columns, strict=True)]
    order = pc.sort_indices(table, sort_keys=keys).to_numpy()
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order), dtype=np.int64)
    return pos


def resolve(
    n: int, pairs: np.ndarray, rank: np.ndarray, labels: np.ndarray | None = None
) -> Clusters:
    """Connected components of ``pairs``; each keeps its best-ranked row (lowest ``rank``).
    ``labels``: the components (``lsh.components``) when the caller has them already."""
    if labels is None:
        labels = components(n, pairs)
    order = np.lexsort((rank, labels))  # by label, then rank: the first of each label is kept
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    best = np.empty(labels.max() + 1 if n else 0, dtype=np.int64)
    best[labels[order][first]] = order[first]
    return Clusters(kept_of=best[labels] if n else np.zeros(0, np.int64))


def cluster_ids(ids: Sequence[str], clusters: Clusters) -> dict[int, str]:
    """A stable id per cluster (keyed by its kept row): a digest of its sorted member ids."""
    members: dict[int, list[str]] = {}
    for i, k in enumerate(clusters.kept_of.tolist()):
        members.setdefault(k, []).append(ids[i])
    return {k: digest(m) for k, m in members.items()}


def digest(ids: Sequence[str]) -> str:
    """A stable 16-hex id for a set of row ids."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
