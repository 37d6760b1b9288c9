"""MLflow I/O for the ``register`` and ``promote`` steps: log, register, read and move aliases.

Everything takes a resolved ``Tracking`` (the steps read the environment, never this module),
and every MLflow or network failure surfaces as one ``RegistryError`` naming the tracking URI.
Promotion reads all it needs before it writes anything, so an error leaves the registry as it
was.
"""

from __future__ import annotations

import importlib.metadata
import os
import random
import socket
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from replica.guard.procs import alive, started_at
from replica.guard.secrets import redact

PREVIOUS_ALIAS = "previous"
LOCK_SUFFIX = ".lock"
LOCK_WAIT_S = 120.0  # how long a promoter waits for another one to finish
LOCK_TTL_S = 600.0  # a lock older than this, held from another host, is taken to be abandoned
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
    "transformers",
    "safetensors",
    "opencv-python-headless",
    "faiss-cpu",
    "scipy",
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


def tracking_from_env(environ: MutableMapping[str, str], cwd: Path) -> Tracking:
    """What every registry command does at run time: apply ``MLFLOW_ENV_DEFAULTS`` to
    ``environ`` (values already set win) and resolve the tracking store from it."""
    for var, value in MLFLOW_ENV_DEFAULTS.items():
        environ.setdefault(var, value)
    return resolve_tracking(environ, cwd)


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
    """The candidate and the current alias holder with their gate-metric values, plus what the
    required checks read: both versions' tags and the candidate's run metrics."""

    candidate_version: str
    candidate_value: float
    champion_version: str | None
    champion_value: float | None
    candidate_tags: dict[str, str] = field(default_factory=dict)
    champion_tags: dict[str, str] | None = None
    candidate_metrics: dict[str, float] = field(default_factory=dict)


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
        raise RegistryError(
            redact(f"{doing} failed at tracking URI {tracking.uri!r}: {first}")
        ) from exc


def connect(tracking: Tracking) -> Any:
    """An MlflowClient for ``tracking``, after a fast check (no retries) that it is reachable."""
    import mlflow
    import requests

    if tracking.uri.startswith(("http://", "https://")):
        try:
            requests.get(tracking.uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S)
        except requests.RequestException as exc:
            raise RegistryError(
                redact(
                    f"MLflow tracking server {tracking.uri!r} is unreachable "
                    f"({type(exc).__name__}); is it running and is MLFLOW_TRACKING_URI right?"
                )
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
    files: Mapping[str, bytes] | None = None,
    run_name: str = "register",
    family: str = "copy",
) -> Registration:
    """Log one run (params, metrics, tags, ``files``: artifact path -> content, the pyfunc
    model of ``family``) and register the model as a new version."""
    import tempfile

    import mlflow

    from replica.registry import pyfunc
    from replica.registry.tags import json_metrics

    if family == "synthetic":
        served: Any = pyfunc.SyntheticDetectorModel()
        signature, example = pyfunc.synthetic_signature(), pyfunc.synthetic_input_example()
    else:
        served, signature, example = (
            pyfunc.CopyDetectorModel(),
            _signature(),
            pyfunc.input_example(),
        )

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
            if files:
                with tempfile.TemporaryDirectory() as tmp:
                    for rel, content in files.items():
                        target = Path(tmp) / rel
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(content)
                    mlflow.log_artifacts(tmp)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=served,
                artifacts={"model_dir": str(model_dir)},
                code_paths=[str(code_dir)],
                signature=signature,
                input_example=example,
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
        cand_metrics = _run_metrics(client, candidate.run_id, f"candidate v{version}")
        cand_value = _pick(cand_metrics, metric, f"candidate v{version}", candidate.run_id)
        hold_value = None
        if holder is not None:
            who = f"@{alias} holder v{holder.version}"
            hold_value = _pick(_run_metrics(client, holder.run_id, who), metric, who, holder.run_id)
    return Standing(
        candidate_version=str(candidate.version),
        candidate_value=cand_value,
        champion_version=str(holder.version) if holder is not None else None,
        champion_value=hold_value,
        candidate_tags=dict(candidate.tags),
        champion_tags=dict(holder.tags) if holder is not None else None,
        candidate_metrics=cand_metrics,
    )


