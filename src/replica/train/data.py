"""Reading the images a training table points at: the edge between files and tensors."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def read_image(root: Path, uri: str, draft: int | None = None) -> Image.Image:
    """Decode ``root/uri`` as RGB; a missing or undecodable file is a ValueError naming it.

    ``draft``: the caller resizes to this side anyway, so a JPEG may be decoded at a reduced
    scale no smaller than it (several times faster). ``validate`` checks every blob before
    training, so an unreadable one here means the dataset changed under the pipeline.
    """
    try:
        with Image.open(Path(root) / uri) as im:
            if draft is not None:
                im.draft("RGB", (draft, draft))
            return im.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read pair image {uri!r} under {str(root)!r}: {exc}") from exc
