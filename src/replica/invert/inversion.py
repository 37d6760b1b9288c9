"""FakeInversion features (Cazenavette et al., CVPR 2024) with any Stable Diffusion checkpoint.

For an image x (RGB, ``image_size`` square, in [-1, 1]):
1. encode: z0 = VAE.encode(x).mean * scaling_factor                  [B, 4, S/8, S/8]
2. condition: the text encoder's embedding of the caption (or of "" when the caption source is
   ``empty``); with ``guidance_scale`` > 1, classifier-free guidance against "".
3. invert: DDIM inversion (diffusers' ``DDIMInverseScheduler``) of z0 over ``steps`` steps
   -> zT, the noise that would generate the image.
4. reconstruct: DDIM sampling (``DDIMScheduler``, same timesteps) from zT -> z0'.
5. decode both: n = VAE.decode(zT), r = VAE.decode(z0')                 [B, 3, S, S] each
6. features = [x, n, r] stacked on channels                            [B, 9, S, S] in [-1, 1]

Images a diffusion model generated sit where the model's own trajectory leads, so their
inversion and reconstruction differ from those of real photographs; the classifier learns that.
The model is loaded from a local diffusers directory or a hub id without downloading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from replica.cache import FeatureCache, model_fingerprint
from replica.config import InvertConfig

FEATURE_CHANNELS = 9


@dataclass(frozen=True)
class InversionSettings:
    image_size: int = 256
    steps: int = 50
    guidance_scale: float = 1.0
    caption_source: str = "dataset"  # "dataset" | "empty"

    def __post_init__(self) -> None:
        if self.image_size % 8 or self.image_size < 16:
            raise ValueError(f"invert.image_size must be a multiple of 8, >= 16: {self.image_size}")
        if self.steps < 1:
            raise ValueError(f"invert.steps must be >= 1, got {self.steps}")
        if self.guidance_scale < 1.0:
            raise ValueError(f"invert.guidance_scale must be >= 1, got {self.guidance_scale}")


def load_components(model: str, device: str | None = None) -> dict[str, Any]:
    """VAE, U-Net, text encoder, tokenizer and scheduler config of a Stable Diffusion
    checkpoint (local dir or hub id), in eval mode, fp16 on a GPU and fp32 on CPU."""
    import transformers
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            model,
            safety_checker=None,
            requires_safety_checker=False,
            local_files_only=Path(model).is_dir(),
        )
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot load Stable Diffusion model {model!r}: {exc}") from exc
    return components_of(pipe, device, dtype)


def components_of(
    pipe: Any, device: str = "cpu", dtype: torch.dtype = torch.float32, fast: bool = True
) -> dict:
    """The parts of a loaded Stable Diffusion pipeline the inversion uses, on ``device``; on a
    GPU with ``fast``, the U-Net and VAE in channels_last (faster convolutions on tensor cores)."""
    pipe.to(device, dtype)
    layout = torch.channels_last if fast and device.startswith("cuda") else torch.contiguous_format
    for module in (pipe.unet, pipe.vae):
        module.to(memory_format=layout)
    return {
        "vae": pipe.vae.eval(),
        "unet": pipe.unet.eval(),
        "text_encoder": pipe.text_encoder.eval(),
        "tokenizer": pipe.tokenizer,
        "scheduler_config": pipe.scheduler.config,
        "device": device,
        "dtype": dtype,
    }


class Inverter:
    """Computes FakeInversion features with one loaded model and fixed settings."""

    def __init__(self, components: dict[str, Any], settings: InversionSettings, name: str) -> None:
        from diffusers import DDIMInverseScheduler, DDIMScheduler

        self.c = components
        self.settings = settings
        self.name = name
        self.forward = DDIMScheduler.from_config(components["scheduler_config"])
        self.inverse = DDIMInverseScheduler.from_config(components["scheduler_config"])
        self.scaling = float(components["vae"].config.scaling_factor)

    @property
    def model_id(self) -> str:
        """Everything the features depend on: the cache key of an image's features."""
        s = self.settings
        return (
            f"fakeinversion:{self.name}:size={s.image_size}:steps={s.steps}:"
            f"guidance={s.guidance_scale}:caption={s.caption_source}"
        )

    # ------------------------------------------------------------ pieces

    @torch.no_grad()
    def condition(self, captions: Sequence[str]) -> torch.Tensor:
        """Text-encoder states [B, L, D] of the captions; with guidance, [2B, L, D]: the empty
        prompt's states first (classifier-free guidance), then the captions'."""
        tok = self.c["tokenizer"]
        texts = list(captions)
        if self.settings.guidance_scale != 1.0:
            texts = [""] * len(texts) + texts
        ids = tok(
            texts,
            padding="max_length",
            max_length=tok.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids.to(self.c["device"])
        return self.c["text_encoder"](ids)[0].to(self.c["dtype"])

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [-1, 1] -> scaled latent means [B, 4, S/8, S/8]."""
        x = images.to(self.c["device"], self.c["dtype"])
        return self.c["vae"].encode(x).latent_dist.mean * self.scaling

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images [B, 3, S, S] clamped to [-1, 1]."""
        return self.c["vae"].decode(latents / self.scaling).sample.clamp(-1, 1)

    def _eps(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The U-Net's noise prediction, guided against "" when ``cond`` holds both halves."""
        w = self.settings.guidance_scale
        if w == 1.0:
            return self.c["unet"](z, t, encoder_hidden_states=cond).sample
        eps_u, eps_c = self.c["unet"](
            torch.cat([z, z]), t, encoder_hidden_states=cond
        ).sample.chunk(2)
        return eps_u + w * (eps_c - eps_u)

    @torch.no_grad()
    def invert(self, z0: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """DDIM inversion z0 -> zT over ``steps`` ascending timesteps."""
        self.inverse.set_timesteps(self.settings.steps, device=z0.device)
        z = z0
        for t in self.inverse.timesteps:
            z = self.inverse.step(self._eps(z, t, cond), t, z).prev_sample
        return z

    @torch.no_grad()
    def reconstruct(self, zt: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """DDIM sampling zT -> z0' over the same timesteps, descending (eta = 0)."""
        self.forward.set_timesteps(self.settings.steps, device=zt.device)
        z = zt
        for t in self.forward.timesteps:
            z = self.forward.step(self._eps(z, t, cond), t, z, eta=0.0).prev_sample
        return z

    # ------------------------------------------------------------ the features

    @torch.no_grad()
    def features(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """[B, 3, S, S] in [-1, 1] -> [B, 9, S, S] float16: [image, noise, reconstruction]."""
        if len(captions) != len(images):
            raise ValueError(f"{len(images)} images but {len(captions)} captions")
        if self.settings.caption_source == "empty":
            captions = [""] * len(images)
        cond = self.condition(captions)
        z0 = self.encode(images)
        zt = self.invert(z0, cond)
        z0_rec = self.reconstruct(zt, cond)
        x = images.to(self.c["device"], self.c["dtype"])
        out = torch.cat([x, self.decode(zt), self.decode(z0_rec)], dim=1)
        return out.to("cpu", torch.float16)


def to_model_input(pixels: np.ndarray, size: int) -> torch.Tensor:
    """uint8 [H, W, 3] -> [3, size, size] in [-1, 1] (short side scaled, centre-cropped)."""
    from replica.config import SizePolicy
    from replica.fakes.encode import fit

    image = fit(Image.fromarray(pixels), size, SizePolicy.resize)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
    return x.permute(2, 0, 1)


def cached_features(
    inverter: Inverter,
    cache: FeatureCache,
    shas: Sequence[str],
    pixels: Callable[[int], np.ndarray],
    captions: Sequence[str],
    batch_size: int,
    progress: Callable[[int], None] = lambda _: None,
) -> list[torch.Tensor]:
    """Features [9, S, S] of each image, from the cache or computed in batches and cached.

    ``shas[i]`` identifies image i (the cache key with ``inverter.model_id``), ``pixels(i)``
    loads it as uint8 RGB only when it must be inverted; ``progress`` gets batch sizes.
    """
    size = inverter.settings.image_size

    def compute(positions: list[int]) -> list[dict[str, torch.Tensor]]:
        out: list[dict[str, torch.Tensor]] = []
        for s in range(0, len(positions), batch_size):
            chunk = positions[s : s + batch_size]
            batch = torch.stack([to_model_input(pixels(i), size) for i in chunk])
            feats = inverter.features(batch, [captions[i] for i in chunk])
            out += [{"features": f} for f in feats]
            progress(len(chunk))
        return out

    return [e["features"] for e in cache.get_or_compute(list(shas), compute)]


def inverter_for(model: str, cfg: InvertConfig) -> Inverter:
    """Load ``model`` and wrap it with the ``invert`` params (errors name the bad value)."""
    settings = InversionSettings(
        cfg.image_size, cfg.steps, cfg.guidance_scale, cfg.caption_source.value
    )
    return Inverter(load_components(model), settings, model_fingerprint(model))