@dataclass(frozen=True)
class LockHolder:
    """Who holds the promotion lock: the owner label, and the process (host, pid, start time)
    that took it at ``acquired_at``."""

    owner: str
    acquired_at: float
    host: str = ""
    pid: int = 0
    started: float | None = None

    @property
    def key(self) -> tuple[str, float]:
        return self.owner, self.acquired_at

    def dead(self) -> bool:
        """Known to be dead: it ran on this host and its pid is gone (or now another process's)."""
        return (
            self.host == socket.gethostname() and self.pid > 0 and not alive(self.pid, self.started)
        )

    def __str__(self) -> str:
        where = f" (pid {self.pid} on {self.host})" if self.host else ""
        return f"{self.owner} since {self.acquired_at:.0f}{where}"


@contextmanager
def promotion_lock(
    client: Any,
    tracking: Tracking,
    model_name: str,
    owner: str,
    wait_s: float = LOCK_WAIT_S,
    ttl_s: float = LOCK_TTL_S,
) -> Iterator[None]:
    """Hold the registry-wide promotion lock of ``model_name`` while the body runs.

    MLflow has no compare-and-set on aliases, so check-then-set is made exclusive with a lock
    every promoter sharing the tracking server sees: the registered model ``<name>.lock``. Its
    creation is atomic (the store's unique name: a second create fails with
    RESOURCE_ALREADY_EXISTS), and deleting it releases the lock. The lock names its holder
    (owner, host, pid and the pid's start time): a holder on this host whose process is gone
    (``kill -9``) is broken at once; one on another host only once older than ``ttl_s``.
    Waiting longer than ``wait_s`` is an error naming the holder.
    """
    from mlflow.exceptions import MlflowException

    lock = f"{model_name}{LOCK_SUFFIX}"
    deadline = time.monotonic() + wait_s
    pid = os.getpid()
    me = {"owner": owner, "host": socket.gethostname(), "pid": str(pid)}
    me["pid_started"] = f"{started_at(pid) or 0.0:.3f}"
    with _errors(tracking, f"taking the promotion lock {lock!r}"):
        while True:
            stamp = f"{time.time():.3f}"
            mine = (owner, float(stamp))
            try:
                client.create_registered_model(
                    lock,
                    tags={**me, "acquired_at": stamp},
                    description="replica promotion lock; deleted when the promotion ends",
                )
                break
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            held = _lock_holder(client, lock)
            if held is not None and held.key == mine:  # our create's reply was lost (retry)
                break
            if held is not None and (held.dead() or time.time() - held.acquired_at > ttl_s):
                # abandoned. Re-read first, so that of two waiters who saw the same abandoned
                # lock the second does not delete the first's new one.
                if _lock_holder(client, lock) == held:
                    with suppress(MlflowException):  # another waiter may break it first
                        client.delete_registered_model(lock)
                continue
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"promotion lock {lock!r} is held by {held or 'another promoter'}; "
                    f"waited {wait_s:.0f} s"
                )
            time.sleep(random.uniform(0.05, 0.3))
    try:
        yield
    finally:
        # Release only our own lock: if ours outlived ttl_s and another promoter broke it and
        # took its own, that one is not ours to delete. An unreleased lock expires after ttl_s.
        with suppress(Exception):
            held = _lock_holder(client, lock)
            if held is not None and held.key == mine:
                client.delete_registered_model(lock)


