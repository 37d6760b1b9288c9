"""The copy detector: PDF-Embedding (after ICDiff, Wang et al. 2024) on a ``transformers`` ViT,
fused with local-feature verification and global similarities by a small calibrated head.

**PDF-Embedding.** A ViT backbone (``ViTModel``, ``DeiTModel``, ``Dinov2Model``, ...) carries 5
learnable tokens beside its class token; the 6 output vectors, projected and L2-normalised,
embed an image. For a (query, reference) pair the k-th vectors are compared by cosine, and a
per-level affine map and a temperature turn the 6 cosines into logits over replication levels
0..5: the softmax is the predicted PDF. Training matches it to a target PDF around the labelled
level (Gaussian, exponential or linear, of width ``pdf_width``) with KL(target || predicted).
The per-level map matters: without it two identical images give equal cosines on every token,
hence a uniform PDF whatever the label. The extra tokens enter the sequence through a forward
hook on the backbone's ``embeddings`` module, right after the class token, so the backbone's
own weights and state-dict keys stay exactly those of ``transformers`` (pretrained checkpoints
load as they are).

**Backbone.** ``backbone`` is a name from ``BACKBONES`` (random init from that config), a local
directory or a hub id. Directories and hub ids load pretrained weights with
``local_files_only=True``: the code never downloads; a hub id must already be in the local
Hugging Face cache. The backbone's config is saved with the model, so ``load`` rebuilds it from
the model directory alone.

**Fusion.** ``FusionHead`` maps a pair's feature vector (PDF-Embedding outputs, verification
measurements, global similarities: see ``pair_features``) to the final level distribution. It
is a one-hidden-layer MLP over standardised features, fitted on the validation split (the
backbone never saw it), and saved in the same safetensors file.

**Matching.** ``MatchHead`` reads the same pair features and gives the probability that the
reference is the query's source. Retrieval ranks a query's candidates by it, not by the fused
level: the level head is fitted on labelled pairs, one per query, and never learns to put the
true source above the other gallery images a query meets, which are what retrieval compares.
The match head is a logistic regression over standardised, clamped features, fitted on the
validation split's queries against every shortlisted validation reference (the source is the
positive, the others are negatives).

Public API: ``CopyDetector.from_config / save / load``, ``detector.embedding`` (images ->
token vectors), ``detector.fuse(features)`` (-> level PDF), ``detector.match(features)``
(-> probability of the same source), ``target_pdf``, ``pdf_loss``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from replica.config import TargetPDF, VerifyMethod
from replica.verify.local import VerifyConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
N_TOKENS = 6  # the class token + 5 learnable tokens, one per replication level

# Named backbone configs for random init: (model_type, config kwargs).
BACKBONES: dict[str, tuple[str, dict[str, Any]]] = {
    # tests: a two-layer ViT on 32 px
    "vit-test": (
        "vit",
        {
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        },
    ),
    # CPU training and the demo: 4 layers of width 128 on 96 px with 16-px patches (0.9 M)
    "vit-cpu-96": (
        "vit",
        {
            "image_size": 96,
            "patch_size": 16,
            "hidden_size": 128,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "intermediate_size": 512,
        },
    ),
    "vit-s16-224": (
        "vit",
        {
            "image_size": 224,
            "patch_size": 16,
            "hidden_size": 384,
            "num_hidden_layers": 12,
            "num_attention_heads": 6,
            "intermediate_size": 1536,
        },
    ),
    "vit-b16-224": ("vit", {"image_size": 224, "patch_size": 16}),  # ViT-B/16 (config defaults)
    "deit-b16-224": ("deit", {"image_size": 224, "patch_size": 16}),  # as ICDiff used
    "dinov2-s14-224": (
        "dinov2",
        {
            "image_size": 224,
            "patch_size": 14,
            "hidden_size": 384,
            "num_hidden_layers": 12,
            "num_attention_heads": 6,
        },
    ),
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def target_pdf(levels: torch.Tensor, n_levels: int, kind: TargetPDF, width: float) -> torch.Tensor:
    """Target distribution around each integer level: [B] -> [B, n_levels], rows sum to 1."""
    grid = torch.arange(n_levels, dtype=torch.float32, device=levels.device)
    d = (grid[None, :] - levels[:, None].float()).abs()
    if kind == TargetPDF.gaussian:
        weights = torch.exp(-0.5 * (d / width) ** 2)
    elif kind == TargetPDF.exponential:
        weights = torch.exp(-d / width)
    else:
        weights = (1.0 - d / width).clamp(min=0.0) + (d == 0).float() * 1e-6
    return weights / weights.sum(dim=1, keepdim=True)


def pdf_loss(
    logits: torch.Tensor,
    levels: torch.Tensor,
    kind: TargetPDF,
    width: float,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(target || softmax(logits)) per pair, averaged (``weights``: a weighted mean)."""
    target = target_pdf(levels, logits.shape[1], kind, width)
    kl = (target * (target.clamp_min(1e-12).log() - F.log_softmax(logits.float(), 1))).sum(1)
    if weights is None:
        return kl.mean()
    return (kl * weights).sum() / weights.sum().clamp_min(1e-12)


