"""The ``synthetic`` family's parts: how each detector kind gets its inputs and is trained.

Each kind is an adapter with ``featurize`` (images of a view -> model inputs) and ``fit``
(inputs, labels -> a model with ``logits``), which ``train`` and ``evaluate`` share so the
candidate and its baselines are trained the same way:
- ``artefact``: artefact features + logistic regression (CPU, no weights);
- ``probe``: a frozen backbone's embedding (cached per image and backbone) + logistic regression;
- ``format``: the trivial baseline that sees only the file (format, size, bytes per pixel, JPEG
  quality): it measures how much the encoding alone gives away, and must sit at chance on a
  dataset with format parity;
- ``fakeinversion``: the 9-channel ResNet on inversion features, trained by the generic loop
  (``replica.train.loop``) through ``fakeinversion_task``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, Dataset

from replica.cache import FeatureCache
from replica.config import InvertConfig, Params, SyntheticConfig, SyntheticModel, TrainConfig
from replica.contracts import INVERSIONS
from replica.invert.inversion import Inverter, cached_features, to_model_input
from replica.models.synthetic import (
    ArtefactConfig,
    ArtefactDetector,
    FakeInversionClassifier,
    FakeInversionConfig,
    LinearHead,
    ProbeConfig,
    ProbeDetector,
    calibrated,
)
from replica.quality.encoding import describe
from replica.train.loop import Schedule, StepContext, Task, fit, sample_generator

FORMATS = ("JPEG", "PNG", "WEBP")


def pixels_sha(pixels: np.ndarray) -> str:
    """Content id of decoded pixels (shape included): the cache key of a view's image."""
    digest = hashlib.sha256(str(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


class ArtefactAdapter:
    name = "artefact"
    uses_views = True

    def __init__(self, config: ArtefactConfig) -> None:
        self.config = config

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> np.ndarray:
        return ArtefactDetector(self.config).features(list(images))

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> ArtefactDetector:
        return ArtefactDetector(self.config).fit(x, labels, seed)


def format_facts(data: bytes) -> np.ndarray:
    """What the container alone says: format one-hot (JPEG, PNG, WEBP, other), log2 width and
    height, JPEG quality / 100 and 4:2:0 subsampling (0 when not JPEG). The compressed size is
    left out on purpose: it also measures content (smooth or textured), not only the file."""
    with Image.open(io.BytesIO(data)) as image:
        sig = describe(image).split()
        fmt, (w, h) = image.format or "", image.size
    onehot = [float(fmt == f) for f in FORMATS] + [float(fmt not in FORMATS)]
    quality = next((float(p.lstrip("q~")) / 100 for p in sig if p.startswith("q")), 0.0)
    return np.array(
        [
            *onehot,
            np.log2(w),
            np.log2(h),
            quality,
            float("4:2:0" in sig),
        ],
        dtype=np.float32,
    )


class FormatAdapter:
    """The trivial baseline: a logistic regression on ``format_facts`` of the stored files."""

    name = "format"
    uses_views = False

    def __init__(self, files: Sequence[Path], c: float = 1.0) -> None:
        self.facts = np.stack([format_facts(Path(f).read_bytes()) for f in files])
        self.c = c

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> np.ndarray:
        return self.facts[rows]

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> LinearHead:
        return LinearHead.fit(x, labels, self.c, seed)


class ProbeAdapter:
    """UnivFD: frozen embeddings (cached by image and backbone) + logistic regression."""

    name = "probe"
    uses_views = True

    def __init__(self, config: ProbeConfig, cache_root: Path | None, batch_size: int = 32) -> None:
        self.config = config
        self.detector = ProbeDetector(config)
        self.cache = FeatureCache(cache_root, self.detector.model_id) if cache_root else None
        self.batch_size = batch_size

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> np.ndarray:
        images = list(images)

        def compute(positions: list[int]) -> list[dict[str, torch.Tensor]]:
            out: list[dict[str, torch.Tensor]] = []
            for s in range(0, len(positions), self.batch_size):
                chunk = [images[p] for p in positions[s : s + self.batch_size]]
                emb = self.detector.features(chunk)
                out += [{"embedding": torch.from_numpy(e.copy())} for e in emb]
            return out

        if self.cache is None:
            entries = compute(list(range(len(images))))
        else:
            entries = self.cache.get_or_compute([pixels_sha(im) for im in images], compute)
        return np.stack([e["embedding"].numpy() for e in entries])

    def fit(self, x: np.ndarray, labels: np.ndarray, seed: int) -> ProbeDetector:
        return ProbeDetector(self.config).fit(x, labels, seed)


def load_pixels(path: Path) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3]."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# ---------------------------------------------------------------- FakeInversion (generic loop)


def fakeinversion_config(cfg: SyntheticConfig, image_size: int) -> FakeInversionConfig:
    return FakeInversionConfig(
        embedding_size=cfg.embedding_size,
        hidden_sizes=cfg.hidden_sizes,
        depths=cfg.depths,
        image_size=image_size,
    )


def schedule(cfg: SyntheticConfig) -> Schedule:
    return Schedule(cfg.steps, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.warmup_steps)


class FeatureSamples(Dataset):
    """Training samples keyed by ``(epoch, index)``: features [9, S, S] (float32) flipped
    left-right in a seeded half of the draws (all nine channels alike), and the label."""

    def __init__(self, features: torch.Tensor, labels: np.ndarray, seed: int) -> None:
        self.features, self.labels, self.seed = features, labels, seed

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        x = self.features[index].float()
        if torch.rand(1, generator=sample_generator(self.seed, epoch, index)).item() < 0.5:
            x = x.flip(-1)
        return x, torch.tensor(float(self.labels[index]))


class FeatureSet(Dataset):
    """Validation samples by index: (features, label)."""

    def __init__(self, features: torch.Tensor, labels: np.ndarray) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index].float(), torch.tensor(float(self.labels[index]))


