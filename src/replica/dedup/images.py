"""Image duplicates: exact (sha256 of bytes) and near (64-bit pHash within a Hamming radius)."""

from __future__ import annotations

from pathlib import Path

from replica.dedup.clusters import Edge


def phash(path: Path, max_pixels: int) -> int:
    """64-bit perceptual hash of an image file as an int; raises on undecodable input."""
    import imagehash
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(path) as img:
        h = imagehash.phash(img.convert("RGB"))
    return int(str(h), 16)


def exact_edges(shas: list[str], order: list[int]) -> list[Edge]:
    """Link every occurrence to the first in ``order`` (best first) with the same sha256."""
    first: dict[str, int] = {}
    edges = []
    for i in order:
        s = shas[i]
        if s in first:
            edges.append(Edge(first[s], i, "exact_bytes", 0.0))
        else:
            first[s] = i
    return edges


def near_edges(hashes: list[int | None], max_distance: int) -> list[Edge]:
    """Pairs within ``max_distance`` bits, found through a BK-tree (no all-pairs scan)."""
    tree = _BKTree()
    edges = []
    for i, h in enumerate(hashes):
        if h is None:
            continue
        for j, d in tree.query(h, max_distance):
            edges.append(Edge(j, i, "phash", float(d)))
        tree.add(h, i)
    return edges


class _BKTree:
    """Metric tree over Hamming distance: a query visits only subtrees that can match."""

    def __init__(self) -> None:
        self.root: tuple[int, int, dict[int, tuple]] | None = None

    def add(self, h: int, idx: int) -> None:
        if self.root is None:
            self.root = (h, idx, {})
            return
        node = self.root
        while True:
            d = (h ^ node[0]).bit_count()
            child = node[2].get(d)
            if child is None:
                node[2][d] = (h, idx, {})
                return
            node = child

    def query(self, h: int, radius: int) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        stack = [self.root] if self.root else []
        while stack:
            node = stack.pop()
            d = (h ^ node[0]).bit_count()
            if d <= radius:
                found.append((node[1], d))
            stack.extend(c for k, c in node[2].items() if d - radius <= k <= d + radius)
        return found
