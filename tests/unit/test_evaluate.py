"""Metrics against hand-computed values; the evaluation of a detector beside its baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from replica.evaluate.baselines import Calibration
from replica.evaluate.copy import MODEL, Reference, evaluate
from replica.evaluate.metrics import confusion, level_metrics, pcc_pct, rmse_pct, top1_hits
from replica.scoring.features import ImageRef
from tests.copyfix import COPY, fitted_detector, graded_pairs


def test_pcc_and_rmse_match_hand_computed_values() -> None:
    pred, target = np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 1.0])
    # means 0.5 and 2/3; r = 0.5 / sqrt(0.5 * 2/3) = sqrt(3)/2
    assert pcc_pct(pred, target) == pytest.approx(100 * np.sqrt(3) / 2)
    assert rmse_pct(pred, target) == pytest.approx(100 * np.sqrt(0.25 / 3))
    assert pcc_pct(-target, target) == pytest.approx(-100.0)


def test_pcc_of_constant_labels_is_an_error_not_nan() -> None:
    with pytest.raises(ValueError, match="labels are constant"):
        pcc_pct(np.array([0.1, 0.4]), np.array([0.2, 0.2]))


def test_level_metrics_accuracy_confusion_and_top1() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5])
    levels = np.array([0, 2, 2, 3, 5, 5])
    m = level_metrics(levels / 5, levels, labels)
    assert m["level_acc"] == pytest.approx(4 / 6) and m["pm1_acc"] == 1.0
    assert m["pcc_0_3"] == pytest.approx(pcc_pct(levels[:4] / 5, labels[:4] / 5))
    c = confusion(levels, labels)
    assert c.sum() == 6 and c[1, 2] == 1 and c[4, 5] == 1 and np.trace(c) == 4
    scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.5, 0.4]])
    assert top1_hits(scores, [0, 1, 1]).tolist() == [True, True, False]


def test_isotonic_calibration_is_monotone_and_bounded() -> None:
    cal = Calibration.fit(np.array([0.1, 0.2, 0.5, 0.9]), np.array([0, 1, 3, 5]))
    p, lv = cal.predict(np.array([-1.0, 0.15, 0.95, 2.0]))
    assert np.all(np.diff(p) >= 0) and p[0] == 0.0 and p[-1] == 1.0
    assert lv.tolist() == [0, 0, 5, 5]


def test_evaluate_scores_model_and_baselines_on_the_same_pairs(tmp_path: Path) -> None:
    detector = fitted_detector(tmp_path / "det")
    root = tmp_path / "pairs"
    val = graded_pairs(root, 4, seed=1, split="val")
    test = graded_pairs(root, 5, seed=2, split="test")
    refs = [Reference(f"s2_{i}", ImageRef(root / f"s2_{i}.jpg")) for i in range(5)]
    ev = evaluate(detector, test, val, root, refs, shortlist=3, ablation_cfg=COPY)
    assert set(ev.table) >= {MODEL, "pdf_embedding", "phash", "histhog", "cls"}
    assert "fusion:verify-global" in ev.table
    for metrics in ev.table.values():
        assert {"pcc", "rmse", "pcc_0_3", "level_acc", "pm1_acc", "top1"} <= set(metrics)
    assert ev.n_queries_retrieval == 15 and ev.table[MODEL]["top1"] >= 0.8
    assert ev.table[MODEL]["level_acc"] > ev.table["histhog"]["level_acc"]
    assert set(ev.per_family) == {"negative", "region", "collage", "crop", "photo", "resize"}
    assert ev.confusion[MODEL].sum() == len(test)
