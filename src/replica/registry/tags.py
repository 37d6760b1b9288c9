"""Lineage tags and params for a registered model, computed from plain values.

A model version carries enough tags to answer "where did this come from?" without DVC or git
at hand: the git commit (and whether the tree was dirty), the params hash, the content hash of
every input of the ``train`` stage from ``dvc.lock``, and the orchestrator's run id.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from replica.lineage import StageLock

# Orchestrator run ids, when the step runs under one: env var -> tag.
ORCHESTRATOR_ENV = {
    "AIRFLOW_CTX_DAG_ID": "orchestrator.airflow.dag_id",
    "AIRFLOW_CTX_DAG_RUN_ID": "orchestrator.airflow.dag_run_id",
    "KFP_RUN_ID": "orchestrator.kfp.run_id",
    "KFP_POD_NAME": "orchestrator.kfp.pod_name",
}

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists stay one value (MLflow params are strings)."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def check_metrics(raw: Any, source: str) -> dict[str, float]:
    """Metrics must be a flat mapping of names to numbers; anything else is an error."""
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{source} must be a non-empty mapping of metric name to number")
    bad = {k: v for k, v in raw.items() if isinstance(v, bool) or not isinstance(v, int | float)}
    if bad:
        raise ValueError(f"{source}: metric values must be numbers, got {bad}")
    return {str(k): float(v) for k, v in raw.items()}


def tag_key(name: str) -> str:
    """An MLflow-safe tag key: allowed characters only, and a path that normalizes to itself."""
    key = posixpath.normpath(_UNSAFE.sub("_", name))
    return key.lstrip("/")


def lineage_tags(
    git: Mapping[str, Any],
    params_hash: str,
    stages: Mapping[str, StageLock] | None,
    environ: Mapping[str, str],
    stage: str = "train",
) -> dict[str, str]:
    """Tags for the run and the model version; ``stages`` is None when there is no dvc.lock."""
    tags = {
        "git.commit": str(git.get("commit") or "unknown"),
        "git.dirty": "unknown" if git.get("dirty") is None else str(git["dirty"]).lower(),
        "params.hash": params_hash,
    }
    lock = (stages or {}).get(stage)
    tags["dvc.lock.present"] = str(lock is not None).lower()
    if lock is not None:
        for dep in lock.deps:
            tags[tag_key(f"dvc.{dep.path}")] = dep.hash or "none"
        for out in lock.outs:
            tags[tag_key(f"dvc.out.{out.path}")] = out.hash or "none"
    for var, tag in ORCHESTRATOR_ENV.items():
        if environ.get(var):
            tags[tag] = environ[var]
    return tags


def json_metrics(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """JSON has no NaN or infinity: write them as null in registration.json."""
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
