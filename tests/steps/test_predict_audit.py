"""``replica predict`` on a folder, a table and a gallery; ``replica audit`` on planted copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import AUDIT_MATCHES, SCORES
from tests.copyfix import edit, fitted_detector, graded_pairs
from tests.factories import jpeg_bytes, textured

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("detector")
    fitted_detector(root)
    return root / "model"


def _folder_pairs(tmp_path: Path) -> tuple[Path, list[dict]]:
    rows = graded_pairs(tmp_path / "raw", 2, seed=3)
    folder = tmp_path / "pairs"
    for sub in ("query", "reference"):
        (folder / sub).mkdir(parents=True)
    for r in rows:
        name = Path(r["replica_uri"]).stem
        shutil.copy(tmp_path / "raw" / r["replica_uri"], folder / "query" / f"{name}.jpg")
        shutil.copy(tmp_path / "raw" / r["source_uri"], folder / "reference" / f"{name}.jpg")
    return folder, rows


def test_predict_scores_a_folder_of_pairs(model: Path, tmp_path: Path, params_file: Path) -> None:
    folder, rows = _folder_pairs(tmp_path)
    out = tmp_path / "out"
    args = ["predict", "--model", str(model), "--pairs", str(folder), "--output", str(out)]
    res = runner.invoke(app, [*args, "--params", str(params_file), "--cache", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert "ms/pair" in res.output
    table = SCORES.read(out).to_pylist()
    assert len(table) == len(rows) and {t["rank"] for t in table} == {1}
    by_name = {Path(t["query"]).stem: t for t in table}
    for r in rows:
        got = by_name[Path(r["replica_uri"]).stem]
        assert len(got["pdf"]) == 6 and abs(sum(got["pdf"]) - 1) < 1e-4
        if r["level"] == 5:
            assert got["level"] >= 4
        if r["level"] == 0:
            assert got["level"] <= 1


def test_predict_reads_a_pairs_table_and_searches_a_gallery(
    model: Path, tmp_path: Path, params_file: Path
) -> None:
    rows = graded_pairs(tmp_path / "img", 3, seed=4)
    table = tmp_path / "img" / "pairs.csv"
    table.write_text(
        "query,reference\n" + "".join(f"{r['replica_uri']},{r['source_uri']}\n" for r in rows[:4])
    )
    out = tmp_path / "a"
    base = ["predict", "--model", str(model), "--params", str(params_file)]
    res = runner.invoke(app, [*base, "--pairs", str(table), "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert len(SCORES.read(out)) == 4

    queries, gallery = tmp_path / "q", tmp_path / "g"
    queries.mkdir()
    gallery.mkdir()
    for r in rows:
        if r["level"] == 5:
            shutil.copy(tmp_path / "img" / r["replica_uri"], queries)
        shutil.copy(tmp_path / "img" / r["source_uri"], gallery)
    out = tmp_path / "b"
    args = ["--queries", str(queries), "--gallery", str(gallery), "--output", str(out)]
    res = runner.invoke(app, [*base, *args, "--set", "predict.top_k=2"])
    assert res.exit_code == 0, res.output
    hits = SCORES.read(out).to_pylist()
    assert len(hits) == 3 * 2
    best = [h for h in hits if h["rank"] == 1]
    assert all(Path(h["reference"]).stem.replace("s", "q") in Path(h["query"]).stem for h in best)


def test_predict_names_what_is_wrong_with_its_inputs(
    model: Path, tmp_path: Path, params_file: Path
) -> None:
    base = ["predict", "--model", str(model), "--params", str(params_file)]
    res = runner.invoke(app, [*base, "--output", str(tmp_path / "o")])
    assert res.exit_code == 2 and "either --pairs, or --queries with --gallery" in res.output
    (tmp_path / "bad.csv").write_text("a,b\nx,y\n")
    res = runner.invoke(
        app, [*base, "--pairs", str(tmp_path / "bad.csv"), "--output", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "needs 'query' and 'reference' columns" in res.output
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tmp_path),
            "--pairs",
            str(tmp_path / "bad.csv"),
            "--output",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "has no config.json" in res.output


def test_audit_recovers_the_ratio_of_planted_copies(
    model: Path, tmp_path: Path, params_file: Path, mlflow_uri: str
) -> None:
    gallery, generated = tmp_path / "gallery", tmp_path / "generated"
    gallery.mkdir()
    generated.mkdir()
    for i in range(8):
        (gallery / f"g{i}.jpg").write_bytes(jpeg_bytes(textured(300 + i, (200, 150))))
    # 4 of 10 generated images copy a gallery image (levels 5, 4, 3, 5); 6 are new pictures
    for n, (i, level) in enumerate([(0, 5), (2, 4), (5, 3), (7, 5)]):
        source = textured(300 + i, (200, 150))
        (generated / f"copy{n}.jpg").write_bytes(jpeg_bytes(edit(level, source, source, n)))
    for n in range(6):
        (generated / f"new{n}.jpg").write_bytes(jpeg_bytes(textured(400 + n, (200, 150))))
    out = tmp_path / "audit"
    args = ["audit", "--model", str(model), "--images", str(generated), "--gallery", str(gallery)]
    res = runner.invoke(app, [*args, "--output", str(out), "--params", str(params_file)])
    assert res.exit_code == 0, res.output
    ratios = json.loads((out / "ratios.json").read_text())
    assert ratios["n_images"] == 10 and ratios["ratio_ge_3"] == pytest.approx(0.4)
    assert ratios["ratio_ge_5"] <= ratios["ratio_ge_4"] <= ratios["ratio_ge_3"]
    matches = AUDIT_MATCHES.read(out).to_pylist()
    best = {Path(m["query"]).name: m for m in matches if m["rank"] == 1}
    assert Path(best["copy2.jpg"]["reference"]).name == "g5.jpg"
    html = (out / "report.html").read_text()
    assert "copy0.jpg" in html and "data:image/jpeg;base64," in html
    from mlflow import MlflowClient

    runs = MlflowClient(mlflow_uri).search_runs(
        [e.experiment_id for e in MlflowClient(mlflow_uri).search_experiments()],
        "attributes.run_name = 'audit'",
    )
    assert runs and runs[0].data.metrics["ratio_ge_3"] == pytest.approx(0.4)
    assert pq.read_schema(out / "audit_matches.parquet").metadata
