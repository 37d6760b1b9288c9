"""Evaluation of synthetic detectors: metrics, calibration, protocols, views."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from PIL import Image

from replica.evaluate import synthetic as ev
from replica.evaluate.views import apply_view, check_view, random_view
from replica.models.synthetic import LinearHead


def test_ece_is_zero_when_calibrated_and_large_when_overconfident() -> None:
    rng = np.random.default_rng(0)
    prob = rng.uniform(0, 1, 20_000)
    labels = (rng.uniform(0, 1, prob.size) < prob).astype(int)
    assert ev.ece(labels, prob, 10) < 0.02
    assert ev.ece(labels, np.where(prob > 0.5, 0.999, 0.001), 10) > 0.2


def test_temperature_scaling_recovers_an_overconfident_scale() -> None:
    rng = np.random.default_rng(1)
    true_logit = rng.normal(0, 2, 20_000)
    labels = (rng.uniform(0, 1, true_logit.size) < ev.sigmoid(true_logit)).astype(int)
    t = ev.fit_temperature(3.0 * true_logit, labels)
    assert t == pytest.approx(3.0, rel=0.05)
    before = ev.ece(labels, ev.sigmoid(3.0 * true_logit), 15)
    after = ev.ece(labels, ev.sigmoid(3.0 * true_logit / t), 15)
    assert after < before / 3


def test_platt_scaling_undoes_a_prior_shift_that_temperature_cannot() -> None:
    # a class-balanced classifier's logits assume a 50 % prior; 15 % of the images are fakes
    rng = np.random.default_rng(2)
    labels = (rng.uniform(0, 1, 20_000) < 0.15).astype(int)
    # class-conditional N(+-1.5, 3): the log-likelihood ratio is the logit itself (50 % prior)
    true_logit = rng.normal(np.where(labels == 1, 1.5, -1.5), np.sqrt(3.0))
    prior = np.log(0.15 / 0.85)
    t, b = ev.fit_platt(2.0 * true_logit, labels)
    assert t == pytest.approx(2.0, rel=0.1) and b == pytest.approx(prior, abs=0.15)
    temperature_only = ev.ece(labels, ev.sigmoid(2.0 * true_logit / ev.fit_temperature(
        2.0 * true_logit, labels)), 15)  # fmt: skip
    platt = ev.ece(labels, ev.probability(2.0 * true_logit, t, b), 15)
    assert platt < 0.02 < temperature_only


def test_threshold_maximises_balanced_accuracy() -> None:
    prob = np.array([0.1, 0.2, 0.3, 0.35, 0.6, 0.7])
    labels = np.array([0, 0, 0, 1, 1, 1])
    t = ev.fit_threshold(prob, labels)
    assert 0.3 < t <= 0.35 and ev.balanced_accuracy(labels, prob, t) == 1.0
    m = ev.detection_metrics(labels, np.log(prob / (1 - prob)), 1.0, t, 5)
    assert m["ap"] == 1.0 and m["auroc"] == 1.0 and m["acc"] == 1.0
    single = ev.detection_metrics(np.array([1, 1]), np.array([0.0, 1.0]), 1.0, 0.5, 5)
    assert math.isnan(single["auroc"]) and math.isnan(single["ap"])


class _Toy:
    """A detector on one number per image: the mean brightness, which fakes here exceed."""

    name = "toy"
    uses_views = True

    def featurize(self, images: Any, rows: np.ndarray, view: str) -> np.ndarray:
        return np.array([[float(np.mean(im))] for im in images], np.float32)

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> LinearHead:
        return LinearHead.fit(x, labels, 1.0, seed)


def _table() -> tuple[ev.Table, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    rows, pixels = [], []
    for i in range(60):
        split = ["train", "val", "test"][i % 3]
        rows.append({"image_id": f"r{i}", "label": "real", "generator": None, "split": split})
        pixels.append(np.full((16, 16, 3), rng.integers(40, 120), np.uint8))
    for g, shift in (("bright", 90), ("dim", 40), ("mid", 60)):
        for k in range(12):
            rows.append({"image_id": f"{g}{k}", "label": "fake", "generator": g,
                         "split": ["train", "val", "test"][k % 3], "match_id": "r2"})  # fmt: skip
            pixels.append(np.full((16, 16, 3), rng.integers(40, 120) + shift, np.uint8))
    return ev.Table.from_rows(rows), pixels


def test_protocols_cover_every_held_out_generator_and_both_real_sets() -> None:
    table, pixels = _table()
    toy = _Toy()
    x = toy.featurize(pixels, np.arange(len(pixels)), "clean")
    train, val = np.flatnonzero(table.split == "train"), np.flatnonzero(table.split == "val")
    cand = ev.train_calibrated(toy, x, table.label, train, val, 0)
    res = ev.evaluate(table, lambda i: pixels[i], (toy, cand), [],
                      ev.Settings(views=("clean", "jpeg50"), logo=True))  # fmt: skip
    logo = {r["protocol"] for r in res.records if r["protocol"].startswith("logo:")}
    assert logo == {"logo:bright", "logo:dim", "logo:mid"}
    # leave-one-out tests every fake of the held-out generator against every test real
    n_test_reals = int(((table.split == "test") & (table.label == 0)).sum())
    plain = [r for r in res.records if r["protocol"] == "logo:dim" and r["reals"] == "plain"]
    assert {r["n"] for r in plain} == {12 + n_test_reals}
    matched = [r for r in res.records if r["protocol"] == "logo:dim" and r["reals"] == "matched"]
    assert {r["n"] for r in matched} == {24}, "one matched real per fake: a balanced set"
    assert res.value("candidate", "logo:bright", "all", "plain", "clean", "auroc") > 0.9
    assert not math.isnan(res.value("candidate", "test", "all", "plain", "jpeg50", "ap"))
    per_gen = res.value("candidate", "test", "bright", "plain", "clean", "auroc")
    assert per_gen > res.value("candidate", "test", "dim", "plain", "clean", "auroc")
    flat = ev.flat_metrics(res, [], ("clean", "jpeg50"))
    assert {"ap", "auroc", "acc", "ece", "ece_raw", "ap_matched", "logo_ap_mean",
            "logo_ap_min", "jpeg50_ap"} <= set(flat)  # fmt: skip
    report = ev.markdown_tables(res, table, [])
    assert "| bright |" in report and "Leave one generator out" in report
    assert set(ev.reliability_plots(res, 10)) == {"plots/reliability_test.png",
                                                  "plots/reliability_logo.png"}  # fmt: skip


def test_consistency_calibration_averages_random_views() -> None:
    table, pixels = _table()
    toy = _Toy()
    x = toy.featurize(pixels, np.arange(len(pixels)), "clean")
    train, val = np.flatnonzero(table.split == "train"), np.flatnonzero(table.split == "val")
    cand = ev.train_calibrated(toy, x, table.label, train, val, 0)
    seen: list[tuple[int, ...]] = []

    def prepare(im: np.ndarray) -> np.ndarray:  # what the step does: back to the training size
        seen.append(im.shape)
        return np.asarray(Image.fromarray(im).resize(pixels[0].shape[1::-1]))

    res = ev.evaluate(table, lambda i: pixels[i], (toy, cand), [],
                      ev.Settings(logo=True, consistency_views=3), prepare=prepare)  # fmt: skip
    assert not math.isnan(res.value("candidate", "test", "all", "plain", "consistency", "ece"))
    assert len(seen) == 3 * len(np.unique(np.concatenate(
        [np.flatnonzero(table.split == "test"), np.flatnonzero(table.label == 1)])))  # fmt: skip
    for g in table.generators:  # every held-out generator gets its consistency figures too
        assert not math.isnan(res.value("candidate", f"logo:{g}", "all", "plain", "consistency",
                                        "ece"))  # fmt: skip
    flat = ev.flat_metrics(res, [], ("clean",))
    assert {"logo_consistency_ece_mean", "logo_ece_raw_mean", "consistency_ece"} <= set(flat)
    assert "Calibration per held-out generator" in ev.markdown_tables(res, table, [])


def test_views_degrade_as_named() -> None:
    img = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert apply_view(img, "clean") is img
    assert apply_view(img, "resize0.5").shape == (20, 30, 3)
    assert not np.array_equal(apply_view(img, "jpeg50"), img)
    assert random_view(img, np.random.default_rng(0)).ndim == 3
    for bad in ("jpeg0", "blur", "resize2"):
        with pytest.raises(ValueError, match="must be"):
            check_view(bad)
