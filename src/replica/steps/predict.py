"""Score images with a trained detector: given pairs, or queries against a gallery (top-k).

Command: ``replica predict --model data/models/copy --pairs pairs.csv --output out/``
         ``replica predict --model models:/replica-copy-detector@champion --queries q/
         --gallery g/ --output out/ [--cache data/cache]``

Reads:  ``--model``: a model directory or a registered model (``models:/name@alias``,
        ``models:/name/version``); ``--pairs``: a table (CSV/Parquet with ``query`` and
        ``reference`` image paths) or a folder with ``query/`` and ``reference/`` whose files
        pair by name; or ``--queries`` (a folder, or a table with a ``path`` column) with
        ``--gallery`` (the same) for the ``predict.top_k`` best references of each query.
Writes: ``scores.parquet`` (contract scores: query, reference, rank, level, predicted = expected
        level / 5, pdf = the level distribution), ``_meta.json``.
Params: ``predict`` (batch_size, chunk, shortlist, top_k).
Env:    ``MLFLOW_TRACKING_URI`` for ``models:/`` URIs.

Reference features are cached by image sha256 and settings (``--cache``), so a gallery is
described once; the summary line gives milliseconds per pair.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from replica.config import Detector
from replica.contracts import SCORES
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, model_dir, run


def main(
    model: Annotated[str, typer.Option(help="Model directory or models:/name@alias.")],
    output: Annotated[Path, typer.Option(help="Directory to write scores.parquet into.")],
    pairs: Annotated[
        Path | None, typer.Option(help="Pairs table or folder (query/ + reference/).")
    ] = None,
    queries: Annotated[
        Path | None, typer.Option(help="Query images (folder or table), with --gallery.")
    ] = None,
    gallery: Annotated[
        Path | None, typer.Option(help="Reference images (folder or table) to search.")
    ] = None,
    family: Annotated[Detector, typer.Option(help="Detector family of the model.")] = Detector.copy,
    cache: Annotated[
        Path | None, typer.Option(help="Feature cache folder (default: memory only).")
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.cache import ArrayCache
        from replica.models.copy import CopyDetector
        from replica.scoring.features import Featurizer
        from replica.scoring.fuse import expected
        from replica.scoring.inputs import image_list, pair_list
        from replica.scoring.score import score_pairs, search

        if (pairs is None) == (queries is None) or (queries is None) != (gallery is None):
            raise StepError("give either --pairs, or --queries with --gallery")
        summary = StepSummary("predict")
        with tempfile.TemporaryDirectory() as scratch:
            try:
                detector = CopyDetector.load(model_dir(model, Path(scratch)))
            except (ValueError, KeyError) as exc:
                raise StepError(f"--model {model!r} is not a copy detector: {exc}") from exc
        store = ArrayCache(cache) if cache is not None else None
        fz = Featurizer(detector, store, cfg.predict.batch_size)
        started = time.perf_counter()
        try:
            if pairs is not None:
                q, r = pair_list(pairs)
                pdf = score_pairs(fz, q, r, cfg.predict.chunk)
                ranks = [1] * len(q)
            else:
                assert queries is not None and gallery is not None
                images, refs = image_list(queries), image_list(gallery)
                hits = search(fz, images, refs, cfg.predict.shortlist, cfg.predict.top_k)
                q = [images[h.query] for h in hits]
                r = [refs[h.reference] for h in hits]
                ranks = [h.rank for h in hits]
                import numpy as np

                pdf = np.stack([h.pdf for h in hits]) if hits else np.zeros((0, 6))
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        seconds = time.perf_counter() - started
        score = expected(pdf)
        rows = [
            {
                "query": str(qi.path),
                "reference": str(ri.path),
                "rank": rank,
                "level": int(p.argmax()),
                "predicted": float(s),
                "pdf": [float(x) for x in p],
            }
            for qi, ri, rank, p, s in zip(q, r, ranks, pdf, score, strict=True)
        ]
        summary.rows_in = len({str(x.path) for x in q})
        with atomic_dir(output) as out:
            SCORES.write(rows, out)
            summary.rows_out = len(rows)
            summary.outputs = {"scores": len(rows), "images_decoded": fz.decoded}
            ms = 1000 * seconds / max(len(rows), 1)
            typer.echo(f"[predict] {len(rows)} pairs scored, {ms:.1f} ms/pair")
            ran_with = cfg.sections("predict")
            write_sidecar(
                out, summary.finish(), {"scores": SCORES.ref}, cfg.digest(*ran_with), ran_with
            )
        return summary

    run("predict", body)
