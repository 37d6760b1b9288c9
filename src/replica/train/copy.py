"""The copy family's part of training: what the generic loop calls, and the fusion fit.

1. ``task``: PDF-Embedding on the train split's pairs, as a :class:`~replica.train.loop.Task`.
   Each draw decodes the pair, resizes it to the backbone's input and (``augment``) applies the
   same flip and colour jitter to both images, so the label still holds. Options from the seed
   papers: ``mentor`` (MentorNet-style weights: a pair whose loss stays high, i.e. whose label
   the model keeps contradicting, is down-weighted) and ``stability`` (a term that keeps the
   query's embedding where it is under small distortions: pixel noise and a slight crop).
2. ``fit_fusion``: the fusion head on the validation split's pair features (PDF-Embedding
   outputs, verification, global similarities): data the embedding never trained on.
3. ``fit_match``: the match head (retrieval's ranking) on ``match_candidates``: each val query
   labelled >= ``match_min_level`` against its shortlist among the val references, the true
   source positive and every other candidate negative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from replica.cache import ArrayCache
from replica.config import CopyConfig, TrainConfig
from replica.models.copy import (
    N_TOKENS,
    CopyDetector,
    CopyDetectorConfig,
    FusionConfig,
    FusionHead,
    MatchHead,
    PDFEmbeddingConfig,
    pdf_loss,
    target_pdf,
)
from replica.scoring.features import (
    ALL_FEATURES,
    Featurizer,
    ImageRef,
    features_of,
    pair_matrix,
    select,
)
from replica.scoring.retrieval import Gallery, Reference
from replica.train.data import read_image
from replica.train.loop import (
    Distributed,
    Result,
    Schedule,
    StepContext,
    Task,
    fit,
    sample_generator,
)
from replica.verify.local import VerifyConfig

Batch = dict[str, torch.Tensor]


def detector_config(cfg: CopyConfig) -> CopyDetectorConfig:
    """The detector's config from the ``copy`` params (fusion filled in when fitted)."""
    return CopyDetectorConfig(
        embedding=PDFEmbeddingConfig(
            backbone=cfg.backbone,
            embed_dim=cfg.embed_dim,
            temperature=cfg.temperature,
            pdf=cfg.pdf,
            pdf_width=cfg.pdf_width,
        ),
        verify=VerifyConfig(
            method=cfg.verify_method,
            max_side=cfg.verify_max_side,
            n_features=cfg.verify_features,
            ratio=cfg.verify_ratio,
        ),
        fusion=FusionConfig(groups=tuple(cfg.fusion_groups), hidden=cfg.fusion_hidden),
    )


def schedule(cfg: CopyConfig) -> Schedule:
    return Schedule(
        cfg.steps, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.warmup_steps, cfg.min_lr_ratio
    )


def load_pixels(root: Path, uri: str, size: int) -> torch.Tensor:
    """One image as uint8 [3, size, size] (JPEGs are decoded at a reduced scale)."""
    image = read_image(root, uri, draft=size)
    image = image.resize((size, size), resample=2)  # bilinear
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


class PairSamples(Dataset):
    """Pairs rows as model input. Training draws are keyed ``(epoch, index)`` and augmented
    from that key's generator; validation items are keyed by index and never augmented.

    Decoded images (uint8 at the model's input size) are kept in memory up to
    ``cache_mb`` per loading process: a reference meets several pairs and every image comes
    back each epoch, and on CPU decoding competes with the model for the same cores.
    Augmentation still runs on every draw."""

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        root: Path,
        size: int,
        seed: int = 0,
        augment: bool = False,
        distort: float = 0.0,
        cache_mb: float = 0.0,
    ) -> None:
        self.rows, self.root, self.size = list(rows), Path(root), size
        self.seed, self.augment, self.distort = seed, augment, distort
        self.cache_bytes = int(cache_mb * 2**20)
        self.decoded: dict[str, torch.Tensor] = {}
        self.held = 0

    def __len__(self) -> int:
        return len(self.rows)

    def _image(self, uri: str) -> torch.Tensor:
        pixels = self.decoded.get(uri)
        if pixels is None:
            pixels = load_pixels(self.root, uri, self.size)
            if self.held + pixels.numel() <= self.cache_bytes:
                self.decoded[uri] = pixels
                self.held += pixels.numel()
        return pixels.float().div_(255.0)

    def __getitem__(self, key: int | tuple[int, int]) -> Batch:
        epoch, index = key if isinstance(key, tuple) else (-1, key)
        row = self.rows[index]
        query = self._image(row["replica_uri"])
        reference = self._image(row["source_uri"])
        item = {"index": torch.tensor(index), "level": torch.tensor(int(row["level"]))}
        if epoch >= 0 and (self.augment or self.distort > 0):
            g = sample_generator(self.seed, epoch, index)
            if self.augment:
                query, reference = _joint_augment(query, reference, g)
            if self.distort > 0:
                item["distorted"] = _distort(query, self.distort, g)
        return item | {"query": query, "reference": reference}


