"""Diffusion replicas with diffusers: img2img, text-to-image and inpainting from one model, with
a switchable fast path for the GPU node pool.

All three pipelines load from the model the user names (a local diffusers directory or a hub
id): the img2img pipeline with ``from_pretrained``, the others share its modules through
``from_pipe``; ``pairs.inpaint_model`` may name a dedicated inpainting checkpoint (a 9-channel
UNet). A 4-channel UNet inpaints by blending the kept latents back at every step.

Fast path (``pairs`` params): ``precision`` (fp16/bf16), ``batch_size`` (pairs per call, each
with its own seeded generator, so an image does not depend on its batch), ``attention``
(SDPA or the classic processor), ``channels_last``, ``compile`` (``torch.compile`` of the UNet)
and ``cfg_fraction``: Compress Guidance, classifier-free guidance on the first fraction of the
denoising steps only, then the unconditional half of the batch is dropped (about half the UNet
work for the remaining steps). Generators live on the CPU, so a seed gives the same starting
noise on every device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from replica.config import Attention, Device, PairsConfig, Precision

KINDS = ("img2img", "txt2img", "inpaint")


@dataclass(frozen=True)
class FastPath:
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 8
    attention: Attention = Attention.SDPA
    channels_last: bool = False
    compile: bool = False
    cfg_fraction: float = 1.0

    @classmethod
    def from_config(cls, cfg: PairsConfig) -> FastPath:
        import torch

        device = cfg.device.value
        if cfg.device is Device.AUTO:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = cfg.precision.value
        if cfg.precision is Precision.AUTO:
            dtype = "float16" if device == "cuda" else "float32"
        return cls(
            device,
            dtype,
            cfg.batch_size,
            cfg.attention,
            cfg.channels_last,
            cfg.compile,
            cfg.cfg_fraction,
        )


def _quiet() -> None:
    import transformers
    from diffusers.utils import logging as diffusers_logging

    # Per-prompt truncation notices and the missing-accelerate hint would flood the step output.
    diffusers_logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()


def load_pipelines(model: str, kinds: Sequence[str], inpaint_model: str = "") -> dict[str, Any]:
    """The requested pipelines (``img2img``, ``txt2img``, ``inpaint``), loaded on the CPU in
    float32 without a safety checker. Errors name the model that failed to load."""
    from diffusers import (
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    _quiet()

    def load(cls: Any, name: str) -> Any:
        try:
            pipe = cls.from_pretrained(
                name,
                safety_checker=None,
                requires_safety_checker=False,
                local_files_only=Path(name).is_dir(),
            )
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot load diffusion model {name!r}: {exc}") from exc
        pipe.set_progress_bar_config(disable=True)
        return pipe

    base = load(StableDiffusionImg2ImgPipeline, model)
    out: dict[str, Any] = {}
    if "img2img" in kinds:
        out["img2img"] = base
    if "txt2img" in kinds:
        out["txt2img"] = StableDiffusionPipeline.from_pipe(base)
    if "inpaint" in kinds:
        if inpaint_model and inpaint_model != model:
            out["inpaint"] = load(StableDiffusionInpaintPipeline, inpaint_model)
        else:
            out["inpaint"] = StableDiffusionInpaintPipeline.from_pipe(base)
    for pipe in out.values():
        pipe.set_progress_bar_config(disable=True)
    return out


def apply_fast_path(pipes: dict[str, Any], fast: FastPath) -> dict[str, Any]:
    """Move the pipelines' shared modules to the device and dtype and set the fast options."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    dtype = getattr(torch, fast.dtype)
    done: set[int] = set()
    for pipe in pipes.values():
        pipe.to(fast.device, dtype)
        for module in (pipe.unet, pipe.vae):
            if id(module) in done:
                continue
            done.add(id(module))
            processor = AttnProcessor2_0() if fast.attention is Attention.SDPA else AttnProcessor()
            module.set_attn_processor(processor)
            if fast.channels_last:
                module.to(memory_format=torch.channels_last)
        if fast.compile and not hasattr(pipe.unet, "_orig_mod"):
            pipe.unet = torch.compile(pipe.unet, fullgraph=False)
    return pipes


def compress_guidance(pipe: Any, steps_run: int, cfg_fraction: float) -> dict[str, Any]:
    """``callback_on_step_end`` arguments that stop CFG after ``ceil(cfg_fraction * steps_run)``
    steps (empty when guidance runs on every step)."""
    cutoff = max(1, math.ceil(cfg_fraction * steps_run))
    if cfg_fraction >= 1 or cutoff >= steps_run:
        return {}
    halved = [
        n
        for n in ("prompt_embeds", "mask", "masked_image_latents")
        if n in pipe._callback_tensor_inputs
    ]

    def callback(p: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if i + 1 == cutoff and p.do_classifier_free_guidance:
            p._guidance_scale = 0.0  # do_classifier_free_guidance is False from the next step
            for name in halved:
                if kwargs.get(name) is not None:
                    kwargs[name] = kwargs[name].chunk(2)[-1]  # [uncond, cond] -> cond
        return kwargs

    return {"callback_on_step_end": callback, "callback_on_step_end_tensor_inputs": halved}


@dataclass(frozen=True)
class Job:
    """One diffusion replica: its seed and prompt; the source (img2img, inpaint); the mask
    (inpaint: white = regenerate); the strength (img2img)."""

    seed: int
    prompt: str
    image: Image.Image | None = None
    mask: Image.Image | None = None
    strength: float = 1.0


def run_batch(
    pipe: Any,
    kind: str,
    jobs: Sequence[Job],
    size: int,
    steps: int,
    guidance: float,
    fast: FastPath,
) -> list[Image.Image]:
    """One pipeline call for ``jobs`` (the same kind and strength); images of ``size``."""
    import torch

    if kind not in KINDS:
        raise ValueError(f"unknown diffusion kind {kind!r}; known: {KINDS}")
    strength = jobs[0].strength
    generators = [torch.Generator("cpu").manual_seed(j.seed) for j in jobs]
    args: dict[str, Any] = {
        "prompt": [j.prompt for j in jobs],
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "generator": generators,
    }
    steps_run = steps
    if kind == "img2img":
        args |= {"image": [j.image for j in jobs], "strength": strength}
        steps_run = min(int(steps * strength), steps)
    elif kind == "inpaint":
        args |= {
            "image": [j.image for j in jobs],
            "mask_image": [j.mask for j in jobs],
            "height": size,
            "width": size,
        }
    else:
        args |= {"height": size, "width": size}
    if guidance > 1:
        args |= compress_guidance(pipe, steps_run, fast.cfg_fraction)
    with torch.inference_mode():
        images = pipe(**args).images
    return [im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC) for im in images]


def batches(jobs: Sequence[Any], size: int, key: Callable[[Any], Any]) -> list[list[Any]]:
    """Consecutive runs of equal ``key`` (kind, strength), cut into lists of at most ``size``."""
    out: list[list[Any]] = []
    for job in jobs:
        if out and key(out[-1][0]) == key(job) and len(out[-1]) < size:
            out[-1].append(job)
        else:
            out.append([job])
    return out