@dataclass(frozen=True)
class PDFEmbeddingConfig:
    """The embedding network: a backbone plus the level tokens and the similarity map."""

    backbone: str = "vit-test"  # a BACKBONES name (random init), a local dir or a hub id
    model_type: str = ""  # filled by from_config: "vit", "deit", "dinov2", ...
    backbone_config: dict[str, Any] = field(default_factory=dict)  # filled by from_config
    pretrained: bool = False
    image_size: int = 0  # filled from the backbone config
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    embed_dim: int = 128  # projection of each token; 0 = the backbone's width
    levels: int = N_TOKENS
    temperature: float = 0.05
    pdf: TargetPDF = TargetPDF.gaussian
    pdf_width: float = 0.6

    def __post_init__(self) -> None:
        if self.levels != N_TOKENS:
            raise ValueError(f"PDF-Embedding has {N_TOKENS} tokens (levels 0-5), got {self.levels}")
        if self.pdf_width <= 0 or self.temperature <= 0:
            raise ValueError(
                f"pdf_width and temperature must be > 0, got {self.pdf_width}, {self.temperature}"
            )


def _backbone(cfg: PDFEmbeddingConfig) -> tuple[nn.Module, PDFEmbeddingConfig]:
    """Build the backbone; returns it and the config completed with its model type, config
    dict and image size. Never downloads: unknown names are a clear error."""
    from transformers import AutoConfig, AutoModel

    if cfg.backbone_config:  # loading a saved model: rebuild exactly, weights come later
        hf = AutoConfig.for_model(cfg.model_type, **cfg.backbone_config)
        return AutoModel.from_config(hf), cfg
    if cfg.backbone in BACKBONES:
        model_type, kwargs = BACKBONES[cfg.backbone]
        hf = AutoConfig.for_model(model_type, **kwargs)
        model = AutoModel.from_config(hf)
        mean, std, pretrained = cfg.mean, cfg.std, False
    else:
        try:
            model = AutoModel.from_pretrained(cfg.backbone, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"backbone {cfg.backbone!r} is not a named config ({sorted(BACKBONES)}), a "
                "local model directory, nor a hub id in the local Hugging Face cache; replica "
                f"never downloads weights: put them in a directory and pass its path ({exc})"
            ) from exc
        hf = model.config
        mean, std = _normalisation(cfg.backbone)
        pretrained = True
    if not hasattr(model, "embeddings"):
        raise ValueError(
            f"backbone {cfg.backbone!r} ({type(model).__name__}) has no 'embeddings' module; "
            "use a ViT-style model (ViT, DeiT, DINOv2, ...)"
        )
    size = hf.image_size if isinstance(hf.image_size, int) else int(hf.image_size[0])
    filled = dataclasses.replace(
        cfg,
        model_type=hf.model_type,
        backbone_config=_plain_config(hf),
        pretrained=pretrained,
        image_size=size,
        mean=mean,
        std=std,
    )
    return model, filled


def _plain_config(hf: Any) -> dict[str, Any]:
    """The backbone's config as JSON-ready kwargs (without transformers' bookkeeping keys)."""
    data = json.loads(hf.to_json_string(use_diff=False))
    for key in ("model_type", "transformers_version", "architectures", "_name_or_path"):
        data.pop(key, None)
    return data