def fakeinversion_task(
    cfg: SyntheticConfig,
    model_config: FakeInversionConfig,
    x_train: torch.Tensor,
    y_train: np.ndarray,
    x_val: torch.Tensor | None,
    y_val: np.ndarray | None,
    seed: int,
) -> Task:
    """The FakeInversion classifier as a :class:`Task`: class-balanced binary cross-entropy;
    validation reports the loss and average precision (early stopping watches AP)."""
    from sklearn.metrics import average_precision_score

    positives = float(np.sum(y_train))
    if positives == 0 or positives == len(y_train):
        raise ValueError("training needs both real and generated images")
    pos_weight = torch.tensor((len(y_train) - positives) / positives)

    def loss(model: nn.Module, batch: Any, ctx: StepContext) -> tuple[torch.Tensor, dict]:
        x, y = batch
        weight = pos_weight.to(ctx.device)
        return F.binary_cross_entropy_with_logits(model(x), y, pos_weight=weight), {}

    def validate(model: nn.Module, loader: DataLoader) -> dict[str, float]:
        logits, labels = [], []
        for x, y in loader:
            logits.append(model(x).float().cpu())
            labels.append(y.cpu())
        z, y = torch.cat(logits), torch.cat(labels)
        both = 0 < float(y.sum()) < len(y)
        return {
            "loss": float(F.binary_cross_entropy_with_logits(z, y)),
            "ap": float(average_precision_score(y.numpy(), z.numpy())) if both else 0.0,
        }

    has_val = x_val is not None and y_val is not None and len(y_val) > 0
    return Task(
        build_model=lambda: FakeInversionClassifier.from_config(model_config),
        loss=loss,
        train_data=FeatureSamples(x_train, y_train, seed),
        validate=validate if has_val else None,
        val_data=FeatureSet(x_val, y_val) if has_val else None,  # type: ignore[arg-type]
        monitor="ap",
        higher_is_better=True,
    )


class FittedClassifier:
    """A trained FakeInversion classifier scored in batches on CPU or its device."""

    def __init__(self, model: FakeInversionClassifier, batch_size: int = 32) -> None:
        self.model = model.eval()
        self.batch_size = batch_size

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> np.ndarray:
        device = next(self.model.parameters()).device
        out = [
            self.model(x[s : s + self.batch_size].to(device).float()).float().cpu()
            for s in range(0, len(x), self.batch_size)
        ]
        return torch.cat(out).numpy() if out else np.empty(0, np.float32)


