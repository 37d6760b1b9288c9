"""Register, promote, serve and roll back against a real MLflow server whose artifacts live in
(moto's) S3; racing promoters leave one consistent champion; a dead server changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from replica.registry.decisions import read_decisions
from replica.registry.pyfunc import input_example
from tests.integration.conftest import ARTIFACT_BUCKET, S3
from tests.steps.test_promote import PCC_GATE, promote
from tests.steps.test_register import closed_port, register

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BIN = Path(sys.executable).parent


@pytest.fixture
def server(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """Steps in tmp_path talk to the server only through MLFLOW_TRACKING_URI, like a user."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return MlflowClient(mlflow_server)


def named(name: str) -> tuple[str, str]:
    return ("--set", f"register.copy.model_name={name}")


def holder(client: MlflowClient, name: str, alias: str = "champion") -> str | None:
    version = client.get_registered_model(name).aliases.get(alias)
    return str(version) if version is not None else None


def test_register_promote_serve_refuse_and_roll_back(
    server: MlflowClient, tmp_path: Path, params_file: Path, s3: S3
) -> None:
    name = "flow"
    register(tmp_path / "v1", params_file, 0.5, *named(name))
    code, out, doc = promote(tmp_path / "v1", params_file)
    assert code == 0 and doc and doc["decision"] == "promoted", out
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=ARTIFACT_BUCKET)["Contents"]]
    assert any(k.endswith("/MLmodel") for k in keys), keys  # the model files are in S3
    assert any(
        k.endswith("lineage/lineage.json") or k.endswith("plots/predicted_vs_label.png")
        for k in keys
    )

    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    pred = model.predict(input_example())
    assert pred["predicted"].between(0, 1).all() and pred["level"].between(0, 5).all()

    register(tmp_path / "v2", params_file, 0.4, *named(name))
    code, out, doc = promote(tmp_path / "v2", params_file)
    assert code == 0 and doc and doc["code"] == "not_better" and "REFUSED" in out
    assert holder(server, name) == "1" and holder(server, name, "previous") is None

    register(tmp_path / "v3", params_file, 0.7, *named(name))
    code, out, doc = promote(tmp_path / "v3", params_file)
    assert code == 0 and doc and doc["code"] == "beats_champion"
    assert (holder(server, name), holder(server, name, "previous")) == ("3", "1")

    code, out, doc = promote(tmp_path / "v3", params_file, "--rollback")
    assert code == 0 and doc and doc["alias_version"] == "1", out
    assert (holder(server, name), holder(server, name, "previous")) == ("1", "3")
    assert server.get_registered_model(name).tags["promote.last"] == "v1 rollback"
    table = read_decisions(tmp_path / "reports" / "promote" / "decisions.jsonl")
    assert [r["decision"] for r in table] == ["promoted", "refused", "promoted", "rollback"]


def test_racing_promotions_leave_one_consistent_champion(
    server: MlflowClient, mlflow_server: str, tmp_path: Path, params_file: Path
) -> None:
    name = "race"
    register(tmp_path / "v1", params_file, 0.5, *named(name))
    assert promote(tmp_path / "v1", params_file)[0] == 0
    register(tmp_path / "a", params_file, 0.7, *named(name))
    register(tmp_path / "b", params_file, 0.8, *named(name))
    table = tmp_path / "race.jsonl"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_server,
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    procs = [
        subprocess.Popen(
            [
                str(BIN / "replica"),
                "promote",
                "--registration",
                str(tmp_path / c / "registry" / "registration.json"),
                "--output",
                str(tmp_path / f"{c}.json"),
                "--decisions",
                str(table),
                "--params",
                str(params_file),
                *PCC_GATE,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for c in ("a", "b")
    ]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs

    # the better candidate holds the alias whatever the order, and the decisions are serial:
    # no two promotions displaced the same holder (each saw the other's result)
    assert holder(server, name) == "3"
    rows = read_decisions(table)
    promoted = [r for r in rows if r["promoted"]]
    befores = [r["champion_version_before"] for r in promoted]
    assert len(rows) == 2 and len(befores) == len(set(befores)), rows
    assert holder(server, name, "previous") == promoted[-1]["champion_version_before"]
    assert [
        m.name for m in server.search_registered_models(filter_string=f"name LIKE '{name}%'")
    ] == [name]


def test_promotion_with_the_server_down_fails_clearly_and_changes_nothing(
    server: MlflowClient, tmp_path: Path, params_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "down"
    register(tmp_path / "v1", params_file, 0.5, *named(name))
    assert promote(tmp_path / "v1", params_file)[0] == 0
    register(tmp_path / "v2", params_file, 0.9, *named(name))
    table = tmp_path / "reports" / "promote" / "decisions.jsonl"
    before = table.read_text()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    code, out, doc = promote(tmp_path / "v2", params_file)
    assert code == 2 and "[promote] error" in out and "unreachable" in out and doc is None
    assert table.read_text() == before
    assert holder(server, name) == "1"
    assert "promote.decision" not in server.get_model_version(name, "2").tags
    assert (
        json.loads((tmp_path / "v2" / "registry" / "registration.json").read_text())["version"]
        == "2"
    )
