"""The copy family's part of training: its dataset, loss and validation for the generic loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from replica.config import CopyConfig
from replica.models.pdf_embedding import PDFEmbedding, PDFEmbeddingConfig, pdf_loss
from replica.train.data import PairImages
from replica.train.loop import Schedule, StepContext, Task, sample_generator


def model_config(cfg: CopyConfig) -> PDFEmbeddingConfig:
    return PDFEmbeddingConfig(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        dim=cfg.dim,
        depth=cfg.depth,
        heads=cfg.heads,
        levels=cfg.levels,
        temperature=cfg.temperature,
    )


def schedule(cfg: CopyConfig) -> Schedule:
    return Schedule(cfg.steps, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.warmup_steps)


class PairSamples(Dataset):
    """Training pairs keyed by ``(epoch, index)``: query and reference swap places in a seeded
    half of the draws, because copying is symmetric."""

    def __init__(self, images: PairImages, seed: int) -> None:
        self.images, self.seed = images, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        epoch, index = key
        query, reference, level = self.images[index]
        g = sample_generator(self.seed, epoch, index)
        if torch.rand(1, generator=g).item() < 0.5:
            query, reference = reference, query
        return query, reference, level


def loss(
    cfg: CopyConfig,
) -> Any:
    def compute(model: nn.Module, batch: Any, ctx: StepContext) -> tuple[torch.Tensor, dict]:
        query, reference, levels = batch
        return pdf_loss(model(query, reference), levels, cfg.pdf_sigma), {}

    return compute


def task(
    cfg: CopyConfig,
    train_rows: Sequence[Mapping[str, Any]],
    val_rows: Sequence[Mapping[str, Any]],
    root: Path,
    seed: int,
) -> Task:
    """The copy family as a :class:`Task` over pairs rows whose images lie under ``root``."""
    top = max(int(r["level"]) for r in [*train_rows, *val_rows])
    if top >= cfg.levels:
        raise ValueError(f"labels reach level {top} but copy.levels is {cfg.levels}")

    def validate(model: nn.Module, loader: DataLoader) -> dict[str, float]:
        total, n = 0.0, 0
        for query, reference, levels in loader:
            total += float(pdf_loss(model(query, reference), levels, cfg.pdf_sigma)) * len(levels)
            n += len(levels)
        return {"loss": total / max(n, 1)}

    return Task(
        build_model=lambda: PDFEmbedding.from_config(model_config(cfg)),
        loss=loss(cfg),
        train_data=PairSamples(PairImages(train_rows, root, cfg.image_size), seed),
        validate=validate,
        val_data=PairImages(val_rows, root, cfg.image_size) if val_rows else None,
        monitor="loss",
    )
