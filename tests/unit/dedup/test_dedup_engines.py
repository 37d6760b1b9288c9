"""Engines: the streaming local engine (one or several processes) and Ray Data agree exactly."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from replica.config import DedupConfig
from replica.contracts import ARTICLES
from replica.dedup.engine import Engine, candidates, fingerprints
from replica.dedup.tables import cluster_texts


def _articles(corpus: Path, root: Path, n_base: int = 60) -> Path:
    """Real article bodies plus edited copies (byline, truncation, dropped paragraph), and a
    few refused rows, written through the articles contract."""
    truth = json.loads((corpus / "extraction/aeb/ground-truth.json").read_text())
    bodies = [v["articleBody"] for v in truth.values() if len(v["articleBody"]) > 800][:n_base]
    rng = random.Random(0)
    rows = []
    for i, body in enumerate(bodies):
        rows.append((f"b{i}", body, f"2024-01-{1 + i % 28:02d}"))
        paras = body.split("\n")
        if i % 3 == 0:
            rows.append((f"b{i}-byline", "By A. Reporter\n" + body, "2024-02-01"))
        if i % 3 == 1 and len(paras) > 3:
            drop = rng.randrange(len(paras))
            rows.append(
                (f"b{i}-drop", "\n".join(p for j, p in enumerate(paras) if j != drop), None)
            )
        if i % 3 == 2:
            rows.append((f"b{i}-trunc", body[: int(len(body) * 0.85)], "2024-03-01"))
    rows += [("empty", "", None), ("huge", "x " * 60_000, None)]
    table = [
        {
            "article_id": a,
            "url": f"https://n.example/{a}",
            "title": a,
            "text": t,
            "published": p,
            "lang": "en",
            "source": "s",
            "record_id": a,
        }
        for a, t, p in rows
    ]
    ARTICLES.write(pa.Table.from_pylist(table), root)
    return root / ARTICLES.filename


# recall-leaning LSH bands (18 x 7): every edited copy below becomes an LSH candidate
# for every seed tried (0-7); the default 14 x 9 misses one or two of the 60 for half of them
CFG = DedupConfig(batch_rows=16, max_text_bytes=100_000, lsh_fp_weight=0.2, lsh_fn_weight=0.8)


def _run(engine: Engine, path: Path, cfg: DedupConfig):
    index = fingerprints(engine, path, cfg, 0)
    clusters, removals = cluster_texts(index, cfg, candidates(engine, index, cfg))
    return index, clusters, removals


def test_local_engine_gives_the_same_clusters_with_one_or_two_processes(
    corpus: Path, tmp_path: Path
) -> None:
    path = _articles(corpus, tmp_path)
    one = _run(Engine.local, path, DedupConfig(**{**CFG.__dict__, "workers": 1}))
    two = _run(Engine.local, path, DedupConfig(**{**CFG.__dict__, "workers": 2}))
    assert np.array_equal(one[0].signature, two[0].signature)
    assert np.array_equal(one[1].kept_of, two[1].kept_of)
    index, clusters, _ = one
    assert sorted(r["reason"] for r in index.rejects) == ["empty_text", "text_too_large"]
    kept = {index.article_id[k] for k in clusters.kept}
    assert all("-" not in a for a in kept), sorted(a for a in kept if "-" in a)
    assert len(clusters.removed) >= 50


@pytest.mark.slow
def test_ray_engine_gives_identical_clusters(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    path = _articles(corpus, tmp_path)
    local = _run(Engine.local, path, CFG)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = _run(Engine.ray, path, DedupConfig(**{**CFG.__dict__, "workers": 2}))
    finally:
        ray.shutdown()
    assert remote[0].article_id == local[0].article_id
    assert np.array_equal(remote[0].signature, local[0].signature)
    assert np.array_equal(remote[1].kept_of, local[1].kept_of)
    assert remote[2].method == local[2].method
    assert sorted(r["record_id"] for r in remote[0].rejects) == ["empty", "huge"]
