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


def test_the_match_head_puts_each_source_above_the_other_candidates(
    detector: CopyDetector, tmp_path: Path
) -> None:
    from replica.scoring.features import pair_matrix
    from replica.scoring.fuse import match_probability

    rows = [r for r in graded_pairs(tmp_path, 4, seed=10) if r["level"] >= 1]
    fz = Featurizer(detector)
    queries = fz.images([ImageRef(tmp_path / r["replica_uri"]) for r in rows])
    sources = fz.images([ImageRef(tmp_path / f"s10_{i}.jpg") for i in range(4)], mirror=True)
    truth = [int(r["source_image_id"].split("_")[1]) for r in rows]
    prob = match_probability(
        detector, pair_matrix(detector, [q for q in queries for _ in sources], sources * len(rows))
    )
    assert prob is not None
    grid = prob.reshape(len(rows), len(sources))
    # unseen images: every copy (levels 3-5) ranks its own source first
    copies = [k for k, r in enumerate(rows) if r["level"] >= 3]
    assert all(grid[k].argmax() == truth[k] for k in copies)
    assert np.all((grid >= 0) & (grid <= 1))


def test_the_match_head_is_saved_with_the_model_and_older_models_still_rank(
    detector: CopyDetector, tmp_path: Path
) -> None:
    import json

    import torch

    detector.save(tmp_path / "m")
    again = CopyDetector.load(tmp_path / "m")
    x = torch.randn(7, len(detector.config.match.features))
    assert detector.config.match.fitted and again.config.match == detector.config.match
    assert torch.equal(detector.match(x), again.match(x))

    # a model saved before the match head existed: no "match" in config.json, no weights
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    del doc["match"]
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps(doc))
    from safetensors.torch import load_file, save_file

    state = load_file(str(tmp_path / "m" / "model.safetensors"))
    save_file(
        {k: v for k, v in state.items() if not k.startswith("matcher.")},
        str(old / "model.safetensors"),
    )
    legacy = CopyDetector.load(old)
    assert legacy.matcher is None
    rows = graded_pairs(tmp_path / "g", 3, seed=11)
    gallery = [ImageRef(tmp_path / "g" / f"s11_{i}.jpg") for i in range(3)]
    copies = [r for r in rows if r["level"] == 5]
    hits = search(
        Featurizer(legacy),
        [ImageRef(tmp_path / "g" / r["replica_uri"]) for r in copies],
        gallery,
        3,
        1,
    )
    assert [gallery[h.reference].path.name for h in hits] == [r["source_uri"] for r in copies]
