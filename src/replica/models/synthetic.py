"""Synthetic-image detectors: tell a generated image from a real photograph.

Three detectors, one family (``synthetic``); each is a config dataclass saved as ``config.json``
beside ``model.safetensors``, rebuilt with ``load_detector(dir)`` (dispatch on ``kind``):

- ``ArtefactDetector`` (no pretrained weights, trains on CPU in seconds): hand-made features of
  the traces generators leave in pixels, then a logistic regression.
  * NPR (Tan et al., CVPR 2024): up-sampling layers copy or interpolate neighbouring pixels, so
    the residual between an image and its 2x (4x) nearest-neighbour re-upsampling has
    different statistics inside each 2 x 2 (4 x 4) cell for generated images;
  * the azimuthally averaged log spectrum of the high-pass residual and its peaks at the
    periods 2, 4 and 8 px (the Fourier fingerprints of transposed convolutions and grids);
  * histograms of first-order pixel differences and their neighbour correlation (SPAM-like).
- ``ProbeDetector`` (UnivFD, Ojha et al. 2023): a frozen backbone's image embedding with a
  logistic regression on top; the backbone is a local directory or hub id the user gives and
  is referenced, not copied.
- ``FakeInversionClassifier`` (Cazenavette et al., CVPR 2024): a ResNet-50-style network with 9
  input channels, [image, decoded inverted noise, decoded reconstruction] (see
  ``replica.invert``), built on ``transformers.ResNetModel``.

Every detector outputs a logit z for "generated"; ``temperature`` and ``bias`` (fitted on the
validation split) turn it into a calibrated probability sigmoid(z / temperature + bias) and
``threshold`` is the decision threshold on that probability chosen on the validation split.
``encoding`` records how the training images were re-encoded (the ``fakes`` step's format
parity), so new images are scored after the same re-encoding, never as files of another format
or size.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# ---------------------------------------------------------------- the artefact features


@dataclass(frozen=True)
class ArtefactConfig:
    kind: str = "artefact"
    spectrum_bins: int = 24
    diff_clip: int = 4
    c: float = 0.1
    temperature: float = 1.0
    bias: float = 0.0
    threshold: float = 0.5
    encoding: dict[str, Any] = field(default_factory=dict)  # the training data's (fakes step)

    @property
    def feature_dim(self) -> int:
        npr = 3 * (3 + 6)  # 3 statistics at 3 positions of the 2x2 cell and 6 of the 4x4 cell
        diffs = 2 * (2 * self.diff_clip + 1 + 1)  # two directions: histogram + correlation
        return npr + diffs + self.spectrum_bins + 9 + 2


_NPR_CELLS = {2: [(0, 1), (1, 0), (1, 1)], 4: [(0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (2, 2)]}


def _npr(x: np.ndarray) -> list[float]:
    """Neighbouring-pixel residual statistics: [H, W, 3] in [0, 1] -> 27 numbers."""
    out: list[float] = []
    for f, cells in _NPR_CELLS.items():
        h, w = x.shape[0] // f * f, x.shape[1] // f * f
        xs = x[:h, :w]
        up = np.repeat(np.repeat(xs[::f, ::f], f, axis=0), f, axis=1)
        cell = (xs - up).reshape(h // f, f, w // f, f, 3)  # residual per position in the cell
        for i, j in cells:
            v = cell[:, i, :, j, :]
            out += [float(np.abs(v).mean()), float(v.std()), float((np.abs(v) < 0.5 / 255).mean())]
    return out


def _differences(gray: np.ndarray, clip: int) -> list[float]:
    """Histogram of clipped vertical and horizontal differences (8-bit units), plus the
    correlation of neighbouring differences: 2 * (2 * clip + 2) numbers."""
    out: list[float] = []
    for d in (np.diff(gray, axis=0), np.diff(gray, axis=1).T):
        q = np.clip(np.round(d * 255.0), -clip, clip).astype(np.int64) + clip
        out += list(np.bincount(q.ravel(), minlength=2 * clip + 1) / q.size)
        a, b = d[:, :-1].ravel(), d[:, 1:].ravel()
        denom = float(a.std() * b.std())
        out.append(float(((a - a.mean()) * (b - b.mean())).mean() / denom) if denom > 0 else 0.0)
    return out


def _spectrum(gray: np.ndarray, bins: int) -> list[float]:
    """Radial log spectrum of the Laplacian residual (``bins`` values, mean removed) and the
    peak height at periods 2, 4 and 8 px along rows, columns and the diagonal (9 values)."""
    h, w = gray.shape
    hp = gray - (np.roll(gray, 1, 0) + np.roll(gray, -1, 0) + np.roll(gray, 1, 1)
                 + np.roll(gray, -1, 1)) / 4  # fmt: skip
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(hp * window))))
    cy, cx = h // 2, w // 2
    yy, xx = np.indices(power.shape)
    radius = np.sqrt(((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2)  # cycles per pixel
    ring = np.minimum((radius / 0.5 * bins).astype(np.int64), bins)
    sums = np.bincount(ring.ravel(), power.ravel(), bins + 1)[:bins]
    radial = sums / np.maximum(np.bincount(ring.ravel(), minlength=bins + 1)[:bins], 1)
    out = list(radial - radial.mean())
    for period in (2, 4, 8):
        for dy, dx in ((0, 1), (1, 0), (1, 1)):
            py, px = min(cy + dy * h // period, h - 1), min(cx + dx * w // period, w - 1)
            around = power[max(py - 3, 0) : py + 4, max(px - 3, 0) : px + 4]
            out.append(float(power[py, px] - np.median(around)))
    return out


def _chroma(x: np.ndarray, gray_hp_std: float) -> list[float]:
    """High-pass energy of the two colour-difference planes relative to luminance's."""
    out = []
    for a, b in ((0, 1), (2, 1)):
        d = x[..., a] - x[..., b]
        hp = d - (np.roll(d, 1, 0) + np.roll(d, 1, 1)) / 2
        out.append(float(hp.std() / (gray_hp_std + 1e-6)))
    return out


