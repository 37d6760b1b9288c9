"""Lineage tags and params for a registered model, computed from plain values.

A model version carries enough tags to answer "where did this come from?" without DVC or git
at hand: the git commit (and whether the tree was dirty), the params hash, the content hash of
every input of the ``train`` stage from ``dvc.lock``, and the orchestrator's run id.
"""

from __future__ import annotations

import hashlib
import math
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from replica.lineage import StageLock
from replica.lineage.graph import data_entries, upstream

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
    if stages is not None and lock is not None:
        # every dataset upstream of the stage, so `replica lineage data` finds the model by any
        for path, digest in data_entries(stages, upstream(stages, stage)[:-1]).items():
            tags[tag_key(f"dvc.{path}")] = digest or "none"
        for dep in lock.deps:
            tags[tag_key(f"dvc.{dep.path}")] = dep.hash or "none"
        for out in lock.outs:
            tags[tag_key(f"dvc.out.{out.path}")] = out.hash or "none"
    for var, tag in ORCHESTRATOR_ENV.items():
        if environ.get(var):
            tags[tag] = environ[var]
    tags.update(orchestrator_tags(environ))
    tags.update(code_tags(environ))
    return tags


def code_tags(environ: Mapping[str, str]) -> dict[str, str]:
    """The code that ran: the package version (``REPLICA_VERSION`` in the image) and, when set,
    the commit the image was built from (``REPLICA_GIT_COMMIT``, baked in at build time).

    In a pod, ``git.commit`` is the workspace checkout (what ``dvc.lock`` hashes) and
    ``code.commit`` the image's; the workspace job checks out the image's commit, so the two
    differ only when someone moved one without the other.
    """
    from replica import __version__

    tags = {"code.version": environ.get("REPLICA_VERSION") or __version__}
    if environ.get("REPLICA_GIT_COMMIT", "unknown") != "unknown":
        tags["code.commit"] = environ["REPLICA_GIT_COMMIT"]
    return tags


def orchestrator_tags(environ: Mapping[str, str]) -> dict[str, str]:
    """Which orchestrator ran the step and its run id: Airflow's DAG run, KFP's pipeline job
    (``KFP_RUN_ID``, which the component sets from ``{{$.pipeline_job_uuid}}``), or DVC (no run
    id of its own: ``dvc``). Outside any of them: ``none``."""
    if environ.get("AIRFLOW_CTX_DAG_RUN_ID"):
        return {"orchestrator": "airflow", "orchestrator.run_id": environ["AIRFLOW_CTX_DAG_RUN_ID"]}
    if environ.get("KFP_RUN_ID") or environ.get("KFP_POD_NAME"):
        run_id = environ.get("KFP_RUN_ID") or environ["KFP_POD_NAME"]
        return {"orchestrator": "kfp", "orchestrator.run_id": run_id}
    if environ.get("DVC_STAGE"):
        return {"orchestrator": "dvc", "orchestrator.run_id": "dvc"}
    return {"orchestrator": "none", "orchestrator.run_id": "none"}


def validation_tags(
    reports: Mapping[str, Mapping[str, Any]], required: Sequence[str] = ()
) -> dict[str, str]:
    """One tag per GX report (``validate.<name>`` = passed/failed; ``missing`` for a
    ``required`` report that is absent) and ``validate.passed``: ``true`` only when every
    report passed and none required is missing, ``unknown`` when there are no reports and
    none is required."""
    tags = {
        tag_key(f"validate.{name}"): "passed" if report.get("success") is True else "failed"
        for name, report in sorted(reports.items())
    }
    tags |= {tag_key(f"validate.{name}"): "missing" for name in required if name not in reports}
    if not tags:
        tags["validate.passed"] = "unknown"
    else:
        tags["validate.passed"] = str(all(v == "passed" for v in tags.values())).lower()
    return tags


def split_hash(pair_ids: Iterable[str]) -> str:
    """The identity of a test split: sha256 of its sorted pair ids (order-free, 16 hex)."""
    joined = "\n".join(sorted(str(p) for p in pair_ids))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def json_metrics(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """JSON has no NaN or infinity: write them as null in registration.json."""
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
