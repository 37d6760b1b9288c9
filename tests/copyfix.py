"""A small copy detector for tests: textured pictures, graded pairs of them, a fitted fusion.

``graded_pairs`` writes (query, reference) files for levels 0-5 with simple, known edits;
``fitted_detector`` fits the fusion and match heads of a tiny random-init detector on such
pairs, so predict, audit, evaluate and the pyfunc run the real scoring path in seconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from replica.config import CopyConfig
from replica.models.copy import CopyDetector
from tests.factories import jpeg_bytes, textured

SIZE = (200, 150)
COPY = dataclasses.replace(
    CopyConfig(),
    backbone="vit-test",
    embed_dim=16,
    fusion_groups=("verify", "global"),  # a random-init embedding only adds noise on 36 pairs
    fusion_hidden=16,
    fusion_steps=300,
)


def edit(level: int, source: Image.Image, other: Image.Image, seed: int) -> Image.Image:
    """A query of the given level made from ``source`` (and ``other`` for levels 0-2)."""
    w, h = source.size
    rng = np.random.default_rng(seed)
    if level == 5:
        return source.resize((w * 3 // 4, h * 3 // 4))
    if level == 4:
        return ImageEnhance.Brightness(source).enhance(1.25)
    if level == 3:
        x = int(rng.integers(0, w // 4))
        return source.crop((x, 0, x + w * 3 // 4, h * 3 // 4))
    if level == 2:
        canvas = other.copy()
        canvas.paste(source.resize((w // 2, h // 2)), (0, 0))
        return canvas
    if level == 1:
        canvas = other.copy()
        canvas.paste(source.crop((0, 0, w // 2, h * 2 // 5)), (w // 3, h // 3))
        return canvas
    return other


def graded_pairs(root: Path, n_sources: int, seed: int = 0, split: str = "train") -> list[dict]:
    """Pairs rows (pairs@2-shaped: uris relative to ``root``) for every level of each source."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_sources):
        source = textured(seed * 1000 + i, SIZE)
        other = textured(seed * 1000 + 500 + i, SIZE)
        (root / f"s{seed}_{i}.jpg").write_bytes(jpeg_bytes(source))
        for level in range(6):
            query = edit(level, source, other, seed * 100 + i)
            (root / f"q{seed}_{i}_{level}.jpg").write_bytes(jpeg_bytes(query))
            rows.append(
                {
                    "pair_id": f"p{seed}_{i}_{level}",
                    "source_image_id": f"s{seed}_{i}",
                    "source_uri": f"s{seed}_{i}.jpg",
                    "replica_uri": f"q{seed}_{i}_{level}.jpg",
                    "family": ["negative", "region", "collage", "crop", "photo", "resize"][level],
                    "level": level,
                    "split": split,
                }
            )
    return rows


def fitted_detector(directory: Path, n_sources: int = 6) -> CopyDetector:
    """A vit-test detector whose fusion and match heads are fitted on graded pairs (their
    sources are the match head's references); saved in ``directory / "model"``."""
    import torch

    from replica.scoring.features import Featurizer, ImageRef
    from replica.scoring.retrieval import Reference
    from replica.train.copy import (
        detector_config,
        fit_fusion,
        fit_match,
        match_candidates,
        pair_features,
    )

    torch.manual_seed(0)
    detector = CopyDetector.from_config(detector_config(COPY)).eval()
    root = directory / "fit"
    rows = graded_pairs(root, n_sources, seed=99)
    fz = Featurizer(detector)
    matrix = pair_features(detector, rows, root, fz)
    fit = fit_fusion(matrix, np.array([r["level"] for r in rows]), COPY, seed=0)
    detector.with_fusion(fit.head, fit.features, COPY.fusion_groups)
    sources = {r["source_image_id"]: r["source_uri"] for r in rows}
    refs = [Reference(i, ImageRef(root / uri)) for i, uri in sources.items()]
    matched = fit_match(*match_candidates(detector, rows, refs, root, COPY, fz), COPY)
    detector.with_match(matched.head, matched.features)
    detector.save(directory / "model")
    return detector


def complete_detector(directory: Path, seed: int = 0) -> CopyDetector:
    """A random-init detector with an unfitted fusion head: loads and serves like a trained one
    (for register/promote tests, where only its plumbing matters); saved in ``directory``."""
    import torch

    from replica.models.copy import FusionHead
    from replica.scoring.features import features_of
    from replica.train.copy import detector_config

    torch.manual_seed(seed)
    detector = CopyDetector.from_config(detector_config(COPY)).eval()
    names = features_of(COPY.fusion_groups)
    detector.with_fusion(FusionHead(len(names), 8).eval(), names, COPY.fusion_groups)
    detector.save(directory)
    return detector
