"""Scoring pairs and searching a gallery with a small fitted detector; the feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from replica.cache import ArrayCache
from replica.models.copy import CopyDetector
from replica.scoring.features import Featurizer, ImageRef
from replica.scoring.fuse import expected
from replica.scoring.score import score_pairs, search
from tests.copyfix import fitted_detector, graded_pairs


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> CopyDetector:
    return fitted_detector(tmp_path_factory.mktemp("detector"))


def test_fused_levels_follow_the_edits(detector: CopyDetector, tmp_path: Path) -> None:
    rows = graded_pairs(tmp_path, 3, seed=7)
    fz = Featurizer(detector)
    q = [ImageRef(tmp_path / r["replica_uri"]) for r in rows]
    r = [ImageRef(tmp_path / r["source_uri"]) for r in rows]
    pdf = score_pairs(fz, q, r, chunk=5)
    assert pdf.shape == (18, 6) and np.allclose(pdf.sum(1), 1, atol=1e-5)
    levels = np.array([row["level"] for row in rows])
    score = expected(pdf)
    # unseen sources: copies (>= 3) score above the negatives, and the order mostly holds
    assert score[levels >= 3].min() > score[levels == 0].max()
    assert np.corrcoef(score, levels)[0, 1] > 0.8


def test_a_gallery_search_finds_each_copy_source_first(
    detector: CopyDetector, tmp_path: Path
) -> None:
    rows = graded_pairs(tmp_path, 5, seed=8)
    gallery = [ImageRef(tmp_path / f"s8_{i}.jpg") for i in range(5)]
    copies = [r for r in rows if r["level"] >= 3]
    hits = search(
        Featurizer(detector), [ImageRef(tmp_path / r["replica_uri"]) for r in copies], gallery, 3, 1
    )
    assert len(hits) == len(copies)
    assert all(gallery[h.reference].path.name == copies[h.query]["source_uri"] for h in hits)


def test_the_cache_describes_each_image_once(detector: CopyDetector, tmp_path: Path) -> None:
    rows = graded_pairs(tmp_path / "img", 2, seed=9)
    refs = [ImageRef(tmp_path / "img" / r["source_uri"]) for r in rows]
    cache = ArrayCache(tmp_path / "cache")
    first = Featurizer(detector, cache)
    a = first.images(refs, mirror=True)
    assert first.decoded == 2  # 12 rows, 2 distinct sources
    again = Featurizer(detector, ArrayCache(tmp_path / "cache"))  # a new process, same folder
    b = again.images(refs, mirror=True)
    assert again.decoded == 0
    assert np.array_equal(a[0].tokens, b[0].tokens)
    assert np.array_equal(a[0].local.plain.descriptors, b[0].local.plain.descriptors)
    files = list((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 2 * 3  # tokens, local features, global descriptors per image
