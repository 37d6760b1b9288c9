"""Engines that run text dedup over a table: where rows come from, and on how many processes.

A ``TextTable`` is any table with an id column and a text column (optionally a date, a URL and
a source column): the ``articles`` Parquet file of the pipeline, or a user's own Parquet, JSONL
or CSV file. It is read in batches of ``batch_rows`` with its columns renamed to the standard
``id, text, published, url, source``.

``local`` runs the passes (learning boilerplate lines, fingerprints) in this process for tables
below ``pool_min_rows`` rows, and in a process pool (``workers``, at most two batches in flight
per worker) above it, where starting workers pays for itself. ``ray`` runs fingerprints and
LSH buckets as Ray Data stages, so they scale out; both feed the same verification, second
pass, story split and keep rule, hence identical clusters.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from replica.config import DedupConfig
from replica.contracts import ContractError
from replica.dedup import lsh
from replica.dedup.boilerplate import Learned, LineCounts
from replica.dedup.clusters import Clusters
from replica.dedup.lsh import cpu_count
from replica.dedup.semantic import Semantic, load_encoder
from replica.dedup.tables import (
    Removals,
    TextIndex,
    cluster_texts,
    fingerprint_batch,
    first_copies,
    near_candidates,
    sentence_candidates,
    source_key_column,
)
from replica.dedup.text import clean_texts

STANDARD = ("id", "text", "published", "url", "source")


class Engine(StrEnum):
    local = "local"
    ray = "ray"


class InputError(ContractError):
    """The input table breaks a rule (a missing column, an unreadable file); says which."""


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the id, the text and, when present, date, URL and source."""

    id: str
    text: str
    published: str | None = None
    url: str | None = None
    source: str | None = None

    def read(self) -> list[str]:
        return [c for c in (self.id, self.text, self.published, self.url, self.source) if c]


ARTICLE_COLUMNS = Columns("article_id", "text", "published", "url")


def standard_batch(batch: pa.RecordBatch, cols: Columns) -> pa.RecordBatch:
    """The batch with standard column names and types (absent columns are nulls)."""
    n = batch.num_rows

    def col(name: str | None, binary_ok: bool = False) -> pa.Array:
        if name is None:
            return pa.nulls(n, pa.string())
        arr = batch.column(name)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
            return arr.view(pa.string() if pa.types.is_binary(arr.type) else pa.large_string())
        return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())

    return pa.record_batch(
        [col(cols.id), col(cols.text), col(cols.published), col(cols.url), col(cols.source)],
        names=list(STANDARD),
    )


