"""Small real/generated image folders for the synthetic-detector tests, made in code.

``photo`` draws a smooth random scene plus per-pixel sensor-like noise; ``generated`` draws
the same kind of scene at half resolution and doubles it with nearest-neighbour up-sampling,
the trace NPR looks for. ``same_content`` draws both classes from one distribution, so only
the file (format, size, quality) can tell them apart.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image


def scene(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A smooth colour field [H, W, 3] uint8 (bicubic up-sampled 6 x 6 random colours)."""
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BICUBIC))


def photo(seed: int, size: tuple[int, int] = (80, 72)) -> Image.Image:
    rng = np.random.default_rng(seed)
    noisy = scene(rng, size).astype(np.float32) + rng.normal(0, 6, (size[1], size[0], 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def generated(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    rng = np.random.default_rng(10_000 + seed)
    half = scene(rng, (size[0] // 2, size[1] // 2)).astype(np.float32)
    half += rng.normal(0, 6, half.shape)
    small = Image.fromarray(np.clip(half, 0, 255).astype(np.uint8))
    return small.resize(size, Image.Resampling.NEAREST)


def save(image: Image.Image, path: Path, fmt: str, quality: int = 92) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    path.write_bytes(buf.getvalue())


def real_folder(root: Path, n: int, same_content: bool = False) -> Path:
    """``n`` JPEG q92 photos of varied sizes (a plain folder: the gallery as users have it)."""
    for i in range(n):
        size = (80 + 8 * (i % 3), 72 + 8 * (i % 2))
        image = generated(i, size) if same_content else photo(i, size)
        save(image, root / f"photo_{i:03d}.jpg", "JPEG")
    return root


def fake_folder(
    root: Path, generators: dict[str, int], same_content: bool = False, start: int = 500
) -> Path:
    """PNG images of each generator (``name: count``) and a ``manifest.csv`` with path,
    generator, prompt and label, as ``../shared/corpus/generated`` has."""
    rows = []
    seed = start
    for name, count in generators.items():
        for k in range(count):
            rel = f"images/{name}/{k:03d}.png"
            save(generated(seed), root / rel, "PNG")
            rows.append({"path": rel, "generator": name, "prompt": f"a scene {k}", "label": "fake"})
            seed += 1
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "generator", "prompt", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return root
