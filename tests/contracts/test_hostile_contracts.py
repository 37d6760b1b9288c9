"""Contracts against hostile tables: uris that leave the dataset, hidden characters in keys,
stamped files with the wrong columns, files that are not Parquet (issue 13, probes 6, 12, 14)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import ARTICLES, IMAGES, PAIRS, ContractError
from replica.contracts.base import META_KEY
from replica.quality.suite import run_suite
from tests.factories import article, extract_dir, image_row, png_bytes, write_blob

runner = CliRunner()


def stamped(
    rows: list[dict], contract_ref: str, path: Path, schema: pa.Schema | None = None
) -> None:
    """Write rows as Parquet with a contract stamp, bypassing the contract's checks."""
    table = pa.Table.from_pylist(rows, schema=schema)
    meta = dict(table.schema.metadata or {}) | {META_KEY: contract_ref.encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


@pytest.mark.parametrize(
    "uri", ["../../x.png", "/etc/passwd", "blobs/../../x.png", "blobs\\x.png", "a\x00b.png", ""]
)
def test_uris_that_leave_the_dataset_are_refused_on_write_read_and_by_gx(
    tmp_path: Path, uri: str
) -> None:
    row = image_row("a1", "0" * 64, uri, "caption")
    with pytest.raises(ContractError, match="leaves the dataset"):
        IMAGES.write([row], tmp_path)
    stamped([row], IMAGES.ref, tmp_path / "images.parquet", IMAGES.schema)
    with pytest.raises(ContractError, match="leaves the dataset"):
        IMAGES.read(tmp_path)
    df = pd.DataFrame([row]).assign(blob_ok=True)
    report = run_suite(IMAGES, df)
    assert not report.success and any(o.column == "uri" for o in report.failed)


def test_pairs_paths_are_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"'source_uri'.*leaves the dataset"):
        PAIRS.conform(
            [
                {
                    "pair_id": "p",
                    "source_image_id": "s",
                    "source_uri": "sources/../../../etc/x.png",
                    "replica_uri": "replicas/aa/x.png",
                    "replica_sha256": "0" * 64,
                    "kind": "transform",
                    "transform": "blur",
                    "strength": 0.5,
                    "prompt": "p",
                    "similarity": 0.5,
                    "level": 2,
                    "label_source": "proxy",
                    "split": "train",
                }
            ]
        )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("url", "https://news.example/a\x00b"),
        ("url", "https://news.example/\u202egpj.exe"),
        ("url", "https://news.example/a\r\nX: y"),
        ("url", "https://news.example/a\n"),
        ("article_id", "a\u2066b"),
    ],
)
def test_control_and_bidi_characters_in_text_keys_are_refused(
    tmp_path: Path, column: str, value: str
) -> None:
    row = article("a1") | {column: value}
    with pytest.raises(ContractError, match=f"{column!r} value .* control or invisible"):
        ARTICLES.write([row], tmp_path)
    report = run_suite(ARTICLES, pd.DataFrame([row]))
    assert not report.success and any(o.column == column for o in report.failed)


def test_validate_and_dedup_refuse_an_images_table_pointing_outside(
    tmp_path: Path, params_file: Path
) -> None:
    data = extract_dir(tmp_path / "extract")
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(99))
    sha, _ = write_blob(tmp_path / "scratch", secret.read_bytes())
    rows = IMAGES.read(data).to_pylist()
    rows.append(image_row("a2", sha, "../secret.png", "escape"))
    stamped(rows, IMAGES.ref, data / "images.parquet", IMAGES.schema)
    report = tmp_path / "r.json"
    args = ["validate", "--input", str(data), "--report", str(report)]
    res = runner.invoke(app, [*args, "--params", str(params_file)])
    assert res.exit_code == 1, res.output
    failed = json.loads(report.read_text())["datasets"]
    images = next(d for d in failed if d["dataset"] == "images")
    assert {f["column"] for f in images["failed"]} >= {"uri", "blob_ok"}
    out = tmp_path / "dedup"
    args = ["dedup", "--input", str(data), "--output", str(out), "--params", str(params_file)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "leaves the dataset" in res.output, res.output
    assert not out.exists() and secret.stat().st_nlink == 1  # nothing linked to it


def test_a_blob_symlinked_out_of_the_dataset_is_refused(tmp_path: Path, params_file: Path) -> None:
    data = extract_dir(tmp_path / "extract")
    rows = IMAGES.read(data).to_pylist()
    outside = tmp_path / "outside.png"
    shutil.copy(data / rows[0]["uri"], outside)
    (data / rows[0]["uri"]).unlink()
    (data / rows[0]["uri"]).symlink_to(outside)
    out = tmp_path / "dedup"
    args = ["dedup", "--input", str(data), "--output", str(out), "--params", str(params_file)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "symlink" in res.output, res.output
    assert outside.stat().st_nlink == 1 and not out.exists()


def test_wrong_columns_and_non_parquet_are_a_report_not_a_traceback(
    tmp_path: Path, params_file: Path
) -> None:
    data = extract_dir(tmp_path / "extract")
    stamped([{"article_id": "a1", "body": "x"}], ARTICLES.ref, data / "articles.parquet")
    (data / "images.parquet").write_bytes(b"PAR1 this is not parquet at all")
    report = tmp_path / "r.json"
    args = ["validate", "--input", str(data), "--report", str(report)]
    res = runner.invoke(app, [*args, "--params", str(params_file)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    doc = json.loads(report.read_text())
    assert doc["success"] is False
    found = {d["dataset"]: d["failed"][0] for d in doc["datasets"]}
    assert found["articles"]["expectation"] == "readable_contract_table"
    assert "missing columns" in found["articles"]["examples"][0]
    assert "not a Parquet file" in found["images"]["examples"][0]
    # every other step reading them: a clean contract error naming the file
    with pytest.raises(ContractError, match="missing columns"):
        ARTICLES.read(data)
    with pytest.raises(ContractError, match="not a Parquet file"):
        IMAGES.read(data)
    out = tmp_path / "dedup"
    args = ["dedup", "--input", str(data), "--output", str(out), "--params", str(params_file)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "articles.parquet" in res.output, res.output


def test_a_column_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    schema = pa.schema(
        [(f.name, pa.list_(pa.int8()) if f.name == "url" else f.type) for f in ARTICLES.schema]
    )
    row = article("a1") | {"url": [1, 2]}
    stamped([row], ARTICLES.ref, tmp_path / "articles.parquet", schema)
    with pytest.raises(ContractError, match=r"column 'url' is list<.*int8>, articles@1 needs"):
        ARTICLES.read(tmp_path)
