"""``replica train`` on a pairs dataset made by ``replica pairs``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from replica.cli import app
from replica.models.pdf_embedding import PDFEmbedding
from tests.steps.test_pairs import make_pairs

runner = CliRunner()


def test_train_saves_a_loadable_model_and_its_loss_curve(tmp_path: Path, params_file: Path) -> None:
    pairs = make_pairs(tmp_path, params_file, n_images=3)
    out = tmp_path / "model"
    args = ["train", "--input", str(pairs), "--output", str(out), "--params", str(params_file)]
    res = runner.invoke(app, [*args, "--set", "train.steps=5", "--set", "train.batch_size=4"])
    assert res.exit_code == 0, res.output
    log = json.loads((out / "train_log.json").read_text())
    assert len(log["loss"]) == 5 and log["n_train"] > 0
    model = PDFEmbedding.load(out)
    assert model.config.levels == 6 and model.config.image_size == 32
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["step"] == "train" and meta["rows_out"] == log["n_train"]


def test_train_refuses_labels_beyond_the_model_levels(tmp_path: Path, params_file: Path) -> None:
    pairs = make_pairs(tmp_path, params_file, n_images=2)
    args = ["train", "--input", str(pairs), "--output", str(tmp_path / "m")]
    res = runner.invoke(app, [*args, "--params", str(params_file), "--set", "train.levels=3"])
    assert res.exit_code == 2 and "train.levels is 3" in res.output
