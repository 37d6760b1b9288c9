"""MLflow I/O for the ``register`` and ``promote`` steps: log, register, read and move aliases.

Everything takes a resolved ``Tracking`` (the steps read the environment, never this module),
and every MLflow or network failure surfaces as one ``RegistryError`` naming the tracking URI.
Promotion reads all it needs before it writes anything, so an error leaves the registry as it
was.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PREVIOUS_ALIAS = "previous"
# Offline and log-friendly unless the environment says otherwise (steps apply these at run time).
MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
PROBE_TIMEOUT_S = 5.0
# What the pyfunc model needs at load time; pinned explicitly because inferring them is slow.
MODEL_REQUIREMENTS = (
    "mlflow",
    "torch",
    "safetensors",
    "numpy",
    "pandas",
    "pillow",
    "pyyaml",
    "cloudpickle",
)


class RegistryError(RuntimeError):
    """The tracking server or registry failed or lacks what a step needs."""


@dataclass(frozen=True)
class Tracking:
    """Where runs and models go; ``artifact_location`` only for the embedded default store."""

    uri: str
    artifact_location: str | None = None


def resolve_tracking(environ: Mapping[str, str], cwd: Path) -> Tracking:
    """``MLFLOW_TRACKING_URI`` wins; otherwise an embedded SQLite store under ``cwd/mlruns``.

    MLflow 3.17 refuses file-store URIs, so the local default is SQLite with artifacts beside it.
    """
    uri = environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return Tracking(uri)
    root = Path(cwd).resolve() / "mlruns"
    return Tracking(f"sqlite:///{root}/mlflow.db", str(root / "artifacts"))


@dataclass(frozen=True)
class Registration:
    """What ``register`` produced; written to registration.json and read by ``promote``."""

    model_name: str
    version: str
    run_id: str
    model_uri: str
    metrics: dict[str, float | None]
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Standing:
    """The candidate and the current alias holder with their gate-metric values."""

    candidate_version: str
    candidate_value: float
    champion_version: str | None
    champion_value: float | None


@contextmanager
def _errors(tracking: Tracking, doing: str) -> Iterator[None]:
    """Turn MLflow, HTTP and database failures into one readable RegistryError."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except RegistryError:
        raise
    except (MlflowException, requests.RequestException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RegistryError(f"{doing} failed at tracking URI {tracking.uri!r}: {first}") from exc


def connect(tracking: Tracking) -> Any:
    """An MlflowClient for ``tracking``, after a fast check (no retries) that it is reachable."""
    import mlflow
    import requests

    if tracking.uri.startswith(("http://", "https://")):
        try:
            requests.get(tracking.uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S)
        except requests.RequestException as exc:
            raise RegistryError(
                f"MLflow tracking server {tracking.uri!r} is unreachable "
                f"({type(exc).__name__}); is it running and is MLFLOW_TRACKING_URI right?"
            ) from exc
    elif tracking.uri.startswith("sqlite:///"):
        Path(tracking.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking.uri)
    return mlflow.MlflowClient(tracking_uri=tracking.uri)


def register_model(
    tracking: Tracking,
    *,
    experiment: str,
    model_name: str,
    model_dir: Path,
    code_dir: Path,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    run_name: str = "register",
) -> Registration:
    """Log one run (params, metrics, tags, pyfunc model); register the model as a new version."""
    import mlflow

    from replica.registry.pyfunc import CopyDetectorModel, input_example
    from replica.registry.tags import json_metrics

    client = connect(tracking)
    with _errors(tracking, f"registering {model_name!r}"):
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            exp_id = client.create_experiment(experiment, tracking.artifact_location)
        elif exp.lifecycle_stage != "active":
            raise RegistryError(
                f"experiment {experiment!r} is deleted; restore it or set register.experiment"
            )
        else:
            exp_id = exp.experiment_id
        with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=dict(tags)) as run:
            mlflow.log_params(dict(params))
            mlflow.log_metrics(dict(metrics))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=CopyDetectorModel(),
                artifacts={"model_dir": str(model_dir)},
                code_paths=[str(code_dir)],
                signature=_signature(),
                input_example=input_example(),
                pip_requirements=_requirements(),
                registered_model_name=model_name,
            )
        version = str(info.registered_model_version)
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)
    return Registration(
        model_name=model_name,
        version=version,
        run_id=run.info.run_id,
        model_uri=f"models:/{model_name}/{version}",
        metrics=json_metrics(metrics),
        tags=dict(tags),
    )


def read_standing(
    client: Any, tracking: Tracking, model_name: str, version: str, alias: str, metric: str
) -> Standing:
    """The gate's inputs: the candidate's and the alias holder's ``metric`` from their runs."""
    with _errors(tracking, f"reading {model_name!r} v{version}"):
        candidate = client.get_model_version(model_name, version)
        # The aliases map, not get_model_version_by_alias: stores differ in the error code
        # they raise for a missing alias, and a missing alias is normal here.
        held_by = client.get_registered_model(model_name).aliases.get(alias)
        holder = client.get_model_version(model_name, held_by) if held_by is not None else None
        cand_value = _run_metric(client, candidate.run_id, metric, f"candidate v{version}")
        hold_value = (
            _run_metric(client, holder.run_id, metric, f"@{alias} holder v{holder.version}")
            if holder is not None
            else None
        )
    return Standing(
        candidate_version=str(candidate.version),
        candidate_value=cand_value,
        champion_version=str(holder.version) if holder is not None else None,
        champion_value=hold_value,
    )


def record_decision(
    client: Any,
    tracking: Tracking,
    model_name: str,
    standing: Standing,
    alias: str,
    promoted: bool,
    tags: Mapping[str, str],
) -> str | None:
    """Tag the candidate with the decision; if promoted, move ``alias`` and keep the old holder
    as ``previous``. Returns the version now holding ``previous`` (None when untouched)."""
    previous = None
    with _errors(tracking, f"recording the promotion decision for {model_name!r}"):
        for key, value in tags.items():
            client.set_model_version_tag(model_name, standing.candidate_version, key, value)
        moving = promoted and standing.champion_version != standing.candidate_version
        if moving:
            if standing.champion_version is not None:
                client.set_registered_model_alias(
                    model_name, PREVIOUS_ALIAS, standing.champion_version
                )
                previous = standing.champion_version
            client.set_registered_model_alias(model_name, alias, standing.candidate_version)
    return previous


def _run_metric(client: Any, run_id: str | None, metric: str, who: str) -> float:
    if not run_id:
        raise RegistryError(f"{who} has no source run, so its {metric!r} is unknown")
    values = client.get_run(run_id).data.metrics
    if metric not in values:
        raise RegistryError(
            f"{who} (run {run_id}) has no metric {metric!r}; it has {sorted(values)}"
        )
    return float(values[metric])


def _signature() -> Any:
    """Image bytes in; normalized level (float) and level (int) out. Declared, not inferred."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("binary", "query"), ColSpec("binary", "reference")]),
        outputs=Schema([ColSpec("double", "predicted"), ColSpec("long", "level")]),
    )


def _requirements() -> list[str]:
    """Installed versions of what the model needs, without local tags (``+cpu``)."""
    reqs = []
    for dist in MODEL_REQUIREMENTS:
        try:
            reqs.append(f"{dist}=={importlib.metadata.version(dist).split('+')[0]}")
        except importlib.metadata.PackageNotFoundError:
            reqs.append(dist)
    return reqs
