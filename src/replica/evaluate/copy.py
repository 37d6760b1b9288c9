"""Evaluate a copy detector and its baselines on the same test split, in one pass.

1. Describe every image once (``Featurizer``; cached): test queries and references, the val
   pairs the baselines calibrate on, and every test-split gallery reference for retrieval.
2. Score the test pairs: the model (fused PDF), PDF-Embedding alone (its own PDF), and each
   baseline through its isotonic calibration fitted on val.
3. Metrics per system (``metrics.level_metrics``), confusion matrices, per-family figures.
4. Retrieval: each test query labelled >= 3 against all test references; the model re-ranks
   its shortlist (``Gallery.search``), each baseline ranks every reference by its score.
5. Optional ablations: fusion heads refitted on val with each subset of feature groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from replica.cache import ArrayCache
from replica.config import CopyConfig
from replica.evaluate.baselines import BASELINES, Calibration, pair_scores, score_matrix
from replica.evaluate.metrics import (
    LEVELS,
    RETRIEVAL_MIN_LEVEL,
    confusion,
    level_metrics,
    top1_hits,
)
from replica.models.copy import CopyDetector
from replica.scoring.features import (
    Featurizer,
    ImageFeatures,
    embedding_block,
    pair_matrix,
    select,
)
from replica.scoring.fuse import expected, fused_pdf
from replica.scoring.retrieval import Gallery, Reference

MODEL = "model"
EMBEDDING = "pdf_embedding"
ABLATION_PREFIX = "fusion:"
ABLATION_GROUPS: tuple[tuple[str, ...], ...] = (
    ("embedding",),
    ("verify",),
    ("global",),
    ("verify", "global"),
    ("embedding", "verify", "global"),
)


def ablation_name(groups: Sequence[str]) -> str:
    """The system name of a fusion head refitted on ``groups``: ``fusion:verify-global``
    (characters MLflow accepts in metric names)."""
    return ABLATION_PREFIX + "-".join(groups)


@dataclass
class SystemResult:
    """One system's outputs on the test pairs."""

    predicted: np.ndarray  # [P] normalised level
    level: np.ndarray  # [P] integer level
    pdf: np.ndarray | None = None  # [P, 6] when the system gives a distribution

    def metrics(self, labels: np.ndarray) -> dict[str, float]:
        return level_metrics(self.predicted, self.level, labels)


@dataclass
class Evaluation:
    """Everything ``evaluate`` reports."""

    labels: np.ndarray
    families: list[str]
    systems: dict[str, SystemResult]
    table: dict[str, dict[str, float]]  # system -> metric -> value
    per_family: dict[str, dict[str, dict[str, float]]]  # family -> system -> metric -> value
    confusion: dict[str, np.ndarray] = field(default_factory=dict)
    n_queries_retrieval: int = 0
    n_references: int = 0
    retrieval_by_family: dict[str, dict[str, float]] = field(
        default_factory=dict
    )  # fam -> n, system -> top-1


def _calibrated(
    name: str,
    val: tuple[Sequence[ImageFeatures], Sequence[ImageFeatures], np.ndarray],
    test: tuple[Sequence[ImageFeatures], Sequence[ImageFeatures]],
) -> tuple[SystemResult, Calibration]:
    vq, vr, vlevels = val
    cal = Calibration.fit(pair_scores(name, vq, vr), vlevels)
    predicted, level = cal.predict(pair_scores(name, *test))
    return SystemResult(predicted, level), cal


