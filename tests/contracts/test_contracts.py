"""Contracts: schema round trips, refusals, and every GX suite passing good data / failing bad."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import (
    ARTICLES,
    DUPLICATES,
    IMAGES,
    METRICS,
    PREDICTIONS,
    REGISTRY,
    REJECTS,
    TEXT_CLUSTERS,
    ContractError,
    by_ref,
    stamp_of,
)
from replica.quality.suite import run_suite
from tests.factories import article, extract_dir

runner = CliRunner()


def test_round_trip_stamps_name_and_version(tmp_path: Path) -> None:
    written = ARTICLES.write([article("a1")], tmp_path)
    assert stamp_of(tmp_path / "articles.parquet") == "articles@1"
    assert ARTICLES.read(tmp_path).to_pylist() == written.to_pylist()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("url"), "missing columns ['url']"),
        (lambda r: r.update(extra=1), "extra columns ['extra']"),
        (lambda r: r.update(article_id=None), "key column 'article_id' has 1 null"),
    ],
)
def test_write_refuses_rows_that_break_the_schema(tmp_path: Path, change, message: str) -> None:
    row = article("a1")
    change(row)
    with pytest.raises(ContractError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ARTICLES.write([row], tmp_path)
    assert not (tmp_path / "articles.parquet").exists()


def test_write_refuses_duplicate_keys(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="not unique"):
        ARTICLES.write([article("a1"), article("a1")], tmp_path)


def test_read_refuses_a_file_of_another_contract(tmp_path: Path) -> None:
    REJECTS.write([], tmp_path)
    (tmp_path / "rejects.parquet").rename(tmp_path / "articles.parquet")
    with pytest.raises(ContractError, match="stamped 'rejects@1', expected 'articles@1'"):
        ARTICLES.read(tmp_path)


def test_registry_knows_every_contract() -> None:
    assert by_ref("pairs@2").name == "pairs"
    with pytest.raises(ContractError, match="unknown contract 'pairs@9'"):
        by_ref("pairs@9")
    assert {"articles", "images", "pairs", "metrics"} <= {c.name for c in REGISTRY.values()}


GOOD_AND_BAD = [
    (ARTICLES, [article("a1")], {"url": None}),
    (ARTICLES, [article("a1")], {"published": "yesterday"}),
    (METRICS, [{"metric": "pcc", "split": "test", "value": 40.0, "n": 10}], {"n": 0}),
    (
        PREDICTIONS,
        [
            {
                "pair_id": "p",
                "split": "test",
                "family": "crop",
                "level": 3,
                "predicted": 0.5,
                "predicted_level": 3,
                "pdf": [0.0, 0.1, 0.2, 0.4, 0.2, 0.1],
            }
        ],
        {"predicted": 1.5},
    ),
    (
        DUPLICATES,
        [
            {
                "dataset": "articles",
                "removed_id": "b",
                "kept_id": "a",
                "cluster_id": "c",
                "method": "minhash",
                "score": 0.9,
                "evidence": "Jaccard 0.90; kept: published earlier",
            }
        ],
        {"method": "guess"},
    ),
    (
        TEXT_CLUSTERS,
        [{"id": "a", "cluster_id": "c", "cluster_size": 2, "kept": True}],
        {"cluster_size": 0},
    ),
    (
        REJECTS,
        [{"stage": "s", "source": "f", "record_id": "r", "url": "u", "reason": "ok", "detail": ""}],
        {"reason": "Not A Code"},
    ),
]


@pytest.mark.parametrize(("contract", "rows", "breakage"), GOOD_AND_BAD)
def test_suite_passes_good_rows_and_fails_broken_copy(contract, rows, breakage) -> None:
    good = pd.DataFrame(rows)
    assert run_suite(contract, good).success
    bad = pd.DataFrame([{**rows[0], **breakage}])
    report = run_suite(contract, bad)
    assert not report.success
    assert any(o.column == next(iter(breakage)) for o in report.failed)


def test_validate_step_fails_readably_on_null_url_and_undecodable_image(
    tmp_path: Path, params_file: Path
) -> None:
    good = extract_dir(tmp_path / "good")
    report = tmp_path / "good.json"
    res = runner.invoke(
        app,
        ["validate", "--input", str(good), "--report", str(report), "--params", str(params_file)],
    )
    assert res.exit_code == 0, res.output
    assert "PASS articles" in res.output and "PASS images" in res.output

    bad = extract_dir(tmp_path / "bad", corrupt=True)
    table = pq.read_table(bad / "articles.parquet")
    df = table.to_pandas()
    df.loc[0, "url"] = None
    images = pq.read_table(bad / "images.parquet")
    idf = images.to_pandas()
    idf.loc[1, "uri"] = None
    pq.write_table(
        images.from_pandas(idf, schema=images.schema, preserve_index=False), bad / "images.parquet"
    )
    pq.write_table(
        table.from_pandas(df, schema=table.schema, preserve_index=False), bad / "articles.parquet"
    )
    report = tmp_path / "bad.json"
    res = runner.invoke(
        app,
        ["validate", "--input", str(bad), "--report", str(report), "--params", str(params_file)],
    )
    assert res.exit_code == 1
    assert "FAIL articles" in res.output
    assert "expect_column_values_to_not_be_null on 'url': 1 unexpected" in res.output
    assert "FAIL images" in res.output and "on 'blob_ok': 2 unexpected" in res.output
    assert "blob_missing=1" in res.output and "blob_undecodable=1" in res.output
    doc = json.loads(report.read_text())
    assert doc["success"] is False
    assert {d["dataset"]: d["success"] for d in doc["datasets"]} == {
        "articles": False,
        "images": False,
    }


def test_validate_refuses_a_directory_without_contract_tables(
    tmp_path: Path, params_file: Path
) -> None:
    res = runner.invoke(
        app,
        [
            "validate",
            "--input",
            str(tmp_path),
            "--report",
            str(tmp_path / "r.json"),
            "--params",
            str(params_file),
        ],
    )
    assert res.exit_code == 2
    assert "no contract-stamped Parquet tables" in res.output


def test_images_contract_requires_blob_check_column() -> None:
    assert IMAGES.blob_column == "uri" and IMAGES.blob_sha_column == "sha256"
