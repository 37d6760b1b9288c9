"""Engines: the streaming local engine (one process or a pool) and Ray Data agree exactly, and
the pool is only used where it pays."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replica.config import DedupConfig
from replica.contracts import ARTICLES
from replica.dedup.engine import ARTICLE_COLUMNS, Engine, TextTable, dedup_texts, uses_pool
from replica.dedup.semantic import Semantic


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


# the defaults (the second pass off: these edits are all caught by MinHash and containment)
CFG = DedupConfig(batch_rows=16, max_text_bytes=100_000, semantic_model="")


def _run(engine: Engine, path: Path, cfg: DedupConfig):
    res = dedup_texts(engine, TextTable(path, ARTICLE_COLUMNS), cfg, 0, Semantic(None, 0))
    return res.index, res.clusters, res.removals, res.stats


def test_local_engine_gives_the_same_clusters_in_one_process_or_a_pool(
    corpus: Path, tmp_path: Path
) -> None:
    path = _articles(corpus, tmp_path)
    # the same rows in small row groups: pool workers then read row groups themselves
    grouped = tmp_path / "grouped.parquet"
    pq.write_table(pq.read_table(path), grouped, row_group_size=16)
    one = _run(Engine.local, path, DedupConfig(**{**CFG.__dict__, "workers": 1}))
    cfg = DedupConfig(**{**CFG.__dict__, "workers": 2, "pool_min_rows": 0})
    assert one[3]["pool"] == 0.0
    whole, in_groups = _run(Engine.local, path, cfg), _run(Engine.local, grouped, cfg)
    assert whole[3]["spilled_row_groups"] == 0  # one row group: batches go to the workers
    assert in_groups[3]["spilled_row_groups"] == pq.ParquetFile(grouped).num_row_groups
    for pooled in (whole, in_groups):
        assert pooled[3]["pool"] == 1.0
        assert np.array_equal(one[0].signature, pooled[0].signature)
        assert np.array_equal(one[1].kept_of, pooled[1].kept_of)
    index, clusters, _, _ = one
    assert sorted(r["reason"] for r in index.rejects) == ["empty_text", "text_too_large"]
    kept = {index.article_id[k] for k in clusters.kept}
    assert all("-" not in a for a in kept), sorted(a for a in kept if "-" in a)
    assert len(clusters.removed) >= 50


class HashedWords:
    """A tiny real encoder that pickles and gives the same vectors in any process: counts of
    the first 60 words hashed with CRC-32 (Python's ``hash`` differs between processes)."""

    def __call__(self, texts: list[str]) -> np.ndarray:
        import zlib

        out = np.zeros((len(texts), 256), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split()[:60]:
                out[i, zlib.crc32(w.encode()) % 256] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


# a band wide enough that edited copies on other sites reach the second pass
BAND = {
    "threshold": 0.95,
    "containment": 0.95,
    "same_source_containment": 0.95,
    "band_threshold": 0.1,
    "band_containment": 0.2,
}


def _on_five_sites(path: Path) -> Path:
    """The same rows spread over five sites (pages of one site never reach the second pass)."""
    table = pq.read_table(path)
    ids = table.column("article_id").to_pylist()
    urls = [f"https://site{i % 5}.example/{a}" for i, a in enumerate(ids)]
    pq.write_table(table.set_column(1, "url", pa.array(urls)), path)
    return path


def _embedded(engine: Engine, path: Path, workers: int) -> tuple[Any, Semantic]:
    cfg = DedupConfig(**{**CFG.__dict__, **BAND, "workers": workers, "pool_min_rows": 0})
    sem = Semantic(HashedWords, max_texts=1000)
    res = dedup_texts(engine, TextTable(path, ARTICLE_COLUMNS), cfg, 0, sem)
    assert sem._process is None  # the model process, where one ran, has ended
    return res, sem


def _same_second_pass(a: tuple[Any, Semantic], b: tuple[Any, Semantic]) -> None:
    (res_a, sem_a), (res_b, sem_b) = a, b
    assert res_a.stats["band_pairs_embedded"] == res_b.stats["band_pairs_embedded"] > 0
    assert sorted(sem_a.vectors) == sorted(sem_b.vectors)
    for k, v in sem_a.vectors.items():
        np.testing.assert_array_equal(v, sem_b.vectors[k])
    assert np.array_equal(res_a.clusters.kept_of, res_b.clusters.kept_of)


def test_the_pool_embeds_in_a_model_process_as_one_process_embeds_here(
    corpus: Path, tmp_path: Path
) -> None:
    path = _on_five_sites(_articles(corpus, tmp_path))
    one, pooled = _embedded(Engine.local, path, 1), _embedded(Engine.local, path, 2)
    assert pooled[0].stats["pool"] == 1.0 and one[0].stats["pool"] == 0.0
    assert pooled[1]._model is None and one[1]._model is not None  # loaded there, and here
    _same_second_pass(one, pooled)


def test_a_spilled_table_reads_the_rows_of_its_parquet_file(corpus: Path, tmp_path: Path) -> None:
    from replica.dedup.engine import learn_boilerplate, open_pool

    grouped = tmp_path / "grouped.parquet"
    pq.write_table(pq.read_table(_articles(corpus, tmp_path)), grouped, row_group_size=16)
    table = TextTable(grouped, ARTICLE_COLUMNS)
    cfg = DedupConfig(**{**CFG.__dict__, "workers": 2, "pool_min_rows": 0})
    spill = tmp_path / "spill"
    spill.mkdir()
    with open_pool(cfg, table) as pool:
        _, spilled = learn_boilerplate(table, cfg, pool, spill)
    assert len(spilled.spill) == table.row_groups and not list(spill.glob("*.tmp"))
    rows = np.array([5, 0, 40, 17, 90])
    assert spilled.take(rows, 16).equals(table.take(rows, 16))
    for (o1, b1), (o2, b2) in zip(spilled.batches(16), table.batches(16), strict=True):
        assert o1 == o2 and b1.equals(b2)


def test_the_pool_is_used_only_above_pool_min_rows_and_with_two_workers(
    corpus: Path, tmp_path: Path
) -> None:
    cfg = DedupConfig(workers=2, pool_min_rows=1000)
    assert not uses_pool(cfg, 999) and uses_pool(cfg, 1000)
    assert not uses_pool(DedupConfig(workers=1, pool_min_rows=0), 10**6)
    # a small table runs in this process: the run reports no pool
    path = _articles(corpus, tmp_path, n_base=10)
    assert _run(Engine.local, path, DedupConfig(**{**CFG.__dict__, "workers": 2}))[3]["pool"] == 0.0


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
    assert remote[2].evidence == local[2].evidence
    assert sorted(r["record_id"] for r in remote[0].rejects) == ["empty", "huge"]
    # a table the size of a pool's: Ray's driver has the model process too
    _on_five_sites(path)
    local_band = _embedded(Engine.local, path, 1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ray_band = _embedded(Engine.ray, path, 2)
    finally:
        ray.shutdown()
    assert ray_band[1]._model is None  # it was served by the process, which has ended
    _same_second_pass(local_band, ray_band)


_HEAP_PROBE = """
import ctypes, sys
import numpy as np
from replica.dedup.engine import reuse_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
before = libc.mallinfo2()
block = np.ones(64 << 20, np.uint8)
during = libc.mallinfo2()
del block
after = libc.mallinfo2()
print(during.hblkhd - before.hblkhd, after.arena - before.arena)
"""


@pytest.mark.skipif(
    not hasattr(__import__("ctypes").CDLL(None), "mallinfo2"), reason="needs glibc >= 2.33"
)
def test_freed_batch_memory_stays_in_the_heap_for_the_next_batch() -> None:
    import subprocess
    import sys

    def probe(mode: str) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", _HEAP_PROBE, mode], capture_output=True, text=True, check=True
        )
        mapped, heap = out.stdout.split()
        return int(mapped), int(heap)

    # by default a 64 MiB array is mapped on its own and unmapped when freed: its pages come
    # fresh from the kernel every batch; reused, it is carved from the heap and stays there
    assert probe("default")[0] >= 64 << 20
    mapped, heap = probe("reuse")
    assert mapped == 0 and heap >= 48 << 20  # (some of it was free heap already)
