"""Finding a query's source among a gallery of references: shortlist with faiss, then re-rank
every shortlisted pair with the full copy detector.

The shortlist is the union of two searches, because each misses what the other finds:

- **embeddings**: inner product of the PDF-Embedding token sets (their mean cosine), exact
  search (``IndexFlatIP``); good for global look-alikes, blind to small pasted regions;
- **local descriptors**: every reference keypoint descriptor (also of its mirror image) in one
  index (``IndexBinaryFlat`` for ORB, ``IndexFlatL2`` for SIFT); each query descriptor whose
  nearest neighbour passes the ratio test against the nearest from another image votes for
  that image; crops, collages and pasted regions keep votes where global similarity fails.

The detector then scores each (query, candidate) pair: the fused level PDF, and the match
head's probability that the candidate is the query's source, by which candidates are ranked
(a model without a match head, saved before it existed, ranks by the expected level).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from replica.config import VerifyMethod
from replica.models.copy import CopyDetector
from replica.scoring.features import ImageFeatures, ImageRef, pair_matrix
from replica.scoring.fuse import expected, fused_pdf, match_probability

VOTE_NEIGHBOURS = 4


@dataclass(frozen=True)
class Reference:
    """A gallery image of a split, which that split's queries are searched against."""

    image_id: str
    image: ImageRef


@dataclass(frozen=True)
class Match:
    """One ranked candidate of a query: reference index, fused level PDF, expected level and
    the ranking key ``match``: the probability that it is the query's source (the expected
    level again for a model without a match head)."""

    reference: int
    pdf: np.ndarray
    score: float
    match: float


class Gallery:
    """References indexed for shortlisting."""

    def __init__(self, refs: Sequence[ImageFeatures], method: VerifyMethod, ratio: float) -> None:
        if not refs:
            raise ValueError("the gallery is empty")
        self.refs, self.method, self.ratio = list(refs), method, ratio
        tokens = np.stack([r.tokens.ravel() for r in refs]).astype(np.float32)
        self.embeddings = faiss.IndexFlatIP(tokens.shape[1])
        self.embeddings.add(tokens / np.sqrt(refs[0].tokens.shape[0]))
        owners, descriptors = [], []
        for i, r in enumerate(refs):
            for side in (r.local.plain, r.local.mirrored):
                if side is not None and len(side.descriptors):
                    descriptors.append(side.descriptors)
                    owners.append(np.full(len(side.descriptors), i, np.int64))
        self.owners = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        if method == VerifyMethod.orb:
            self.local: faiss.Index | faiss.IndexBinary = faiss.IndexBinaryFlat(256)
        else:
            self.local = faiss.IndexFlatL2(128)
        if descriptors:
            self.local.add(np.ascontiguousarray(np.concatenate(descriptors)))

    def __len__(self) -> int:
        return len(self.refs)

    def _votes(self, query: ImageFeatures) -> np.ndarray:
        """Ratio-test votes of the query's descriptors per reference: [R]."""
        votes = np.zeros(len(self.refs), np.int64)
        desc = query.local.plain.descriptors
        if not len(desc) or not len(self.owners):
            return votes
        k = min(VOTE_NEIGHBOURS, len(self.owners))
        raw, idx = self.local.search(np.ascontiguousarray(desc), k)
        dist = np.asarray(raw, np.float64)
        if self.method != VerifyMethod.orb:  # IndexFlatL2 returns squared distances
            dist = np.sqrt(dist)
        owner = self.owners[np.maximum(idx, 0)]
        for row in range(len(desc)):
            other = np.nonzero(owner[row] != owner[row, 0])[0]
            second = dist[row, other[0]] if len(other) else np.inf
            if dist[row, 0] < self.ratio * second:
                votes[owner[row, 0]] += 1
        return votes

    def shortlist(self, queries: Sequence[ImageFeatures], k: int) -> list[list[int]]:
        """For each query, up to 2k reference indices: the top k by local votes (those with
        any), then the top k by embedding similarity, without repeats."""
        k = min(k, len(self.refs))
        tokens = np.stack([q.tokens.ravel() for q in queries]).astype(np.float32)
        _, by_embedding = self.embeddings.search(tokens / np.sqrt(queries[0].tokens.shape[0]), k)
        out = []
        for q, emb in zip(queries, by_embedding, strict=True):
            votes = self._votes(q)
            voted = [int(i) for i in np.argsort(-votes, kind="stable")[:k] if votes[i] > 0]
            out.append(list(dict.fromkeys(voted + [int(i) for i in emb if i >= 0])))
        return out

    def search(
        self,
        detector: CopyDetector,
        queries: Sequence[ImageFeatures],
        k: int,
        top: int,
    ) -> list[list[Match]]:
        """The ``top`` best references of each query by match probability, among its
        shortlist of ``k`` per search."""
        lists = self.shortlist(queries, k)
        flat_q = [queries[i] for i, c in enumerate(lists) for _ in c]
        flat_r = [self.refs[j] for c in lists for j in c]
        matrix = pair_matrix(detector, flat_q, flat_r)
        pdf = fused_pdf(detector, matrix)
        level = expected(pdf)
        found = match_probability(detector, matrix)
        key = found if found is not None else level
        out, start = [], 0
        for cands in lists:
            rows = range(start, start + len(cands))
            ranked = sorted(
                (
                    Match(j, pdf[n], float(level[n]), float(key[n]))
                    for n, j in zip(rows, cands, strict=True)
                ),
                key=lambda m: -m.match,
            )
            out.append(ranked[:top])
            start += len(cands)
        return out
