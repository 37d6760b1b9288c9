"""FakeInversion feature extraction speed: images/s, the project's path against a naive loop.

    .venv/bin/python benchmarks/invert.py            # CPU: the tiny random SD, 64 px
    .venv/bin/python benchmarks/invert.py --gpu      # GPU: SD 1.5's architecture, 512 px

Both sides compute the same features (VAE encode, DDIM inversion over ``--steps`` steps,
DDIM reconstruction, two VAE decodes; see ``replica.invert.inversion``) of the same images:

- baseline "one at a time": what a first version does: each image alone, fp32 (diffusers'
  default dtype), captions encoded per image;
- ours: ``Inverter`` as the ``invert`` step runs it: batches of ``--batch`` images, fp16 and
  channels_last on a GPU, captions encoded once per batch, optionally ``torch.compile`` on the
  U-Net (``--compile``).

Each side is warmed up, then timed ``--repeats`` times; the best run counts (the machine may be
shared: the load average is printed with the figures). Cases (one line each, hardest last):
guidance 1 (one U-Net pass per step) and guidance 3 (classifier-free guidance: two passes per
step), with dataset captions. Images are the shared
corpus's generated and gallery photos when present (else random pictures). With ``--gpu`` the
model is SD 1.5's real architecture with random weights (speed depends on shapes, not weight
values): nothing is downloaded, so the command runs on an offline GPU machine as is.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CORPUS = Path(os.environ.get("REPLICA_CORPUS", ROOT.parent / "shared" / "corpus"))


def images(n: int, size: int) -> list[np.ndarray]:
    """``n`` test images as uint8 RGB: corpus files when present, else random pictures."""
    from PIL import Image

    files = sorted((CORPUS / "generated" / "images").rglob("*.png"))[: n // 2]
    files += sorted((CORPUS / "gallery" / "images").rglob("*.jpg"))[: n - len(files)]
    out = []
    for path in files:
        with Image.open(path) as im:
            out.append(np.asarray(im.convert("RGB")))
    rng = np.random.default_rng(0)
    while len(out) < n:
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        out.append(
            np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))
        )
    return out


def run(inverter, pixels: list[np.ndarray], batch: int, captions: list[str]) -> float:
    """Seconds to compute the features of all ``pixels`` in batches of ``batch``."""
    from replica.invert.inversion import to_model_input

    size = inverter.settings.image_size
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    start = time.perf_counter()
    for s in range(0, len(pixels), batch):
        x = torch.stack([to_model_input(p, size) for p in pixels[s : s + batch]])
        inverter.features(x, captions[s : s + batch])
    sync()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="SD 1.5 architecture at 512 px on CUDA")
    ap.add_argument("--images", type=int, default=None, help="images per case")
    ap.add_argument("--steps", type=int, default=None, help="inversion steps (and as many back)")
    ap.add_argument("--batch", type=int, default=None, help="batch of the fast path")
    ap.add_argument("--size", type=int, default=None, help="image side in pixels")
    ap.add_argument("--compile", action="store_true", help="torch.compile the U-Net (fast path)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per side; the best counts")
    args = ap.parse_args()

    from replica.generate.architectures import build_sd15
    from replica.generate.tiny_sd import build_tiny_sd
    from replica.invert.inversion import InversionSettings, Inverter, components_of

    if args.gpu and not torch.cuda.is_available():
        sys.exit("--gpu: no CUDA device visible")
    device = "cuda" if args.gpu else "cpu"
    n = args.images or 16
    steps = args.steps or (50 if args.gpu else 10)
    batch = args.batch or 8
    size = args.size or (512 if args.gpu else 64)
    build = build_sd15 if args.gpu else build_tiny_sd
    model = "SD 1.5 architecture, random weights" if args.gpu else "tiny random SD"
    pixels = images(n, size)
    captions = [f"a photograph number {i} of a street scene" for i in range(n)]
    load = os.getloadavg()
    print(f"# invert benchmark: {model}, {size} px, {steps} steps, {n} images per case, "
          f"device {device}" + (f" ({torch.cuda.get_device_name()})" if args.gpu else "")
          + f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print("| case | baseline img/s (1 at a time, fp32) | ours img/s | ratio |")
    print("|---|---|---|---|")
    pipe = build(0)
    for guidance in (1.0, 3.0):
        settings = InversionSettings(size, steps, guidance)
        slow = Inverter(components_of(pipe, device, torch.float32, fast=False), settings, "b")
        run(slow, pixels[:2], 1, captions[:2])  # warm-up
        t_slow = min(run(slow, pixels, 1, captions) for _ in range(args.repeats))
        dtype = torch.float16 if args.gpu else torch.float32
        fast = Inverter(components_of(pipe, device, dtype), settings, "b")
        if args.compile:
            fast.c["unet"] = torch.compile(fast.c["unet"])
        run(fast, pixels[: 2 * batch], batch, captions[: 2 * batch])  # warm-up (and compile)
        t_fast = min(run(fast, pixels, batch, captions) for _ in range(args.repeats))
        case = f"guidance {guidance:g}, batch {batch}" + (", compiled" if args.compile else "")
        print(f"| {case} | {n / t_slow:.3f} | {n / t_fast:.3f} | {t_slow / t_fast:.2f}x |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
