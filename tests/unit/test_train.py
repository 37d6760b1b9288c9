"""The training loop: seeded, learns, refuses labels the model cannot express."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from replica.config import TrainConfig
from replica.train.data import PairTensors
from replica.train.loop import fit

CFG = TrainConfig(image_size=16, patch_size=8, dim=16, depth=1, heads=2, steps=40, batch_size=8)


def toy(n: int = 12) -> PairTensors:
    """Pairs whose level is how much of the reference the query keeps (a blend with noise)."""
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(n, 3, 16, 16, generator=g)
    noise = torch.rand(n, 3, 16, 16, generator=g)
    levels = torch.arange(n) % 6
    alpha = (levels.float() / 5)[:, None, None, None]
    return PairTensors([str(i) for i in range(n)], alpha * ref + (1 - alpha) * noise, ref, levels)


def test_fit_is_seeded_and_the_loss_falls() -> None:
    model, losses = fit(toy(), CFG, seed=0)
    _, again = fit(toy(), CFG, seed=0)
    assert losses == again and len(losses) == CFG.steps
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    assert not model.training


def test_labels_beyond_the_model_levels_are_refused() -> None:
    with pytest.raises(ValueError, match=r"train\.levels is 4"):
        fit(toy(), dataclasses.replace(CFG, levels=4), seed=0)
