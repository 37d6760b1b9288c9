"""``replica lineage`` against a real embedded MLflow store: model -> data and data -> models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from replica.cli import app
from tests.conftest import ROOT
from tests.steps.test_register import LOCK, migrated_db, register

runner = CliRunner()
NAME = "replica-copy-detector"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One registered and promoted version in an embedded store, shared by the queries."""
    root = tmp_path_factory.mktemp("lineage")
    params_file = root / "params.yaml"
    params_file.write_text((ROOT / "params.yaml").read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        migrated_db(root / "mlruns")
        (root / "dvc.lock").write_text(LOCK)
        register(root, params_file, 0.6, "--lock", str(root / "dvc.lock"))
        reg = str(root / "registry" / "registration.json")
        args = ["promote", "--registration", reg, "--output", str(root / "p.json")]
        args += ["--set", "promote.copy.gate_metric=pcc", "--set", "promote.copy.beat_baselines=[]"]
        assert runner.invoke(app, [*args, "--params", str(params_file)]).exit_code == 0
    return root


@pytest.fixture
def registered(store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(store)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return store


def test_model_lineage_names_the_lock_hashes(registered: Path) -> None:
    res = runner.invoke(app, ["lineage", "model", f"{NAME}@champion", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["model"] == {
        "name": NAME,
        "version": "1",
        "aliases": ["champion"],
        "run_id": doc["run"]["run_id"],
    }
    assert {(d["path"], d["hash"]) for d in doc["datasets"]} == {("data/model", "33cc.dir")}
    assert {"path": "data/pairs", "hash": "11aa.dir"} in doc["inputs"]
    assert doc["params"]["copy.lr"] == "0.001" and doc["run"]["metrics"]["pcc"] == 0.6
    table = runner.invoke(app, ["lineage", "model", f"{NAME}/1"]).output
    assert "replica-copy-detector v1 @champion" in table and "11aa.dir" in table


def test_data_lineage_finds_the_model_by_path_or_hash(registered: Path) -> None:
    by_path = runner.invoke(app, ["lineage", "data", "data/pairs/", "--json"])
    assert by_path.exit_code == 0, by_path.output
    doc = json.loads(by_path.output)
    assert doc["hash"] == "11aa.dir" and [m["version"] for m in doc["models"]] == ["1"]
    by_hash = runner.invoke(app, ["lineage", "data", "11aa.dir"])
    assert "models built on" in by_hash.output
    unknown = runner.invoke(app, ["lineage", "data", "ffffffffffffffffffffffffffffffff"])
    assert unknown.exit_code == 0 and "no registered model version" in unknown.output


def test_unknown_alias_is_a_clear_error(registered: Path) -> None:
    res = runner.invoke(app, ["lineage", "model", f"{NAME}@nope"])
    assert res.exit_code == 2 and "[lineage] error" in res.output and "nope" in res.output
