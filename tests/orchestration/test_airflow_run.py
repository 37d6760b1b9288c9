"""A real ``dag.test()`` run of the pipeline DAG, with ``replica`` replaced by a recorder on PATH.

The steps themselves are tested elsewhere; this proves the wiring Airflow adds: the project dir is
resolved at run time (from the run's param or the Variable), each command reaches the shell
intact, and the tasks run in an order ``dvc.yaml`` allows.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.orchestration.conftest import DAGS

pytestmark = pytest.mark.integration

RECORDER = """#!/bin/sh
printf '%s\\t%s\\n' "$PWD" "$*" >> "$REPLICA_CALLS"
"""


@pytest.mark.parametrize("source", ["param", "variable"])
def test_dag_run_executes_every_step_in_dvc_order(
    source: str,
    airflow_db: Path,
    dvc_stages: dict,
    dvc_ancestors: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir, project, calls = tmp_path / "bin", tmp_path / "project", tmp_path / "calls.tsv"
    bin_dir.mkdir()
    project.mkdir()
    (bin_dir / "replica").write_text(RECORDER)
    (bin_dir / "replica").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REPLICA_CALLS", str(calls))

    if source == "variable":  # a deployment default: AIRFLOW_VAR_* is read when the task runs
        monkeypatch.setenv("AIRFLOW_VAR_REPLICA_PROJECT_DIR", str(project))
        conf = {}
    else:
        conf = {"project_dir": str(project)}

    # A fresh parse per run: dag.test() keeps the run's conf in the DAG object's params.
    dag = DagBag(dag_folder=str(DAGS)).dags["replica_pipeline"]
    run = dag.test(run_conf=conf)

    assert run.state == "success"
    rows = [line.split("\t") for line in calls.read_text().splitlines()]
    assert {cwd for cwd, _ in rows} == {str(project)}
    by_argv = {stage.argv[1:]: name for name, stage in dvc_stages.items()}
    order = [by_argv[tuple(shlex.split(args))] for _, args in rows]
    assert sorted(order) == sorted(dvc_stages)
    for i, name in enumerate(order):
        assert dvc_ancestors[name] <= set(order[:i]), f"{name} ran before {dvc_ancestors[name]}"
