"""Loading an img2img pipeline (tiny or real, local dir or hub id) and calling it per image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

# (source image, prompt, strength, seed) -> replica image of the same size
Img2Img = Callable[[Image.Image, str, float, int], Image.Image]


def load_pipeline(model: str) -> Any:
    """Load a ``StableDiffusionImg2ImgPipeline`` on CPU, without the safety checker.

    A local directory is loaded with ``local_files_only``; anything else is a hub id (which
    needs the hub cache or network). Errors name the model that failed to load.
    """
    import transformers
    from diffusers import StableDiffusionImg2ImgPipeline
    from diffusers.utils import logging as diffusers_logging

    # Per-prompt truncation notices and the missing-accelerate hint would flood the step output.
    diffusers_logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    local = Path(model).is_dir()
    try:
        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
            model, safety_checker=None, requires_safety_checker=False, local_files_only=local
        )
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot load img2img model {model!r}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def as_img2img(pipe: Any, num_inference_steps: int, guidance_scale: float) -> Img2Img:
    """Wrap the pipeline as a plain function with an explicit per-call seed."""
    import torch

    def run(image: Image.Image, prompt: str, strength: float, seed: int) -> Image.Image:
        generator = torch.Generator().manual_seed(seed)
        out = pipe(
            prompt=prompt,
            image=image,
            strength=strength,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=generator,
        )
        return out.images[0].convert("RGB").resize(image.size)

    return run
