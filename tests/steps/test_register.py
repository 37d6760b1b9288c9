"""``replica register`` against a real embedded MLflow (SQLite + local artifacts in tmp_path)."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import PREDICTIONS
from replica.registry.pyfunc import input_example
from replica.registry.tags import split_hash
from tests.copyfix import complete_detector

runner = CliRunner()
TEST_IDS = ("p1", "p2", "p3")

LOCK = """\
schema: '2.0'
stages:
  train@copy:
    cmd: replica train --family copy --input data/pairs --output data/models/copy
    deps:
    - {path: data/pairs, hash: md5, md5: 11aa.dir, size: 10, nfiles: 2}
    - {path: src/replica/models, hash: md5, md5: 22bb.dir}
    outs:
    - {path: data/model, hash: md5, md5: 33cc.dir}
"""


def make_inputs(
    root: Path,
    pcc: float,
    seed: int = 0,
    test_ids: tuple[str, ...] = TEST_IDS,
    valid: bool = True,
    metrics: dict | None = None,
) -> tuple[Path, Path]:
    """A tiny saved model, evaluate's metrics.json and predictions, and validate's GX reports,
    as the upstream steps leave them (``test_ids``: the test split; ``valid``: GX passed)."""
    complete_detector(root / "model", seed)
    (root / "eval").mkdir(parents=True, exist_ok=True)
    # the size of a real evaluation's test split: promote.copy's minimums hold
    flat = {"pcc": pcc, "rmse": 0.2, "n_test": 300, "n_test_sources": 50, **(metrics or {})}
    (root / "eval" / "metrics.json").write_text(json.dumps(flat))
    pdf = [0.1, 0.1, 0.2, 0.3, 0.2, 0.1]
    rows = [
        {
            "pair_id": p,
            "split": "test",
            "family": "crop",
            "level": i % 6,
            "predicted": 0.5,
            "predicted_level": 3,
            "pdf": pdf,
        }
        for i, p in enumerate(test_ids)
    ]
    PREDICTIONS.write(rows, root / "eval")
    (root / "reports").mkdir(exist_ok=True)
    for name in ("extract", "dedup", "pairs"):
        ok = valid or name == "extract"
        report = {"success": ok, "datasets": [{"dataset": name, "success": ok, "failed": []}]}
        (root / "reports" / f"{name}.json").write_text(json.dumps(report))
    return root / "model", root / "eval"


def register(
    root: Path,
    params_file: Path,
    pcc: float,
    *extra: str,
    test_ids: tuple[str, ...] = TEST_IDS,
    valid: bool = True,
    metrics: dict | None = None,
) -> dict:
    """Run ``replica register`` on fresh inputs under ``root``; return registration.json."""
    model, metrics_dir = make_inputs(root, pcc, test_ids=test_ids, valid=valid, metrics=metrics)
    out = root / "registry" / "registration.json"
    args = ["register", "--model", str(model), "--metrics", str(metrics_dir)]
    args += ["--reports", str(root / "reports")]
    args += ["--output", str(out), "--params", str(params_file), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def migrated_db(directory: Path) -> Path:
    """An empty MLflow SQLite database with its schema created; copying it into a test saves
    the ~5 s of migrations a fresh store costs (each test still gets its own store)."""
    db = directory / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_db(empty_db: Path, directory: Path) -> Path:
    """A copy of the migrated template database as ``directory/mlflow.db``."""
    directory.mkdir(parents=True)
    return Path(shutil.copy(empty_db, directory / "mlflow.db"))


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated template database (test_promote imports this fixture too)."""
    return migrated_db(tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_db: Path) -> Path:
    """Run in tmp_path with the default (embedded) store: no MLFLOW_TRACKING_URI set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fresh_db(empty_db, tmp_path / "mlruns")
    return tmp_path


def test_register_logs_run_and_version_with_lineage(in_tmp: Path, params_file: Path) -> None:
    (in_tmp / "dvc.lock").write_text(LOCK)
    reg = register(in_tmp, params_file, 0.61, "--lock", str(in_tmp / "dvc.lock"))

    assert reg["model_name"] == "replica-copy-detector" and reg["version"] == "1"
    assert reg["model_uri"] == "models:/replica-copy-detector/1"
    assert reg["metrics"] == {"pcc": 0.61, "rmse": 0.2, "n_test": 300.0, "n_test_sources": 50.0}

    client = MlflowClient(f"sqlite:///{in_tmp / 'mlruns' / 'mlflow.db'}")
    mv = client.get_model_version("replica-copy-detector", "1")
    expected = {
        "dvc.lock.present": "true",
        "dvc.data/pairs": "11aa.dir",
        "dvc.src/replica/models": "22bb.dir",
        "dvc.out.data/model": "33cc.dir",
    }
    assert expected.items() <= mv.tags.items()
    assert {"git.commit", "git.dirty", "params.hash", "orchestrator.run_id"} <= mv.tags.keys()
    assert mv.tags["validate.passed"] == "true" and mv.tags["validate.pairs"] == "passed"
    assert mv.tags["eval.test_split"] == split_hash(TEST_IDS)
    assert mv.tags == reg["tags"]

    run = client.get_run(reg["run_id"])
    assert run.info.run_name == "register"
    assert client.get_experiment(run.info.experiment_id).name == "replica"
    assert run.data.metrics["pcc"] == pytest.approx(0.61)
    assert run.data.params["model.embedding.image_size"] == "32"
    assert (
        run.data.params["copy.lr"] == "0.001" and run.data.params["copy.backbone"] == "vit-cpu-96"
    )
    assert expected.items() <= run.data.tags.items()
    artifacts = Path(client.get_experiment(run.info.experiment_id).artifact_location)
    assert artifacts == in_tmp / "mlruns" / "artifacts"  # the embedded default store
    assert (artifacts / "models").is_dir()
    logged = {a.path for a in client.list_artifacts(reg["run_id"])}
    assert {"plots", "validation", "config", "lineage"} <= logged
    files = artifacts / reg["run_id"] / "artifacts"
    assert (files / "plots" / "predicted_vs_label.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((files / "validation" / "pairs.json").read_text())["success"] is True
    assert json.loads((files / "config" / "params.json").read_text())["copy"]["lr"] == 0.001
    assert (files / "lineage" / "dvc.lock").read_text() == LOCK
    record = json.loads((files / "lineage" / "lineage.json").read_text())
    assert [d["path"] for d in record["datasets"]] == ["data/model"]

    model = mlflow.pyfunc.load_model(reg["model_uri"])
    pred = model.predict(input_example())
    assert pred["predicted"].between(0, 1).all() and pred["level"].between(0, 5).all()


def test_register_outside_dvc_warns_and_marks_lineage_absent(
    in_tmp: Path, params_file: Path
) -> None:
    model, metrics = make_inputs(in_tmp, 0.5)
    out = in_tmp / "registration.json"
    args = ["--model", str(model), "--metrics", str(metrics / "metrics.json"), "--output", str(out)]
    args += ["--lock", str(in_tmp / "no.lock"), "--params", str(params_file)]
    res = runner.invoke(app, ["register", *args, "--set", "register.copy.model_name=other"])
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "dvc.lock.present=false" in res.output
    reg = json.loads(out.read_text())
    assert reg["model_name"] == "other" and reg["tags"]["dvc.lock.present"] == "false"


def test_bad_metrics_is_an_error_before_anything_is_logged(in_tmp: Path, params_file: Path) -> None:
    model, metrics = make_inputs(in_tmp, 0.5)
    (metrics / "metrics.json").write_text(json.dumps({"pcc": "high"}))
    out = in_tmp / "registration.json"
    args = ["--model", str(model), "--metrics", str(metrics), "--output", str(out)]
    res = runner.invoke(app, ["register", *args, "--params", str(params_file)])
    assert res.exit_code == 2
    assert "metric values must be numbers" in res.output
    assert not out.exists() and not (in_tmp / "mlruns" / "artifacts").exists()


def test_unreachable_tracking_server_fails_fast_with_exit_2(
    in_tmp: Path, params_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, metrics = make_inputs(in_tmp, 0.5)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    out = in_tmp / "registration.json"
    start = time.monotonic()
    args = ["--model", str(model), "--metrics", str(metrics), "--output", str(out)]
    res = runner.invoke(app, ["register", *args, "--params", str(params_file)])
    assert res.exit_code == 2
    assert "[register] error" in res.output and "unreachable" in res.output
    assert time.monotonic() - start < 10
    assert not out.exists()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda root: shutil.rmtree(root / "model"), "has no config.json"),
        (lambda root: (root / "model" / "model.safetensors").unlink(), "has no model.safetensors"),
        (
            lambda root: (root / "model" / "config.json").write_text("[16, 8]"),
            "loadable copy model",
        ),
        (lambda root: (root / "model" / "config.json").write_text('{"dim": 15}'), "not a copy"),
        (lambda root: (root / "eval" / "metrics.json").write_text("{pcc: 0.5"), "metrics.json"),
        (lambda root: (root / "dvc.lock").write_text("stages: [train"), "not valid YAML"),
        (lambda root: (root / "dvc.lock").write_text("stages:\n  train: 3\n"), "be a mapping"),
    ],
)
def test_bad_inputs_are_one_line_errors_with_exit_2(
    in_tmp: Path, params_file: Path, spoil: Callable[[Path], object], message: str
) -> None:
    model, metrics = make_inputs(in_tmp, 0.5)
    (in_tmp / "dvc.lock").write_text(LOCK)
    spoil(in_tmp)
    out = in_tmp / "registration.json"
    args = ["--model", str(model), "--metrics", str(metrics), "--output", str(out)]
    args += ["--lock", str(in_tmp / "dvc.lock"), "--params", str(params_file)]
    res = runner.invoke(app, ["register", *args])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # a clean exit, not a traceback
    assert "[register] error" in res.output and message in res.output
    assert not out.exists() and not (in_tmp / "mlruns" / "artifacts").exists()


def test_register_logs_the_params_the_steps_ran_with_not_params_yaml(
    in_tmp: Path, params_file: Path
) -> None:
    """A KFP or Airflow run that overrode ``copy.steps`` (``--set``) registers that value."""
    from replica.config import load_params, params_digest
    from replica.io import StepSummary, write_sidecar

    (in_tmp / "dvc.lock").write_text(LOCK)
    model, evaluation = make_inputs(in_tmp, 0.5)
    ran = load_params(params_file, ["copy.steps=7", "base.seed=3", "evaluate.batch_size=5"])
    for directory, sections in (
        (in_tmp / "data" / "pairs", ("base", "pairs")),
        (model, ("base", "train", "copy")),
        (evaluation, ("evaluate",)),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        chosen = ran.sections(*sections)
        write_sidecar(directory, StepSummary("x"), {}, ran.digest(*sections), chosen)
    out = in_tmp / "registration.json"
    args = ["register", "--model", str(model), "--metrics", str(evaluation), "--lock", "dvc.lock"]
    res = runner.invoke(app, [*args, "--output", str(out), "--params", str(params_file)])
    assert res.exit_code == 0, res.output

    client = MlflowClient(f"sqlite:///{in_tmp / 'mlruns' / 'mlflow.db'}")
    reg = json.loads(out.read_text())
    params = client.get_run(reg["run_id"]).data.params
    assert (params["copy.steps"], params["base.seed"], params["evaluate.batch_size"]) == (
        "7",
        "3",
        "5",
    )
    logged = ran.sections("base", "pairs", "train", "copy", "evaluate") | {
        "register": load_params(params_file).sections("register")["register"]
    }
    assert reg["tags"]["params.hash"] == params_digest(logged)
