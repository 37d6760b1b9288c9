"""Score images with a trained detector: the copy family on pairs, or queries against a
gallery (top-k); the synthetic family on single images (generated or real?).

Command: ``replica predict --model data/models/copy --pairs pairs.csv --output out/``
         ``replica predict --model models:/replica-copy-detector@champion --queries q/
         --gallery g/ --output out/ [--cache data/cache]``
         ``replica predict --family synthetic --model models:/replica-synthetic-detector@champion
         --images imgs/ --output out/ [--cache data/cache]``

Reads:  ``--model``: a model directory or a registered model (``models:/name@alias``,
        ``models:/name/version``); ``--pairs``: a table (CSV/Parquet with ``query`` and
        ``reference`` image paths) or a folder with ``query/`` and ``reference/`` whose files
        pair by name; or ``--queries`` (a folder, or a table with a ``path`` column) with
        ``--gallery`` (the same) for the ``predict.top_k`` best references of each query.
        ``--family synthetic`` reads ``--images`` (a folder, or a table with a ``path`` and an
        optional ``caption`` column).
Writes: copy: ``scores.parquet`` (contract scores: query, reference, rank, level, predicted =
        expected level / 5, pdf = the level distribution); synthetic:
        ``synthetic_scores.parquet`` (contract synthetic_scores: path, sha256, calibrated
        probability of "generated", the decision at the model's threshold, model id) and
        ``rejects.parquet`` (unreadable, undecodable, too_large, too_small); ``_meta.json``.
Params: ``predict`` (batch_size, chunk, shortlist, top_k), ``fakes.max_image_pixels``.
Env:    ``MLFLOW_TRACKING_URI`` for ``models:/`` URIs.

Copy: reference features are cached by image sha256 and settings (``--cache``), so a gallery is
described once; the summary line gives milliseconds per pair. Synthetic: every image goes
through the training data's re-encoding (format parity) before it is scored; a FakeInversion
model inverts images with the Stable Diffusion model and settings it was trained on, cached by
image and model id (``--cache``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from replica.config import Detector, Params
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
    images: Annotated[
        Path | None, typer.Option(help="Images to score (synthetic family): folder or table.")
    ] = None,
    family: Annotated[Detector, typer.Option(help="Detector family of the model.")] = Detector.copy,
    cache: Annotated[
        Path | None, typer.Option(help="Feature cache folder (default: memory only).")
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)
    if family is Detector.synthetic:
        given = [n for n, v in (("--pairs", pairs), ("--queries", queries),
                                ("--gallery", gallery)) if v is not None]  # fmt: skip
        run("predict", lambda: _predict_synthetic(cfg, model, images, output, cache, given))
        return

    def body() -> StepSummary:
        from replica.cache import ArrayCache
        from replica.models.copy import CopyDetector
        from replica.scoring.features import Featurizer
        from replica.scoring.fuse import expected
        from replica.scoring.inputs import image_list, pair_list
        from replica.scoring.score import score_pairs, search

        if (pairs is None) == (queries is None) or (queries is None) != (gallery is None):
            raise StepError("give either --pairs, or --queries with --gallery")
        if images is not None:
            raise StepError("--images is for --family synthetic; the copy family scores pairs")
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
                asked, refs = image_list(queries), image_list(gallery)
                hits = search(fz, asked, refs, cfg.predict.shortlist, cfg.predict.top_k)
                q = [asked[h.query] for h in hits]
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


def _predict_synthetic(
    cfg: Params,
    model: str,
    images: Path | None,
    output: Path,
    cache: Path | None,
    copy_inputs: list[str],
) -> StepSummary:
    """Calibrated P(generated) and the decision for every image of ``images``."""
    from tqdm import tqdm

    from replica.cache import model_fingerprint
    from replica.contracts import REJECTS, SYNTHETIC_SCORES
    from replica.scoring.inputs import image_list
    from replica.scoring.synthetic import score_images
    from replica.train.synthetic import SyntheticScorer

    if images is None or copy_inputs:
        raise StepError(
            "--family synthetic scores --images (a folder or a table of paths)"
            + (f", not {' / '.join(copy_inputs)}" if copy_inputs else "")
        )
    summary = StepSummary("predict")
    try:
        refs = image_list(images)
    except ValueError as exc:
        raise StepError(str(exc)) from exc
    summary.rows_in = len(refs)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        local = model_dir(model, Path(scratch))
        try:
            scorer = SyntheticScorer(local, cache, cfg.predict.batch_size)
        except ValueError as exc:
            raise StepError(f"--model {model!r} is not a synthetic detector: {exc}") from exc
        model_id = f"{model}@{model_fingerprint(str(local)).rsplit('@', 1)[-1]}"
        with tqdm(total=len(refs), desc="predict", disable=None) as bar:
            scored = score_images(scorer, refs, model_id, cfg.predict.chunk,
                                  cfg.fakes.max_image_pixels, bar.update)  # fmt: skip
    seconds = time.perf_counter() - started
    with atomic_dir(output) as out:
        SYNTHETIC_SCORES.write(scored.rows, out)
        REJECTS.write(scored.rejects, out)
        summary.rows_out = len(scored.rows)
        for r in scored.rejects:
            summary.rejects[r["reason"]] += 1
        flagged = sum(r["generated"] for r in scored.rows)
        summary.outputs = {"synthetic_scores": len(scored.rows), "generated": flagged}
        ms = 1000 * seconds / max(len(refs), 1)
        typer.echo(f"[predict] {len(scored.rows)} images scored ({flagged} generated at "
                   f"threshold {scorer.threshold:.3f}), {ms:.1f} ms/image")  # fmt: skip
        contracts = {"synthetic_scores": SYNTHETIC_SCORES.ref, "rejects": REJECTS.ref}
        ran_with = cfg.sections("predict", "fakes")
        write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
    return summary
