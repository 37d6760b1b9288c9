"""Union-find over row indices, and the evidence of each merge, for explainable clusters."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size."""

    n: int
    parent: list[int] = field(init=False)
    size: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.parent = list(range(self.n))
        self.size = [1] * self.n

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(self.n):
            out.setdefault(self.find(i), []).append(i)
        return out


@dataclass(frozen=True)
class Edge:
    """Why two rows are duplicates: the method and its score (Jaccard, or Hamming distance)."""

    a: int
    b: int
    method: str
    score: float


@dataclass(frozen=True)
class Removal:
    removed: int
    kept: int
    method: str
    score: float


def resolve(n: int, edges: list[Edge], rank: list[tuple]) -> tuple[list[int], list[Removal]]:
    """Cluster rows by ``edges``; keep the best-ranked row (lowest ``rank``) per cluster.

    Returns the kept index per row (its cluster representative) and one ``Removal`` per dropped
    row, naming the kept row and the strongest direct evidence linking them (the first edge
    found on the path otherwise, so every removal stays explainable).
    """
    uf = UnionFind(n)
    for e in edges:
        uf.union(e.a, e.b)
    evidence: dict[tuple[int, int], Edge] = {}
    by_row: dict[int, list[Edge]] = {}
    for e in edges:  # the first edge between two rows wins: callers list exact edges first
        evidence.setdefault((min(e.a, e.b), max(e.a, e.b)), e)
        by_row.setdefault(e.a, []).append(e)
        by_row.setdefault(e.b, []).append(e)
    keep_of = list(range(n))
    removals: list[Removal] = []
    for members in uf.groups().values():
        kept = min(members, key=lambda i: rank[i])
        for i in members:
            keep_of[i] = kept
            if i == kept:
                continue
            e = evidence.get((min(i, kept), max(i, kept))) or by_row[i][0]
            removals.append(Removal(removed=i, kept=kept, method=e.method, score=e.score))
    return keep_of, removals
