"""The training loop: seeded minibatches, AdamW, PDF/KL loss; returns the loss curve."""

from __future__ import annotations

import torch

from replica.config import TrainConfig
from replica.models.pdf_embedding import PDFEmbedding, PDFEmbeddingConfig, pdf_loss
from replica.train.data import PairTensors


def model_config(cfg: TrainConfig) -> PDFEmbeddingConfig:
    return PDFEmbeddingConfig(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        dim=cfg.dim,
        depth=cfg.depth,
        heads=cfg.heads,
        levels=cfg.levels,
        temperature=cfg.temperature,
    )


def fit(data: PairTensors, cfg: TrainConfig, seed: int) -> tuple[PDFEmbedding, list[float]]:
    """Train a fresh model for ``cfg.steps`` steps of ``cfg.batch_size`` pairs on CPU.

    Each batch is drawn with replacement; query and reference swap places in a random half of
    it, because copying is symmetric. Returns the model (eval mode) and the loss per step.
    """
    n = len(data.pair_ids)
    if n == 0:
        raise ValueError("no training pairs")
    top = int(data.levels.max())
    if top >= cfg.levels:
        raise ValueError(f"labels reach level {top} but train.levels is {cfg.levels}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = PDFEmbedding.from_config(model_config(cfg)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = []
    for _ in range(cfg.steps):
        idx = torch.randint(n, (cfg.batch_size,), generator=generator)
        q, r = data.query[idx], data.reference[idx]
        swap = (torch.rand(cfg.batch_size, generator=generator) < 0.5)[:, None, None, None]
        q, r = torch.where(swap, r, q), torch.where(swap, q, r)
        loss = pdf_loss(model(q, r), data.levels[idx], cfg.pdf_sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model.eval(), losses
