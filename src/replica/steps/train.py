"""Train the PDF-Embedding copy detector on the train split of a pairs dataset.

Command: ``replica train --input data/pairs --output data/model``

Reads:  ``pairs.parquet`` (contract pairs) and its replica/source images, the train and val
        splits (the test split is ``evaluate``'s).
Writes: the model directory (``config.json`` + ``model.safetensors``, loadable with
        ``PDFEmbedding.load``), ``train_log.json`` (loss per step), ``_meta.json``.
Params: ``train`` (model size, pdf_sigma, temperature, steps, batch_size, lr, weight_decay),
        ``base.seed``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import PAIRS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    input: Annotated[Path, typer.Option(help="pairs output directory (pairs.parquet).")],
    output: Annotated[Path, typer.Option(help="Model directory to write.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.train.data import load_pairs
        from replica.train.loop import fit

        summary = StepSummary("train")
        rows = PAIRS.read(input).to_pylist()
        train_rows = [r for r in rows if r["split"] in ("train", "val")]
        summary.rows_in = len(rows)
        if not train_rows:
            raise StepError(f"no train-split pairs in {str(input)!r}")
        try:
            data = load_pairs(train_rows, Path(input), cfg.train.image_size)
            model, losses = fit(data, cfg.train, cfg.base.seed)
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        with atomic_dir(output) as out:
            model.save(out)
            log = {"loss": [round(v, 6) for v in losses], "n_train": len(train_rows)}
            (out / "train_log.json").write_text(json.dumps(log) + "\n")
            summary.rows_out = len(train_rows)
            summary.outputs = {"train_pairs": len(train_rows), "steps": len(losses)}
            typer.echo(
                f"[train] loss {losses[0]:.4f} -> {sum(losses[-10:]) / len(losses[-10:]):.4f}"
            )
            write_sidecar(out, summary.finish(), {"pairs": PAIRS.ref}, cfg.digest("base", "train"))
        return summary

    run("train", body)