def _normalisation(source: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std from a local ``preprocessor_config.json``, else ImageNet's."""
    path = Path(source) / "preprocessor_config.json"
    if path.is_file():
        pre = json.loads(path.read_text())
        if "image_mean" in pre and "image_std" in pre:
            return tuple(pre["image_mean"]), tuple(pre["image_std"])
    return IMAGENET_MEAN, IMAGENET_STD


class PDFEmbedding(nn.Module):
    """Images -> 6 unit vectors; pairs of vector sets -> level logits."""

    backbone: Any  # a transformers model (ViTModel, DeiTModel, Dinov2Model, ...)
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: PDFEmbeddingConfig) -> None:
        super().__init__()
        self.backbone, self.config = _backbone(config)
        c = self.config
        width = int(c.backbone_config.get("hidden_size", 0) or self.backbone.config.hidden_size)
        self.level_tokens = nn.Parameter(torch.randn(1, N_TOKENS - 1, width) * 0.02)
        self.proj = nn.Linear(width, c.embed_dim) if c.embed_dim else nn.Identity()
        self.sim_scale = nn.Parameter(torch.ones(N_TOKENS))
        self.sim_bias = nn.Parameter(torch.zeros(N_TOKENS))
        self.register_buffer("mean", torch.tensor(c.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(c.std).view(1, 3, 1, 1), persistent=False)
        self.backbone.embeddings.register_forward_hook(self._add_tokens)

    def _add_tokens(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        """[B, 1 + N, D] -> [B, 1 + 5 + N, D]: the level tokens right after the class token."""
        tokens = self.level_tokens.expand(output.shape[0], -1, -1).to(output.dtype)
        return torch.cat([output[:, :1], tokens, output[:, 1:]], dim=1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [0, 1] -> unit vectors [B, 6, embed_dim] (class token first)."""
        x = (images - self.mean) / self.std
        hidden = self.backbone(pixel_values=x).last_hidden_state  # [B, 6 + N, D]
        return F.normalize(self.proj(hidden[:, :N_TOKENS]).float(), dim=-1)

    def logits(self, eq: torch.Tensor, er: torch.Tensor) -> torch.Tensor:
        """Level logits [B, 6] from two sets of token vectors [B, 6, E]."""
        cos = (eq * er).sum(-1)
        return (cos * self.sim_scale + self.sim_bias) / self.config.temperature

    def forward(
        self, query: torch.Tensor, reference: torch.Tensor, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One backbone pass over query, reference (and ``extra`` images, e.g. distorted
        queries for the stability term): (logits [B, 6], eq, er, e_extra)."""
        batch = [query, reference] + ([extra] if extra is not None else [])
        emb = self.embed(torch.cat(batch))
        b = query.shape[0]
        eq, er = emb[:b], emb[b : 2 * b]
        return self.logits(eq, er), eq, er, (emb[2 * b :] if extra is not None else None)


def preprocess(image: Image.Image | np.ndarray, image_size: int) -> torch.Tensor:
    """RGB, resized to ``image_size`` square, as a float tensor [3, S, S] in [0, 1]."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    rgb = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)


@dataclass(frozen=True)
class FusionConfig:
    """The fusion head: which feature groups it reads and its width; filled when fitted."""

    groups: tuple[str, ...] = ("embedding", "verify", "global")
    hidden: int = 16
    members: int = 5
    clamp: float = 4.0
    features: tuple[str, ...] = ()  # names, in input order (set when fitted)
    fitted: bool = False


class FusionHead(nn.Module):
    """Pair features -> level log-probabilities [B, 6]: an ensemble of ``members`` small MLPs
    (one hidden layer each) over standardised features, clamped to +-``clamp`` standard
    deviations, whose level distributions are averaged.

    Why: the head meets pairs made by other generators than the one it was fitted on, whose
    features can fall far outside the fitted range; clamping stops an MLP from extrapolating
    there, and averaging members fitted from different seeds removes most of the variance a
    single small head shows across seeds.
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        n_features: int,
        hidden: int,
        members: int = 1,
        clamp: float = 4.0,
        levels: int = N_TOKENS,
    ) -> None:
        super().__init__()
        self.clamp = clamp
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.members = nn.ModuleList(
            nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(), nn.Linear(hidden, levels))
            for _ in range(members)
        )

    def member_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Each member's logits: [members, B, levels]."""
        z = ((features - self.mean) / self.scale).clamp(-self.clamp, self.clamp)
        return torch.stack([m(z) for m in self.members])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        probs = self.member_logits(features).softmax(-1).mean(0)
        return probs.clamp_min(1e-12).log()


@dataclass(frozen=True)
class MatchConfig:
    """The match head: the features it reads (set when fitted) and its clamp."""

    clamp: float = 4.0
    features: tuple[str, ...] = ()
    fitted: bool = False


class MatchHead(nn.Module):
    """Pair features -> logit that the reference is the query's source [B]: a logistic
    regression over standardised features clamped to +-``clamp`` (as ``FusionHead``)."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_features: int, clamp: float = 4.0) -> None:
        super().__init__()
        self.clamp = clamp
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.linear = nn.Linear(n_features, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = ((features - self.mean) / self.scale).clamp(-self.clamp, self.clamp)
        return self.linear(z).squeeze(-1)


@dataclass(frozen=True)
class CopyDetectorConfig:
    embedding: PDFEmbeddingConfig = field(default_factory=PDFEmbeddingConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    match: MatchConfig = field(default_factory=MatchConfig)

    @property
    def levels(self) -> int:
        return self.embedding.levels

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CopyDetectorConfig:
        e = dict(data["embedding"])
        e["mean"], e["std"], e["pdf"] = tuple(e["mean"]), tuple(e["std"]), TargetPDF(e["pdf"])
        v = dict(data["verify"])
        v["method"] = VerifyMethod(v["method"])
        f = dict(data["fusion"])
        f["groups"], f["features"] = tuple(f["groups"]), tuple(f["features"])
        m = dict(data.get("match", {}))  # models saved before the match head have none
        m["features"] = tuple(m.get("features", ()))
        return cls(PDFEmbeddingConfig(**e), VerifyConfig(**v), FusionConfig(**f), MatchConfig(**m))


class CopyDetector(nn.Module):
    """PDF-Embedding + verification settings + fusion and match heads, saved and loaded
    together."""

    def __init__(self, config: CopyDetectorConfig) -> None:
        super().__init__()
        self.embedding = PDFEmbedding(config.embedding)
        self.config = dataclasses.replace(config, embedding=self.embedding.config)
        f = config.fusion
        self.fusion = (
            FusionHead(len(f.features), f.hidden, f.members, f.clamp) if f.fitted else None
        )
        m = config.match
        self.matcher = MatchHead(len(m.features), m.clamp) if m.fitted else None

    @classmethod
    def from_config(cls, config: CopyDetectorConfig) -> CopyDetector:
        return cls(config)

    def with_fusion(
        self, head: FusionHead, features: tuple[str, ...], groups: tuple[str, ...]
    ) -> None:
        """Attach a fitted fusion head reading ``features`` (from feature ``groups``)."""
        self.fusion = head
        first = cast(nn.Sequential, head.members[0])
        fusion = FusionConfig(
            groups=groups,
            hidden=cast(nn.Linear, first[0]).out_features,
            members=len(head.members),
            clamp=head.clamp,
            features=features,
            fitted=True,
        )
        self.config = dataclasses.replace(self.config, fusion=fusion)

    def with_match(self, head: MatchHead, features: tuple[str, ...]) -> None:
        """Attach a fitted match head reading ``features``."""
        self.matcher = head
        match = MatchConfig(clamp=head.clamp, features=features, fitted=True)
        self.config = dataclasses.replace(self.config, match=match)

    def identity(self) -> str:
        """A digest of the embedding network's weights: the cache key of its image vectors."""
        h = hashlib.sha256(
            json.dumps(self.config.embedding.backbone_config, sort_keys=True).encode()
        )
        for name, value in sorted(self.embedding.state_dict().items()):
            h.update(name.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    @torch.no_grad()
    def fuse(self, features: torch.Tensor) -> torch.Tensor:
        """Pair features [B, F] -> the final level PDF [B, 6]."""
        if self.fusion is None:
            raise ValueError("this copy detector has no fitted fusion head")
        return self.fusion(features.float()).softmax(dim=1)

    @torch.no_grad()
    def match(self, features: torch.Tensor) -> torch.Tensor:
        """Pair features [B, F] (the match head's, in ``config.match.features`` order) -> the
        probability that the reference is the query's source [B]."""
        if self.matcher is None:
            raise ValueError("this copy detector has no fitted match head")
        return torch.sigmoid(self.matcher(features.float()))

    def save(self, directory: Path | str) -> None:
        """Write ``config.json`` and ``model.safetensors`` (no pickle) into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        doc = {"family": "copy", **self.config.to_dict()}
        (d / CONFIG_FILE).write_text(json.dumps(doc, indent=2) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(d / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path | str) -> CopyDetector:
        """Rebuild from ``config.json`` + ``model.safetensors``; eval mode, on CPU."""
        d = Path(directory)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (d / name).exists():
                raise FileNotFoundError(f"model directory {str(d)!r} has no {name}")
        doc = json.loads((d / CONFIG_FILE).read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"{str(d / CONFIG_FILE)!r} is not a JSON object")
        family = doc.pop("family", "copy")
        if family != "copy":
            raise ValueError(f"{str(d)!r} holds a {family!r} model, not a copy detector")
        try:
            config = CopyDetectorConfig.from_dict(doc)
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"{str(d / CONFIG_FILE)!r} is not a copy detector config ({exc!r})"
            ) from exc
        model = cls(config)
        model.load_state_dict(load_file(str(d / WEIGHTS_FILE), device="cpu"))
        return model.eval()


def expected_level(pdf: torch.Tensor) -> torch.Tensor:
    """Expected level / (levels - 1) of PDFs [B, L]: [B] in [0, 1], 1 = an exact copy."""
    grid = torch.arange(pdf.shape[1], dtype=pdf.dtype, device=pdf.device)
    return (pdf * grid).sum(1) / (pdf.shape[1] - 1)
