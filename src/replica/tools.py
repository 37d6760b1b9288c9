"""Commands that are not pipeline steps (helpers for the demo and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import run


def make_tiny_sd(
    output: Annotated[Path, typer.Option(help="Directory to save the diffusers pipeline into.")],
    seed: Annotated[int, typer.Option(help="Seed for the random weights.")] = 0,
) -> None:
    """Save a tiny random-weight Stable Diffusion model (stands in for a real one).

    Command: ``replica make-tiny-sd --output data/tiny-sd [--seed 0]``. The directory is a
    normal diffusers checkpoint (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
    scheduler/) that ``replica pairs --model`` loads with ``from_pretrained`` as img2img,
    text-to-image and inpainting pipelines.
    """

    def body() -> StepSummary:
        from replica.generate.tiny_sd import build_tiny_sd

        summary = StepSummary("make-tiny-sd")
        pipe = build_tiny_sd(seed)
        with atomic_dir(output) as out:
            pipe.save_pretrained(out)
            summary.outputs = {"components": 5}
            write_sidecar(out, summary.finish(), {}, f"seed={seed}")
        return summary

    run("make-tiny-sd", body)
