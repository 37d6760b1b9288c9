"""Pairs on values: pick the gallery, split it, make replicas of each image and label them.

For every gallery image: one img2img replica per strength (prompt = the image's caption) and
``transforms_per_image`` deterministic transforms (see ``transforms``), each labelled with the
proxy similarity and level of ``similarity``. Randomness comes from ``seed`` only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from replica.config import PairsConfig
from replica.generate.img2img import Img2Img
from replica.generate.similarity import level_of, proxy_similarity
from replica.generate.transforms import apply_transform


@dataclass(frozen=True)
class GalleryImage:
    image_id: str
    uri: str  # relative to the input directory
    prompt: str  # the caption, else the alt text


@dataclass(frozen=True)
class Replica:
    pair_id: str
    source_image_id: str
    kind: str  # "img2img" | "transform"
    transform: str | None
    strength: float | None
    prompt: str | None
    image: Image.Image
    similarity: float
    level: int


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def select_gallery(
    rows: Sequence[Mapping[str, Any]], max_images: int
) -> tuple[list[GalleryImage], Counter[str]]:
    """Images with a caption (else alt text), ordered by image_id, at most ``max_images``.

    Returns the gallery and the rows left out, counted by reason.
    """
    skipped: Counter[str] = Counter()
    gallery: list[GalleryImage] = []
    for row in sorted(rows, key=lambda r: r["image_id"]):
        prompt = _text(row.get("caption")) or _text(row.get("alt"))
        if not prompt:
            skipped["no_caption"] += 1
        elif len(gallery) >= max_images:
            skipped["over_max_images"] += 1
        else:
            gallery.append(GalleryImage(row["image_id"], row["uri"], prompt))
    return gallery, skipped


def check_schedule(cfg: PairsConfig) -> None:
    """img2img runs ``int(num_inference_steps * strength)`` denoising steps; each must be >= 1."""
    for strength in cfg.strengths:
        if not 0 < strength <= 1 or int(cfg.num_inference_steps * strength) < 1:
            raise ValueError(
                f"pairs.strengths value {strength} with pairs.num_inference_steps "
                f"{cfg.num_inference_steps} gives no denoising step; need 0 < strength <= 1 and "
                "num_inference_steps * strength >= 1"
            )


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 32-bit number for (seed, *parts): per-replica seeds and split draws."""
    return int(hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).hexdigest()[:8], 16)


def assign_splits(image_ids: Sequence[str], test_fraction: float, seed: int) -> dict[str, str]:
    """``test`` when a hash of (seed, id) falls under ``test_fraction``, else ``train``.

    With two or more images both splits are non-empty: if the hash puts every image on one
    side, the image closest to the cut moves to the other.
    """
    u = {i: derive_seed(seed, i) / 2**32 for i in image_ids}
    splits = {i: "test" if v < test_fraction else "train" for i, v in u.items()}
    if len(u) >= 2 and len(set(splits.values())) == 1:
        if "train" in splits.values():
            splits[min(u, key=u.__getitem__)] = "test"
        else:
            splits[max(u, key=u.__getitem__)] = "train"
    return splits


def _labelled(
    source: Image.Image,
    image: Image.Image,
    cfg: PairsConfig,
    image_id: str,
    kind: str,
    index: int,
    transform: str | None,
    strength: float | None,
    prompt: str | None,
) -> Replica:
    sim = proxy_similarity(source, image)
    pair_id = hashlib.sha256(f"{image_id}|{kind}|{index}".encode()).hexdigest()[:16]
    level = level_of(sim, cfg.level_thresholds)
    return Replica(pair_id, image_id, kind, transform, strength, prompt, image, sim, level)


def make_replicas(
    gallery: Sequence[GalleryImage],
    images: Mapping[str, Image.Image],
    splits: Mapping[str, str],
    cfg: PairsConfig,
    seed: int,
    img2img: Img2Img,
) -> Iterator[Replica]:
    """Yield the labelled replicas of every gallery image (img2img first, then transforms).

    ``images`` maps image_id to the source already made RGB at ``cfg.image_size`` square.
    Blend partners come from the same split when it has another image, so no test replica
    carries pixels of a train image.
    """
    ids = [g.image_id for g in gallery]
    for g in gallery:
        source = images[g.image_id]
        partners = [i for i in ids if i != g.image_id and splits[i] == splits[g.image_id]]
        partners = partners or [i for i in ids if i != g.image_id] or [g.image_id]

        for k, strength in enumerate(cfg.strengths):
            image = img2img(source, g.prompt, strength, derive_seed(seed, g.image_id, "img2img", k))
            yield _labelled(source, image, cfg, g.image_id, "img2img", k, None, strength, g.prompt)
        for j in range(cfg.transforms_per_image):
            rng = np.random.default_rng(derive_seed(seed, g.image_id, "transform", j))
            other = images[partners[int(rng.integers(len(partners)))]]
            applied = apply_transform(j, source, other, rng)
            yield _labelled(
                source, applied.image, cfg, g.image_id, "transform", j, applied.name, None, None
            )


def to_square(image: Image.Image, size: int) -> Image.Image:
    """RGB, squashed to ``size`` x ``size`` (the same geometry ``models.preprocess`` uses)."""
    return image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)


def level_histogram(levels: Sequence[int], n_levels: int) -> list[int]:
    return [sum(1 for v in levels if v == k) for k in range(n_levels)]