def _joint_augment(
    q: torch.Tensor, r: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same flip and colour jitter on both images: the pair's level does not change."""
    u = torch.rand(3, generator=g)
    if u[0] < 0.5:
        q, r = q.flip(-1), r.flip(-1)
    gain, shift = 0.8 + 0.4 * float(u[1]), 0.1 * (float(u[2]) - 0.5)
    return q.mul_(gain).add_(shift).clamp_(0, 1), r.mul_(gain).add_(shift).clamp_(0, 1)


def _distort(x: torch.Tensor, noise: float, g: torch.Generator) -> torch.Tensor:
    """A slightly distorted copy for the stability term: a crop of up to 6 % and pixel noise."""
    size = x.shape[-1]
    cut = int(size * 0.06 * float(torch.rand(1, generator=g)))
    ox, oy = (int(v) for v in torch.randint(0, cut + 1, (2,), generator=g))
    crop = x[:, oy : oy + size - cut, ox : ox + size - cut].unsqueeze(0)
    x = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0]
    return (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)


class Mentor:
    """MentorNet-style sample weights from a running average of each training pair's loss.

    After ``start`` steps, pairs whose average is above the ``percentile`` quantile of all
    averages get weight exp(-(avg - q) / q) < 1: the model keeps contradicting their label, so
    they are likely mislabelled or ambiguous. The averages are kept for every training pair and
    updated with the losses of all ranks, so every rank weighs alike.
    """

    def __init__(self, n: int, ema: float, percentile: float, start: int) -> None:
        self.avg = torch.full((n,), math.nan)
        self.ema, self.percentile, self.start = ema, percentile, start

    def update(self, index: torch.Tensor, loss: torch.Tensor) -> None:
        old = self.avg[index]
        self.avg[index] = torch.where(old.isnan(), loss, self.ema * old + (1 - self.ema) * loss)

    def weights(self, index: torch.Tensor, step: int) -> torch.Tensor:
        seen = self.avg[~self.avg.isnan()]
        if step < self.start or len(seen) < 2:
            return torch.ones(len(index))
        q = float(torch.quantile(seen, self.percentile))
        excess = (self.avg[index] - q).clamp(min=0)
        return torch.exp(-excess / max(q, 1e-6))

    def state_dict(self) -> dict[str, Any]:
        return {"avg": self.avg}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.avg = state["avg"].clone()


def loss_fn(
    cfg: CopyConfig, mentor: Mentor | None
) -> Callable[[nn.Module, Batch, StepContext], tuple[torch.Tensor, dict[str, float]]]:
    """KL to the target PDF (MentorNet-weighted when ``mentor``), plus the stability term."""

    def compute(model: nn.Module, batch: Batch, ctx: StepContext) -> tuple[torch.Tensor, dict]:
        logits, eq, _, ed = model(batch["query"], batch["reference"], batch.get("distorted"))
        target = target_pdf(batch["level"], logits.shape[1], cfg.pdf, cfg.pdf_width)
        kl = (target * (target.clamp_min(1e-12).log() - F.log_softmax(logits.float(), 1))).sum(1)
        extra: dict[str, float] = {"kl": float(kl.mean().detach())}
        if mentor is not None:
            weights = mentor.weights(batch["index"].cpu(), ctx.step).to(kl.device)
            mentor.update(
                ctx.all_gather(batch["index"]).cpu(), ctx.all_gather(kl.detach()).float().cpu()
            )
            loss = (kl * weights).sum() / weights.sum().clamp_min(1e-12)
            extra["mentor_weight"] = float(weights.mean())
        else:
            loss = kl.mean()
        if ed is not None and cfg.stability > 0:
            stab = (1 - (eq * ed).sum(-1)).mean()
            loss = loss + cfg.stability * stab
            extra["stability"] = float(stab.detach())
        return loss, extra

    return compute


def validate_fn(cfg: CopyConfig) -> Callable[[nn.Module, DataLoader], dict[str, float]]:
    """KL and level accuracy (argmax of the PDF) of PDF-Embedding alone on the val split."""

    def validate(model: nn.Module, loader: DataLoader) -> dict[str, float]:
        total, correct, n = 0.0, 0, 0
        for batch in loader:
            logits, *_ = model(batch["query"], batch["reference"])
            levels = batch["level"]
            total += float(pdf_loss(logits, levels, cfg.pdf, cfg.pdf_width)) * len(levels)
            correct += int((logits.argmax(1) == levels).sum())
            n += len(levels)
        return {"loss": total / max(n, 1), "level_acc": correct / max(n, 1)}

    return validate


