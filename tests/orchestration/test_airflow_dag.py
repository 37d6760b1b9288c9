"""The Airflow DAG parses cleanly and runs exactly the ``dvc.yaml`` commands, in their order."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.orchestration.conftest import DAGS, ROOT

DAG_ID = "replica_pipeline"


@pytest.fixture(scope="module")
def dag(dag_bag: Any) -> Any:
    assert dag_bag.import_errors == {}, dag_bag.import_errors
    return dag_bag.dags[DAG_ID]


def test_dag_folder_holds_only_the_pipeline_and_parses_cleanly(dag_bag: Any) -> None:
    assert dag_bag.import_errors == {}
    assert sorted(dag_bag.dag_ids) == [DAG_ID]


def test_one_task_per_dvc_stage(dag: Any, dvc_stages: dict) -> None:
    assert sorted(dag.task_ids) == sorted(dvc_stages)


def test_task_order_matches_dvc_dependencies(dag: Any, dvc_ancestors: dict) -> None:
    actual = {t.task_id: t.get_flat_relative_ids(upstream=True) for t in dag.tasks}
    assert actual == dvc_ancestors


def test_each_task_runs_its_dvc_command_in_the_project_dir(dag: Any, dvc_stages: dict) -> None:
    for task in dag.tasks:
        assert task.bash_command == " ".join(dvc_stages[task.task_id].argv), task.task_id
        assert "params.project_dir" in task.cwd, "cwd must be a run-time template"


def test_failure_policy(dag: Any) -> None:
    """Data failures are not transient: validations never retry; every task has a time limit."""
    for task in dag.tasks:
        assert task.execution_timeout is not None, task.task_id
        if task.task_id.startswith("validate_"):
            assert task.retries == 0, task.task_id
    assert dag.get_task("crawl").retries == 1
    assert dag.max_active_runs == 1, "runs share the project dir"
    assert dag.schedule is None, "manual runs only"


def test_parsing_the_dag_imports_no_project_or_heavy_code() -> None:
    """The DAG file wires: parsing it must not pull in replica, torch, pandas or kfp."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        "print(sorted({'replica', 'torch', 'pandas', 'kfp', 'numpy'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS / "replica_pipeline.py")],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