def _lock_holder(client: Any, lock: str) -> LockHolder | None:
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(lock).tags
    except MlflowException:  # released between our create and this read
        return None

    def number(key: str) -> float:
        try:
            return float(tags.get(key, "0"))
        except ValueError:
            return 0.0

    return LockHolder(
        owner=str(tags.get("owner")),
        acquired_at=number("acquired_at"),
        host=str(tags.get("host", "")),
        pid=int(number("pid")),
        started=number("pid_started") or None,
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
            _verify_alias(client, model_name, alias, standing.candidate_version)
        client.set_registered_model_tag(
            model_name, "promote.last", f"v{standing.candidate_version} {tags['promote.decision']}"
        )
    return previous


def rollback(client: Any, tracking: Tracking, model_name: str, alias: str) -> tuple[str, str]:
    """Give ``alias`` back to the version holding ``previous``; the displaced holder becomes
    ``previous`` (so a second rollback undoes the first). Returns (restored, displaced)."""
    with _errors(tracking, f"rolling back @{alias} of {model_name!r}"):
        aliases = client.get_registered_model(model_name).aliases
        restored, displaced = aliases.get(PREVIOUS_ALIAS), aliases.get(alias)
        if restored is None or displaced is None:
            raise RegistryError(
                f"cannot roll back {model_name!r}: it needs both @{alias} and @{PREVIOUS_ALIAS} "
                f"(has {dict(sorted(aliases.items()))})"
            )
        restored, displaced = str(restored), str(displaced)
        client.set_registered_model_alias(model_name, alias, restored)
        client.set_registered_model_alias(model_name, PREVIOUS_ALIAS, displaced)
        _verify_alias(client, model_name, alias, restored)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        client.set_model_version_tag(model_name, restored, "promote.rollback", f"restored {stamp}")
        client.set_model_version_tag(
            model_name, displaced, "promote.rollback", f"rolled back {stamp}"
        )
        client.set_registered_model_tag(model_name, "promote.last", f"v{restored} rollback")
    return restored, displaced


def _verify_alias(client: Any, model_name: str, alias: str, version: str) -> None:
    """Re-read the alias after setting it: under the lock it must hold ``version``; anything
    else means a writer outside ``replica promote`` moved it, which is reported, not hidden."""
    now = client.get_registered_model(model_name).aliases.get(alias)
    if str(now) != version:
        raise RegistryError(
            f"@{alias} of {model_name!r} points at v{now} right after it was set to v{version}: "
            "something outside `replica promote` moves aliases; check the registry"
        )


def _run_metrics(client: Any, run_id: str | None, who: str) -> dict[str, float]:
    if not run_id:
        raise RegistryError(f"{who} has no source run, so its metrics are unknown")
    return {k: float(v) for k, v in client.get_run(run_id).data.metrics.items()}


def _pick(values: Mapping[str, float], metric: str, who: str, run_id: str | None) -> float:
    if metric not in values:
        raise RegistryError(
            f"{who} (run {run_id}) has no metric {metric!r}; it has {sorted(values)}"
        )
    return values[metric]


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


def find_version(
    client: Any, tracking: Tracking, name: str, alias: str | None, version: str | None
) -> dict[str, Any]:
    """One model version (by alias or number) as a plain dict: name, version, aliases, run_id,
    tags."""
    with _errors(
        tracking, f"reading {name!r}@{alias}" if alias else f"reading {name!r} v{version}"
    ):
        mv = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(name, version)
        )
        return _version_dict(mv)


def read_run(client: Any, tracking: Tracking, run_id: str) -> dict[str, Any]:
    """A run's id, experiment, params and metrics."""
    with _errors(tracking, f"reading run {run_id}"):
        run = client.get_run(run_id)
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }


def read_run_json(tracking: Tracking, run_id: str, path: str) -> dict[str, Any] | None:
    """A JSON artifact of a run, or None when the run has no such artifact."""
    import json
    import tempfile

    import mlflow
    from mlflow.exceptions import MlflowException

    with (
        _errors(tracking, f"reading artifact {path!r} of run {run_id}"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=tracking.uri
            )
        except (MlflowException, OSError):
            return None
        data = json.loads(Path(local).read_text())
    return data if isinstance(data, dict) else None


def all_versions(client: Any, tracking: Tracking) -> list[dict[str, Any]]:
    """Every version of every registered model (promotion locks excluded), as plain dicts."""
    out: list[dict[str, Any]] = []
    aliases: dict[tuple[str, str], list[str]] = {}
    with _errors(tracking, "listing model versions"):
        # version search results do not carry aliases in every store: take them from the models
        for model in _pages(lambda token: client.search_registered_models(page_token=token)):
            for alias, version in model.aliases.items():
                aliases.setdefault((model.name, str(version)), []).append(alias)
        for mv in _pages(lambda token: client.search_model_versions(page_token=token)):
            if not mv.name.endswith(LOCK_SUFFIX):
                out.append(
                    _version_dict(mv) | {"aliases": aliases.get((mv.name, str(mv.version)), [])}
                )
    return out


def _pages(search: Any) -> Iterator[Any]:
    token = None
    while True:
        page = search(token)
        yield from page
        token = page.token
        if not token:
            return


def _version_dict(mv: Any) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": str(mv.version),
        "aliases": list(getattr(mv, "aliases", []) or []),
        "run_id": mv.run_id,
        "tags": dict(mv.tags),
    }


def download_model_dir(tracking: Tracking, model_uri: str, dst: Path) -> Path:
    """The model directory a registered version carries (its ``model_dir`` artifact), fetched
    from ``models:/<name>@<alias>`` or ``models:/<name>/<version>`` into ``dst``."""
    import mlflow

    with _errors(tracking, f"fetching {model_uri!r}"):
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri, dst_path=str(dst), tracking_uri=tracking.uri
            )
        )
    found = [
        p.parent for p in local.rglob("config.json") if (p.parent / "model.safetensors").is_file()
    ]
    if not found:
        raise RegistryError(f"{model_uri!r} holds no model directory (config.json + weights)")
    return found[0]