def fit_fakeinversion(
    cfg: SyntheticConfig,
    loop: TrainConfig,
    model_config: FakeInversionConfig,
    x_train: torch.Tensor,
    y_train: np.ndarray,
    seed: int,
    x_val: torch.Tensor | None = None,
    y_val: np.ndarray | None = None,
    **fit_kwargs: Any,
) -> tuple[FittedClassifier, Any]:
    """Train with the generic loop; returns the scorer and the loop's result (curves)."""
    task = fakeinversion_task(cfg, model_config, x_train, y_train, x_val, y_val, seed)
    result = fit(task, schedule(cfg), loop, seed, **fit_kwargs)
    model = cast(FakeInversionClassifier, result.model)
    return FittedClassifier(model, cfg.batch_size), result


class FakeInversionAdapter:
    """FakeInversion for the evaluation: clean inputs from the ``invert`` step's features;
    other views inverted on the fly through the cache (``inverter()`` loads the model once)."""

    name = "fakeinversion"
    uses_views = True

    def __init__(
        self,
        cfg: SyntheticConfig,
        loop: TrainConfig,
        model_config: FakeInversionConfig,
        clean: torch.Tensor,
        captions: Sequence[str],
        inverter: Callable[[], Inverter] | None,
        cache_root: Path | None,
    ) -> None:
        self.cfg, self.loop, self.model_config = cfg, loop, model_config
        self.clean, self.captions = clean, list(captions)
        self._inverter_factory = inverter
        self._inverter: Inverter | None = None
        self.cache_root = cache_root

    def featurize(self, images: Sequence[np.ndarray], rows: np.ndarray, view: str) -> torch.Tensor:
        if view == "clean":
            return self.clean[rows]
        if self._inverter_factory is None:
            raise ValueError(f"view {view!r} needs the Stable Diffusion model to invert images")
        if self._inverter is None:
            self._inverter = self._inverter_factory()
        inverter = self._inverter
        images = list(images)
        captions = [self.captions[int(r)] for r in rows]
        if self.cache_root is None:
            size = inverter.settings.image_size
            return inverter.features(
                torch.stack([to_model_input(im, size) for im in images]), captions
            )
        store = FeatureCache(self.cache_root, inverter.model_id)
        feats = cached_features(
            inverter,
            store,
            [pixels_sha(im) for im in images],
            lambda i: images[i],
            captions,
            max(1, self.cfg.batch_size),
        )
        return torch.stack(feats)

    def fit(self, x: torch.Tensor, labels: np.ndarray, seed: int) -> FittedClassifier:
        scorer, _ = fit_fakeinversion(self.cfg, self.loop, self.model_config, x, labels, seed)
        return scorer


def inversions_of(rows: Sequence[Mapping[str, Any]], root: Path) -> torch.Tensor:
    """[N, 9, S, S] features of the fakes ``rows`` from the ``invert`` output ``root``."""
    path = root / INVERSIONS.filename
    if not path.is_file():
        raise ValueError(
            f"{str(root)!r} has no {INVERSIONS.filename}: FakeInversion reads the invert "
            "step's output (replica invert --input <fakes> --output <dir>)"
        )
    by_id = {r["image_id"]: r for r in INVERSIONS.read(root).to_pylist()}
    missing = [r["image_id"] for r in rows if r["image_id"] not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} image(s) have no features in {str(root)!r}")
    return load_inversions([by_id[r["image_id"]] for r in rows], root)


def load_inversions(rows: Sequence[Mapping[str, Any]], root: Path) -> torch.Tensor:
    """[N, 9, S, S] float16 features of ``rows`` (inversions rows, same order) under ``root``."""
    out = []
    for row in rows:
        path = root / row["uri"]
        if not path.is_file():
            raise ValueError(f"feature file {row['uri']!r} is missing under {str(root)!r}")
        out.append(load_file(str(path))["features"])
    return torch.stack(out)


# ---------------------------------------------------------------- one entry for the train step


@dataclass
class Trained:
    """A trained, calibrated synthetic detector ready to save, with what to log about it."""

    save: Callable[[Path], None]
    kind: str
    n_train: int
    n_val: int
    temperature: float
    threshold: float
    val_metrics: dict[str, float]
    loop: Any = None  # the generic loop's Result (FakeInversion only)