def _family_table(
    systems: Mapping[str, SystemResult], labels: np.ndarray, families: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per family: n, mean label, and per system level accuracy, +-1 accuracy, mean error."""
    fam = np.asarray(families)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in sorted(set(families)):
        m = fam == name
        row: dict[str, dict[str, float]] = {}
        for system, res in systems.items():
            row[system] = {
                "n": float(m.sum()),
                "label": float(labels[m].mean()),
                "level_acc": float(np.mean(res.level[m] == labels[m])),
                "pm1_acc": float(np.mean(np.abs(res.level[m] - labels[m]) <= 1)),
                "mean_error": float(np.mean(res.predicted[m] * (LEVELS - 1) - labels[m])),
            }
        out[name] = row
    return out


def _embedding_scores(
    detector: CopyDetector, queries: Sequence[ImageFeatures], refs: Sequence[ImageFeatures]
) -> np.ndarray:
    """PDF-Embedding's expected level for every query x reference: [Q, R]."""
    eq = np.stack([f.tokens for f in queries])
    er = np.stack([f.tokens for f in refs])
    out = np.empty((len(eq), len(er)))
    for i in range(len(eq)):
        _, pdf = embedding_block(detector, np.repeat(eq[i : i + 1], len(er), 0), er)
        out[i] = expected(pdf)
    return out


def evaluate(
    detector: CopyDetector,
    test_rows: Sequence[Mapping[str, Any]],
    val_rows: Sequence[Mapping[str, Any]],
    root: Path,
    references: Sequence[Reference],
    *,
    cache: ArrayCache | None = None,
    shortlist: int = 20,
    ablation_cfg: CopyConfig | None = None,
    seed: int = 0,
) -> Evaluation:
    """Score ``test_rows`` with the model and the baselines (calibrated on ``val_rows``) and
    retrieve each test query labelled >= 3 among ``references``; see the module docstring."""
    from replica.train.copy import fit_fusion, pair_refs

    if not test_rows:
        raise ValueError("no test pairs to evaluate")
    if not val_rows:
        raise ValueError("no validation pairs: the baselines are calibrated on them")
    fz = Featurizer(detector, cache)
    labels = np.array([int(r["level"]) for r in test_rows])
    families = [str(r.get("family") or "unknown") for r in test_rows]

    # 1. Features of every image (references with their mirror image's local features).
    tq_refs, tr_refs = pair_refs(test_rows, root)
    vq_refs, vr_refs = pair_refs(val_rows, root)
    tq, tr = fz.images(tq_refs), fz.images(tr_refs, mirror=True)
    vq, vr = fz.images(vq_refs), fz.images(vr_refs, mirror=True)
    vlevels = np.array([int(r["level"]) for r in val_rows])

    # 2. Systems on the test pairs.
    matrix = pair_matrix(detector, tq, tr)
    pdf = fused_pdf(detector, matrix)
    systems = {MODEL: SystemResult(expected(pdf), pdf.argmax(1), pdf)}
    _, emb_pdf = embedding_block(
        detector, np.stack([f.tokens for f in tq]), np.stack([f.tokens for f in tr])
    )
    systems[EMBEDDING] = SystemResult(expected(emb_pdf), emb_pdf.argmax(1), emb_pdf)
    calibrations = {}
    for name in BASELINES:
        systems[name], calibrations[name] = _calibrated(name, (vq, vr, vlevels), (tq, tr))

    # 5. Ablations: fusion heads refitted on val features with subsets of the groups.
    if ablation_cfg is not None:
        vmatrix = pair_matrix(detector, vq, vr)
        for groups in ABLATION_GROUPS:
            fit = fit_fusion(vmatrix, vlevels, ablation_cfg, seed, groups)
            import torch

            with torch.no_grad():
                p = fit.head(torch.from_numpy(select(matrix, fit.features))).softmax(1).numpy()
            systems[ablation_name(groups)] = SystemResult(expected(p), p.argmax(1), p)

    table = {name: res.metrics(labels) for name, res in systems.items()}

    # 4. Retrieval among all test references.
    ids = [r.image_id for r in references]
    position = {image_id: i for i, image_id in enumerate(ids)}
    queries = [
        i
        for i, r in enumerate(test_rows)
        if int(r["level"]) >= RETRIEVAL_MIN_LEVEL and str(r["source_image_id"]) in position
    ]
    truth = [position[str(test_rows[i]["source_image_id"])] for i in queries]
    retrieval: dict[str, dict[str, float]] = {}
    if queries and references:
        gallery_feats = fz.images([r.image for r in references], mirror=True)
        query_feats = [tq[i] for i in queries]
        gallery = Gallery(
            gallery_feats, detector.config.verify.method, detector.config.verify.ratio
        )
        found = gallery.search(detector, query_feats, shortlist, top=1)
        hits = {
            MODEL: np.array(
                [bool(m) and m[0].reference == t for m, t in zip(found, truth, strict=True)]
            ),
            EMBEDDING: top1_hits(_embedding_scores(detector, query_feats, gallery_feats), truth),
        }
        for name in BASELINES:
            hits[name] = top1_hits(score_matrix(name, query_feats, gallery_feats), truth)
        for name, h in hits.items():
            table[name]["top1"] = float(np.mean(h))
        query_families = np.asarray([families[i] for i in queries])
        for fam in sorted(set(query_families)):
            m = query_families == fam
            retrieval[fam] = {"n": float(m.sum())} | {
                name: float(np.mean(h[m])) for name, h in hits.items()
            }
    for name in table:
        table[name].setdefault("top1", float("nan"))

    return Evaluation(
        labels=labels,
        families=families,
        systems=systems,
        table=table,
        per_family=_family_table(systems, labels, families),
        confusion={name: confusion(res.level, labels) for name, res in systems.items()},
        n_queries_retrieval=len(queries),
        n_references=len(references),
        retrieval_by_family=retrieval,
    )
