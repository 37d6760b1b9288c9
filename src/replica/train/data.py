"""Pairs as tensors: the edge that turns a pairs table plus its image files into model input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from replica.models.pdf_embedding import preprocess


def read_image(root: Path, uri: str) -> Image.Image:
    """Decode ``root/uri`` as RGB; a missing or undecodable file is a ValueError naming it.

    ``validate`` checks every blob before training, so reaching one here means the dataset
    changed under the pipeline.
    """
    try:
        with Image.open(Path(root) / uri) as im:
            return im.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read pair image {uri!r} under {str(root)!r}: {exc}") from exc


class PairImages(Dataset):
    """``(query, reference, level)`` per pairs row: replica and source as [3, S, S] in [0, 1]."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], root: Path, image_size: int) -> None:
        self.rows, self.root, self.image_size = list(rows), Path(root), image_size

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        row = self.rows[index]
        query = preprocess(read_image(self.root, row["replica_uri"]), self.image_size)
        reference = preprocess(read_image(self.root, row["source_uri"]), self.image_size)
        return query, reference, int(row["level"])
