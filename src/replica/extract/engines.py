"""Where ``analyse`` runs: a local process pool, or a Ray cluster (Ray Data over WARC files).

Both engines read records in file order, analyse them in parallel, and hand the results back
*in record order* to ``combine``, so their outputs are identical. The local pool
(``extract.pool``) enforces ``extract.max_seconds_per_record`` by killing the worker; Ray tasks
analyse chunks with the byte limits but no time limit (Ray cannot stop one task of a chunk).

Ray: ``ray.init()`` connects to ``RAY_ADDRESS`` when it is set (a KubeRay cluster's head, e.g.
``ray://raycluster-head-svc:10001``), else starts a local instance. The WARC paths must be
readable from the workers (a shared volume mounted at the same path).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from replica.config import ExtractConfig
from replica.extract.pool import RecordPool
from replica.extract.records import WebRecord, read_warc, read_warcs
from replica.extract.run import ExtractResult, analyse_many, analyse_safely, combine

CHUNK = 16  # records per Ray task: large enough to amortise pickling, small enough to balance


def run_local(paths: list[Path], cfg: ExtractConfig) -> ExtractResult:
    """Analyse on ``cfg.workers`` processes (0 = all cores) and combine. With one worker and
    no time limit (``max_seconds_per_record: 0``) it runs in this process."""
    workers = cfg.workers or os.cpu_count() or 1
    records = read_warcs(paths, cfg)
    if workers == 1 and not cfg.max_seconds_per_record:
        return combine((analyse_safely(r, cfg) for r in records), cfg)
    with RecordPool(workers, cfg) as pool:
        return combine(pool.map(records), cfg)


def _chunks(records: Iterator[WebRecord]) -> Iterator[list[WebRecord]]:
    while chunk := list(islice(records, CHUNK)):
        yield chunk


def run_ray(paths: list[Path], cfg: ExtractConfig) -> ExtractResult:
    """Ray Data: WARC files → record chunks → analysed chunks, order preserved, then combine."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ds = ray.data.from_items([{"path": str(p)} for p in paths])
    blocks = 2 * int(ray.cluster_resources().get("CPU", 1))
    chunks = ds.flat_map(lambda row: _read_chunks(row, cfg)).repartition(max(1, blocks))
    analysed = chunks.map(
        lambda row: {"parts": pickle.dumps(analyse_many(pickle.loads(row["chunk"]), cfg))}
    )
    return combine((a for row in analysed.iter_rows() for a in pickle.loads(row["parts"])), cfg)


def _read_chunks(row: dict[str, Any], cfg: ExtractConfig) -> Iterator[dict[str, bytes]]:
    for chunk in _chunks(read_warc(Path(row["path"]), cfg)):
        yield {"chunk": pickle.dumps(chunk)}
