"""The Airflow DAGs parse cleanly and run exactly the ``dvc.yaml`` commands, in their order.

``dataset_refresh`` and ``retrain`` together hold one task per ``dvc.yaml`` stage, and
``dvc.yaml`` is read here, so a changed stage command fails these tests until the DAGs follow.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.orchestration.conftest import DAGS, ROOT

DAG_FILE = DAGS / "replica_dags.py"
DVC_TASKS = {"commit", "push"}  # the DVC commands around the replica steps
WORKSPACE_TASKS = {"lock", "unlock", "publish"}  # `replica workspace ...`: lease and announcement
GPU_TASKS = {"pairs", "invert", "train_copy", "train_synthetic"}


@pytest.fixture(scope="module")
def dags(dag_bag: Any) -> dict[str, Any]:
    assert dag_bag.import_errors == {}, dag_bag.import_errors
    return dag_bag.dags


def _replica_tasks(dag: Any) -> list[Any]:
    """The tasks that run a ``dvc.yaml`` stage."""
    return [t for t in dag.tasks if t.task_id not in DVC_TASKS | WORKSPACE_TASKS]


def test_dag_folder_parses_cleanly_into_the_four_dags(dag_bag: Any) -> None:
    assert dag_bag.import_errors == {}
    assert sorted(dag_bag.dag_ids) == ["audit", "dataset_refresh", "promote", "retrain"]


def test_refresh_and_retrain_hold_one_task_per_dvc_stage(dags: dict, dvc_stages: dict) -> None:
    refresh = {t.task_id for t in _replica_tasks(dags["dataset_refresh"])}
    retrain = {t.task_id for t in _replica_tasks(dags["retrain"])}
    assert refresh.isdisjoint(retrain)
    assert sorted(refresh | retrain) == sorted(dvc_stages)
    steps = ("train", "evaluate", "register", "promote")
    assert retrain == {f"{s}_{f}" for s in steps for f in ("copy", "synthetic")}


def test_each_replica_task_runs_its_dvc_command_in_the_project_dir(
    dags: dict, dvc_stages: dict
) -> None:
    for dag_id in ("dataset_refresh", "retrain"):
        for task in _replica_tasks(dags[dag_id]):
            assert task.bash_command == " ".join(dvc_stages[task.task_id].argv), task.task_id
            assert "params.project_dir" in task.cwd, "cwd must be a run-time template"


def test_task_order_matches_dvc_dependencies(dags: dict, dvc_ancestors: dict) -> None:
    """Within each DAG, a task waits for every stage upstream of it that the DAG also runs, and
    for nothing else but what the one ``commit`` waits for (every family's training)."""
    for dag in (dags["dataset_refresh"], dags["retrain"]):
        ids = {t.task_id for t in _replica_tasks(dag)}
        for task in _replica_tasks(dag):
            upstream = task.get_flat_relative_ids(upstream=True)
            expected = dvc_ancestors[task.task_id] & ids
            if "commit" in upstream:
                expected |= dag.get_task("commit").get_flat_relative_ids(upstream=True)
            other = DVC_TASKS | WORKSPACE_TASKS
            assert upstream - other == expected - other, task.task_id


def test_commit_records_every_stage_the_dag_ran_before_it(dags: dict, dvc_stages: dict) -> None:
    """``dvc commit`` targets are real stages, exactly those the DAG ran, once all passed."""
    for dag_id in ("dataset_refresh", "retrain"):
        dag = dags[dag_id]
        commit = dag.get_task("commit")
        targets = commit.bash_command.split()
        assert targets[:3] == ["dvc", "commit", "--force"]
        as_tasks = {t.replace("@", "_") for t in targets[3:]}
        assert all(t.count("@") <= 1 for t in targets[3:])
        assert as_tasks <= set(dvc_stages), as_tasks - set(dvc_stages)
        ran = {t.task_id for t in _replica_tasks(dag)}
        assert as_tasks == ran & commit.get_flat_relative_ids(upstream=True)
    for family in ("copy", "synthetic"):
        register = dags["retrain"].get_task(f"register_{family}")
        assert register.get_flat_relative_ids(upstream=True) >= {"commit"}


def test_push_uploads_the_cached_outputs_and_publish_emits_the_asset(
    dags: dict, dvc_stages: dict
) -> None:
    refresh, retrain = dags["dataset_refresh"], dags["retrain"]
    push = refresh.get_task("push")
    pushed = push.bash_command.split()
    assert pushed[:2] == ["dvc", "push"]
    assert set(pushed[2:]) == {
        t.task_id for t in _replica_tasks(refresh) if not t.task_id.startswith("validate_")
    }
    assert push.upstream_task_ids == {"commit"}
    publish = refresh.get_task("publish")
    assert publish.bash_command == "replica workspace publish data/pairs"
    assert publish.upstream_task_ids == {"push"}
    assert publish.skip_on_exit_code == [99], "an unchanged dataset skips: no Asset event"
    (asset,) = publish.outlets
    assert asset.name == "replica_pairs"
    assert [t.task_id for t in refresh.tasks if t.outlets] == ["publish"]
    assert list(retrain.timetable.asset_condition.objects) == [asset], "retrain runs on that Asset"


def test_refresh_and_retrain_run_inside_the_workspace_lease(dags: dict) -> None:
    """``lock`` (setup) precedes every task, ``unlock`` (its teardown) follows every task."""
    for dag_id in ("dataset_refresh", "retrain"):
        dag = dags[dag_id]
        lock, unlock = dag.get_task("lock"), dag.get_task("unlock")
        assert lock.is_setup and unlock.is_teardown, dag_id
        others = {t.task_id for t in dag.tasks} - {"lock", "unlock"}
        assert lock.get_flat_relative_ids(upstream=False) >= others | {"unlock"}, dag_id
        assert unlock.get_flat_relative_ids(upstream=True) >= others | {"lock"}, dag_id
        owner = "--owner '{{ dag.dag_id }}/{{ run_id }}'"
        assert lock.bash_command == f"replica workspace lock {owner}"
        assert unlock.bash_command == f"replica workspace unlock {owner}"
    assert {t.task_id for t in dags["promote"].tasks} == {"promote"}, "a rollback never waits"
    assert {t.task_id for t in dags["audit"].tasks} == {"audit"}, "an audit writes no DVC output"


def test_schedules(dags: dict) -> None:
    assert dags["dataset_refresh"].schedule == "0 2 * * *"
    assert dags["promote"].schedule is None
    assert dags["audit"].schedule == "0 4 * * 1"
    for dag in dags.values():
        assert dag.max_active_runs == 1, "runs share one workspace"
        assert dag.catchup is False
        assert dag.dagrun_timeout is not None


def test_promote_is_manual_with_validated_params(dags: dict) -> None:
    promote = dags["promote"]
    assert promote.params["rollback"] is False
    assert promote.params["registration"] == "data/registry/copy/registration.json"
    assert promote.params["family"] == "copy"
    (task,) = promote.tasks
    assert "params.rollback" in task.bash_command
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="does not match"):  # no shell injection
        promote.params.get_param("registration").resolve("x; rm -rf /")


