"""A toy family for the training loop's tests: a tiny MLP regressing a fixed random map.

Importable by the tests and runnable under ``torchrun`` (``python -m tests.unit.train.toy``),
which trains it on every rank and saves rank 0's weights, so DDP can be compared with one
process.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import Dataset

from replica.config import TrainConfig
from replica.train.loop import Distributed, Schedule, StepContext, Task, fit, sample_generator

N, D = 64, 8
CFG = TrainConfig(workers=0, checkpoint_every=4, eval_every=5, log_every=2, grad_clip=1.0)
SCHEDULE = Schedule(steps=20, batch_size=8, lr=3e-2, weight_decay=0.01, warmup_steps=3)


class Points(Dataset):
    """``(x, y)`` with y = W x + small noise; training draws add seeded input jitter."""

    def __init__(self, seed: int = 0, jitter: bool = True) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(N, D, generator=g)
        self.y = self.x @ torch.randn(D, 1, generator=g) + 0.01 * torch.randn(N, 1, generator=g)
        self.jitter = jitter

    def __len__(self) -> int:
        return N

    def __getitem__(self, key: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(key, tuple):
            epoch, index = key
            noise = 0.01 * torch.randn(D, generator=sample_generator(7, epoch, index))
            return self.x[index] + noise, self.y[index]
        return self.x[key], self.y[key]


def mse(model: nn.Module, batch: Any, ctx: StepContext) -> tuple[torch.Tensor, dict[str, float]]:
    x, y = batch
    return nn.functional.mse_loss(model(x), y), {}


def validate(model: nn.Module, loader: Any) -> dict[str, float]:
    losses = [float(nn.functional.mse_loss(model(x), y)) for x, y in loader]
    return {"mse": sum(losses) / len(losses)}


def task(**overrides: Any) -> Task:
    fields = {
        "build_model": lambda: nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 1)),
        "loss": mse,
        "train_data": Points(),
        "validate": validate,
        "val_data": Points(1, jitter=False),
        "monitor": "mse",
    }
    return Task(**(fields | overrides))


def main(out: str, batch_size: str) -> None:
    """Train under torchrun with the given global batch; rank 0 saves its weights to ``out``."""
    import os

    dist_info = Distributed.from_env(os.environ)
    schedule = dataclasses.replace(SCHEDULE, batch_size=int(batch_size))
    result = fit(task(), schedule, CFG, seed=0, distributed=dist_info)
    if dist_info.rank == 0:
        save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, out)
        Path(out + ".steps").write_text(str(result.steps))


if __name__ == "__main__":
    main(*sys.argv[1:])
