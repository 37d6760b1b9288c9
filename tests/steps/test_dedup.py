"""``replica dedup`` and ``replica validate`` on a small extract-shaped fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import ARTICLES_DEDUP, DUPLICATES, IMAGES_DEDUP, REJECTS
from tests.factories import extract_dir

runner = CliRunner()


def test_dedup_keeps_one_row_per_cluster_and_explains_removals(
    tmp_path: Path, params_file: Path
) -> None:
    src = extract_dir(tmp_path / "extract", corrupt=True)
    out = tmp_path / "dedup"
    res = runner.invoke(
        app, ["dedup", "--input", str(src), "--output", str(out), "--params", str(params_file)]
    )
    assert res.exit_code == 0, res.output
    assert "[dedup] in=" in res.output and "image_undecodable=1" in res.output

    arts = ARTICLES_DEDUP.read(out).to_pylist()
    assert sorted(a["article_id"] for a in arts) == ["a1", "a3"]
    dups = DUPLICATES.read(out).to_pylist()
    assert [(d["removed_id"], d["kept_id"], d["method"]) for d in dups] == [
        ("a2", "a1", "exact_text")
    ]
    imgs = IMAGES_DEDUP.read(out).to_pylist()
    assert len(imgs) == 4 and all((out / i["uri"]).is_file() for i in imgs)
    assert max(i["cluster_size"] for i in imgs) == 2
    assert [r["reason"] for r in REJECTS.read(out).to_pylist()] == ["image_undecodable"]
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["outputs"] == {"articles": 2, "images": 4, "duplicates": 1}
    assert meta["contracts"]["articles_dedup"] == "articles_dedup@1"

    report = tmp_path / "report.json"
    res = runner.invoke(
        app,
        ["validate", "--input", str(out), "--report", str(report), "--params", str(params_file)],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(report.read_text())["success"] is True


def test_dedup_refuses_input_without_contract(tmp_path: Path, params_file: Path) -> None:
    src = extract_dir(tmp_path / "extract")
    table = pq.read_table(src / "articles.parquet").replace_schema_metadata({})
    pq.write_table(table, src / "articles.parquet")
    res = runner.invoke(
        app,
        [
            "dedup",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "o"),
            "--params",
            str(params_file),
        ],
    )
    assert res.exit_code == 2
    assert "stamped None, expected 'articles@1'" in res.output
    assert not (tmp_path / "o").exists()