def test_audit_runs_replica_audit_with_validated_params(dags: dict) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    audit = dags["audit"]
    (task,) = audit.tasks
    assert task.bash_command.startswith("replica audit --model {{ params.model }}")
    assert audit.params["model"] == "models:/replica-copy-detector@champion"
    for name in ("model", "images", "gallery", "generator"):
        with pytest.raises(ParamValidationError, match="does not match"):  # no shell injection
            audit.params.get_param(name).resolve("x; rm -rf /")


def test_failure_policy(dags: dict) -> None:
    """Only network-bound tasks retry; every task has a time limit and a failure alert."""
    retrying = {"crawl", "gallery", "push", "promote", "audit"}
    retrying |= {f"{s}_{f}" for s in ("register", "promote") for f in ("copy", "synthetic")}
    for dag in dags.values():
        assert dag.on_failure_callback is not None
        for task in dag.tasks:
            assert task.execution_timeout is not None, task.task_id
            assert task.on_failure_callback, task.task_id
            assert (task.retries > 0) == (task.task_id in retrying), task.task_id
            if task.retries:
                assert task.retry_exponential_backoff


def test_parsing_the_dags_imports_no_project_or_heavy_code() -> None:
    """The DAG file wires: parsing it must not pull in replica, torch, pandas or kfp."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        "heavy = {'replica', 'torch', 'pandas', 'kfp', 'numpy', 'kubernetes'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(DAG_FILE)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_execution_mode_is_an_import_error_that_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLICA_EXECUTION", "k8s")
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.dag_ids == []
    (error,) = bag.import_errors.values()
    assert "REPLICA_EXECUTION='k8s'" in error and "kubernetes" in error
