"""MLflow runs for the steps that log as they go (train, evaluate, audit): curves and files.

``open_run`` starts a run in an experiment (created when missing) and yields a ``RunLog`` whose
``metrics`` call logs a step's numbers and whose ``file`` call stores bytes as an artifact. Every
MLflow failure surfaces as one ``RegistryError`` naming the tracking URI, like the registry's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replica.registry.store import RegistryError, Tracking, _errors, connect


@dataclass
class RunLog:
    """Logging handle of one open run."""

    client: Any
    run_id: str
    tracking: Tracking

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        import math

        finite = {k: float(v) for k, v in values.items() if math.isfinite(float(v))}
        with _errors(self.tracking, f"logging metrics to run {self.run_id}"):
            import mlflow

            mlflow.log_metrics(finite, step=step)

    def file(self, path: str, content: bytes) -> None:
        """Store ``content`` as the artifact ``path`` (e.g. ``plots/loss.png``)."""
        with _errors(self.tracking, f"logging {path!r} to run {self.run_id}"):
            import mlflow

            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                mlflow.log_artifact(str(target), str(Path(path).parent) if "/" in path else None)


@contextmanager
def open_run(
    tracking: Tracking,
    experiment: str,
    run_name: str,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[RunLog]:
    """An MLflow run named ``run_name`` in ``experiment``; ended (FAILED on error) on exit."""
    import mlflow

    client = connect(tracking)
    with _errors(tracking, f"opening run {run_name!r} in {experiment!r}"):
        exp = client.get_experiment_by_name(experiment)
        if exp is not None and exp.lifecycle_stage != "active":
            raise RegistryError(f"experiment {experiment!r} is deleted; restore it or rename it")
        exp_id = (
            exp.experiment_id
            if exp is not None
            else client.create_experiment(experiment, tracking.artifact_location)
        )
        run = mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=dict(tags or {}))
        if params:
            mlflow.log_params(dict(params))
    try:
        yield RunLog(client, run.info.run_id, tracking)
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run()
