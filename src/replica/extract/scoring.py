"""Score extracted article text against a reference: 4-gram token shingle precision/recall/F1.

The measure of the Article Extraction Benchmark (scrapinghub/article-extraction-benchmark):
each text is split into word tokens (``\\w+``), its overlapping 4-token shingles are counted as
a multiset, and precision/recall are the shared count over the predicted/reference count.
Scores are per document and macro-averaged over documents.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Score:
    """Precision, recall and F1 of one document (or their macro average)."""

    precision: float
    recall: float
    f1: float


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """The multiset of ``n``-token shingles; a text shorter than ``n`` tokens is one shingle."""
    tokens = _TOKEN.findall(text or "")
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def score(predicted: str, reference: str, n: int = 4) -> Score:
    """One document's score; two empty texts agree perfectly, one empty text scores zero."""
    pred, ref = shingles(predicted, n), shingles(reference, n)
    if not pred and not ref:
        return Score(1.0, 1.0, 1.0)
    shared = sum((pred & ref).values())
    precision = shared / sum(pred.values()) if pred else 0.0
    recall = shared / sum(ref.values()) if ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1)


def macro(scores: Iterable[Score]) -> Score:
    """The unweighted mean of per-document scores."""
    items = list(scores)
    if not items:
        raise ValueError("macro average of no documents")
    k = len(items)
    return Score(
        sum(s.precision for s in items) / k,
        sum(s.recall for s in items) / k,
        sum(s.f1 for s in items) / k,
    )
