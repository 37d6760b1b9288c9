"""Replica generation benchmark: diffusers as a newcomer calls it vs the pairs fast path, and
constructed pairs/s per family.

Diffusion, in one run, same model, prompts, seeds, steps, strength and guidance:

- **newcomer**: ``StableDiffusionImg2ImgPipeline`` in float32, one image per call, diffusers'
  defaults otherwise (classifier-free guidance on every step);
- **fast path**: ``replica.generate.diffusion`` as ``replica pairs`` runs it: ``--batch`` pairs
  per call (one seeded generator each), the precision, SDPA attention, channels_last, optional
  ``torch.compile``, and Compress Guidance (CFG on the first ``--cfg-fraction`` of the steps);
  also without Compress Guidance, to show what each part gives.

CPU (default): the tiny random SD of ``replica make-tiny-sd`` at ``--size`` px. ``--gpu``: SD 1.5's
real architecture (UNet, VAE and CLIP text encoder built in code from SD 1.5's published config
values, random weights, nothing downloaded) at 512 px, img2img 50 steps x strength 0.6, CFG 7.5,
float16: one self-contained command for a CUDA machine. Input images are drawn in code.

Constructed families (CPU only): pairs/s of every family building its levels from gallery
images (``../shared/corpus/gallery``, fitted to ``--size``), one process, per family; then a
balanced mix planned like ``replica pairs`` on ``--workers`` processes.

    .venv/bin/python benchmarks/generate.py                 # tiny SD + constructed, CPU
    python benchmarks/generate.py --gpu [--compile]         # SD 1.5 architecture on a GPU
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CORPUS = Path(os.environ.get("REPLICA_CORPUS", ROOT.parent / "shared" / "corpus"))
PROMPTS = [
    "a crowd gathers in the city square at dusk",
    "portrait of a woman with long hair, studio light",
    "a red double-decker bus on a rainy street",
    "mountain lake at sunrise with pine trees",
    "a cathedral facade with tall towers",
    "a dog running on a sandy beach",
    "a bowl of fruit on a wooden table",
    "an old man reading a newspaper in a cafe",
]


def pictures(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    """Smooth random RGB pictures (content does not change diffusion cost)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        out.append(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))
    return out


def sd15_img2img() -> object:
    """SD 1.5's architecture with random weights (``generate.architectures``), as img2img with
    SD 1.5's default scheduler (PNDM without PRK steps)."""
    from diffusers import PNDMScheduler, StableDiffusionImg2ImgPipeline

    from replica.generate.architectures import build_sd15

    pipe = build_sd15(seed=0)
    scheduler = PNDMScheduler.from_config(pipe.scheduler.config, skip_prk_steps=True)
    return StableDiffusionImg2ImgPipeline(**{**pipe.components, "scheduler": scheduler})


def tiny_img2img() -> object:
    from replica.generate.tiny_sd import build_tiny_sd

    return build_tiny_sd(seed=0)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def newcomer(pipe, images, steps, strength, guidance, device) -> float:
    """One call per image, float32, every default kept; returns seconds."""
    import torch

    pipe.to(device, torch.float32)
    pipe.set_progress_bar_config(disable=True)
    pipe(PROMPTS[0], image=images[0], strength=strength, num_inference_steps=steps)  # warm-up
    _sync(device)
    start = time.perf_counter()
    for k, image in enumerate(images):
        generator = torch.Generator("cpu").manual_seed(k)
        pipe(
            PROMPTS[k % len(PROMPTS)],
            image=image,
            strength=strength,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generator,
        )
    _sync(device)
    return time.perf_counter() - start


def fast(pipe, images, steps, strength, guidance, path) -> float:
    """``replica pairs``' batched call with the fast-path settings; returns seconds."""
    from replica.generate import diffusion

    diffusion.apply_fast_path({"img2img": pipe}, path)
    size = images[0].width
    jobs = [
        diffusion.Job(k, PROMPTS[k % len(PROMPTS)], image, strength=strength)
        for k, image in enumerate(images)
    ]
    warm = jobs[: path.batch_size]
    diffusion.run_batch(pipe, "img2img", warm, size, steps, guidance, path)  # warm-up, compile
    _sync(path.device)
    start = time.perf_counter()
    for i in range(0, len(jobs), path.batch_size):
        diffusion.run_batch(
            pipe, "img2img", jobs[i : i + path.batch_size], size, steps, guidance, path
        )
    _sync(path.device)
    return time.perf_counter() - start


