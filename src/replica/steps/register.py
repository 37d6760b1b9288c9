"""Register a trained model in MLflow with its metrics and its lineage.

Command: ``replica register --model data/model --metrics data/eval --lock dvc.lock
--output data/registry/registration.json``

Reads:  ``--model`` (model directory with ``config.json``), ``--metrics`` (``metrics.json`` or
        the directory holding it: flat metric name -> number), ``--lock`` (``dvc.lock``: the
        content hash of every input of the ``train`` stage; absent = registering outside DVC,
        tagged ``dvc.lock.present=false`` with a warning).
Writes: one MLflow run named ``register`` in experiment ``register.experiment`` (params: the
        model's config and the params sections that shaped it; metrics; lineage tags; the
        model as a pyfunc), a new version of ``register.model_name`` with the same tags, and
        ``--output`` (JSON: model_name, version, run_id, model_uri, metrics, tags).
Params: ``register`` (model_name, experiment); ``base``, ``pairs``, ``train`` and ``evaluate``
        are logged as run params.
Env:    ``MLFLOW_TRACKING_URI`` (default: SQLite in ``./mlruns/mlflow.db``, artifacts in
        ``./mlruns/artifacts``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from replica.io import StepSummary, atomic_write_text, git_state
from replica.lineage import LockError, read_dvc_lock
from replica.registry.tags import check_metrics, flatten, lineage_tags
from replica.steps._common import Overrides, ParamsPath, StepError, load, run

LOGGED_SECTIONS = ("base", "pairs", "train", "evaluate", "register")


def main(
    model: Annotated[Path, typer.Option(help="Trained model directory (weights + config.json).")],
    metrics: Annotated[Path, typer.Option(help="metrics.json, or the directory holding it.")],
    output: Annotated[Path, typer.Option(help="Where to write registration.json.")],
    lock: Annotated[Path, typer.Option(help="dvc.lock with the train stage's hashes.")] = Path(
        "dvc.lock"
    ),
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.registry.store import (
            MLFLOW_ENV_DEFAULTS,
            RegistryError,
            register_model,
            resolve_tracking,
        )

        summary = StepSummary("register", rows_in=1)
        config_path = Path(model) / "config.json"
        if not config_path.is_file():
            raise StepError(f"--model {str(model)!r} has no config.json; is it a model dir?")
        metrics_path = Path(metrics) / "metrics.json" if Path(metrics).is_dir() else Path(metrics)
        try:
            values = check_metrics(json.loads(metrics_path.read_text()), str(metrics_path))
            model_config = json.loads(config_path.read_text())
            stages = read_dvc_lock(lock) if Path(lock).is_file() else None
        except (ValueError, LockError) as exc:  # JSONDecodeError is a ValueError
            raise StepError(str(exc)) from exc
        if stages is None or "train" not in stages:
            why = "not found" if stages is None else "has no 'train' stage"
            typer.echo(
                f"[register] warning: {lock} {why}; registering without data lineage "
                "(dvc.lock.present=false)",
                err=True,
            )
        tags = lineage_tags(git_state(), cfg.digest(*LOGGED_SECTIONS), stages, os.environ)
        data = cfg.to_dict()
        run_params = flatten(model_config, "model.") | flatten(
            {s: data[s] for s in LOGGED_SECTIONS}
        )
        for var, value in MLFLOW_ENV_DEFAULTS.items():
            os.environ.setdefault(var, value)
        tracking = resolve_tracking(os.environ, Path.cwd())
        try:
            reg = register_model(
                tracking,
                experiment=cfg.register.experiment,
                model_name=cfg.register.model_name,
                model_dir=Path(model).resolve(),
                code_dir=Path(__file__).resolve().parents[1],
                params=run_params,
                metrics=values,
                tags=tags,
            )
        except RegistryError as exc:
            raise StepError(str(exc)) from exc
        atomic_write_text(output, json.dumps(reg.to_dict(), indent=2, sort_keys=True) + "\n")
        shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(values.items()))
        typer.echo(f"[register] {reg.model_uri} run={reg.run_id} {shown}")
        summary.rows_out = 1
        summary.outputs = {"registration": 1}
        return summary

    run("register", body)
