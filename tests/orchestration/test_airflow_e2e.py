"""``dataset_refresh`` then ``retrain`` with ``dag.test()`` in local mode, on the demo corpus.

The real ``replica`` and ``dvc`` commands run in a scratch copy of the project. The refresh's
``publish`` task records an event on the ``replica_pairs`` Asset; that event queues ``retrain``
(the scheduler's input, checked in the metadata DB); the retrain run then ends with a champion
whose lineage names the dataset the refresh pushed and the commit the run ran at. A second
refresh over the same input reproduces every dataset bit for bit (the same DVC hashes), so it
announces nothing and queues no retrain.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

from tests.orchestration.conftest import DAGS, scratch_project

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """Run with exactly ``env`` (the tasks' processes inherit it), then restore."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> tuple[Path, dict[str, str]]:
    return scratch_project(tmp_path_factory.mktemp("airflow-e2e"), corpus)


@pytest.fixture(scope="module")
def refreshed(project: tuple[Path, dict[str, str]], airflow_db: Path) -> tuple[Path, Any]:
    """The project dir comes from the Variable, as in a deployment."""
    work, env = project
    # dag.test() serializes every DAG of the folder, so retrain's Asset schedule is known.
    with _environ({**env, "AIRFLOW_VAR_REPLICA_PROJECT_DIR": str(work)}):
        run = DagBag(dag_folder=str(DAGS)).dags["dataset_refresh"].test()
    return work, run


@pytest.fixture(scope="module")
def retrained(
    project: tuple[Path, dict[str, str]], refreshed: tuple[Path, Any]
) -> tuple[Path, Any]:
    """The project dir comes from the run's param."""
    work, env = project
    with _environ(env):
        dag = DagBag(dag_folder=str(DAGS)).dags["retrain"]
        run = dag.test(run_conf={"project_dir": str(work)})
    return work, run


def _outs(work: Path) -> dict[str, str]:
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for stage in lock.values() for o in stage.get("outs", [])}


@pytest.fixture(scope="module")
def refreshed_again(
    project: tuple[Path, dict[str, str]], retrained: tuple[Path, Any]
) -> tuple[dict[str, str], dict[str, str], Any]:
    """The same refresh once more, after retrain: dataset hashes before and after, the run."""
    work, env = project
    before = _outs(work)
    with _environ({**env, "AIRFLOW_VAR_REPLICA_PROJECT_DIR": str(work)}):
        run = DagBag(dag_folder=str(DAGS)).dags["dataset_refresh"].test()
    return before, _outs(work), run


def test_refresh_runs_every_step_and_pushes_the_data(refreshed: tuple[Path, Any]) -> None:
    work, run = refreshed
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert {ti.task_id for ti in run.get_task_instances() if ti.state == "success"} == {
        t.task_id for t in run.dag.tasks
    }
    assert not (work / ".replica" / "lease.json").exists(), "the lease was given back"
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    assert {"crawl", "extract", "dedup", "pairs", "validate@pairs"} <= set(lock)
    pairs_md5 = next(o["md5"] for o in lock["pairs"]["outs"] if o["path"] == "data/pairs")
    remote = work.parent / "dvc-remote" / "files" / "md5" / pairs_md5[:2] / pairs_md5[2:]
    assert remote.is_file(), "data/pairs was not pushed to the remote"
    report = json.loads((work / "reports" / "validate" / "pairs.json").read_text())
    assert report["success"] is True


def test_refresh_asset_event_queues_retrain(refreshed: tuple[Path, Any]) -> None:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    _, run = refreshed
    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == "replica_pairs"))
        events = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset.id)).all()
        assert [(e.source_dag_id, e.source_task_id, e.source_run_id) for e in events] == [
            ("dataset_refresh", "publish", run.run_id)
        ]
        queued = session.scalars(
            select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset.id)
        ).all()
        assert queued == ["retrain"]
        _, ready = DagModel.dags_needing_dagruns(session)
        assert "retrain" in ready, "retrain's Asset condition is not met by the event"


def test_retrain_ends_with_a_champion_built_on_the_pushed_data(
    retrained: tuple[Path, Any],
) -> None:
    from mlflow import MlflowClient

    work, run = retrained
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    promotion = json.loads((work / "data" / "registry" / "copy" / "promotion.json").read_text())
    params = yaml.safe_load((work / "params.yaml").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{work}/mlruns/mlflow.db")
    champion = client.get_model_version_by_alias(
        params["register"]["copy"]["model_name"], "champion"
    )
    assert promotion["promoted"] is True
    assert str(champion.version) == promotion["alias_version"]
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    pairs_md5 = next(o["md5"] for o in lock["pairs"]["outs"] if o["path"] == "data/pairs")
    assert champion.tags["dvc.data/pairs"] == pairs_md5
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert (champion.tags["git.commit"], champion.tags["git.dirty"]) == (head, "false")
    assert champion.tags["orchestrator"] == "airflow"
    # the params the steps ran with, from their outputs' sidecars
    run_params = client.get_run(champion.run_id).data.params
    assert run_params["copy.steps"] == str(params["copy"]["steps"])


def test_a_second_refresh_of_the_same_input_reproduces_every_dataset_and_announces_nothing(
    refreshed: tuple[Path, Any], refreshed_again: tuple[dict[str, str], dict[str, str], Any]
) -> None:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    _, first = refreshed
    before, after, run = refreshed_again
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    refreshed_outputs = [
        p for p in before if not p.startswith(("data/model", "data/eval", "data/registry"))
    ]
    assert {p: after[p] for p in refreshed_outputs} == {p: before[p] for p in refreshed_outputs}
    assert {"data/crawl", "data/extract", "data/dedup", "data/pairs"} <= set(refreshed_outputs)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["publish"] == "skipped" and states["unlock"] == "success"
    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == "replica_pairs"))
        events = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset.id)).all()
        assert [e.source_run_id for e in events] == [first.run_id], "no second Asset event"
        queued = session.scalars(
            select(AssetDagRunQueue).where(AssetDagRunQueue.asset_id == asset.id)
        ).all()
        assert [q.target_dag_id for q in queued] == ["retrain"], "queued once, by the first"
        started = min(ti.start_date for ti in run.get_task_instances() if ti.start_date)
        assert all(q.created_at < started for q in queued), "retrain queued again"
