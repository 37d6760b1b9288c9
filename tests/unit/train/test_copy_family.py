"""The copy family on the generic loop: PDF-Embedding learns, MentorNet and stability options,
deterministic augmentation, and the fusion head fitted on the val split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from replica.config import TrainConfig
from replica.train.copy import Mentor, PairSamples, schedule, task, train
from replica.train.loop import fit
from tests.copyfix import COPY, graded_pairs

CFG = dataclasses.replace(COPY, steps=30, batch_size=8, warmup_steps=3, lr=2e-3)
LOOP = TrainConfig(workers=0, eval_every=15, log_every=5)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[dict]]:
    root = tmp_path_factory.mktemp("pairs")
    return root, graded_pairs(root, 4, seed=1), graded_pairs(root, 2, seed=2, split="val")


def test_pdf_embedding_learns_on_the_loop(pairs: tuple[Path, list, list]) -> None:
    root, tr, va = pairs
    result = fit(task(CFG, tr, va, root, seed=0), schedule(CFG), LOOP, seed=0)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert [v["step"] for v in result.validation] == [15.0, 30.0]
    assert {"loss", "level_acc"} <= set(result.validation[-1])


def test_augmentation_is_the_same_for_the_same_draw_and_keeps_the_pair_aligned(
    pairs: tuple[Path, list, list],
) -> None:
    root, tr, _ = pairs
    data = PairSamples(tr, root, 32, seed=3, augment=True, distort=0.05)
    a, b, other = data[(2, 5)], data[(2, 5)], data[(3, 5)]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["query"], other["query"]) or not torch.equal(
        a["distorted"], other["distorted"]
    )
    plain = PairSamples(tr, root, 32)[5]
    assert "distorted" not in plain and torch.equal(plain["level"], a["level"])


def test_decoded_images_are_kept_within_budget_and_draws_do_not_change(
    pairs: tuple[Path, list, list],
) -> None:
    root, tr, _ = pairs
    cached = PairSamples(tr, root, 32, seed=3, augment=True, distort=0.05, cache_mb=1.0)
    plain = PairSamples(tr, root, 32, seed=3, augment=True, distort=0.05)
    for key in [(0, 5), (0, 6), (1, 5), (2, 5), (2, 11)]:
        a, b = cached[key], plain[key]
        assert all(torch.equal(a[k], b[k]) for k in a), key  # augmentation never edits the cache
    uris = {tr[i][c] for i in (5, 6, 11) for c in ("replica_uri", "source_uri")}
    assert set(cached.decoded) == uris and cached.held == len(uris) * 3 * 32 * 32
    assert all(v.dtype == torch.uint8 for v in cached.decoded.values())
    small = PairSamples(tr, root, 32, cache_mb=2.5 * 3 * 32 * 32 / 2**20)  # room for 2 images
    for i in range(4):
        small[i]
    assert len(small.decoded) == 2 and small.held <= small.cache_bytes
    assert torch.equal(small[3]["query"], plain[3]["query"])  # past the budget: decoded again


def test_mentor_down_weights_pairs_the_model_keeps_contradicting() -> None:
    mentor = Mentor(6, ema=0.5, percentile=0.5, start=1)
    for _ in range(3):
        mentor.update(torch.arange(6), torch.tensor([0.1, 0.1, 0.2, 0.2, 2.0, 3.0]))
    w = mentor.weights(torch.arange(6), step=5)
    assert torch.all(w[:4] == 1) and w[5] < w[4] < 1
    assert torch.all(mentor.weights(torch.arange(6), step=0) == 1)  # not before `start`
    again = Mentor(6, 0.5, 0.5, 1)
    again.load_state_dict(mentor.state_dict())
    assert torch.equal(again.weights(torch.arange(6), 5), w)


def test_mentor_and_stability_options_train_and_log(pairs: tuple[Path, list, list]) -> None:
    root, tr, va = pairs
    cfg = dataclasses.replace(CFG, steps=10, mentor=True, mentor_start=2, stability=0.5)
    result = fit(task(cfg, tr, va, root, seed=0), schedule(cfg), LOOP, seed=0)
    assert {"mentor_weight", "stability", "kl"} <= set(result.history[-1])
    assert result.history[-1]["mentor_weight"] <= 1.0


def test_train_fits_the_fusion_head_on_the_val_split(pairs: tuple[Path, list, list]) -> None:
    root, tr, va = pairs
    out = train(dataclasses.replace(CFG, steps=6), LOOP, tr, va, root, seed=0)
    assert out.fusion is not None and out.fusion.n_pairs == len(va)
    assert out.detector.config.fusion.fitted
    assert set(out.detector.config.fusion.features) == set(out.fusion.features)
    assert all(f.startswith(("verify.", "global.")) for f in out.fusion.features)
    x = torch.rand(3, len(out.fusion.features))
    assert np.allclose(out.detector.fuse(x).sum(1).numpy(), 1, atol=1e-5)


def test_labels_beyond_the_detector_levels_are_refused(pairs: tuple[Path, list, list]) -> None:
    root, tr, va = pairs
    with pytest.raises(ValueError, match="labels reach level 7"):
        task(CFG, [*tr, {**tr[0], "level": 7}], va, root, seed=0)
