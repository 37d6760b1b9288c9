"""Audit a generator: its images against a gallery, with the replication ratio per level.

Command: ``replica audit --model data/models/copy --images generated/ --gallery gallery/
--output reports/audit [--generator NAME] [--cache data/cache]``

Reads:  ``--model`` (directory or ``models:/name@alias``); ``--images``, the generator's images,
        and ``--gallery``, the references (each a folder, or a table with a ``path`` column).
Writes: ``audit_matches.parquet`` (contract audit_matches: each image's ``audit.top_k`` best
        gallery matches with level and distribution), ``ratios.json`` (replication ratio at
        level >= 1..5, image count, generator), ``report.html`` (the ratio and the strongest
        matches side by side), ``_meta.json``; an MLflow run ``audit`` with the ratios as
        metrics and the report.
Params: ``audit`` (shortlist, top_k, report_matches, thumb_side), ``predict.batch_size``.
Env:    ``MLFLOW_TRACKING_URI`` (default SQLite in ``./mlruns``).

Retrieval is faiss over PDF-Embedding vectors and local descriptors; each shortlisted pair is
verified and fused into a level distribution (see ``replica.scoring.retrieval``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import AUDIT_MATCHES
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, model_dir, run


def main(
    model: Annotated[str, typer.Option(help="Model directory or models:/name@alias.")],
    images: Annotated[Path, typer.Option(help="The generator's images (folder or table).")],
    gallery: Annotated[Path, typer.Option(help="Gallery images (folder or table).")],
    output: Annotated[Path, typer.Option(help="Directory to write the audit into.")],
    generator: Annotated[str, typer.Option(help="Name of the audited generator.")] = "",
    cache: Annotated[
        Path | None, typer.Option(help="Feature cache folder (default: memory only).")
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.audit import ReportRow, html_report, ratios
        from replica.cache import ArrayCache
        from replica.models.copy import CopyDetector
        from replica.registry.runs import open_run
        from replica.registry.store import RegistryError, tracking_from_env
        from replica.scoring.features import Featurizer
        from replica.scoring.inputs import image_list
        from replica.scoring.score import search

        a = cfg.audit
        summary = StepSummary("audit")
        with tempfile.TemporaryDirectory() as scratch:
            try:
                detector = CopyDetector.load(model_dir(model, Path(scratch)))
            except (ValueError, KeyError) as exc:
                raise StepError(f"--model {model!r} is not a copy detector: {exc}") from exc
        fz = Featurizer(
            detector, ArrayCache(cache) if cache is not None else None, cfg.predict.batch_size
        )
        try:
            generated, refs = image_list(images), image_list(gallery)
            hits = search(fz, generated, refs, a.shortlist, a.top_k)
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        best = [0] * len(generated)
        for h in hits:
            if h.rank == 1:
                best[h.query] = int(h.pdf.argmax())
        ratio = ratios(best)
        name = generator or Path(images).name
        strongest = sorted((h for h in hits if h.rank == 1), key=lambda h: -h.score)
        rows = [
            ReportRow(
                generated[h.query].path,
                refs[h.reference].path,
                int(h.pdf.argmax()),
                h.score,
                h.pdf.tolist(),
            )
            for h in strongest[: a.report_matches]
        ]
        page = html_report(f"Audit of {name}", ratio, len(generated), rows, a.thumb_side)
        doc = {"generator": name, "n_images": len(generated), "n_gallery": len(refs), **ratio}
        summary.rows_in = len(generated)
        with atomic_dir(output) as out:
            AUDIT_MATCHES.write(
                [
                    {
                        "query": str(generated[h.query].path),
                        "reference": str(refs[h.reference].path),
                        "rank": h.rank,
                        "level": int(h.pdf.argmax()),
                        "predicted": h.score,
                        "pdf": [float(x) for x in h.pdf],
                    }
                    for h in hits
                ],
                out,
            )
            (out / "ratios.json").write_text(json.dumps(doc, indent=2) + "\n")
            (out / "report.html").write_text(page)
            summary.rows_out = len(hits)
            summary.outputs = {"matches": len(hits), "images": len(generated)}
            shown = " ".join(f">={k[-1]}:{v:.1%}" for k, v in ratio.items())
            typer.echo(f"[audit] {name}: {len(generated)} images vs {len(refs)}; ratio {shown}")
            ran_with = cfg.sections("audit", "predict")
            contracts = {"audit_matches": AUDIT_MATCHES.ref}
            write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
        try:
            tracking = tracking_from_env(os.environ, Path.cwd())
            tags = {"generator": name}
            with open_run(tracking, cfg.register.experiment, "audit", None, tags) as mlrun:
                mlrun.metrics({**ratio, "n_images": float(len(generated))})
                mlrun.file("report.html", page.encode())
                mlrun.file("ratios.json", json.dumps(doc).encode())
        except RegistryError as exc:
            raise StepError(str(exc)) from exc
        return summary

    run("audit", body)