def train_detector(
    cfg: SyntheticConfig,
    loop: TrainConfig,
    rows: Sequence[Mapping[str, Any]],
    pixels: Callable[[int], np.ndarray],
    seed: int,
    *,
    features: torch.Tensor | None = None,
    cache_root: Path | None = None,
    ece_bins: int = 15,
    encoding: Mapping[str, Any] | None = None,
    invert: InvertConfig | None = None,
    **fit_kwargs: Any,
) -> Trained:
    """Fit ``cfg.model`` on the train split of ``rows`` (a fakes table), then fit its
    calibration (``cfg.calibration``) and threshold on the val split. ``features`` are the
    FakeInversion inputs of every row (required for that kind; ``invert`` says how they were
    made); ``pixels(i)`` loads row i for the other kinds. ``encoding`` (the dataset's
    ``encoding.json``) is saved in the model's config so new images are re-encoded the same way
    before scoring."""
    enc = dict(encoding or {})
    from replica.evaluate.synthetic import calibrate, detection_metrics

    labels = np.array([r["label"] == "fake" for r in rows], dtype=np.int64)
    split = np.array([r["split"] for r in rows])
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    for name, idx in (("train", train), ("val", val)):
        if len(set(labels[idx].tolist())) < 2:
            raise ValueError(f"the {name} split needs real and generated images")
    kind = cfg.model
    scorer: Any
    if kind is SyntheticModel.fakeinversion:
        if features is None:
            raise ValueError("synthetic.model=fakeinversion needs FakeInversion features")
        model_config = fakeinversion_config(cfg, int(features.shape[-1]))
        if invert is not None:
            model_config = dataclasses.replace(
                model_config,
                sd_model=invert.model,
                inversion_steps=invert.steps,
                inversion_guidance=invert.guidance_scale,
                caption_source=invert.caption_source.value,
            )
        model_config = dataclasses.replace(model_config, encoding=enc)
        scorer, result = fit_fakeinversion(
            cfg, loop, model_config, features[train], labels[train], seed,
            features[val], labels[val], **fit_kwargs,
        )  # fmt: skip
        cal = calibrate(scorer, features[val], labels[val], cfg.calibration.value)
        network = scorer.model.cpu()
        network.config = calibrated(model_config, cal.temperature, cal.threshold, cal.bias)
        x_val: Any = features[val]
        save: Callable[[Path], None] = network.save
    else:
        adapter: ArtefactAdapter | ProbeAdapter
        if kind is SyntheticModel.artefact:
            adapter = ArtefactAdapter(ArtefactConfig(c=cfg.c, encoding=enc))
        else:
            probe = ProbeConfig(backbone=cfg.backbone, c=cfg.c, encoding=enc)
            adapter = ProbeAdapter(probe, cache_root)
        both = np.concatenate([train, val])
        feats = adapter.featurize([pixels(int(i)) for i in both], both, "clean")
        x = np.zeros((len(rows), feats.shape[1]), np.float32)
        x[both] = feats
        detector = adapter.fit(x[train], labels[train], seed)
        cal = calibrate(detector, x[val], labels[val], cfg.calibration.value)
        detector.config = calibrated(detector.config, cal.temperature, cal.threshold, cal.bias)
        scorer = detector
        result, x_val, save = None, x[val], detector.save
    metrics = detection_metrics(
        labels[val], cal.model.logits(x_val), cal.temperature, cal.threshold, ece_bins, cal.bias
    )
    return Trained(
        save, kind.value, len(train), len(val), cal.temperature, cal.threshold, metrics, result
    )


