"""``replica evaluate`` after pairs -> train: metrics.json, metrics and predictions tables."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import METRICS, PAIRS, PREDICTIONS
from tests.steps.test_pairs import make_pairs

runner = CliRunner()


def train(tmp_path: Path, pairs: Path, params_file: Path) -> Path:
    out = tmp_path / "model"
    args = ["train", "--input", str(pairs), "--output", str(out), "--params", str(params_file)]
    sets = ["--set", "copy.steps=5", "--set", "copy.warmup_steps=1", "--set", "copy.batch_size=4"]
    res = runner.invoke(app, [*args, *sets])
    assert res.exit_code == 0, res.output
    return out


def evaluate(model: Path, pairs: Path, out: Path, params_file: Path, *extra: str):
    args = ["evaluate", "--model", str(model), "--input", str(pairs), "--output", str(out)]
    return runner.invoke(app, [*args, "--params", str(params_file), *extra])


def test_evaluate_writes_the_model_and_baselines_on_the_test_split(
    tmp_path: Path, params_file: Path, mlflow_uri: str
) -> None:
    pairs = make_pairs(tmp_path, params_file, n_images=6)
    out = tmp_path / "eval"
    model = train(tmp_path, pairs, params_file)
    res = evaluate(model, pairs, out, params_file, "--set", "evaluate.ablations=true")
    assert res.exit_code == 0, res.output
    flat = json.loads((out / "metrics.json").read_text())
    # ablation systems are named so MLflow accepts their metrics (the run logged them all)
    assert {"fusion:verify.level_acc", "fusion:embedding-verify-global.pcc"} <= set(flat)
    measures = ("pcc", "rmse", "pcc_0_3", "level_acc", "pm1_acc", "top1")
    systems = ("", "pdf_embedding.", "baseline.phash.", "baseline.histhog.", "baseline.cls.")
    assert {f"{s}{m}" for s in systems for m in measures} <= set(flat)
    assert all(-100 <= flat[f"{s}pcc"] <= 100 and 0 <= flat[f"{s}rmse"] <= 100 for s in systems)
    rows = PAIRS.read(pairs).to_pylist()
    test = [r for r in rows if r["split"] == "test"]
    assert flat["n_test"] == len(test) > 0
    assert flat["n_val"] == sum(r["split"] == "val" for r in rows) > 0
    assert flat["n_test_sources"] == len({r["source_image_id"] for r in test})
    metrics = {(r["metric"]): r for r in METRICS.read(out).to_pylist()}
    assert abs(metrics["pcc"]["value"] - flat["pcc"]) < 1e-3
    assert metrics["rmse"]["n"] == flat["n_test"] and metrics["rmse"]["split"] == "test"
    preds = PREDICTIONS.read(out).to_pylist()
    assert len(preds) == len(test) and all(0 <= p["predicted"] <= 1 for p in preds)
    assert all(len(p["pdf"]) == 6 and abs(sum(p["pdf"]) - 1) < 1e-3 for p in preds)


def test_constant_test_labels_are_an_error(
    tmp_path: Path, params_file: Path, mlflow_uri: str
) -> None:
    pairs = make_pairs(tmp_path, params_file, n_images=6)
    model = train(tmp_path, pairs, params_file)
    table = PAIRS.read(pairs)
    flat = table.set_column(
        table.schema.get_field_index("level"), "level", pa.array([3] * table.num_rows, pa.int8())
    )
    PAIRS.write(flat, pairs)
    res = evaluate(model, pairs, tmp_path / "eval", params_file)
    assert res.exit_code == 2 and "labels are constant" in res.output
    assert not (tmp_path / "eval").exists()
