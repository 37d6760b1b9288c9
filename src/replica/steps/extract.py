"""Extract articles and their images from the crawl's WARC files.

Command: ``replica extract --input data/crawl --output data/extract``

Reads:  every ``*.warc.gz`` / ``*.warc`` in ``--input`` (response and resource records).
Writes: ``--output``/``articles.parquet`` (ARTICLES), ``images.parquet`` (IMAGES: one row per
        image in an article), ``blobs/<sha[:2]>/<sha256>.<ext>`` (image bytes, content-addressed),
        ``rejects.parquet`` (REJECTS, stage ``extract``; this step's own rejects only),
        ``_meta.json``.
Params: ``extract`` (min_text_chars, min_image_side, max_image_aspect, max_image_pixels,
        max_image_bytes, max_record_bytes, max_decode_ratio, max_html_bytes,
        max_seconds_per_record, max_url_chars, include_tables, favor_precision, workers).
Engine: ``--engine local`` (default: a process pool of ``extract.workers`` processes, 0 = all
        cores; a record analysed longer than ``max_seconds_per_record`` has its worker killed
        and is a ``record_timeout`` reject; workers die with the main process) or ``--engine
        ray`` (Ray Data over the WARC files; ``ray.init()`` joins the cluster named by
        ``RAY_ADDRESS``, e.g. a KubeRay head ``ray://<head-svc>:10001``, else starts Ray
        locally; workers need the input at the same path; no per-record time limit). Outputs
        are identical.

Records are read as crawl reads them: truncated (``truncated_record``), unreadable
(``warc_unreadable``), over-long (``too_large``) and unsafe-URL records are counted rejects,
bodies are decoded within ``max_record_bytes`` / ``max_decode_ratio`` (``decompression_bomb``),
and pages over ``max_html_bytes`` are ``html_too_large``.

Images come only from image records captured in the same crawl, and only for accepted
articles; an image a page shows but the crawl did not capture is an ``image_not_captured``
reject.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import ARTICLES, IMAGES, REJECTS
from replica.io import SIDECAR, StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


class Engine(StrEnum):
    local = "local"
    ray = "ray"


def main(
    input: Annotated[Path, typer.Option(help="Crawl output directory holding WARC files.")],
    output: Annotated[Path, typer.Option(help="Output directory for tables and image blobs.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
    engine: Annotated[Engine, typer.Option(help="Where extraction runs.")] = Engine.local,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.crawl.run import STATE_FILE
        from replica.extract.engines import run_local, run_ray

        summary = StepSummary("extract")
        warcs = sorted(p for p in Path(input).glob("*.warc*") if p.suffix in (".gz", ".warc"))
        if not warcs:
            raise StepError(f"no WARC files (*.warc, *.warc.gz) in {str(input)!r}")
        if (Path(input) / STATE_FILE).exists() and not (Path(input) / SIDECAR).exists():
            raise StepError(f"{str(input)!r} is an unfinished crawl (no {SIDECAR}); rerun crawl")
        run_engine = run_ray if engine is Engine.ray else run_local
        result = run_engine(warcs, cfg.extract)
        with atomic_dir(output) as tmp:
            for uri, data in result.blobs.items():
                (tmp / uri).parent.mkdir(parents=True, exist_ok=True)
                (tmp / uri).write_bytes(data)
            ARTICLES.write(result.articles, tmp)
            IMAGES.write(result.images, tmp)
            REJECTS.write(result.rejects, tmp)
            summary.rows_in, summary.rows_out = result.rows_in, len(result.articles)
            summary.rejects.update(r["reason"] for r in result.rejects)
            summary.outputs = {
                "articles": len(result.articles),
                "images": len(result.images),
                "blobs": len(result.blobs),
                "image_records": result.image_records,
            }
            contracts = {c.name: c.ref for c in (ARTICLES, IMAGES, REJECTS)}
            write_sidecar(tmp, summary.finish(), contracts, cfg.digest("extract"))
        return summary

    run("extract", body)