def candidate_for(
    cfg: Params,
    model_dir: Path,
    rows: Sequence[Mapping[str, Any]],
    root: Path,
    cache_root: Path | None,
) -> tuple[tuple[Any, Any], list[Any]]:
    """The trained detector in ``model_dir`` as (adapter, calibrated scorer), and the
    baselines evaluated beside it: the file-format baseline always, the artefact baseline
    unless the candidate is one."""
    from replica.evaluate.synthetic import Calibrated
    from replica.models.synthetic import load_detector

    detector = load_detector(model_dir)
    conf = detector.config
    adapter: Any
    scorer: Any
    if isinstance(detector, ArtefactDetector):
        adapter, scorer = ArtefactAdapter(detector.config), detector
    elif isinstance(detector, ProbeDetector):
        adapter, scorer = ProbeAdapter(detector.config, cache_root), detector
    else:
        clean = inversions_of(rows, root)
        trained_with = detector.config
        adapter = FakeInversionAdapter(
            cfg.synthetic,
            cfg.train,
            trained_with,
            clean,
            [r["caption"] or "" for r in rows],
            (lambda: inverter_of(trained_with)) if trained_with.sd_model else None,
            cache_root,
        )
        scorer = FittedClassifier(detector, cfg.synthetic.batch_size)
    baselines: list[Any] = [FormatAdapter([root / r["uri"] for r in rows])]
    if not isinstance(detector, ArtefactDetector):
        baselines.append(ArtefactAdapter(ArtefactConfig(c=cfg.synthetic.c)))
    return (adapter, Calibrated(scorer, conf.temperature, conf.threshold, conf.bias)), baselines


def inverter_of(config: FakeInversionConfig) -> Inverter:
    """The inversion a FakeInversion model was trained on (its config names the model and
    settings), loaded for new images."""
    from replica.cache import model_fingerprint
    from replica.invert.inversion import InversionSettings, load_components

    if not config.sd_model:
        raise ValueError("this FakeInversion model does not name its Stable Diffusion model")
    settings = InversionSettings(
        config.image_size, config.inversion_steps, config.inversion_guidance,
        config.caption_source,
    )  # fmt: skip
    return Inverter(load_components(config.sd_model), settings, model_fingerprint(config.sd_model))


class SyntheticScorer:
    """Scores new images with a trained synthetic detector, the way it was trained: each image
    re-encoded like its training data (the config's ``encoding``), FakeInversion features
    computed with the model and settings it was trained on. Returns calibrated P(generated)."""

    def __init__(self, model_dir: Path, cache_root: Path | None = None, batch_size: int = 16):
        from replica.models.synthetic import load_detector

        self.detector = load_detector(model_dir)
        self.config = self.detector.config
        self.cache_root = cache_root
        self.batch_size = batch_size
        self._inverter: Inverter | None = None

    def _inputs(self, pixels: list[np.ndarray], captions: Sequence[str]) -> Any:
        det = self.detector
        if isinstance(det, ArtefactDetector | ProbeDetector):
            return det.features(pixels)
        if self._inverter is None:
            self._inverter = inverter_of(det.config)
        inverter = self._inverter
        root = self.cache_root
        if root is None:
            batch = torch.stack([to_model_input(p, inverter.settings.image_size) for p in pixels])
            return inverter.features(batch, list(captions))
        store = FeatureCache(root, inverter.model_id)
        feats = cached_features(inverter, store, [pixels_sha(p) for p in pixels],
                                lambda i: pixels[i], list(captions), self.batch_size)  # fmt: skip
        return torch.stack(feats)

    def prepare(self, image: Image.Image) -> np.ndarray:
        """``image`` as the model's training data held it: uint8 RGB after the dataset's
        decode -> size policy -> encoder (``fakes.encode``); TooSmall when the size policy
        cannot make the square."""
        from replica.fakes.encode import reencode

        return np.asarray(reencode(image, self.config.encoding))

    def score(self, pixels: Sequence[np.ndarray], captions: Sequence[str]) -> np.ndarray:
        """[N] calibrated probabilities of prepared images (``prepare``), in batches."""
        from replica.evaluate.synthetic import probability

        scorer: Any = self.detector
        if isinstance(self.detector, FakeInversionClassifier):
            scorer = FittedClassifier(self.detector, self.batch_size)
        out = []
        for s in range(0, len(pixels), self.batch_size):
            x = self._inputs(list(pixels[s : s + self.batch_size]),
                             captions[s : s + self.batch_size])  # fmt: skip
            out.append(probability(scorer.logits(x), self.config.temperature, self.config.bias))
        return np.concatenate(out) if out else np.empty(0)

    def probabilities(
        self, images: Sequence[Image.Image], captions: Sequence[str] | None = None
    ) -> np.ndarray:
        """[N] calibrated probabilities that each image is generated."""
        caps = list(captions) if captions is not None else [""] * len(images)
        return self.score([self.prepare(im) for im in images], caps)

    @property
    def threshold(self) -> float:
        return float(self.config.threshold)
