"""The feature cache: keyed by image sha256 and model id, each image computed once."""

from __future__ import annotations

from pathlib import Path

import torch

from replica.cache import FeatureCache


def test_entries_round_trip_per_model(tmp_path: Path) -> None:
    a, b = FeatureCache(tmp_path, "model-a"), FeatureCache(tmp_path, "model-b")
    a.put("ab" * 32, {"x": torch.arange(6.0).reshape(2, 3)})
    assert torch.equal(a.get("ab" * 32)["x"], torch.arange(6.0).reshape(2, 3))
    assert b.get("ab" * 32) is None, "another model id must not see model-a's features"
    assert a.hits == 1 and b.misses == 1
    assert not list(tmp_path.rglob("*.tmp")), "no temp file is left behind"


def test_get_or_compute_computes_each_missing_image_once(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "m")
    asked: list[list[int]] = []

    def compute(positions: list[int]) -> list[dict[str, torch.Tensor]]:
        asked.append(positions)
        return [{"x": torch.tensor([float(p)])} for p in positions]

    shas = ["1" * 64, "2" * 64, "1" * 64]
    first = cache.get_or_compute(shas, compute)
    assert asked == [[0, 1]], "a repeated sha is computed once"
    assert [float(e["x"]) for e in first] == [0.0, 1.0, 0.0]
    again = cache.get_or_compute(shas, compute)
    assert asked == [[0, 1]] and [float(e["x"]) for e in again] == [0.0, 1.0, 0.0]