MIN_SIDE = 16  # pixels: the smallest side the artefact features (and predict) accept


def artefact_features(pixels: np.ndarray, config: ArtefactConfig) -> np.ndarray:
    """[H, W, 3] uint8 RGB -> [config.feature_dim] float32 artefact features."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < MIN_SIDE:
        raise ValueError(
            f"artefact features need an RGB image of at least {MIN_SIDE} px, got {pixels.shape}"
        )
    x = pixels.astype(np.float32) / 255.0
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    gray = x @ _LUMA
    hp_std = float((gray - (np.roll(gray, 1, 0) + np.roll(gray, 1, 1)) / 2).std())
    feats = [
        *_npr(x),
        *_differences(gray, config.diff_clip),
        *_spectrum(gray, config.spectrum_bins),
        *_chroma(x, hp_std),
    ]
    return np.nan_to_num(np.asarray(feats, np.float32), nan=0.0, posinf=0.0, neginf=0.0)


# ---------------------------------------------------------------- a logistic-regression head


@dataclass
class LinearHead:
    """Standardise, then a linear logit: what both feature detectors put on top."""

    mean: np.ndarray  # [D]
    scale: np.ndarray  # [D]
    coef: np.ndarray  # [D]
    intercept: np.ndarray  # [1]

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float, seed: int = 0) -> LinearHead:
        """L2 logistic regression (classes weighted to balance) on standardised features."""
        from sklearn.linear_model import LogisticRegression

        if len(set(np.asarray(y).tolist())) != 2:
            raise ValueError("training needs both real and generated images")
        x64 = np.asarray(x, np.float64)
        mean = x64.mean(axis=0)
        scale = x64.std(axis=0)
        constant = scale <= 1e-6 * np.maximum(np.abs(mean), 1.0)  # a column with no information
        mean, scale = np.where(constant, x64[0], mean), np.where(constant, 1.0, scale)
        clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=seed)
        clf.fit((x - mean) / scale, y)
        return cls(
            mean.astype(np.float32),
            scale.astype(np.float32),
            clf.coef_[0].astype(np.float32),
            clf.intercept_.astype(np.float32),
        )

    def logits(self, x: np.ndarray) -> np.ndarray:
        return (((x - self.mean) / self.scale) @ self.coef + self.intercept[0]).astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v) for k, v in dataclasses.asdict(self).items()}


class ArtefactDetector:
    """Artefact features + logistic regression; no pretrained weights, CPU only."""

    def __init__(self, config: ArtefactConfig, head: LinearHead | None = None) -> None:
        self.config = config
        self.head = head

    @classmethod
    def from_config(cls, config: ArtefactConfig) -> ArtefactDetector:
        return cls(config)

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """[N, D] features of N uint8 RGB images (any sizes)."""
        if not images:
            return np.empty((0, self.config.feature_dim), np.float32)
        return np.stack([artefact_features(im, self.config) for im in images])

    def fit(self, features: np.ndarray, labels: np.ndarray, seed: int = 0) -> ArtefactDetector:
        self.head = LinearHead.fit(features, labels, self.config.c, seed)
        return self

    def logits(self, features: np.ndarray) -> np.ndarray:
        if self.head is None:
            raise ValueError("the artefact detector is not fitted")
        return self.head.logits(features)

    def save(self, directory: Path | str) -> None:
        if self.head is None:
            raise ValueError("cannot save an unfitted artefact detector")
        _write_config(directory, self.config)
        save_numpy(self.head.tensors(), str(Path(directory) / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path | str) -> ArtefactDetector:
        config = ArtefactConfig(**_read_config(directory))
        return cls(config, LinearHead(**load_numpy(str(Path(directory) / WEIGHTS_FILE))))


# ---------------------------------------------------------------- the UnivFD-style probe


@dataclass(frozen=True)
class ProbeConfig:
    kind: str = "probe"
    backbone: str = ""  # a local directory or hub id, loaded with local_files_only
    image_size: int = 0  # 0: the backbone's own input size (its config), else 224
    c: float = 0.1
    temperature: float = 1.0
    bias: float = 0.0
    threshold: float = 0.5
    encoding: dict[str, Any] = field(default_factory=dict)


class ProbeDetector:
    """A frozen backbone's embedding + logistic regression (UnivFD)."""

    def __init__(self, config: ProbeConfig, head: LinearHead | None = None) -> None:
        if not config.backbone:
            raise ValueError(
                "the probe needs a backbone: set synthetic.backbone to a dir or hub id"
            )
        self.config = config
        self.head = head
        self._backbone: Any = None
        self._size = 0
        self._norm = (torch.zeros(1), torch.ones(1))

    @classmethod
    def from_config(cls, config: ProbeConfig) -> ProbeDetector:
        return cls(config)

    @property
    def model_id(self) -> str:
        """What the embedding depends on: the backbone's weights and the input size."""
        from replica.cache import model_fingerprint

        return f"probe:{model_fingerprint(self.config.backbone)}:{self.config.image_size}"

    def backbone(self) -> Any:
        """The frozen backbone, loaded once from ``config.backbone`` without downloading, with
        its input size and normalisation (its image processor's, else ImageNet's)."""
        if self._backbone is None:
            from transformers import AutoImageProcessor, AutoModel

            model = AutoModel.from_pretrained(self.config.backbone, local_files_only=True)
            vision = getattr(model, "vision_model", model).eval()
            size = self.config.image_size or getattr(vision.config, "image_size", 0) or 224
            mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
            try:
                proc = AutoImageProcessor.from_pretrained(
                    self.config.backbone, local_files_only=True
                )
                mean, std = list(proc.image_mean), list(proc.image_std)
            except (OSError, ValueError, AttributeError, TypeError):
                pass  # no processor saved with the backbone: ImageNet statistics
            self._size = int(size)
            self._norm = (torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1))
            self._backbone = vision
        return self._backbone

    @torch.inference_mode()
    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """[N, D] embeddings: the backbone's pooled output (else its mean token) on images
        squashed to its input size and normalised as its image processor does."""
        from PIL import Image

        if not images:
            raise ValueError("no images to embed")
        backbone = self.backbone()
        size = self._size
        resized = np.stack(
            [np.array(Image.fromarray(im).resize((size, size), Image.Resampling.BICUBIC))
             for im in images]
        )  # fmt: skip
        batch = torch.from_numpy(resized).permute(0, 3, 1, 2).float() / 255.0  # [N, 3, S, S]
        mean, std = self._norm
        out = backbone(pixel_values=(batch - mean) / std)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            pooled = out.last_hidden_state.mean(dim=1)
        return pooled.reshape(len(images), -1).float().numpy()

    def fit(self, features: np.ndarray, labels: np.ndarray, seed: int = 0) -> ProbeDetector:
        self.head = LinearHead.fit(features, labels, self.config.c, seed)
        return self

    def logits(self, features: np.ndarray) -> np.ndarray:
        if self.head is None:
            raise ValueError("the probe is not fitted")
        return self.head.logits(features)

    def save(self, directory: Path | str) -> None:
        if self.head is None:
            raise ValueError("cannot save an unfitted probe")
        _write_config(directory, self.config)
        save_numpy(self.head.tensors(), str(Path(directory) / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path | str) -> ProbeDetector:
        config = ProbeConfig(**_read_config(directory))
        return cls(config, LinearHead(**load_numpy(str(Path(directory) / WEIGHTS_FILE))))


# ---------------------------------------------------------------- the FakeInversion classifier


@dataclass(frozen=True)
class FakeInversionConfig:
    """ResNet-50 by default (bottleneck blocks 3-4-6-3); tests and the CPU demo use less."""

    kind: str = "fakeinversion"
    num_channels: int = 9
    embedding_size: int = 64
    hidden_sizes: tuple[int, ...] = (256, 512, 1024, 2048)
    depths: tuple[int, ...] = (3, 4, 6, 3)
    layer_type: str = "bottleneck"
    image_size: int = 256
    temperature: float = 1.0
    bias: float = 0.0
    threshold: float = 0.5
    encoding: dict[str, Any] = field(default_factory=dict)
    # how the features were made (``invert`` params), so new images get the same ones
    sd_model: str = ""
    inversion_steps: int = 50
    inversion_guidance: float = 1.0
    caption_source: str = "dataset"

    def __post_init__(self) -> None:
        if len(self.hidden_sizes) != len(self.depths):
            raise ValueError(
                f"hidden_sizes {self.hidden_sizes} and depths {self.depths} differ in length"
            )
        if self.layer_type not in ("basic", "bottleneck"):
            raise ValueError(f"layer_type must be basic or bottleneck, got {self.layer_type!r}")


class FakeInversionClassifier(nn.Module):
    """[B, 9, H, W] FakeInversion features in [-1, 1] -> [B] logits for "generated"."""

    def __init__(self, config: FakeInversionConfig) -> None:
        from transformers import ResNetConfig, ResNetModel

        super().__init__()
        self.config = config
        self.backbone = ResNetModel(
            ResNetConfig(
                num_channels=config.num_channels,
                embedding_size=config.embedding_size,
                hidden_sizes=list(config.hidden_sizes),
                depths=list(config.depths),
                layer_type=config.layer_type,
            )
        )
        self.head = nn.Linear(config.hidden_sizes[-1], 1)

    @classmethod
    def from_config(cls, config: FakeInversionConfig) -> FakeInversionClassifier:
        return cls(config)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone(pixel_values=features).pooler_output  # [B, C, 1, 1]
        return self.head(pooled.flatten(1)).squeeze(1)  # [B]

    def save(self, directory: Path | str) -> None:
        _write_config(directory, self.config)
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(Path(directory) / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path | str) -> FakeInversionClassifier:
        raw = _read_config(directory)
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}  # JSON lists
        model = cls(FakeInversionConfig(**raw))
        model.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE), device="cpu"))
        return model.eval()


