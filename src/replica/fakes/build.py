"""Build the ``fakes`` dataset on values: candidate bytes in, encoded rows, splits, matches out.

Phases (the step calls them in order):
1. ``prepare``: decode a candidate's bytes, check it, re-encode it (format parity) or, with
   ``fakes.parity`` false, keep the original bytes (only to measure the confound).
2. ``assign_splits``: reals and seen generators by a seeded hash of the image id; the fakes of
   ``fakes.test_generators`` only in ``test``, so the gate measures a generator no model saw.
3. ``attach_matches``: each fake's nearest test-split real (the matched-real protocol).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from replica.config import FakesConfig
from replica.fakes.encode import PIL_MIME, Encoded, TooSmall, encode
from replica.fakes.match import content_embedding, match_reals
from replica.fakes.sources import Candidate


class Reject(ValueError):
    """A candidate left out, with a reason code (counted in the summary and rejects table)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Item:
    """A prepared image: its row (contract ``fakes`` minus split and match), the bytes to
    store and its content descriptor for matching."""

    row: dict[str, Any]
    blob: Encoded
    content: np.ndarray


def decoded(name: object, data: bytes, max_pixels: int) -> Image.Image:
    """The image in ``data``, fully loaded; Reject ``too_large`` past ``max_pixels`` (a
    decompression bomb) or ``undecodable``. ``name`` only labels the message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            image = Image.open(io.BytesIO(data))
            image.load()
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Reject("too_large", f"{name}: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise Reject("undecodable", f"{name}: {exc}") from exc


def prepare(candidate: Candidate, data: bytes, cfg: FakesConfig) -> Item:
    """Decode, check and encode one candidate; Reject names why it cannot be used."""
    if candidate.label == "fake" and not candidate.generator:
        raise Reject("no_generator", f"{candidate.path}: a fake needs its generator")
    if candidate.declared_label and candidate.declared_label != candidate.label:
        raise Reject(
            "label_conflict",
            f"{candidate.path}: the manifest says {candidate.declared_label!r}, "
            f"the source is {candidate.label!r}",
        )
    image = decoded(candidate.path, data, cfg.max_image_pixels)
    fmt, (w, h) = image.format or "RAW", image.size
    try:
        if cfg.parity:
            blob = encode(image, cfg)
        else:
            ext = (fmt.lower().replace("jpeg", "jpg"), PIL_MIME.get(fmt, "image/png"))
            blob = Encoded(data, w, h, ext[1], ext[0])
    except TooSmall as exc:
        raise Reject("too_small", f"{candidate.path}: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise Reject("undecodable", f"{candidate.path}: {exc}") from exc
    with Image.open(io.BytesIO(blob.data)) as stored:
        content = content_embedding(stored)
    sha = hashlib.sha256(blob.data).hexdigest()
    row = {
        "image_id": hashlib.sha256(data).hexdigest(),
        "label": candidate.label,
        "generator": candidate.generator,
        "source": candidate.source,
        "uri": f"blobs/{sha[:2]}/{sha}.{blob.ext}",
        "sha256": sha,
        "width": blob.width,
        "height": blob.height,
        "mime": blob.mime,
        "caption": candidate.caption,
        "orig_format": fmt,
        "orig_width": w,
        "orig_height": h,
        "orig_bytes": len(data),
    }
    return Item(row, blob, content)


def unit_hash(image_id: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for ``image_id`` under ``seed``."""
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(items: Sequence[Item], cfg: FakesConfig, seed: int) -> None:
    """Set ``split`` on every row (see module docstring). With held-out generators, the other
    generators' fakes go to train/val only: the test split's fakes are all unseen."""
    held_out = set(cfg.test_generators)
    for item in items:
        row, u = item.row, unit_hash(item.row["image_id"], seed)
        if row["label"] == "fake" and held_out:
            row["split"] = (
                "test"
                if row["generator"] in held_out
                else ("val" if u < cfg.val_fraction else "train")
            )
        elif u < cfg.test_fraction:
            row["split"] = "test"
        else:
            row["split"] = "val" if u < cfg.test_fraction + cfg.val_fraction else "train"


def attach_matches(items: Sequence[Item], cfg: FakesConfig) -> None:
    """Each fake's ``match_id``: its nearest test-split real (by ``fakes.match_by``)."""
    reals = [it for it in items if it.row["label"] == "real" and it.row["split"] == "test"]
    fakes = [it for it in items if it.row["label"] == "fake"]
    for it in items:
        it.row |= {"match_id": None, "match_by": None, "match_score": None}
    if not fakes:
        return
    if not reals:
        raise ValueError("no test-split real image to match the fakes against")
    matches = match_reals(
        np.stack([f.content for f in fakes]),
        np.stack([r.content for r in reals]),
        [f.row["caption"] for f in fakes],
        [r.row["caption"] for r in reals],
        cfg.match_by,
    )
    for fake, m in zip(fakes, matches, strict=True):
        fake.row |= {
            "match_id": reals[m.real_index].row["image_id"],
            "match_by": m.by,
            "match_score": m.score,
        }
