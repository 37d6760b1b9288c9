"""Train a detector family on its training data with the generic loop (``replica.train``).

Command: ``replica train --family copy --input data/pairs --output data/models/copy``
         (under ``torchrun --nproc_per_node N -m replica.cli train ...`` for DDP);
         ``replica train --family synthetic --input data/invert --output data/models/synthetic``

Reads:  ``copy``: ``pairs.parquet`` (contract pairs) and its images; the train split trains
        PDF-Embedding (val split: early stopping), then the fusion head is fitted on the val
        split's pair features and the match head (retrieval's ranking) on the val queries
        against the val references (``gallery.parquet``, else the val pairs' sources).
        ``synthetic``: ``fakes.parquet`` (contract fakes), its images and ``encoding.json``
        (the ``fakes`` or ``invert`` output), with ``synthetic.model=fakeinversion`` also
        ``inversions.parquet`` (the ``invert`` output); train split to fit, val split to
        calibrate (temperature, bias and threshold by ``synthetic.calibration``, saved in the
        model's config) and, for FakeInversion, to stop early.
        ``--cache``: where per-image features (copy: embeddings and descriptors; synthetic:
        probe embeddings) are cached.
Writes: the model directory (``config.json`` + ``model.safetensors``), ``train_log.json``
        (loss curve and validations), ``_meta.json``; an MLflow run ``train`` (params, curves,
        ``plots/curves.png``) in experiment ``register.experiment``.
        Checkpoints go to ``--checkpoints`` (default: ``.<output name>.checkpoints`` beside the
        output), one folder per params+data fingerprint; a rerun with the same fingerprint
        resumes there, and the folder is removed once the model is written.
Params: ``train`` (loop settings), the family's section (``copy`` or ``synthetic``),
        ``base.seed``.
Env:    ``MLFLOW_TRACKING_URI`` (default SQLite in ``./mlruns``); torchrun's ``RANK``,
        ``WORLD_SIZE``, ``LOCAL_RANK``; ``REPLICA_CACHE`` (default for ``--cache``: the probe's
        embedding cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from replica.config import Detector, Params
from replica.contracts import FAKES, PAIRS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run, split_references

if TYPE_CHECKING:
    from replica.train.loop import Distributed, Result
    from replica.train.synthetic import Trained


def main(
    input: Annotated[Path, typer.Option(help="Training data directory (copy: pairs output).")],
    output: Annotated[Path, typer.Option(help="Model directory to write.")],
    family: Annotated[Detector, typer.Option(help="Detector family to train.")] = Detector.copy,
    checkpoints: Annotated[
        Path | None, typer.Option(help="Checkpoint folder (default: beside --output).")
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(envvar="REPLICA_CACHE", help="Feature cache folder (default: memory only)."),
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.registry.plots import training_curves
        from replica.registry.runs import open_run
        from replica.registry.store import RegistryError, tracking_from_env
        from replica.registry.tags import flatten
        from replica.train.loop import Distributed

        summary = StepSummary("train")
        dist = Distributed.from_env(os.environ)
        section = family.value
        digest = cfg.digest("base", "train", section)
        table = FAKES if family is Detector.synthetic else PAIRS
        fingerprint = _fingerprint(digest, Path(input) / table.filename)
        base = checkpoints or Path(output).parent / f".{Path(output).name}.checkpoints"
        ckpt = base / fingerprint
        tracking = tracking_from_env(os.environ, Path.cwd())
        data = cfg.to_dict()
        run_params = flatten({s: data[s] for s in ("base", "train", section)})
        if dist.rank != 0:  # DDP: only rank 0 logs and writes
            if family is Detector.synthetic:
                n = _train_synthetic(cfg, Path(input), cache, ckpt, dist, None).n_train
            else:
                n = _train_copy(cfg, Path(input), ckpt, dist, None, cache)[1]
            summary.rows_in = summary.rows_out = n
            return summary
        try:
            with open_run(
                tracking, cfg.register.experiment, "train", run_params, {"family": section}
            ) as mlrun:
                if family is Detector.synthetic:
                    trained = _train_synthetic(cfg, Path(input), cache, ckpt, dist, mlrun.metrics)
                    mlrun.metrics({f"val_{k}": v for k, v in trained.val_metrics.items()})
                    result, n_train, save = trained.loop, trained.n_train, trained.save
                    extra: dict[str, Any] = {}
                else:
                    result, n_train, save, extra = _train_copy(
                        cfg, Path(input), ckpt, dist, mlrun.metrics, cache
                    )
                if result is not None:
                    title = f"{section}: {result.steps} steps ({result.stopped})"
                    mlrun.file(
                        "plots/curves.png",
                        training_curves(result.history, result.validation, title),
                    )
        except RegistryError as exc:
            raise StepError(str(exc)) from exc
        summary.rows_in = summary.rows_out = n_train
        if result is None:  # a detector fitted in closed form: nothing of the loop to log
            with atomic_dir(output) as out:
                save(out)
                log_doc = {"family": section, "model": trained.kind, "n_train": n_train,
                           "n_val": trained.n_val, "val": trained.val_metrics}  # fmt: skip
                (out / "train_log.json").write_text(json.dumps(log_doc) + "\n")
                summary.outputs = {"train_images": n_train, "val_images": trained.n_val}
                shown = " ".join(f"{k}={v:.3f}" for k, v in trained.val_metrics.items())
                typer.echo(f"[train] {section}/{trained.kind}: val {shown}")
                ran_with = cfg.sections("base", "train", section)
                write_sidecar(out, summary.finish(), {"fakes": FAKES.ref}, digest, ran_with)
            return summary
        with atomic_dir(output) as out:
            save(out)
            log = {
                "family": section,
                "n_train": n_train,
                "steps": result.steps,
                "stopped": result.stopped,
                "resumed_from": result.resumed_from,
                "best_step": result.best_step,
                "seconds": round(result.seconds, 1),
                "samples_per_s": round(result.samples_per_s, 2),
                "history": result.history,
                "validation": result.validation,
                **extra,
            }
            (out / "train_log.json").write_text(json.dumps(log) + "\n")
            summary.outputs = {"train_pairs": n_train, "steps": result.steps}
            losses = [h["loss"] for h in result.history]
            typer.echo(
                f"[train] {section}: {result.steps} steps ({result.stopped}), loss "
                f"{losses[0]:.4f} -> {losses[-1]:.4f}, {result.samples_per_s:.1f} samples/s"
            )
            ran_with = cfg.sections("base", "train", section)
            write_sidecar(out, summary.finish(), {table.name: table.ref}, digest, ran_with)
        shutil.rmtree(ckpt, ignore_errors=True)
        return summary

    run("train", body)


def _fingerprint(params_digest: str, data_file: Path) -> str:
    """Checkpoints resume only for the same params and the same training table."""
    h = hashlib.sha256(params_digest.encode())
    if data_file.is_file():
        h.update(hashlib.sha256(data_file.read_bytes()).digest())
    return h.hexdigest()[:16]


def _train_copy(
    cfg: Params,
    input: Path,
    ckpt: Path,
    dist: Distributed,
    log: Callable[[dict[str, float], int], None] | None,
    cache: Path | None,
) -> tuple[Result, int, Callable[[Path], None], dict[str, Any]]:
    """Fit the copy detector (PDF-Embedding, then the fusion head on the val split); returns
    the loop's result, the train pair count, a saver and what to add to the training log."""
    from replica.cache import ArrayCache
    from replica.train.copy import train

    rows = PAIRS.read(input).to_pylist()
    train_rows = [r for r in rows if r["split"] == "train"]
    val_rows = [r for r in rows if r["split"] == "val"]
    if not train_rows:
        raise StepError(f"no train-split pairs in {str(input)!r}")
    if not val_rows:
        raise StepError(f"no val-split pairs in {str(input)!r}: the fusion head is fitted on them")
    try:
        out = train(
            cfg.copy,
            cfg.train,
            train_rows,
            val_rows,
            input,
            cfg.base.seed,
            checkpoint_dir=ckpt,
            log=log,
            distributed=dist,
            cache=ArrayCache(cache) if cache is not None else None,
            val_references=split_references(input, "val", val_rows),
        )
    except ValueError as exc:
        raise StepError(str(exc)) from exc
    fusion = {}
    if out.fusion is not None:
        fusion = {
            "fusion": {
                "n_val_pairs": out.fusion.n_pairs,
                "features": list(out.fusion.features),
                "final_loss": round(out.fusion.final_loss, 5),
            }
        }
    if out.match is not None:
        fusion["match"] = {
            "n_val_queries": out.match.n_queries,
            "n_candidates": out.match.n_candidates,
            "n_positive": out.match.n_positive,
            "final_loss": round(out.match.final_loss, 5),
        }
    else:
        fusion["match"] = {
            "fitted": False,
            "reason": "no val query has both its source and another candidate among the val "
            "references: retrieval ranks by the fused level",
        }
        typer.echo(f"[train] no match head: {fusion['match']['reason']}", err=True)
    return out.result, len(train_rows), out.detector.save, fusion


