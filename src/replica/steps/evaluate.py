"""Evaluate a trained copy detector on the test split: PCC and RMSE (in %), as ICDiff reports.

Command: ``replica evaluate --model data/model --input data/pairs --output data/eval``

Reads:  the model directory (``PDFEmbedding.load``); ``pairs.parquet`` (contract pairs) and its
        images.
Writes: ``metrics.json`` (flat: pcc, rmse, n_test, n_train; the DVC metrics file and promote's
        gate), ``metrics.parquet`` (contract metrics), ``predictions.parquet`` (contract
        predictions, every pair of both splits), ``_meta.json``.
Params: ``evaluate`` (batch_size).

The target is level / (levels - 1). A test split whose labels are all equal has no PCC: that
is an error, not a NaN.

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
import os
from pathlib import Path
from typing import Annotated

import typer

from replica.config import Family, Params
from replica.contracts import DETECTION_METRICS, DETECTIONS, FAKES, METRICS, PAIRS, PREDICTIONS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    model: Annotated[Path, typer.Option(help="Model directory written by `replica train`.")],
    input: Annotated[Path, typer.Option(help="pairs (copy) or invert/fakes (synthetic) dir.")],
    output: Annotated[Path, typer.Option(help="Directory to write metrics and predictions.")],
    family: Annotated[Family, typer.Option(help="Detector family to evaluate.")] = Family.copy,
    cache: Annotated[
        Path, typer.Option(envvar="REPLICA_CACHE", help="Feature cache (synthetic).")
    ] = Path("data/cache"),
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)
    if family is Family.synthetic:
        run("evaluate", lambda: _evaluate_synthetic(cfg, model, input, output, cache))
        return

    def body() -> StepSummary:
        import numpy as np
        import torch

        from replica.evaluate.metrics import pcc_pct, predict, rmse_pct
        from replica.models.pdf_embedding import PDFEmbedding
        from replica.train.data import PairImages

        summary = StepSummary("evaluate")
        detector = PDFEmbedding.load(model)
        rows = PAIRS.read(input).to_pylist()
        summary.rows_in = len(rows)
        try:
            images = PairImages(rows, Path(input), detector.config.image_size)
            items = [images[i] for i in range(len(images))]
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        query = torch.stack([q for q, _, _ in items])
        reference = torch.stack([r for _, r, _ in items])
        predicted = predict(detector, query, reference, cfg.evaluate.batch_size)
        target = np.array([lv for _, _, lv in items]) / (detector.config.levels - 1)
        test = np.array([r["split"] == "test" for r in rows], dtype=bool)
        n_test, n_train = int(test.sum()), int((~test).sum())
        if n_test == 0:
            raise StepError(f"no test-split pairs in {str(input)!r}")
        try:
            pcc = pcc_pct(predicted[test], target[test])
        except ValueError as exc:
            raise StepError(f"test split of {str(input)!r}: {exc}") from exc
        rmse = rmse_pct(predicted[test], target[test])
        with atomic_dir(output) as out:
            flat = {
                "pcc": round(pcc, 4),
                "rmse": round(rmse, 4),
                "n_test": n_test,
                "n_train": n_train,
            }
            (out / "metrics.json").write_text(json.dumps(flat, indent=2) + "\n")
            METRICS.write(
                [
                    {"metric": "pcc", "split": "test", "value": pcc, "n": n_test},
                    {"metric": "rmse", "split": "test", "value": rmse, "n": n_test},
                ],
                out,
            )
            PREDICTIONS.write(
                [
                    {
                        "pair_id": r["pair_id"],
                        "split": r["split"],
                        "level": r["level"],
                        "predicted": p,
                    }
                    for r, p in zip(rows, predicted.tolist(), strict=True)
                ],
                out,
            )
            summary.rows_out = len(rows)
            summary.outputs = {"metrics": 2, "predictions": len(rows)}
            typer.echo(f"[evaluate] test pcc={pcc:.1f}% rmse={rmse:.1f}% (n_test={n_test})")
            contracts = {"metrics": METRICS.ref, "predictions": PREDICTIONS.ref, "pairs": PAIRS.ref}
            ran_with = cfg.sections("evaluate")
            write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
        return summary

    run("evaluate", body)


def _evaluate_synthetic(
    cfg: Params, model: Path, input: Path, output: Path, cache: Path
) -> StepSummary:
    """The synthetic detector and its baselines on a fakes dataset (see
    ``replica.evaluate.synthetic``): every protocol, the table printed and written."""
    from replica.evaluate import synthetic as ev
    from replica.evaluate.views import check_view
    from replica.registry.runs import open_run
    from replica.registry.store import RegistryError, tracking_from_env
    from replica.train.synthetic import candidate_for, load_pixels

    summary = StepSummary("evaluate")
    rows = FAKES.read(input).to_pylist()
    summary.rows_in = len(rows)
    table = ev.Table.from_rows(rows)
    s = cfg.synthetic
    settings = ev.Settings(("clean", *s.robustness), s.logo, s.consistency_views, s.ece_bins,
                           cfg.base.seed)  # fmt: skip
    try:
        for view in settings.views:
            check_view(view)
        candidate, baselines = candidate_for(cfg, Path(model), rows, input, cache)
        result = ev.evaluate(
            table,
            lambda i: load_pixels(input / rows[i]["uri"]),
            candidate,
            baselines,
            settings,
            progress=lambda msg: typer.echo(f"[evaluate] {msg}"),
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
