"""``dataset_refresh`` then ``retrain`` with ``dag.test()`` in local mode, on the demo corpus.

The real ``replica`` and ``dvc`` commands run in a scratch copy of the project. The refresh's
``push`` task records an event on the ``replica_pairs`` Asset; that event queues ``retrain`` (the
scheduler's input, checked in the metadata DB); the retrain run then ends with a champion whose
lineage names the dataset the refresh pushed.
"""

from __future__ import annotations

import json
import os
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


def test_refresh_runs_every_step_and_pushes_the_data(refreshed: tuple[Path, Any]) -> None:
    work, run = refreshed
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert {ti.task_id for ti in run.get_task_instances() if ti.state == "success"} == {
        t.task_id for t in run.dag.tasks
    }
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
            ("dataset_refresh", "push", run.run_id)
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