# ---------------------------------------------------------------- shared save/load

Detector = ArtefactDetector | ProbeDetector | FakeInversionClassifier
_KINDS: dict[str, type[ArtefactDetector] | type[ProbeDetector] | type[FakeInversionClassifier]]
_KINDS = {
    "artefact": ArtefactDetector,
    "probe": ProbeDetector,
    "fakeinversion": FakeInversionClassifier,
}


def _write_config(directory: Path | str, config: Any) -> None:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def _read_config(directory: Path | str) -> dict[str, Any]:
    d = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (d / name).exists():
            raise FileNotFoundError(f"model directory {str(d)!r} has no {name}")
    raw = json.loads((d / CONFIG_FILE).read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{str(d / CONFIG_FILE)!r} is not a JSON object")
    return raw


def detector_kind(directory: Path | str) -> str:
    """The ``kind`` in a model directory's config (ValueError for a non-synthetic model)."""
    kind = _read_config(directory).get("kind")
    if kind not in _KINDS:
        raise ValueError(f"{str(directory)!r} is not a synthetic detector (kind={kind!r})")
    return str(kind)


def load_detector(directory: Path | str) -> Detector:
    """Any synthetic detector from its directory (dispatch on the config's ``kind``)."""
    return _KINDS[detector_kind(directory)].load(directory)


def calibrated(config: Any, temperature: float, threshold: float, bias: float = 0.0) -> Any:
    """The config with the temperature, bias and threshold fitted on the validation split."""
    return dataclasses.replace(
        config, temperature=float(temperature), bias=float(bias), threshold=float(threshold)
    )