def task(
    cfg: CopyConfig,
    train_rows: Sequence[Mapping[str, Any]],
    val_rows: Sequence[Mapping[str, Any]],
    root: Path,
    seed: int,
) -> Task:
    """The copy family as a :class:`Task` over pairs rows whose images lie under ``root``."""
    top = max((int(r["level"]) for r in [*train_rows, *val_rows]), default=0)
    config = detector_config(cfg)
    if top >= config.levels:
        raise ValueError(f"labels reach level {top} but the copy detector has {config.levels}")
    probe = CopyDetector.from_config(config)  # resolves the backbone (and its input size)
    size = probe.config.embedding.image_size
    distort = cfg.stability_noise if cfg.stability > 0 else 0.0
    mentor = (
        Mentor(len(train_rows), cfg.mentor_ema, cfg.mentor_percentile, cfg.mentor_start)
        if cfg.mentor
        else None
    )
    return Task(
        build_model=lambda: CopyDetector.from_config(config).embedding,
        loss=loss_fn(cfg, mentor),
        train_data=PairSamples(
            train_rows, root, size, seed, cfg.augment, distort, cfg.decode_cache_mb
        ),
        validate=validate_fn(cfg),
        val_data=PairSamples(val_rows, root, size) if val_rows else None,
        monitor="loss",
        state=mentor,
    )


def pair_refs(
    rows: Sequence[Mapping[str, Any]], root: Path
) -> tuple[list[ImageRef], list[ImageRef]]:
    """The query (replica) and reference (source) image of each pairs row."""
    queries = [ImageRef(root / r["replica_uri"], r.get("replica_sha256")) for r in rows]
    refs = [ImageRef(root / r["source_uri"], r.get("source_sha256")) for r in rows]
    return queries, refs


def pair_features(
    detector: CopyDetector, rows: Sequence[Mapping[str, Any]], root: Path, fz: Featurizer
) -> np.ndarray:
    """Every feature of every pair, [P, len(ALL_FEATURES)] (images described through ``fz``)."""
    queries, refs = pair_refs(rows, root)
    return pair_matrix(detector, fz.images(queries), fz.images(refs, mirror=True))


@dataclass(frozen=True)
class FusionFit:
    """The fitted head and what it was fitted on."""

    head: FusionHead
    features: tuple[str, ...]
    n_pairs: int
    final_loss: float


def fit_fusion(
    matrix: np.ndarray,
    levels: np.ndarray,
    cfg: CopyConfig,
    seed: int,
    groups: Sequence[str] | None = None,
) -> FusionFit:
    """Fit the fusion head on the features [P, F] of labelled pairs (the val split): full-batch
    AdamW on KL to the same target PDFs PDF-Embedding learns, over standardised features; each
    ensemble member from its own initialisation (the members' losses are independent)."""
    names = features_of(tuple(groups) if groups is not None else cfg.fusion_groups)
    if len(levels) < 2:
        raise ValueError(f"the fusion head needs labelled validation pairs, got {len(levels)}")
    x = torch.from_numpy(select(matrix, names)).float()
    y = torch.from_numpy(np.asarray(levels)).long()
    torch.manual_seed(seed)
    head = FusionHead(len(names), cfg.fusion_hidden, cfg.fusion_members, cfg.fusion_clamp)
    head.mean.copy_(x.mean(0))
    head.scale.copy_(x.std(0).clamp_min(1e-3))
    target = target_pdf(y, N_TOKENS, cfg.pdf, cfg.pdf_width)
    opt = torch.optim.AdamW(
        head.parameters(), lr=cfg.fusion_lr, weight_decay=cfg.fusion_weight_decay
    )
    loss = torch.tensor(0.0)
    for _ in range(cfg.fusion_steps):
        logp = head.member_logits(x).log_softmax(-1)  # [members, P, levels]
        loss = -(target * logp).sum(-1).mean(-1).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return FusionFit(head.eval(), names, len(y), float(loss.detach()) / len(head.members))


@dataclass(frozen=True)
class MatchFit:
    """The fitted match head and what it was fitted on."""

    head: MatchHead
    features: tuple[str, ...]
    n_queries: int
    n_candidates: int
    n_positive: int
    final_loss: float


