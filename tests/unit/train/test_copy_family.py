"""The copy family on the generic loop: pairs on disk in, a model that learns out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from replica.config import CopyConfig, TrainConfig
from replica.train.copy import schedule, task
from replica.train.loop import fit

CFG = CopyConfig(image_size=16, patch_size=8, dim=16, depth=1, heads=2, steps=40, batch_size=8)
LOOP = TrainConfig(workers=0, eval_every=20, log_every=5)


def blend_pairs(root: Path, n: int = 12) -> list[dict]:
    """Pairs whose level is how much of the reference the query keeps (a blend with noise)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        ref = rng.random((16, 16, 3))
        alpha = (i % 6) / 5
        query = alpha * ref + (1 - alpha) * rng.random((16, 16, 3))
        for name, arr in (("r", ref), ("q", query)):
            Image.fromarray((arr * 255).astype(np.uint8)).save(root / f"{name}{i}.png")
        rows.append({"replica_uri": f"q{i}.png", "source_uri": f"r{i}.png", "level": i % 6})
    return rows


def test_the_copy_task_trains_on_the_generic_loop(tmp_path: Path) -> None:
    rows = blend_pairs(tmp_path)
    result = fit(task(CFG, rows, rows[:6], tmp_path, seed=0), schedule(CFG), LOOP, seed=0)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.6 * losses[0]
    assert [v["step"] for v in result.validation] == [20.0, 40.0]


def test_labels_beyond_the_model_levels_are_refused(tmp_path: Path) -> None:
    rows = blend_pairs(tmp_path)
    with pytest.raises(ValueError, match=r"copy\.levels is 4"):
        task(dataclasses.replace(CFG, levels=4), rows, [], tmp_path, seed=0)
