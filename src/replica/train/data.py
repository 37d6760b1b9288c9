"""Pairs as tensors: the edge that turns a pairs table plus its image files into model input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from replica.models.pdf_embedding import preprocess


@dataclass(frozen=True)
class PairTensors:
    pair_ids: list[str]
    query: torch.Tensor  # replicas [N, 3, H, W] in [0, 1]
    reference: torch.Tensor  # sources [N, 3, H, W] in [0, 1]
    levels: torch.Tensor  # [N] int64


def load_pairs(rows: Sequence[Mapping[str, Any]], root: Path, image_size: int) -> PairTensors:
    """Decode every pair's replica and source (uris relative to ``root``); sources are cached.

    A missing or undecodable image is a ValueError naming the file: ``validate`` checks every
    blob before training, so reaching one here means the dataset changed under the pipeline.
    """
    cache: dict[str, torch.Tensor] = {}

    def image(uri: str) -> torch.Tensor:
        if uri not in cache:
            try:
                with Image.open(Path(root) / uri) as im:
                    cache[uri] = preprocess(im, image_size)
            except (OSError, Image.DecompressionBombError) as exc:
                raise ValueError(
                    f"cannot read pair image {uri!r} under {str(root)!r}: {exc}"
                ) from exc
        return cache[uri]

    if not rows:
        empty = torch.empty(0, 3, image_size, image_size)
        return PairTensors([], empty, empty.clone(), torch.empty(0, dtype=torch.long))
    return PairTensors(
        pair_ids=[r["pair_id"] for r in rows],
        query=torch.stack([image(r["replica_uri"]) for r in rows]),
        reference=torch.stack([image(r["source_uri"]) for r in rows]),
        levels=torch.tensor([int(r["level"]) for r in rows], dtype=torch.long),
    )
