"""Real ``dag.test()`` runs with ``replica`` and ``dvc`` replaced by recorders on PATH.

The steps themselves are tested elsewhere (and end to end in ``test_airflow_e2e``); this proves
the wiring Airflow adds: the project dir is resolved at run time (from the run's param or the
Variable), each command reaches the shell intact and in an order ``dvc.yaml`` allows, the
``promote`` DAG's params shape its command, and a failed step stops everything after it and is
reported on ``replica.alerts``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.orchestration.conftest import DAGS

pytestmark = pytest.mark.integration

RECORDER = """#!/bin/sh
{ printf '%s\\t%s' "$PWD" "$(basename "$0")"; printf '\\t%s' "$@"; printf '\\n'; } >> "$CALLS"
case " $* " in *" $FAIL_ON "*) exit 3;; esac
"""


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    """A project dir; ``replica``/``dvc`` append ``cwd, tool, args`` to the returned file."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.tsv"
    bin_dir.mkdir()
    (tmp_path / "project").mkdir()
    for tool in ("replica", "dvc"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("FAIL_ON", "--no-such-arg")
    return calls


def _rows(calls: Path) -> list[list[str]]:
    return [line.split("\t") for line in calls.read_text().splitlines()]


@pytest.mark.parametrize("source", ["param", "variable"])
def test_refresh_then_retrain_run_every_step_in_dvc_order(
    source: str,
    recorded: Path,
    dvc_stages: dict,
    dvc_ancestors: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = recorded.parent / "project"
    if source == "variable":  # a deployment default: AIRFLOW_VAR_* is read when the task runs
        monkeypatch.setenv("AIRFLOW_VAR_REPLICA_PROJECT_DIR", str(project))
        conf = {}
    else:
        conf = {"project_dir": str(project)}
    for dag_id in ("dataset_refresh", "retrain"):  # a fresh parse per run: conf sticks to params
        run = DagBag(dag_folder=str(DAGS)).dags[dag_id].test(run_conf=conf)
        assert run.state == "success", dag_id

    rows = _rows(recorded)
    assert {cwd for cwd, *_ in rows} == {str(project)}
    by_argv = {stage.argv[1:]: name for name, stage in dvc_stages.items()}

    def name(tool: str, args: list[str]) -> str:
        if tool == "dvc" or args[0] == "workspace":  # dvc commit/push, workspace lock/...
            return args[args[0] == "workspace"]
        return by_argv[tuple(args)]

    order = [name(tool, args) for _, tool, *args in rows]
    assert [o for o in order if o not in dvc_stages] == [
        *("lock", "commit", "push", "publish", "unlock"),
        *("lock", "commit", "unlock"),
    ]
    owners = [args[-1] for _, _, *args in rows if args[:2] in (["workspace", "lock"],)]
    assert [o.split("/")[0] for o in owners] == ["dataset_refresh", "retrain"]
    assert all(o.split("/", 1)[1] for o in owners), "the lease names the DAG run"
    steps = [o for o in order if o in dvc_stages]
    assert sorted(steps) == sorted(dvc_stages)
    for i, name in enumerate(steps):
        assert dvc_ancestors[name] <= set(steps[:i]), f"{name} ran before {dvc_ancestors[name]}"
    assert order.index("push") < order.index("train_copy"), "retrain starts after the push"


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({}, ["--registration", "data/registry/copy/registration.json"]),
        (
            {"registration": "data/registry/other.json"},
            ["--registration", "data/registry/other.json"],
        ),
        ({"rollback": True}, ["--rollback"]),
    ],
)
def test_promote_dag_params_shape_the_command(
    conf: dict, expected: list[str], recorded: Path
) -> None:
    project = recorded.parent / "project"
    dag = DagBag(dag_folder=str(DAGS)).dags["promote"]
    run = dag.test(run_conf={"project_dir": str(project), **conf})
    assert run.state == "success"
    ((_, tool, *args),) = _rows(recorded)
    assert [tool, *args] == [
        "replica",
        "promote",
        "--family",
        "copy",
        *expected,
        "--output",
        "data/registry/copy/promotion.json",
    ]


def test_a_failed_step_stops_the_run_and_raises_an_alert(
    recorded: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the gallery's report: validate_gallery fails with exit 3 (validation does not retry)
    monkeypatch.setenv("FAIL_ON", "reports/validate/gallery.json")
    project = recorded.parent / "project"
    dag = DagBag(dag_folder=str(DAGS)).dags["dataset_refresh"]
    with caplog.at_level(logging.ERROR, logger="replica.alerts"):
        run = dag.test(run_conf={"project_dir": str(project)})

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["validate_gallery"] == "failed" and states["dedup"] == "success"
    assert all(states[t] == "upstream_failed" for t in ("pairs", "commit", "push"))
    assert states["unlock"] == "success", "the lease is given back after a failure"
    ran = [args[0] for _, _, *args in _rows(recorded)]
    assert "pairs" not in ran and "push" not in ran
    alerts = [r.getMessage() for r in caplog.records if r.name == "replica.alerts"]
    assert any("dataset_refresh/validate_gallery" in a and "exit code 3" in a for a in alerts), (
        alerts
    )
