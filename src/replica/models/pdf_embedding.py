"""PDF-Embedding copy detector (after ICDiff, Wang et al. 2024), as a compact ViT.

An image goes through a small ViT that carries ``levels`` learnable output tokens. For a
(query, reference) pair the k-th output tokens of the two images are compared by cosine
similarity; a per-level affine map and a temperature turn the ``levels`` similarities into
logits, and their softmax is the predicted PDF over replication levels 0..levels-1. Training
matches it to a discretized Gaussian around the labelled level with KL(target || predicted).
The per-level affine map matters: without it two identical images give equal similarities
on every level, hence a uniform PDF, whatever the label.

Public API used by the registry's pyfunc wrapper: ``PDFEmbedding.load(dir)``,
``model.predict_level(query, reference)`` (normalized expected level in [0, 1]) and
``preprocess(image, image_size)``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
_MEAN, _STD = 0.5, 0.25  # input normalisation of [0, 1] pixels


@dataclass(frozen=True)
class PDFEmbeddingConfig:
    image_size: int = 32
    patch_size: int = 8
    dim: int = 64
    depth: int = 2
    heads: int = 4
    levels: int = 6
    temperature: float = 0.1

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}"
            )
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be a multiple of heads {self.heads}")
        if self.levels < 2:
            raise ValueError(f"levels must be >= 2, got {self.levels}")


def preprocess(image: Image.Image, image_size: int) -> torch.Tensor:
    """RGB, squashed to ``image_size`` square, as a float tensor [3, H, W] in [0, 1]."""
    rgb = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)


def target_pdf(levels: torch.Tensor, n_levels: int, sigma: float) -> torch.Tensor:
    """Discretized Gaussian around each integer level: [B] -> [B, n_levels], rows sum to 1."""
    grid = torch.arange(n_levels, dtype=torch.float32, device=levels.device)
    weights = torch.exp(-0.5 * ((grid[None, :] - levels[:, None].float()) / sigma) ** 2)
    return weights / weights.sum(dim=1, keepdim=True)


def pdf_loss(logits: torch.Tensor, levels: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean KL(target || softmax(logits)) over the batch."""
    target = target_pdf(levels, logits.shape[1], sigma)
    return F.kl_div(F.log_softmax(logits, dim=1), target, reduction="batchmean")


class PDFEmbedding(nn.Module):
    def __init__(self, config: PDFEmbeddingConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        n_patches = (c.image_size // c.patch_size) ** 2
        self.patch_embed = nn.Conv2d(3, c.dim, kernel_size=c.patch_size, stride=c.patch_size)
        self.pos_embed = nn.Parameter(torch.randn(1, n_patches, c.dim) * 0.02)
        self.level_tokens = nn.Parameter(torch.randn(1, c.levels, c.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            c.dim,
            c.heads,
            4 * c.dim,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.dim)
        # per-level affine map of the cosine similarity (see module docstring)
        self.sim_scale = nn.Parameter(torch.ones(c.levels))
        self.sim_bias = nn.Parameter(torch.zeros(c.levels))

    @classmethod
    def from_config(cls, config: PDFEmbeddingConfig) -> PDFEmbedding:
        return cls(config)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> unit-norm level embeddings [B, levels, dim]."""
        x = self.patch_embed((images - _MEAN) / _STD)  # [B, dim, H/p, W/p]
        x = x.flatten(2).transpose(1, 2) + self.pos_embed  # [B, N, dim]
        tokens = self.level_tokens.expand(x.shape[0], -1, -1)
        x = self.blocks(torch.cat([tokens, x], dim=1))  # [B, levels + N, dim]
        out = self.head(self.norm(x[:, : self.config.levels]))
        return F.normalize(out, dim=-1)

    def forward(self, query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Logits over levels [B, levels] for (query, reference) pairs."""
        cos = (self.embed(query) * self.embed(reference)).sum(-1)  # [B, levels]
        return (cos * self.sim_scale + self.sim_bias) / self.config.temperature

    def pdf(self, query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Predicted probability of each level, [B, levels] (rows sum to 1)."""
        return self(query, reference).softmax(dim=1)

    @torch.no_grad()
    def predict_level(self, query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Expected level / (levels - 1): [B] in [0, 1], 1 = an exact copy."""
        grid = torch.arange(self.config.levels, dtype=torch.float32, device=query.device)
        return (self.pdf(query, reference) * grid).sum(1) / (self.config.levels - 1)

    def save(self, directory: Path | str) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(d / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path | str) -> PDFEmbedding:
        """Rebuild from ``config.json`` + ``model.safetensors``; eval mode, on CPU."""
        d = Path(directory)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (d / name).exists():
                raise FileNotFoundError(f"model directory {str(d)!r} has no {name}")
        config = PDFEmbeddingConfig(**json.loads((d / CONFIG_FILE).read_text()))
        model = cls(config)
        model.load_state_dict(load_file(str(d / WEIGHTS_FILE), device="cpu"))
        return model.eval()
