"""One training loop for every model family (copy, synthetic, ...).

The loop owns everything that does not depend on the model: AdamW with linear warm-up and cosine
decay, bf16 autocast on GPU, DataLoader workers, gradient clipping, checkpoints every N steps
with exact resume after ``kill -9``, early stopping on a validation metric, ``torchrun`` DDP and
metric logging through a callback (the step sends it to MLflow). A family plugs in through a
:class:`Task`: how to build its model, its loss on a batch, its validation metrics and its
datasets. Nothing family-specific lives here.

Data order is explicit and resumable. :class:`GlobalBatches` draws a seeded permutation per
epoch and cuts it into global batches; each DDP rank takes its slice, so 2 ranks with batch B
see exactly the samples 1 process with batch 2B sees. Training datasets are indexed by
``(epoch, index)`` keys, so a family can seed each sample's augmentation from its key: the same
sample gets the same augmentation in any worker, on any rank, before or after a resume.

A checkpoint holds the model, optimizer, scheduler, step, RNG states, the early-stopping state,
the best weights so far and the task's own state (e.g. per-sample statistics); it is written to
a temp file and renamed, so a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from replica.config import TrainConfig

CHECKPOINT = "last.pt"
Batch = Any
Metrics = dict[str, float]


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings a family takes from its own params section."""

    steps: int
    batch_size: int  # global: split evenly across DDP ranks
    lr: float
    weight_decay: float = 0.05
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # cosine decays from lr to lr * min_lr_ratio

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}"
            )
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps must be in [0, steps], got {self.warmup_steps}")

    def factor(self, step: int) -> float:
        """Multiplier of ``lr`` at ``step``: linear warm-up, then cosine to ``min_lr_ratio``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(self.steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / span, 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine


class TaskState(Protocol):
    """Extra training state a family keeps (e.g. per-sample loss averages), checkpointed."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclass
