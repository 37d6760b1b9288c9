"""``replica train`` on a pairs dataset made by ``replica pairs``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from replica.cli import app
from replica.models.copy import CopyDetector
from tests.steps.test_pairs import make_pairs

runner = CliRunner()


def test_train_saves_a_loadable_model_and_its_loss_curve(
    tmp_path: Path, params_file: Path, mlflow_uri: str
) -> None:
    pairs = make_pairs(tmp_path, params_file, n_images=6)
    out = tmp_path / "model"
    args = ["train", "--input", str(pairs), "--output", str(out), "--params", str(params_file)]
    sets = ["--set", "copy.steps=5", "--set", "copy.warmup_steps=1", "--set", "copy.batch_size=4"]
    sets += ["--set", "train.log_every=1"]
    sets += ["--set", "copy.backbone=vit-test", "--set", "copy.embed_dim=16"]
    res = runner.invoke(app, [*args, *sets])
    assert res.exit_code == 0, res.output
    log = json.loads((out / "train_log.json").read_text())
    assert len(log["history"]) == 5 and log["n_train"] > 0 and log["family"] == "copy"
    assert not list(tmp_path.glob(".model.checkpoints/*")), "checkpoints stay after success"
    model = CopyDetector.load(out)
    assert model.config.embedding.levels == 6 and model.fusion is not None
    # the match head is fitted on val queries against the val references of gallery.parquet
    assert model.matcher is not None and log["match"]["n_positive"] > 0
    assert log["match"]["n_candidates"] > log["match"]["n_positive"]
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["step"] == "train" and meta["rows_out"] == log["n_train"]


def test_train_names_an_undecodable_pair_image_instead_of_crashing(
    tmp_path: Path, params_file: Path, mlflow_uri: str
) -> None:
    import pyarrow.parquet as pq

    pairs = make_pairs(tmp_path, params_file, n_images=6)
    rows = pq.read_table(pairs / "pairs.parquet").to_pylist()
    broken = next(r["replica_uri"] for r in rows if r["split"] == "train")
    (pairs / broken).write_bytes(b"not an image")
    out = tmp_path / "m"
    args = ["train", "--input", str(pairs), "--output", str(out), "--params", str(params_file)]
    res = runner.invoke(
        app, [*args, "--set", "copy.batch_size=4", "--set", "copy.backbone=vit-test"]
    )
    assert res.exit_code == 2
    assert f"cannot read pair image {broken!r}" in res.output
    assert not out.exists()


def test_a_bad_override_is_a_one_line_error_not_a_traceback(
    tmp_path: Path, params_file: Path
) -> None:
    args = ["train", "--input", str(tmp_path), "--output", str(tmp_path / "m")]
    res = runner.invoke(app, [*args, "--params", str(params_file), "--set", "train.bogus=1"])
    assert res.exit_code == 2
    assert "params error: unknown key(s) ['bogus'] in 'train'" in res.output
    assert "Traceback" not in res.output