def _train_synthetic(
    cfg: Params,
    input: Path,
    cache: Path | None,
    ckpt: Path,
    dist: Distributed,
    log: Callable[[dict[str, float], int], None] | None,
) -> Trained:
    """Fit and calibrate the synthetic detector ``synthetic.model`` on a fakes dataset."""
    from replica.config import SyntheticModel
    from replica.train.synthetic import inversions_of, load_pixels, train_detector

    rows = FAKES.read(input).to_pylist()
    inputs = None
    try:
        if cfg.synthetic.model is SyntheticModel.fakeinversion:
            inputs = inversions_of(rows, input)
        trained = train_detector(
            cfg.synthetic,
            cfg.train,
            rows,
            lambda i: load_pixels(input / rows[i]["uri"]),
            cfg.base.seed,
            features=inputs,
            cache_root=cache,
            ece_bins=cfg.synthetic.ece_bins,
            encoding=_encoding(input),
            invert=cfg.invert,
            checkpoint_dir=ckpt,
            log=log,
            distributed=dist,
        )
    except ValueError as exc:
        raise StepError(str(exc)) from exc
    return trained


def _encoding(directory: Path) -> dict:
    """The fakes dataset's ``encoding.json`` (empty when the dataset has none)."""
    from replica.fakes.encode import ENCODING_FILE

    path = directory / ENCODING_FILE
    if not path.is_file():
        typer.echo(f"[train] warning: {path} missing; new images will be scored as given", err=True)
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except ValueError as exc:
        raise StepError(f"{str(path)!r} is not JSON: {exc}") from exc
