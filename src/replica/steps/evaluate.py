"""Evaluate a trained detector and its baselines on the same test split, in one run.

Command: ``replica evaluate --family copy --model data/models/copy --input data/pairs
--output data/eval/copy [--cache data/cache]``

Reads:  the model directory; ``pairs.parquet`` (contract pairs) and its images: test pairs to
        score, val pairs to calibrate the baselines on, and every test-split reference
        (``gallery.parquet`` when the pairs dir has one, else the test pairs' sources) for
        retrieval.
Writes: ``metrics.json`` (flat: the model's ``pcc``, ``rmse``, ``pcc_0_3``, ``level_acc``,
        ``pm1_acc``, ``top1``, each baseline's as ``baseline.<name>.<metric>``, PDF-Embedding
        alone as ``pdf_embedding.<metric>``, ``n_test``, ``n_test_sources``, ``n_val``,
        ``n_references``: the DVC metrics file and promote's gate), ``metrics.parquet``
        (contract metrics), ``predictions.parquet`` (contract predictions, test pairs),
        ``report.md`` (the tables), ``plots/*.png``, ``_meta.json``; an MLflow run ``evaluate``
        with the metrics, the report and the plots.
Params: ``evaluate`` (batch_size, shortlist, ablations); ``copy`` for ablation fits.
Env:    ``MLFLOW_TRACKING_URI`` (default SQLite in ``./mlruns``).

Systems: ``model`` (the fused detector), ``pdf_embedding`` (PDF-Embedding alone), ``phash``,
``histhog`` (colour histogram + HOG), ``cls`` (class-token cosine); baselines are isotonic-
calibrated on the val split. A test split whose labels are all equal has no PCC: that is an
error, not a NaN.

``--family synthetic`` (``replica evaluate --family synthetic --model data/models/synthetic
--input data/invert --output data/eval/synthetic``): reads the synthetic detector and the
``invert`` (or ``fakes``) output; trains the baselines (``format``, and ``artefact`` beside any
other kind) on the same splits and scores every model on the test split and leave one generator
out, against plain and matched reals, clean and through ``synthetic.robustness`` views (see
``replica.evaluate.synthetic``). Writes ``metrics.json`` (flat: ``ap``, ``auroc``, ``acc``,
``ece``, ``ece_raw``, ``*_matched``, ``logo_*``, ``<view>_*``, ``baseline.<name>.<metric>``,
``n_test``, ``n_train``), ``metrics.parquet`` (contract detection_metrics),
``predictions.parquet`` (contract detections), ``report.md``, ``plots/reliability_*.png``,
``_meta.json``, and an MLflow run ``evaluate`` with the metrics, report and plots. Params:
``synthetic`` (logo, consistency_views, robustness, ece_bins), ``base.seed``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated

import typer

from replica.config import Detector, Params
from replica.contracts import (
    DETECTION_METRICS,
    DETECTIONS,
    FAKES,
    METRICS,
    PAIRS,
    PREDICTIONS,
)
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import (
    Overrides,
    ParamsPath,
    StepError,
    load,
    run,
    split_references,
)


def main(
    model: Annotated[Path, typer.Option(help="Model directory written by `replica train`.")],
    input: Annotated[Path, typer.Option(help="pairs (copy) or invert/fakes (synthetic) dir.")],
    output: Annotated[Path, typer.Option(help="Directory to write metrics and predictions.")],
    family: Annotated[Detector, typer.Option(help="Detector family of the model.")] = Detector.copy,
    cache: Annotated[
        Path | None,
        typer.Option(envvar="REPLICA_CACHE", help="Feature cache folder (default: memory only)."),
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)
    if family is Detector.synthetic:
        run("evaluate", lambda: _evaluate_synthetic(cfg, model, input, output, cache))
        return

    def body() -> StepSummary:
        from replica.cache import ArrayCache
        from replica.evaluate.copy import ABLATION_PREFIX, MODEL, evaluate
        from replica.evaluate.report import (
            confusion_png,
            family_png,
            family_text,
            retrieval_text,
            table_text,
        )
        from replica.models.copy import CopyDetector
        from replica.registry.runs import open_run
        from replica.registry.store import RegistryError, tracking_from_env

        summary = StepSummary("evaluate")
        try:
            detector = CopyDetector.load(model)
        except (ValueError, KeyError) as exc:
            raise StepError(f"--model {str(model)!r} is not a copy detector: {exc}") from exc
        rows = PAIRS.read(input).to_pylist()
        summary.rows_in = len(rows)
        test = [r for r in rows if r["split"] == "test"]
        val = [r for r in rows if r["split"] == "val"]
        if not test:
            raise StepError(f"no test-split pairs in {str(input)!r}")
        refs = split_references(Path(input), "test", test)
        try:
            ev = evaluate(
                detector,
                test,
                val,
                Path(input),
                refs,
                cache=ArrayCache(cache) if cache is not None else None,
                shortlist=cfg.evaluate.shortlist,
                ablation_cfg=cfg.copy if cfg.evaluate.ablations else None,
                seed=cfg.base.seed,
            )
        except ValueError as exc:
            raise StepError(f"test split of {str(input)!r}: {exc}") from exc
        flat = _flat(ev.table)
        flat |= {
            "n_test": len(test),
            "n_test_sources": len({r["source_image_id"] for r in test}),
            "n_val": len(val),
            "n_references": ev.n_references,
            "n_retrieval_queries": ev.n_queries_retrieval,
        }
        report = "\n\n".join(
            [
                f"# Evaluation of {str(model)!r} on {len(test)} test pairs",
                table_text(ev.table),
                "## Per family: level accuracy (±1 accuracy)",
                family_text(ev.per_family),
                "## Per family: top-1 retrieval among all test references (queries labelled >= 3)",
                retrieval_text(ev.retrieval_by_family),
            ]
        )
        plots = {
            "plots/confusion_model.png": confusion_png(ev.confusion[MODEL], "model"),
            "plots/confusion_histhog.png": confusion_png(ev.confusion["histhog"], "histhog"),
            "plots/families.png": family_png(
                ev.per_family, [s for s in ev.table if not s.startswith(ABLATION_PREFIX)]
            ),
        }
        model_out = ev.systems[MODEL]
        with atomic_dir(output) as out:
            (out / "metrics.json").write_text(json.dumps(flat, indent=2) + "\n")
            METRICS.write(
                [
                    {"metric": k, "split": "test", "value": v, "n": len(test)}
                    for k, v in flat.items()
                    if not k.startswith("n_")
                ],
                out,
            )
            assert model_out.pdf is not None
            PREDICTIONS.write(
                [
                    {
                        "pair_id": r["pair_id"],
                        "split": r["split"],
                        "family": r.get("family") or "unknown",
                        "level": r["level"],
                        "predicted": float(p),
                        "predicted_level": int(lv),
                        "pdf": [float(x) for x in pdf],
                    }
                    for r, p, lv, pdf in zip(
                        test, model_out.predicted, model_out.level, model_out.pdf, strict=True
                    )
                ],
                out,
            )
            (out / "report.md").write_text(report + "\n")
            for rel, png in plots.items():
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes(png)
            summary.rows_out = len(test)
            summary.outputs = {"metrics": len(flat), "predictions": len(test)}
            typer.echo(report)
            contracts = {"metrics": METRICS.ref, "predictions": PREDICTIONS.ref, "pairs": PAIRS.ref}
            ran_with = cfg.sections("evaluate", family.value)
            write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
        try:
            tracking = tracking_from_env(os.environ, Path.cwd())
            with open_run(
                tracking, cfg.register.experiment, "evaluate", None, {"family": family.value}
            ) as mlrun:
                mlrun.metrics({k: float(v) for k, v in flat.items()})
                mlrun.file("report.md", report.encode())
                for rel, png in plots.items():
                    mlrun.file(rel, png)
        except RegistryError as exc:
            raise StepError(str(exc)) from exc
        return summary

    run("evaluate", body)


def _evaluate_synthetic(
    cfg: Params, model: Path, input: Path, output: Path, cache: Path | None
) -> StepSummary:
    """The synthetic detector and its baselines on a fakes dataset (see
    ``replica.evaluate.synthetic``): every protocol, the table printed and written."""
    from replica.evaluate import synthetic as ev
    from replica.evaluate.views import check_view
    from replica.fakes.encode import reencode_pixels
    from replica.models.synthetic import CONFIG_FILE
    from replica.registry.runs import open_run
    from replica.registry.store import RegistryError, tracking_from_env
    from replica.train.synthetic import candidate_for, load_pixels

    summary = StepSummary("evaluate")
    rows = FAKES.read(input).to_pylist()
    summary.rows_in = len(rows)
    table = ev.Table.from_rows(rows)
    s = cfg.synthetic
    settings = ev.Settings(("clean", *s.robustness), s.logo, s.consistency_views, s.ece_bins,
                           cfg.base.seed, s.calibration.value)  # fmt: skip
    try:
        for view in settings.views:
            check_view(view)
        candidate, baselines = candidate_for(cfg, Path(model), rows, input, cache)
        encoding = json.loads((Path(model) / CONFIG_FILE).read_text()).get("encoding") or {}
        result = ev.evaluate(
            table,
            lambda i: load_pixels(input / rows[i]["uri"]),
            candidate,
            baselines,
            settings,
            progress=lambda msg: typer.echo(f"[evaluate] {msg}"),
            prepare=lambda im: reencode_pixels(im, encoding),
        )
    except (ValueError, OSError) as exc:
        raise StepError(str(exc)) from exc
    names = [b.name for b in baselines]
    flat = ev.flat_metrics(result, names, settings.views)
    flat |= {"n_test": int((table.split == "test").sum()),
             "n_train": int((table.split == "train").sum())}  # fmt: skip
    report = ev.markdown_tables(result, table, names)
    plots = ev.reliability_plots(result, s.ece_bins)
    with atomic_dir(output) as out:
        (out / "metrics.json").write_text(json.dumps(flat, indent=2) + "\n")
        (out / "report.md").write_text(report)
        for rel, png in plots.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(png)
        DETECTION_METRICS.write(result.records, out)
        DETECTIONS.write(result.predictions, out)
        typer.echo(report)
        typer.echo(
            f"[evaluate] synthetic: test ap={flat.get('ap', float('nan')):.3f} "
            f"auroc={flat.get('auroc', float('nan')):.3f} ece={flat.get('ece', float('nan')):.3f}"
            f" logo ap mean={flat.get('logo_ap_mean', float('nan')):.3f}"
        )
        summary.rows_out = len(rows)
        summary.outputs = {"metrics": len(result.records), "detections": len(result.predictions)}
        contracts = {"detection_metrics": DETECTION_METRICS.ref, "detections": DETECTIONS.ref,
                     "fakes": FAKES.ref}  # fmt: skip
        ran_with = cfg.sections("base", "evaluate", "synthetic")
        write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
    try:
        tracking = tracking_from_env(os.environ, Path.cwd())
        with open_run(
            tracking, cfg.register.experiment, "evaluate", None, {"family": "synthetic"}
        ) as mlrun:
            mlrun.metrics({k: float(v) for k, v in flat.items()})
            mlrun.file("report.md", report.encode())
            for rel, png in plots.items():
                mlrun.file(rel, png)
    except RegistryError as exc:
        raise StepError(str(exc)) from exc
    return summary


def _flat(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """The model's metrics at top level, the others prefixed; NaNs are left out."""
    from replica.evaluate.baselines import BASELINES
    from replica.evaluate.copy import MODEL

    flat: dict[str, float] = {}
    for system, metrics in table.items():
        prefix = (
            "" if system == MODEL else ("baseline." if system in BASELINES else "") + f"{system}."
        )
        for key, value in metrics.items():
            if not math.isnan(value):
                flat[f"{prefix}{key}"] = round(float(value), 4)
    return flat
