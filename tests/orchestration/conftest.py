"""Orchestration fixtures: a throwaway Airflow home, the DAG bag, ``dvc.yaml`` as the reference,
and scratch copies of the project to run the DAGs and pipelines in.

Airflow reads its home and config when first imported, so the environment is set here, at
conftest import time, before any test module imports ``airflow``. DAGs start unpaused so that an
Asset event queues the DAGs scheduled on it, as in a deployment.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.scratch import copy_project

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="replica-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    AIRFLOW_HOME=_AIRFLOW_HOME,
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
)
os.environ.pop("REPLICA_EXECUTION", None)  # the DAGs' default (local) unless a test sets it
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Stage:
    """One expanded ``dvc.yaml`` stage, named like its Airflow task (``validate_extract``)."""

    name: str
    argv: tuple[str, ...]
    deps: tuple[str, ...]
    outs: tuple[str, ...]


def _paths(entries: list[Any]) -> tuple[str, ...]:
    """``outs``/``metrics`` entries are a path or ``{path: options}``."""
    return tuple(e if isinstance(e, str) else next(iter(e)) for e in entries)


def _expand(name: str, body: dict[str, Any]) -> list[Stage]:
    """A plain stage, or one stage per item of a ``foreach``: a list (``${item}`` substituted)
    or a mapping (``${key}`` and each ``${item.<field>}`` substituted)."""
    if "foreach" not in body:
        outs = _paths(body.get("outs", [])) + _paths(body.get("metrics", []))
        return [Stage(name, tuple(shlex.split(body["cmd"])), tuple(body.get("deps", [])), outs)]
    stages = []
    items = body["foreach"]
    for key, item in items.items() if isinstance(items, dict) else ((i, i) for i in items):
        text = yaml.safe_dump(body["do"]).replace("${key}", key)
        if isinstance(item, dict):
            for field, value in item.items():
                text = text.replace(f"${{item.{field}}}", str(value))
        else:
            text = text.replace("${item}", item)
        stages.extend(_expand(f"{name}_{key}", yaml.safe_load(text)))
    return stages


def _under(path: str, out: str) -> bool:
    return path == out or path.startswith(out.rstrip("/") + "/")


@pytest.fixture(scope="session")
def dvc_stages() -> dict[str, Stage]:
    """The stages of the repo's ``dvc.yaml``, in file order, ``foreach`` expanded."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stages = [s for name, body in spec["stages"].items() for s in _expand(name, body)]
    return {s.name: s for s in stages}


@pytest.fixture(scope="session")
def dvc_ancestors(dvc_stages: dict[str, Stage]) -> dict[str, set[str]]:
    """For each stage, every stage that must finish first (deps matched to other stages' outs)."""
    direct = {
        name: {
            other.name
            for other in dvc_stages.values()
            if other.name != name and any(_under(d, o) for d in s.deps for o in other.outs)
        }
        for name, s in dvc_stages.items()
    }

    def closure(name: str) -> set[str]:
        return set().union(*({u} | closure(u) for u in direct[name])) if direct[name] else set()

    return {name: closure(name) for name in dvc_stages}


@pytest.fixture(scope="session")
def dag_bag() -> Any:
    """The DAG folder parsed the way the dag-processor parses it (no database needed)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def scratch_project(base: Path, corpus: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the project in a fresh git repo at ``base/main`` beside a link to ``shared/``.

    The committed ``dvc.lock`` is part of it, as in a clone. Its DVC run cache is empty and its
    default remote is ``base/dvc-remote``, so nothing it runs touches the developer's checkout.
    Returns the copy and an env to run commands in it.
    """
    work = copy_project(base, corpus)
    (work / "dvc.lock").write_bytes((ROOT / "dvc.lock").read_bytes())  # tracked, as in a clone
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    for cmd in (
        ["git", "init", "-q"],
        [
            str(BIN / "dvc"),
            "remote",
            "add",
            "--local",
            "--default",
            "scratch",
            str(base / "dvc-remote"),
        ],
        ["git", "add", "-A"],
        [*git, "commit", "-qm", "scratch"],
    ):
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (cmd, done.stderr)
    return work, env


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in the throwaway AIRFLOW_HOME (``dag.test()`` needs one)."""
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"airflow db migrate failed:\n{done.stderr[-2000:]}")
    return Path(_AIRFLOW_HOME) / "airflow.db"
