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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import METRICS, PAIRS, PREDICTIONS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    model: Annotated[Path, typer.Option(help="Model directory written by `replica train`.")],
    input: Annotated[Path, typer.Option(help="pairs output directory (pairs.parquet).")],
    output: Annotated[Path, typer.Option(help="Directory to write metrics and predictions.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

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
            write_sidecar(out, summary.finish(), contracts, cfg.digest("evaluate"))
        return summary

    run("evaluate", body)