class TextTable:
    """A table of texts read in batches; Parquet is streamed, JSONL and CSV are read whole."""

    def __init__(
        self,
        path: Path | None,
        cols: Columns,
        table: pa.Table | None = None,
        spill: tuple[tuple[Path, int], ...] = (),
    ) -> None:
        self.path, self.cols = path, cols
        self._table = table
        self.spill = spill  # (Arrow IPC file, rows) per row group: the standard columns
        if table is None:
            assert path is not None
            self._pf: pq.ParquetFile | None = pq.ParquetFile(path)
            names = self._pf.schema_arrow.names
        else:
            self._pf = None
            names = table.column_names
        missing = [c for c in cols.read() if c not in names]
        if missing:
            where = str(path) if path else "the table"
            raise InputError(f"{where} has no column {missing} (columns: {names})")

    @staticmethod
    def open(path: Path, cols: Columns) -> TextTable:
        """Parquet, JSON lines (``.jsonl``/``.ndjson``/``.json``) or CSV, by file suffix."""
        suffix = (
            "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
        )
        if suffix.startswith(".parquet") or suffix == ".pq":
            return TextTable(path, cols)
        try:
            if suffix.startswith((".jsonl", ".ndjson", ".json")):
                import pyarrow.json as pj

                return TextTable(path, cols, pj.read_json(path))
            if suffix.startswith((".csv", ".tsv")):
                import pyarrow.csv as pcsv

                opts = pcsv.ConvertOptions(
                    column_types={cols.text: pa.binary(), cols.id: pa.string()}
                )
                parse = pcsv.ParseOptions(delimiter="\t" if suffix.startswith(".tsv") else ",")
                return TextTable(
                    path, cols, pcsv.read_csv(path, parse_options=parse, convert_options=opts)
                )
        except pa.ArrowInvalid as e:
            raise InputError(f"{str(path)!r} cannot be read as {suffix[1:]}: {e}") from None
        raise InputError(f"{str(path)!r}: unknown format {suffix!r} (parquet, jsonl or csv)")

    @property
    def num_rows(self) -> int:
        return self._pf.metadata.num_rows if self._pf is not None else self._table.num_rows  # type: ignore[union-attr]

    def spilled(self, spill: tuple[tuple[Path, int], ...]) -> TextTable:
        """This Parquet table read from ``spill`` instead: its row groups' standard columns
        written uncompressed by the first pass, so later passes map them instead of decoding
        Parquet again."""
        return TextTable(self.path, self.cols, spill=spill)

    def batches(
        self, batch_rows: int, standard: bool = True
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        """``(offset of its first row, batch)`` for every batch."""
        offset = 0
        if self.spill and standard:
            for g in range(len(self.spill)):
                yield from self.group_batches(g, batch_rows)
            return
        if self._pf is not None:
            it = self._pf.iter_batches(  # Arrow's threads cost more than they give here
                batch_size=batch_rows,
                columns=self.cols.read() if standard else None,
                use_threads=False,
            )
        else:
            assert self._table is not None
            it = iter(self._table.to_batches(max_chunksize=batch_rows))
        for batch in it:
            yield offset, standard_batch(batch, self.cols) if standard else batch
            offset += batch.num_rows

    @property
    def row_groups(self) -> int:
        """Row groups of a Parquet table (0 for a table read whole)."""
        return self._pf.num_row_groups if self._pf is not None else 0

    def group_rows(self) -> list[int]:
        """Rows of every row group."""
        if self.spill:
            return [n for _, n in self.spill]
        assert self._pf is not None
        return [self._pf.metadata.row_group(g).num_rows for g in range(self.row_groups)]

    def group_batches(self, group: int, batch_rows: int) -> Iterator[tuple[int, pa.RecordBatch]]:
        """``(offset, standard batch)`` for the batches of one Parquet row group."""
        offset = sum(self.group_rows()[:group])
        if self.spill:
            for batch in _read_spill(self.spill[group][0]).to_batches(max_chunksize=batch_rows):
                yield offset, batch
                offset += batch.num_rows
            return
        assert self._pf is not None
        for batch in self._pf.iter_batches(
            batch_size=batch_rows, row_groups=[group], columns=self.cols.read(), use_threads=False
        ):
            yield offset, standard_batch(batch, self.cols)
            offset += batch.num_rows

    def take(
        self,
        rows: np.ndarray,
        batch_rows: int,
        standard: bool = True,
        pool: ProcessPoolExecutor | None = None,
    ) -> pa.Table:
        """The rows at positions ``rows`` (any order), read batch by batch (bounded memory);
        with ``pool``, the row groups holding them are read by its workers, in parallel."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        parts = []
        if self.spill and standard:  # mapped files: taking rows costs next to nothing
            bounds = np.cumsum([0, *self.group_rows()])
            cut = np.searchsorted(srt, bounds)
            parts = [
                _read_spill(self.spill[g][0]).take(pa.array(srt[lo:hi] - bounds[g]))
                for g, (lo, hi) in enumerate(pairwise(cut.tolist()))
                if hi > lo
            ]
        elif pool is not None and self._pf is not None and self.path is not None:
            bounds = np.cumsum([0, *self.group_rows()])
            cut = np.searchsorted(srt, bounds)
            jobs = [
                pool.submit(_take_group, self.path, self.cols, g, srt[lo:hi] - bounds[g], standard)
                for g, (lo, hi) in enumerate(pairwise(cut.tolist()))
                if hi > lo
            ]
            parts = [pa.Table.from_batches([f.result()]) for f in jobs]
        else:
            for offset, batch in self.batches(batch_rows, standard):
                lo, hi = np.searchsorted(srt, [offset, offset + batch.num_rows])
                if hi > lo:
                    parts.append(pa.Table.from_batches([batch.take(pa.array(srt[lo:hi] - offset))]))
        if not parts:
            schema = self._pf.schema_arrow if self._pf is not None and not standard else None
            return schema.empty_table() if schema is not None else pa.table({})
        out = pa.concat_tables(parts)
        back = np.empty(len(order), dtype=np.int64)
        back[order] = np.arange(len(order))
        return out.take(pa.array(back))


def _read_spill(path: Path) -> pa.Table:
    """A spilled row group, memory-mapped (no copy, no decoding; the map lives as long as the
    table's buffers)."""
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def _write_spill(path: Path, batches: list[pa.RecordBatch]) -> None:
    """Write a row group's standard batches to ``path`` (to a temporary name first, so a
    half-written file is never read)."""
    tmp = path.with_suffix(".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, batches[0].schema) as writer:
        for b in batches:
            writer.write_batch(b)
    tmp.rename(path)


def _take_group(
    path: Path, cols: Columns, group: int, rows: np.ndarray, standard: bool
) -> pa.RecordBatch:
    """A worker's task: the rows at positions ``rows`` of one Parquet row group."""
    pf = pq.ParquetFile(path)
    got = pf.read_row_group(group, columns=cols.read() if standard else None)
    batch = got.take(pa.array(rows)).combine_chunks().to_batches()[0]
    return standard_batch(batch, cols) if standard else batch


def workers_for(cfg: DedupConfig) -> int:
    return cfg.workers if cfg.workers > 0 else cpu_count()


def uses_pool(cfg: DedupConfig, n_rows: int) -> bool:
    """A process pool only pays above ``pool_min_rows`` rows (and with two or more workers)."""
    return workers_for(cfg) > 1 and n_rows >= cfg.pool_min_rows


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)
_KEEP_FREED = 1 << 30


def reuse_freed_memory() -> bool:
    """Have the C library keep freed blocks of up to 1 GiB in the heap for the next batch
    instead of returning them to the kernel. A batch allocates some hundred MB of arrays, and
    pages fresh from the kernel (faulted in and zeroed one by one) cost ten times the work of
    filling them: 64 MB took 30 ms fresh and 2.5 ms reused here. False where the C library
    has no ``mallopt`` (not glibc), which changes nothing but speed."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_FREED) and mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED))


def open_pool(cfg: DedupConfig, table: TextTable) -> contextlib.AbstractContextManager[Any]:
    """The process pool the passes share, or None where one process is enough; its workers
    and this process reuse freed memory (``reuse_freed_memory``)."""
    if not uses_pool(cfg, table.num_rows):
        return contextlib.nullcontext(None)
    reuse_freed_memory()
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["replica.dedup.tables"])  # workers start with numpy imported
    return ProcessPoolExecutor(workers_for(cfg), mp_context=ctx, initializer=reuse_freed_memory)


def _map(
    fn: Any,
    table: TextTable,
    cfg: DedupConfig,
    rows: int,
    pool: ProcessPoolExecutor | None,
    spill_to: Path | None = None,
) -> Iterator[Any]:
    """``fn(offset, batch)`` over every batch, in order: in this process, or in ``pool``.
    Workers read whole Parquet row groups themselves (no text crosses a pipe) when there are
    enough of them, and with ``spill_to`` also write each group's standard columns there
    (``<group>.arrow``; see ``spilled``); otherwise batches are sent to them."""
    if pool is None:
        for off, b in table.batches(rows):
            yield fn(off, b)
        return
    workers = workers_for(cfg)
    pending: list[Future[Any]] = []
    groups = len(table.spill) or table.row_groups
    if groups >= 2 * workers and table.path is not None:
        for g in range(groups):
            to = spill_to / f"{g}.arrow" if spill_to is not None else None
            pending.append(
                pool.submit(_run_group, table.path, table.cols, table.spill, g, rows, fn, to)
            )
            while len(pending) >= 2 * workers:  # bounded memory: wait for the oldest group
                yield from pending.pop(0).result()
        for f in pending:
            yield from f.result()
        return
    for off, b in table.batches(rows):
        pending.append(pool.submit(fn, off, b))
        while len(pending) >= 2 * workers:  # bounded memory: wait for the oldest batch
            yield pending.pop(0).result()
    for f in pending:
        yield f.result()


def _run_group(
    path: Path,
    cols: Columns,
    spill: tuple[tuple[Path, int], ...],
    group: int,
    rows: int,
    fn: Any,
    spill_to: Path | None = None,
) -> list[Any]:
    """A worker's task: every batch of one row group (written to ``spill_to`` too)."""
    table = TextTable(path, cols, spill=spill)
    batches = list(table.group_batches(group, rows))
    if spill_to is not None and batches:
        _write_spill(spill_to, [b for _, b in batches])
    return [fn(off, b) for off, b in batches]


def _batch_rows(table: TextTable, cfg: DedupConfig) -> int:
    # at least four batches per worker keeps every core busy to the end
    if not uses_pool(cfg, table.num_rows):
        return cfg.batch_rows
    return max(256, min(cfg.batch_rows, -(-table.num_rows // (4 * workers_for(cfg)))))


def _lines_of(off: int, batch: pa.RecordBatch) -> LineCounts:
    counts = LineCounts()
    counts.add(batch.column("text"), source_key_column(batch))
    return counts


def learn_boilerplate(
    table: TextTable,
    cfg: DedupConfig,
    pool: ProcessPoolExecutor | None = None,
    spill_to: Path | None = None,
) -> tuple[Learned | None, TextTable]:
    """Lines each source repeats across its pages (``boilerplate_min_pages`` 0 turns it off),
    and the table the next passes read: with ``spill_to``, where the pool's workers read a
    Parquet file's row groups, the uncompressed copy they wrote there. Only the counts come
    back from the workers; the fingerprint pass hashes lines again and looks them up in the
    (small) learned set, which is cheaper than shipping every line's key to the driver and
    its flag back."""
    if cfg.boilerplate_min_pages <= 0:
        return None, table
    counts = LineCounts()
    for part in _map(_lines_of, table, cfg, _batch_rows(table, cfg), pool, spill_to):
        counts.merge(part)
    learned = counts.learn(
        cfg.boilerplate_min_pages, cfg.boilerplate_min_share, cfg.boilerplate_min_stories
    )
    if spill_to is None or not table.row_groups:
        return learned, table
    files = [(spill_to / f"{g}.arrow", n) for g, n in enumerate(table.group_rows())]
    if not all(f.exists() or n == 0 for f, n in files):  # the batches went to the workers
        return learned, table
    return learned, table.spilled(tuple((f, n) for f, n in files if n))


def fingerprint_local(
    table: TextTable,
    cfg: DedupConfig,
    seed: int,
    learned: Learned | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> TextIndex:
    """Fingerprint every row (in ``pool`` when given), dropping ``learned`` lines."""
    fn = partial(_fingerprint, cfg=cfg, seed=seed, learned=learned)
    return TextIndex.concat(list(_map(fn, table, cfg, _batch_rows(table, cfg), pool)), cfg.num_perm)


def _fingerprint(
    off: int, batch: pa.RecordBatch, *, cfg: DedupConfig, seed: int, learned: Learned | None
) -> TextIndex:
    return fingerprint_batch(batch, off, cfg, seed, learned)


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


def _ray_fingerprints(
    batch: pa.Table, cfg: DedupConfig, seed: int, cols: Columns, learned: Learned | None
) -> pa.Table:
    rb = pa.RecordBatch.from_struct_array(batch.combine_chunks().to_struct_array().combine_chunks())
    part = fingerprint_batch(standard_batch(rb, cols), 0, cfg, seed, learned)
    n, r = len(part.article_id), len(part.rejects)
    return pa.table(
        {
            "article_id": pa.array(part.article_id + [None] * r, pa.string()),
            "published": pa.array(part.published + [None] * r, pa.string()),
            "length": pa.array(np.concatenate([part.length, np.zeros(r, np.int64)])),
            "exact": pa.array(np.concatenate([part.exact, np.zeros(r, np.uint64)])),
            "n_words": pa.array(np.concatenate([part.n_words, np.zeros(r, np.int64)])),
            "boilerplate": pa.array(np.concatenate([part.boilerplate, np.zeros(r, np.float32)])),
            "source": pa.array(np.concatenate([part.source, np.zeros(r, np.uint64)])),
            "sentences": _sentence_lists(part, r),
            "signature": pa.FixedSizeListArray.from_arrays(
                pa.array(
                    np.concatenate([part.signature.ravel(), np.zeros(r * cfg.num_perm, np.uint32)])
                ),
                cfg.num_perm,
            ),
            "reject": pa.array([None] * n + part.rejects, _REJECT),
        }
    )


def _sentence_lists(part: TextIndex, n_rejects: int) -> pa.Array:
    """The sentence keys of each row as a list column (empty lists for the rejects)."""
    order = np.argsort(part.sentence_pos, kind="stable")
    bounds = np.searchsorted(part.sentence_pos[order], np.arange(len(part) + 1))
    offsets = np.concatenate([bounds, np.full(n_rejects, bounds[-1])])
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(part.sentence_key[order])
    )


def fingerprint_ray(
    table: TextTable, cfg: DedupConfig, seed: int, learned: Learned | None = None
) -> TextIndex:
    """Signatures as a Ray Data ``map_batches`` over the Parquet file (read by Ray)."""
    import ray

    if table.path is None or table._pf is None:
        raise InputError("--engine ray reads Parquet files only")
    ray_init(workers_for(cfg))
    ids = pq.read_table(table.path, columns=[table.cols.id]).column(0).cast(pa.string())
    row_of = {a: i for i, a in enumerate(ids.to_pylist()) if a is not None}
    ds = ray.data.read_parquet(str(table.path), columns=table.cols.read()).map_batches(
        partial(
            _ray_fingerprints,
            cfg=cfg,
            seed=seed,
            cols=table.cols,
            learned=learned,
        ),
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
    rejects.sort(key=lambda r: row_of.get(r["record_id"], -1))
    sentences = good.column("sentences").combine_chunks()
    lengths = np.asarray(sentences.value_lengths().fill_null(0))
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
        n_words=good.column("n_words").to_numpy(),
        boilerplate=good.column("boilerplate").to_numpy().astype(np.float32),
        source=good.column("source").to_numpy().astype(np.uint64),
        sentence_key=np.asarray(sentences.flatten()).astype(np.uint64),
        sentence_pos=np.repeat(np.arange(good.num_rows, dtype=np.int64), lengths),
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
        cfg.band_threshold, cfg.num_perm, cfg.lsh_fp_weight, cfg.lsh_fn_weight
    )
    first = first_copies(index.exact)
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
        return lsh.unique_pairs(sentence_candidates(index, first))
    pairs = np.stack([got[0].column("a").to_numpy(), got[0].column("b").to_numpy()], axis=1)
    return lsh.unique_pairs(np.concatenate([pairs, sentence_candidates(index, first)]))


def fingerprints(
    engine: Engine,
    table: TextTable,
    cfg: DedupConfig,
    seed: int,
    learned: Learned | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> TextIndex:
    if engine is Engine.ray:
        return fingerprint_ray(table, cfg, seed, learned)
    return fingerprint_local(table, cfg, seed, learned, pool)


def candidates(engine: Engine, index: TextIndex, cfg: DedupConfig) -> np.ndarray:
    return candidates_ray(index, cfg) if engine is Engine.ray else near_candidates(index, cfg)


def drop_duplicate_ids(index: TextIndex) -> TextIndex:
    """Rows whose id an earlier row already has become ``duplicate_id`` rejects."""
    if len(set(index.article_id)) == len(index):  # the usual case, checked at C speed
        return index
    seen: dict[str, int] = {}
    dup: list[int] = []
    for i, a in enumerate(index.article_id):
        if a in seen:
            dup.append(i)
        else:
            seen[a] = i
    if not dup:
        return index
    keep = np.ones(len(index), dtype=bool)
    keep[dup] = False
    rejects = list(index.rejects)
    for i in dup:
        a = index.article_id[i]
        first = int(index.row[seen[a]])
        rejects.append(
            {
                "record_id": a,
                "url": None,
                "reason": "duplicate_id",
                "detail": f"row {int(index.row[i])} repeats the id of row {first}",
            }
        )
    return index.take(np.flatnonzero(keep), rejects)


def semantic_for(cfg: DedupConfig) -> Semantic:
    """The second pass's embedder (loaded on first use) with its budget of texts."""
    if not cfg.semantic_model:
        return Semantic(None, 0)
    return Semantic(
        partial(
            load_encoder,
            cfg.semantic_model,
            cfg.semantic_max_tokens,
            cfg.semantic_batch,
            bf16=cfg.semantic_bf16,
        ),
        cfg.semantic_max_texts,
    )


@dataclass
class TextResult:
    index: TextIndex
    clusters: Clusters
    removals: Removals
    stats: dict[str, float] = field(default_factory=dict)


def dedup_texts(
    engine: Engine,
    table: TextTable,
    cfg: DedupConfig,
    seed: int,
    semantic: Semantic | None = None,
) -> TextResult:
    """The whole text path: learned boilerplate → fingerprints → candidates → two passes →
    stories → clusters and the keep rule."""
    import time

    t0 = time.perf_counter()
    # the pool stays open for the second pass, whose texts its workers read; a Parquet file
    # read by the pool is spilled uncompressed by the first pass to a temporary directory
    # (under TMPDIR, removed at the end) that the later passes map
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(
            open_pool(cfg, table) if engine is Engine.local else contextlib.nullcontext()
        )
        spill = (
            stack.enter_context(tempfile.TemporaryDirectory(prefix="replica-dedup-"))
            if pool is not None and table.row_groups
            else None
        )
        sem = semantic if semantic is not None else semantic_for(cfg)
        if uses_pool(cfg, table.num_rows):  # tables this size nearly always have band pairs:
            sem.preload(process=True)  # the model loads beside the passes (either engine)
            stack.callback(sem.close)
        learned, table = learn_boilerplate(table, cfg, pool, Path(spill) if spill else None)
        t_lines = time.perf_counter()
        fps = fingerprints(engine, table, cfg, seed, learned, pool)
        index = drop_duplicate_ids(fps)
        t1 = time.perf_counter()
        cands = candidates(engine, index, cfg)
        t2 = time.perf_counter()

        def texts(pos: np.ndarray) -> list[str]:
            rows = table.take(index.row[pos], cfg.batch_rows, pool=pool)
            batch = rows.combine_chunks().to_batches()[0] if rows.num_rows else None
            if batch is None:
                return []
            keys = source_key_column(batch)
            drop = learned.flags(batch.column("text"), keys) if learned else None
            return clean_texts(batch.column("text"), drop)

        clusters, removals, stats = cluster_texts(index, cfg, cands, sem, texts)
    stats = {
        **stats,
        "learned_boilerplate_lines": float(len(learned.keys)) if learned else 0.0,
        "fingerprint_seconds": t1 - t0,
        "boilerplate_seconds": t_lines - t0,
        "cluster_seconds": time.perf_counter() - t1,
        "candidate_seconds": t2 - t1,
        "pool": float(uses_pool(cfg, table.num_rows)),
        "spilled_row_groups": float(len(table.spill)),
    }
    return TextResult(index, clusters, removals, stats)
