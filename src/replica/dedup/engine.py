"""Engines that compute text fingerprints and LSH candidates over an ``articles`` Parquet file.

``local`` streams the file's row groups in batches of ``batch_rows`` through a process pool
(all cores, at most two batches in flight per worker), so memory holds the signatures, not the
texts. ``ray`` runs the same functions as Ray Data stages (signatures → band buckets →
candidate pairs), so it scales out on a Ray cluster; both feed the same verification,
components and keep policy, hence identical clusters.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from enum import StrEnum
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from replica.config import DedupConfig
from replica.dedup import lsh
from replica.dedup.images import cpu_count
from replica.dedup.tables import TextIndex, fingerprint_batch, near_candidates

COLUMNS = ["article_id", "url", "text", "published"]


class Engine(StrEnum):
    local = "local"
    ray = "ray"


def workers_for(cfg: DedupConfig) -> int:
    return cfg.workers if cfg.workers > 0 else cpu_count()


def _batches(
    pf: pq.ParquetFile, batch_rows: int, columns: list[str] | None = COLUMNS
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(offset of its first row, batch)`` for every batch of ``pf``."""
    offset = 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
        yield offset, batch
        offset += batch.num_rows


def fingerprint_local(path: Path, cfg: DedupConfig, seed: int) -> TextIndex:
    """Fingerprint every row of ``path`` with all cores, streaming its row groups."""
    workers = workers_for(cfg)
    pf = pq.ParquetFile(path)
    n_rows = pf.metadata.num_rows
    # at least four batches per worker keeps every core busy to the end
    rows = max(256, min(cfg.batch_rows, -(-n_rows // (4 * workers))))
    parts: list[TextIndex] = []
    if workers == 1 or n_rows <= rows:
        parts = [fingerprint_batch(b, off, cfg, seed) for off, b in _batches(pf, rows)]
        return TextIndex.concat(parts, cfg.num_perm)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["replica.dedup.tables"])  # workers start with numpy imported
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        pending: list[Future[TextIndex]] = []
        for off, batch in _batches(pf, rows):
            pending.append(pool.submit(fingerprint_batch, batch, off, cfg, seed))
            while len(pending) >= 2 * workers:  # bounded memory: wait for the oldest batch
                parts.append(pending.pop(0).result())
        parts.extend(f.result() for f in pending)
    return TextIndex.concat(parts, cfg.num_perm)


# --- Ray Data: the same stages as distributed map/groupby operations -------------------------


def ray_init(num_cpus: int | None) -> None:
    """Connect to ``RAY_ADDRESS`` when set, else start a local Ray without its dashboard."""
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"])
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


_REJECT = pa.struct([(k, pa.string()) for k in ("record_id", "url", "reason", "detail")])


def _ray_fingerprints(batch: pa.Table, cfg: DedupConfig, seed: int) -> pa.Table:
    part = fingerprint_batch(
        pa.RecordBatch.from_struct_array(batch.combine_chunks().to_struct_array().combine_chunks()),
        0,
        cfg,
        seed,
    )
    n = len(part.article_id)
    return pa.table(
        {
            "article_id": pa.array(part.article_id + [None] * len(part.rejects), pa.string()),
            "published": pa.array(part.published + [None] * len(part.rejects), pa.string()),
            "length": pa.array(
                np.concatenate([part.length, np.zeros(len(part.rejects), np.int64)])
            ),
            "exact": pa.array(np.concatenate([part.exact, np.zeros(len(part.rejects), np.uint64)])),
            "signature": pa.FixedSizeListArray.from_arrays(
                pa.array(
                    np.concatenate(
                        [
                            part.signature.ravel(),
                            np.zeros(len(part.rejects) * cfg.num_perm, np.uint32),
                        ]
                    )
                ),
                cfg.num_perm,
            ),
            "reject": pa.array([None] * n + part.rejects, _REJECT),
        }
    )


def fingerprint_ray(path: Path, cfg: DedupConfig, seed: int) -> TextIndex:
    """Signatures as a Ray Data ``map_batches`` over the Parquet file (read by Ray)."""
    import ray

    ray_init(workers_for(cfg))
    row_of = {
        a: i
        for i, a in enumerate(pq.read_table(path, columns=["article_id"]).column(0).to_pylist())
    }
    ds = ray.data.read_parquet(str(path), columns=COLUMNS).map_batches(
        partial(_ray_fingerprints, cfg=cfg, seed=seed),
        batch_format="pyarrow",
        batch_size=cfg.batch_rows,
    )
    out = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    is_reject = pc.is_valid(out.column("reject"))
    rejects = out.filter(is_reject).column("reject").to_pylist()
    good = out.filter(pc.invert(is_reject))
    good = good.append_column(
        "row", pa.array([row_of[a] for a in good.column("article_id").to_pylist()], pa.int64())
    ).sort_by("row")
    rejects.sort(key=lambda r: row_of[r["record_id"]])
    return TextIndex(
        row=good.column("row").to_numpy(),
        article_id=good.column("article_id").to_pylist(),
        published=good.column("published").to_pylist(),
        length=good.column("length").to_numpy(),
        exact=good.column("exact").to_numpy(),
        signature=good.column("signature")
        .combine_chunks()
        .flatten()
        .to_numpy()
        .astype(np.uint32)
        .reshape(good.num_rows, cfg.num_perm),
        rejects=rejects,
    )


def _ray_band_rows(batch: dict[str, np.ndarray], bands: int, rows: int) -> dict[str, np.ndarray]:
    keys = lsh.band_keys(np.stack(list(batch["signature"])).astype(np.uint32), bands, rows)
    n = len(batch["id"])
    return {
        "band": np.tile(np.arange(bands), n),
        "key": keys.ravel(),
        "id": np.repeat(batch["id"], bands),
    }


def _ray_bucket_pairs(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    pairs = lsh.bucket_pairs(np.zeros(len(group["id"]), np.uint64), np.sort(group["id"]))
    return {"a": pairs[:, 0], "b": pairs[:, 1]}


def candidates_ray(index: TextIndex, cfg: DedupConfig) -> np.ndarray:
    """Band buckets as a Ray Data groupby: every pair sharing a bucket (first copies only)."""
    import ray

    bands, rows = lsh.optimal_params(
        cfg.threshold, cfg.num_perm, cfg.lsh_fp_weight, cfg.lsh_fn_weight
    )
    _, first = np.unique(index.exact, return_index=True)
    items = pa.table(
        {
            "id": pa.array(first.astype(np.int64)),
            "signature": pa.FixedSizeListArray.from_arrays(
                pa.array(index.signature[first].ravel()), cfg.num_perm
            ),
        }
    )
    pairs_ds = (
        ray.data.from_arrow(items)
        .map_batches(partial(_ray_band_rows, bands=bands, rows=rows), batch_format="numpy")
        .groupby(["band", "key"])
        .map_groups(_ray_bucket_pairs, batch_format="numpy")
    )
    got = [pa.concat_tables(ray.get(pairs_ds.to_arrow_refs()))] if items.num_rows else []
    if not got or got[0].num_rows == 0:
        return np.zeros((0, 2), np.int64)
    pairs = np.stack([got[0].column("a").to_numpy(), got[0].column("b").to_numpy()], axis=1)
    return lsh.unique_pairs(pairs)


def fingerprints(engine: Engine, path: Path, cfg: DedupConfig, seed: int) -> TextIndex:
    return (
        fingerprint_ray(path, cfg, seed)
        if engine is Engine.ray
        else fingerprint_local(path, cfg, seed)
    )


def candidates(engine: Engine, index: TextIndex, cfg: DedupConfig) -> np.ndarray:
    return candidates_ray(index, cfg) if engine is Engine.ray else near_candidates(index, cfg)


def select_rows(path: Path, rows: np.ndarray, batch_rows: int) -> pa.Table:
    """The full rows at positions ``rows`` of ``path``, read batch by batch (bounded memory)."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    pf = pq.ParquetFile(path)
    parts = []
    for offset, batch in _batches(pf, batch_rows, columns=None):
        lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
        if hi > lo:
            parts.append(pa.Table.from_batches([batch.take(pa.array(rows[lo:hi] - offset))]))
    schema = pf.schema_arrow
    return pa.concat_tables(parts).cast(schema) if parts else schema.empty_table()
