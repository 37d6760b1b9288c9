"""``replica evaluate`` after pairs -> train: metrics.json, metrics and predictions tables."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import METRICS, PAIRS, PREDICTIONS
from tests.steps.test_pairs import make_pairs

runner = CliRunner()
NEEDS_VAL = pytest.mark.xfail(
    strict=True,
    reason="the copy detector fits its fusion head on the val split; pairs@1 has none (pairs@2)",
)


def train(tmp_path: Path, pairs: Path, params_file: Path) -> Path:
    out = tmp_path / "model"
    args = ["train", "--input", str(pairs), "--output", str(out), "--params", str(params_file)]
    res = runner.invoke(app, [*args, "--set", "copy.steps=5", "--set", "copy.batch_size=4"])
    assert res.exit_code == 0, res.output
    return out


def evaluate(model: Path, pairs: Path, out: Path, params_file: Path):
    args = ["evaluate", "--model", str(model), "--input", str(pairs), "--output", str(out)]
    return runner.invoke(app, [*args, "--params", str(params_file)])


@NEEDS_VAL
def test_evaluate_writes_pcc_rmse_and_predictions(
    tmp_path: Path, params_file: Path, mlflow_uri: str
) -> None:
    pairs = make_pairs(tmp_path, params_file, n_images=4)
    out = tmp_path / "eval"
    res = evaluate(train(tmp_path, pairs, params_file), pairs, out, params_file)
    assert res.exit_code == 0, res.output
    flat = json.loads((out / "metrics.json").read_text())
    assert set(flat) == {"pcc", "rmse", "n_test", "n_train"}
    assert -100 <= flat["pcc"] <= 100 and 0 <= flat["rmse"] <= 100
    n = len(PAIRS.read(pairs))
    assert flat["n_test"] + flat["n_train"] == n and flat["n_test"] > 0
    metrics = {r["metric"]: r for r in METRICS.read(out).to_pylist()}
    assert (
        metrics["pcc"]["value"] == flat["pcc"] or abs(metrics["pcc"]["value"] - flat["pcc"]) < 1e-3
    )
    assert metrics["rmse"]["n"] == flat["n_test"] and metrics["rmse"]["split"] == "test"
    preds = PREDICTIONS.read(out).to_pylist()
    assert len(preds) == n and all(0 <= p["predicted"] <= 1 for p in preds)


@NEEDS_VAL
def test_constant_test_labels_are_an_error(
    tmp_path: Path, params_file: Path, mlflow_uri: str
) -> None:
    pairs = make_pairs(tmp_path, params_file, n_images=2)
    model = train(tmp_path, pairs, params_file)
    table = PAIRS.read(pairs)
    flat = table.set_column(
        table.schema.get_field_index("level"), "level", pa.array([3] * table.num_rows, pa.int8())
    )
    PAIRS.write(flat, pairs)
    res = evaluate(model, pairs, tmp_path / "eval", params_file)
    assert res.exit_code == 2 and "labels are constant" in res.output
    assert not (tmp_path / "eval").exists()
