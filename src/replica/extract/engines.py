"""Where ``analyse`` runs: a local process pool, or a Ray cluster (Ray Data over WARC files).

Both engines read records in file order, analyse them in chunks in parallel, and hand the
results back *in record order* to ``combine``, so their outputs are identical.

Ray: ``ray.init()`` connects to ``RAY_ADDRESS`` when it is set (a KubeRay cluster's head, e.g.
``ray://raycluster-head-svc:10001``), else starts a local instance. The WARC paths must be
readable from the workers (a shared volume mounted at the same path).
"""

from __future__ import annotations

import os
import pickle
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from replica.config import ExtractConfig
from replica.extract.records import WebRecord, read_warc, read_warcs
from replica.extract.run import Analysed, ExtractResult, analyse_many, combine

CHUNK = 16  # records per task: large enough to amortise pickling, small enough to balance


def run_local(paths: list[Path], cfg: ExtractConfig) -> ExtractResult:
    """Analyse on ``cfg.workers`` processes (0 = all cores; 1 = this process) and combine."""
    workers = cfg.workers or os.cpu_count() or 1
    if workers == 1:
        return combine((a for c in _chunks(read_warcs(paths)) for a in analyse_many(c, cfg)), cfg)
    with ProcessPoolExecutor(workers) as pool:
        return combine(_ordered(pool, _chunks(read_warcs(paths)), cfg, 4 * workers), cfg)


def _chunks(records: Iterator[WebRecord]) -> Iterator[list[WebRecord]]:
    while chunk := list(islice(records, CHUNK)):
        yield chunk


def _ordered(
    pool: ProcessPoolExecutor, chunks: Iterator[list[WebRecord]], cfg: ExtractConfig, window: int
) -> Iterator[Analysed]:
    """Results in submission order, at most ``window`` chunks in flight (bounded memory)."""
    pending: deque[Future[list[Analysed]]] = deque()
    for chunk in chunks:
        pending.append(pool.submit(analyse_many, chunk, cfg))
        if len(pending) >= window:
            yield from pending.popleft().result()
    while pending:
        yield from pending.popleft().result()


def run_ray(paths: list[Path], cfg: ExtractConfig) -> ExtractResult:
    """Ray Data: WARC files → record chunks → analysed chunks, order preserved, then combine."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ds = ray.data.from_items([{"path": str(p)} for p in paths])
    blocks = 2 * int(ray.cluster_resources().get("CPU", 1))
    chunks = ds.flat_map(_read_chunks).repartition(max(1, blocks))
    analysed = chunks.map(
        lambda row: {"parts": pickle.dumps(analyse_many(pickle.loads(row["chunk"]), cfg))}
    )
    return combine((a for row in analysed.iter_rows() for a in pickle.loads(row["parts"])), cfg)


def _read_chunks(row: dict[str, Any]) -> Iterator[dict[str, bytes]]:
    for chunk in _chunks(read_warc(Path(row["path"]))):
        yield {"chunk": pickle.dumps(chunk)}