class StepContext:
    """What a family's loss may need besides the batch: where it is and how to talk to peers."""

    step: int
    device: torch.device
    world_size: int = 1

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate ``tensor`` from every rank along dim 0 (itself when not distributed)."""
        if self.world_size == 1:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)


@dataclass
class Task:
    """A model family's part of training: small callables the loop calls.

    - ``build_model()``: a fresh model (seeded by the loop before the call);
    - ``loss(model, batch, ctx)``: scalar loss and extra numbers to log; it must call
      ``model(...)`` (under DDP ``model`` is the wrapper, which syncs gradients in forward);
    - ``validate(model, loader)``: metrics on the validation set; ``monitor`` names the one
      early stopping watches (``higher_is_better`` says which way is better);
    - ``train_data[(epoch, index)]``: one training sample; ``val_data[index]`` likewise;
    - ``collate``: batches samples (None: PyTorch's default);
    - ``state``: extra state to checkpoint (None: nothing).
    """

    build_model: Callable[[], nn.Module]
    loss: Callable[[nn.Module, Batch, StepContext], tuple[torch.Tensor, Metrics]]
    train_data: Dataset
    validate: Callable[[nn.Module, DataLoader], Metrics] | None = None
    val_data: Dataset | None = None
    monitor: str = "loss"
    higher_is_better: bool = False
    collate: Callable[[list[Any]], Batch] | None = None
    state: TaskState | None = None


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (world_size 1: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Distributed:
        """Read torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (absent: one process)."""
        return cls(
            int(environ.get("RANK", 0)),
            int(environ.get("WORLD_SIZE", 1)),
            int(environ.get("LOCAL_RANK", 0)),
        )


@dataclass
class Result:
    """What training produced: the model (best weights, eval mode) and its curves."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)  # one row per log point
    validation: list[dict[str, float]] = field(default_factory=list)  # one row per evaluation
    steps: int = 0
    best_step: int = -1
    best_value: float | None = None
    stopped: str = "steps"  # steps | patience | time
    resumed_from: int = 0
    seconds: float = 0.0
    samples_per_s: float = 0.0


class GlobalBatches:
    """Infinite, resumable sequence of global batches of ``(epoch, index)`` keys.

    Epoch ``e`` is a permutation of ``range(n)`` seeded by ``(seed, e)``, cut into batches of
    ``batch_size`` (the incomplete tail is dropped); rank ``r`` of ``world_size`` yields slice
    ``r`` of each batch. Starting at ``(epoch, batch)`` skips what an earlier run consumed.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        start: tuple[int, int] = (0, 0),
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by {world_size} ranks")
        if n < batch_size:
            raise ValueError(f"{n} training samples cannot fill one batch of {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.rank, self.world_size = start, rank, world_size
        self.per_epoch = n // batch_size

    def position(self, consumed: int) -> tuple[int, int]:
        """(epoch, batch) after ``consumed`` batches counted from the start position."""
        flat = self.start[0] * self.per_epoch + self.start[1] + consumed
        return divmod(flat, self.per_epoch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, first = self.start
        local = self.batch_size // self.world_size
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.n, generator=g).tolist()
            for b in range(first, self.per_epoch):
                chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
                yield [(epoch, i) for i in chunk[self.rank * local : (self.rank + 1) * local]]
            epoch, first = epoch + 1, 0


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The RNG of one training draw: a family seeds its augmentation of sample ``index`` in
    ``epoch`` from it, so the draw is the same in any worker, on any rank, after a resume."""
    (state,) = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def _rng_state() -> dict[str, Any]:
    """Every global RNG as tensors and plain values (loadable with ``weights_only``)."""
    kind, keys, pos, has_gauss, gauss = cast(tuple, np.random.get_state(legacy=True))
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`fit` (tensors and plain values only: ``weights_only``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on GPU (``auto`` or ``bf16``); fp32 elsewhere unless asked for bf16."""
    use = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _move(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _move(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_move(v, device) for v in batch)
    return batch


def _improved(value: float, best: float | None, higher: bool) -> bool:
    if math.isnan(value):
        return False
    return best is None or (value > best if higher else value < best)


def _loader(data: Dataset, cfg: TrainConfig, collate: Callable | None, **kwargs: Any) -> DataLoader:
    workers = cfg.workers
    extra: dict[str, Any] = {"prefetch_factor": cfg.prefetch} if workers else {}
    # Its own generator: creating an iterator must not draw from the global RNG, or a resumed
    # run would drift from an uninterrupted one.
    return DataLoader(
        data,
        num_workers=workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(0),
        **extra,
        **kwargs,
    )


def fit(
    task: Task,
    schedule: Schedule,
    cfg: TrainConfig,
    seed: int,
    *,
    checkpoint_dir: Path | None = None,
    log: Callable[[Metrics, int], None] | None = None,
    distributed: Distributed = Distributed(),
    on_step: Callable[[int], None] | None = None,
) -> Result:
    """Train ``task``'s model for ``schedule.steps`` steps (fewer if early stopping or
    ``cfg.max_minutes`` ends it); returns the best model by ``task.monitor`` when there is a
    validation set, else the last one.

    With ``checkpoint_dir``, a checkpoint is written every ``cfg.checkpoint_every`` steps (and
    at the end), and a checkpoint found there is resumed: the run continues at its step with
    the same data order and random state. ``log`` receives metrics (rank 0 only); ``on_step``
    is called after every optimizer step with the step number (tests use it to die mid-run).
    """
    started = time.monotonic()
    device = pick_device(cfg.device)
    world = distributed.world_size
    own_group = world > 1 and not dist.is_initialized()
    if own_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", distributed.local_rank)
        torch.cuda.set_device(device)
    try:
        return _fit(
            task, schedule, cfg, seed, device, distributed, checkpoint_dir, log, on_step, started
        )
    finally:
        if own_group:
            dist.destroy_process_group()


def _fit(
    task: Task,
    schedule: Schedule,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    distributed: Distributed,
    checkpoint_dir: Path | None,
    log: Callable[[Metrics, int], None] | None,
    on_step: Callable[[int], None] | None,
    started: float,
) -> Result:
    rank, world = distributed.rank, distributed.world_size
    lead = rank == 0

    # 1. Model, optimizer, schedule: seeded identically on every rank.
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    model = task.build_model().to(device)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": schedule.weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ],
        lr=schedule.lr,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.factor)

    # 2. Resume from the last checkpoint when there is one.
    result = Result(model=model)
    step, position, bad_evals = 0, (0, 0), 0
    best_state: dict[str, torch.Tensor] | None = None
    ckpt_path = checkpoint_dir / CHECKPOINT if checkpoint_dir is not None else None
    if ckpt_path is not None and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, position, bad_evals = state["step"], tuple(state["position"]), state["bad_evals"]
        best_state = state["best_model"]
        result.best_step, result.best_value = state["best_step"], state["best_value"]
        result.history, result.validation = state["history"], state["validation"]
        if task.state is not None:
            task.state.load_state_dict(state["task"])
        _set_rng_state(state["rng"])
        result.resumed_from = step
    if ckpt_path is not None and lead:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)

    trained = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        trained = nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def checkpoint() -> None:
        if ckpt_path is None:
            return
        if lead:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
                "position": list(batches.position(consumed)),
                "bad_evals": bad_evals,
                "best_model": best_state,
                "best_step": result.best_step,
                "best_value": result.best_value,
                "history": result.history,
                "validation": result.validation,
                "task": task.state.state_dict() if task.state is not None else {},
                "rng": _rng_state(),
            }
            _atomic_save(state, ckpt_path)
        if world > 1:
            dist.barrier()

    def evaluate() -> bool:
        """Validate, remember the best weights; True when patience has run out."""
        nonlocal best_state, bad_evals
        if task.validate is None or val_loader is None:
            return False
        model.eval()
        with torch.no_grad(), _autocast(device, cfg.precision):
            metrics = task.validate(model, val_loader)
        model.train()
        value = float(metrics[task.monitor])
        result.validation.append({"step": float(step), **metrics})
        if lead and log is not None:
            log({f"val_{k}": v for k, v in metrics.items()}, step)
        if _improved(value, result.best_value, task.higher_is_better):
            result.best_value, result.best_step, bad_evals = value, step, 0
            best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
            return False
        bad_evals += 1
        return cfg.patience > 0 and bad_evals >= cfg.patience

    # 3. Data: resumable global batches, this rank's slice, loaded by workers.
    batches = GlobalBatches(
        len(task.train_data),  # type: ignore[arg-type]
        schedule.batch_size,
        seed,
        position,
        rank,
        world,
    )
    train_loader = _loader(task.train_data, cfg, task.collate, batch_sampler=batches)
    val_loader = (
        _loader(task.val_data, cfg, task.collate, batch_size=schedule.batch_size // world)
        if task.val_data is not None
        else None
    )

    # 4. The loop.
    model.train()
    consumed = 0
    window: list[Metrics] = []
    window_start, samples = time.monotonic(), 0
    deadline = started + cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
    data_iter = iter(train_loader)
    while step < schedule.steps:
        batch = _move(next(data_iter), device)
        consumed += 1
        with _autocast(device, cfg.precision):
            loss, extra = task.loss(trained, batch, StepContext(step, device, world))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        samples += schedule.batch_size
        window.append({"loss": float(loss.detach()), **extra})
        if on_step is not None:
            on_step(step)
        if step % cfg.log_every == 0 or step == schedule.steps:
            keys = dict.fromkeys(k for w in window for k in w)
            row = {k: float(np.mean([w[k] for w in window if k in w])) for k in keys}
            elapsed = time.monotonic() - window_start
            row |= {
                "lr": float(scheduler.get_last_lr()[0]),
                "samples_per_s": samples / max(elapsed, 1e-9),
            }
            result.history.append({"step": float(step), **row})
            if lead and log is not None:
                log(row, step)
            window, window_start, samples = [], time.monotonic(), 0
        stop = ""
        if step % cfg.eval_every == 0 or step == schedule.steps:
            stop = "patience" if evaluate() else ""
        if not stop and time.monotonic() > deadline:
            stop = "time"
        if step % cfg.checkpoint_every == 0 or step == schedule.steps or stop:
            checkpoint()
        if stop:
            result.stopped = stop
            break

    # 5. Best weights back, eval mode.
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.model, result.steps = model, step
    result.seconds = time.monotonic() - started
    done = [h for h in result.history if "samples_per_s" in h]
    result.samples_per_s = float(np.mean([h["samples_per_s"] for h in done])) if done else 0.0
    return result