def match_candidates(
    detector: CopyDetector,
    rows: Sequence[Mapping[str, Any]],
    references: Sequence[Reference],
    root: Path,
    cfg: CopyConfig,
    featurizer: Featurizer,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Features [C, len(ALL_FEATURES)] and is-source labels [C] of every shortlisted
    (query, reference) candidate of the queries in ``rows`` (level >= ``match_min_level``, source
    among ``references``); also the number of queries. The shortlist is retrieval's own
    (``Gallery.shortlist``), so the head learns on the candidates it will rank."""
    position = {r.image_id: i for i, r in enumerate(references)}
    queries = [
        r
        for r in rows
        if int(r["level"]) >= cfg.match_min_level and str(r["source_image_id"]) in position
    ]
    if not queries:
        return np.zeros((0, len(ALL_FEATURES)), np.float32), np.zeros(0), 0
    refs = featurizer.images([r.image for r in references], mirror=True)
    qf = featurizer.images(pair_refs(queries, root)[0])
    gallery = Gallery(refs, detector.config.verify.method, detector.config.verify.ratio)
    lists = gallery.shortlist(qf, cfg.match_shortlist)
    truth = [position[str(r["source_image_id"])] for r in queries]
    matrix = pair_matrix(
        detector,
        [qf[i] for i, c in enumerate(lists) for _ in c],
        [refs[j] for c in lists for j in c],
    )
    labels = np.array([float(j == t) for c, t in zip(lists, truth, strict=True) for j in c])
    return matrix, labels, len(queries)


def fit_match(
    matrix: np.ndarray, is_source: np.ndarray, n_queries: int, cfg: CopyConfig
) -> MatchFit:
    """Fit the match head: logistic regression (L-BFGS, deterministic) on standardised,
    clamped features, L2 penalty ``match_l2`` on the weights."""
    names = features_of(tuple(cfg.fusion_groups))
    positives = int(is_source.sum())
    if positives == 0 or positives == len(is_source):
        raise ValueError(
            f"the match head needs val queries whose source is among the val references and "
            f"other candidates, got {positives} positives of {len(is_source)} candidates"
        )
    x = torch.from_numpy(select(matrix, names)).float()
    y = torch.from_numpy(is_source).float()
    head = MatchHead(len(names), cfg.fusion_clamp)
    head.mean.copy_(x.mean(0))
    head.scale.copy_(x.std(0).clamp_min(1e-3))
    nn.init.zeros_(head.linear.weight)
    nn.init.zeros_(head.linear.bias)
    opt = torch.optim.LBFGS(head.linear.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(head(x), y)
        loss = loss + cfg.match_l2 * head.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = float(F.binary_cross_entropy_with_logits(head(x), y))
    return MatchFit(head.eval(), names, n_queries, len(y), positives, final)


@dataclass
class Trained:
    """A trained copy detector with what produced it."""

    detector: CopyDetector
    result: Result
    fusion: FusionFit | None
    match: MatchFit | None = None


def train(
    cfg: CopyConfig,
    loop: TrainConfig,
    train_rows: Sequence[Mapping[str, Any]],
    val_rows: Sequence[Mapping[str, Any]],
    root: Path,
    seed: int,
    *,
    checkpoint_dir: Path | None = None,
    log: Callable[[dict[str, float], int], None] | None = None,
    distributed: Distributed = Distributed(),
    cache: ArrayCache | None = None,
    val_references: Sequence[Reference] = (),
) -> Trained:
    """PDF-Embedding through the generic loop, then (rank 0) the fusion head on ``val_rows``
    and, given the val split's ``val_references``, the match head (none when no val query has
    both its source and another reference among them: retrieval then ranks by level)."""
    result = fit(
        task(cfg, train_rows, val_rows, root, seed),
        schedule(cfg),
        loop,
        seed,
        checkpoint_dir=checkpoint_dir,
        log=log,
        distributed=distributed,
    )
    detector = CopyDetector.from_config(detector_config(cfg))
    detector.embedding.load_state_dict(result.model.state_dict())
    detector.eval()
    fused = None
    matched = None
    if distributed.rank == 0 and val_rows:
        fz = Featurizer(detector, cache)
        matrix = pair_features(detector, val_rows, root, fz)
        levels = np.array([int(r["level"]) for r in val_rows])
        fused = fit_fusion(matrix, levels, cfg, seed)
        detector.with_fusion(fused.head, fused.features, tuple(cfg.fusion_groups))
        if val_references:
            candidates, is_source, n_queries = match_candidates(
                detector, val_rows, val_references, root, cfg, fz
            )
            if 0 < is_source.sum() < len(is_source):  # else nothing to rank: no match head
                matched = fit_match(candidates, is_source, n_queries, cfg)
                detector.with_match(matched.head, matched.features)
    return Trained(detector, result, fused, matched)