def bench_diffusion(args: argparse.Namespace) -> None:
    import torch
    from diffusers.utils import logging as diffusers_logging

    from replica.config import Attention
    from replica.generate.diffusion import FastPath

    diffusers_logging.set_verbosity_error()
    device = "cuda" if args.gpu else "cpu"
    if args.gpu and not torch.cuda.is_available():
        sys.exit("--gpu: no CUDA device")
    size, steps = (512, 50) if args.gpu else (args.size, args.steps)
    strength, guidance = 0.6, 7.5
    build = sd15_img2img if args.gpu else tiny_img2img
    name = "SD 1.5 architecture, random weights" if args.gpu else "tiny random SD"
    gpu = torch.cuda.get_device_name() if args.gpu else f"{torch.get_num_threads()} CPU threads"
    print(
        f"[generate] {name} on {gpu}: img2img {size} px, {steps} steps x strength {strength} "
        f"({int(steps * strength)} denoising steps), CFG {guidance}"
    )
    n_new = args.newcomer_images or 8
    n_fast = args.fast_images or (64 if args.gpu else 32)
    pipe = build()  # one model for every variant: the same weights, prompts and seeds
    secs = newcomer(pipe, pictures(n_new, size), steps, strength, guidance, device)
    base = n_new / secs
    row = "  {:<22} {:<58} {:4d} img {:8.2f} s {:8.2f} img/s{}"
    print(row.format("newcomer", "float32, 1 image/call, CFG every step", n_new, secs, base, ""))
    dtype = args.precision or ("float16" if args.gpu else "float32")
    for label, cfg_fraction in (("fast path", args.cfg_fraction), ("fast, no Compress G.", 1.0)):
        path = FastPath(device, dtype, args.batch, Attention.SDPA, True, args.compile, cfg_fraction)
        secs = fast(pipe, pictures(n_fast, size), steps, strength, guidance, path)
        rate = n_fast / secs
        what = (
            f"{dtype}, batch {args.batch}, sdpa, channels_last"
            f"{', compile' if args.compile else ''}, cfg_fraction {cfg_fraction}"
        )
        print(row.format(label, what, n_fast, secs, rate, f"  x{rate / base:.2f} newcomer"))


def bench_constructed(args: argparse.Namespace) -> None:
    from replica.config import Fit, PairsConfig
    from replica.generate.encode import encode, fit
    from replica.generate.families import TARGETS, build
    from replica.generate.ops import Ctx
    from replica.generate.pairs import Reference, make_pairs, plan
    from replica.generate.similarity import proxy_similarity

    paths = sorted((CORPUS / "gallery" / "images").rglob("*.jpg"))[: args.images]
    if not paths:
        print(f"[generate] constructed: no gallery at {CORPUS / 'gallery'}; skipped")
        return
    images = {p.stem: fit(Image.open(p), args.size, Fit.CROP) for p in paths}
    ids = list(images)
    cfg = PairsConfig(image_size=args.size)
    print(f"[generate] constructed pairs from {len(ids)} gallery images at {args.size} px")
    print("  per family, 1 process (build + encode + proxy similarity):")
    warm = Ctx(args.size, np.random.default_rng(0), lambda rng: (ids[1], images[ids[1]]))
    for family, levels in TARGETS.items():  # imports and first-call costs out of the timing
        build(family, levels[0], images[ids[0]], warm, cfg.level_cuts)
    for family, levels in TARGETS.items():
        n, start = 0, time.perf_counter()
        for k, source_id in enumerate(ids):
            level = levels[k % len(levels)]
            others = [i for i in ids if i != source_id]

            def draw(rng, others=others):
                pid = others[int(rng.integers(len(others)))]
                return pid, images[pid]

            ctx = Ctx(args.size, np.random.default_rng(k), draw)
            replica = build(family, level, images[source_id], ctx, cfg.level_cuts)
            encode(replica, cfg.encoding, cfg.quality)
            proxy_similarity(images[source_id], replica)
            n += 1
        secs = time.perf_counter() - start
        print(f"    {family.value:<12} levels {list(levels)!s:<10} {n / secs:8.1f} pairs/s")
    families = tuple(f for f in cfg.families if f in TARGETS)
    cfg = PairsConfig(image_size=args.size, families=families, per_level=1)
    refs = [
        Reference(i, f"{k:064x}", None, f"c{k}", "train" if k % 5 else "test")
        for k, i in enumerate(ids)
    ]
    split = {r.image_id: r.split for r in refs}
    nearest = {i: [o for o in ids if split[o] == split[i] and o != i][:3] for i in ids}
    specs = plan(refs, cfg, seed=0).specs
    start = time.perf_counter()
    built = list(make_pairs(specs, refs, images, nearest, cfg, workers=args.workers))
    secs = time.perf_counter() - start
    print(
        f"  balanced mix, {args.workers} processes: {len(built)} pairs {secs:.1f} s "
        f"{len(built) / secs:.1f} pairs/s (process start-up included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", action="store_true", help="SD 1.5 architecture at 512 px on CUDA")
    parser.add_argument("--size", type=int, default=128, help="CPU image side (tiny SD, pairs)")
    parser.add_argument("--steps", type=int, default=20, help="CPU inference steps")
    parser.add_argument("--batch", type=int, default=None, help="fast-path batch (GPU 16, CPU 8)")
    parser.add_argument("--precision", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    parser.add_argument("--cfg-fraction", type=float, default=0.4)
    parser.add_argument("--newcomer-images", type=int, default=0)
    parser.add_argument("--fast-images", type=int, default=0)
    parser.add_argument("--images", type=int, default=60, help="gallery images (constructed)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-diffusion", action="store_true")
    args = parser.parse_args()
    args.batch = args.batch or (16 if args.gpu else 8)
    print(f"[generate] load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    if not args.skip_diffusion:
        bench_diffusion(args)
    if not args.gpu:
        bench_constructed(args)


if __name__ == "__main__":
    main()
