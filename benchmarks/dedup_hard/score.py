"""Grading a clustering against a benchmark's truth: pairwise P/R/F1, ARI, recall per edit
(each copy counted once: is it with its story's original?), hard-negative merge rate per kind,
and how often the kept row of a story is its original."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dedup_hard.common import Bench


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    ari: float
    per_edit: dict[str, tuple[float, int]]  # edit -> (recall, copies)
    hard_negatives: dict[str, tuple[float, int]]  # kind -> (merge rate, pairs)
    keep_original: tuple[float, int] | None  # (share of stories keeping the original, stories)
    keep_lost_to_dates: int = 0  # misses where an undated original lost to a dated copy

    @property
    def hn_rate(self) -> float:
        merged = sum(r * n for r, n in self.hard_negatives.values())
        total = sum(n for _, n in self.hard_negatives.values())
        return merged / total if total else 0.0


def _pairs(labels: np.ndarray) -> int:
    _, counts = np.unique(labels, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def score(bench: Bench, labels: np.ndarray, kept: np.ndarray | None = None) -> Scores:
    """``labels[i]``: predicted cluster of doc i; ``kept[i]``: the doc kept for i's cluster."""
    from sklearn.metrics import adjusted_rand_score

    truth = np.array([d.cluster for d in bench.docs], dtype=np.int64)
    _, pred = np.unique(labels, return_inverse=True)
    joint = pred.astype(np.int64) * (int(truth.max()) + 1) + truth
    tp, p, t = _pairs(joint), _pairs(pred), _pairs(truth)
    precision = tp / p if p else 1.0
    recall = tp / t if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    original: dict[int, int] = {}
    for i, d in enumerate(bench.docs):
        if d.edit == "original":
            original[d.cluster] = i
    per_edit: dict[str, list[bool]] = {}
    for i, d in enumerate(bench.docs):
        if d.edit not in ("original", "follow_up") and d.cluster in original:
            per_edit.setdefault(d.edit, []).append(bool(pred[i] == pred[original[d.cluster]]))
    hn: dict[str, list[bool]] = {}
    for a, b, kind in bench.hard_negatives:
        hn.setdefault(kind, []).append(bool(pred[a] == pred[b]))
    keep = None
    lost_to_dates = 0
    if kept is not None:
        hits = []
        truth_size, pred_size = np.bincount(truth), np.bincount(pred)  # counted once
        for c, o in original.items():
            if truth_size[c] > 1 and pred_size[pred[o]] > 1:
                k = int(kept[o])
                hits.append(k == o)
                dated_copy = bench.docs[k].published is not None
                lost_to_dates += k != o and bench.docs[o].published is None and dated_copy
        keep = (float(np.mean(hits)) if hits else 0.0, len(hits))
    return Scores(
        precision=precision,
        recall=recall,
        f1=f1,
        ari=float(adjusted_rand_score(truth, pred)),
        per_edit={k: (float(np.mean(v)), len(v)) for k, v in sorted(per_edit.items())},
        hard_negatives={k: (float(np.mean(v)), len(v)) for k, v in sorted(hn.items())},
        keep_original=keep,
        keep_lost_to_dates=lost_to_dates,
    )
