"""``replica dedup`` and ``replica validate`` on a small extract-shaped fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import Result
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import (
    ARTICLES,
    ARTICLES_DEDUP,
    DUPLICATES,
    IMAGES_DEDUP,
    REJECTS,
    STORIES,
    TEXT_CLUSTERS,
)
from tests.factories import BODY, article, extract_dir

runner = CliRunner()


def _dedup(src: Path, out: Path, params: Path, *extra: str) -> Result:
    """``replica dedup --input src --output out --params params [extra...]``."""
    args = ["dedup", "--input", str(src), "--output", str(out), "--params", str(params)]
    return runner.invoke(app, [*args, *extra])


def test_dedup_keeps_one_row_per_cluster_and_explains_removals(
    tmp_path: Path, params_file: Path
) -> None:
    src = extract_dir(tmp_path / "extract", corrupt=True)
    out = tmp_path / "dedup"
    res = _dedup(src, out, params_file)
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
    assert meta["outputs"] == {"articles": 2, "images": 4, "duplicates": 1, "stories": 1}
    # a1 and a2 are one text cluster; a3 joins their story through a shared image
    (story,) = STORIES.read(out).to_pylist()
    assert story["article_ids"] == ["a1", "a2", "a3"] and story["kept_article_ids"] == ["a1", "a3"]
    assert sorted(story["image_ids"]) == sorted(i["image_id"] for i in imgs)
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
    res = _dedup(src, tmp_path / "o", params_file)
    assert res.exit_code == 2
    assert "stamped None, expected 'articles@1'" in res.output
    assert not (tmp_path / "o").exists()


def test_dedup_counts_refused_texts_and_keeps_the_rest(tmp_path: Path, params_file: Path) -> None:
    src = extract_dir(tmp_path / "extract")
    rows = ARTICLES.read(src).to_pylist()
    rows += [article("blank", "   "), article("huge", "word " * 3000), article("sym", "-- !! --")]
    ARTICLES.write(rows, src)
    out = tmp_path / "dedup"
    res = _dedup(src, out, params_file, "--set", "dedup.max_text_bytes=10000")
    assert res.exit_code == 0, res.output
    assert "empty_text=2" in res.output and "text_too_large=1" in res.output
    reasons = {r["record_id"]: r["reason"] for r in REJECTS.read(out).to_pylist()}
    assert reasons == {"blank": "empty_text", "huge": "text_too_large", "sym": "empty_text"}
    assert sorted(a["article_id"] for a in ARTICLES_DEDUP.read(out).to_pylist()) == ["a1", "a3"]


def test_dedup_refuses_an_unknown_engine(tmp_path: Path, params_file: Path) -> None:
    src = extract_dir(tmp_path / "extract")
    res = _dedup(src, tmp_path / "o", params_file, "--engine", "spark")
    assert res.exit_code == 2 and "--engine must be one of ['local', 'ray']" in res.output
    assert not (tmp_path / "o").exists()


def test_dedup_embedding_mode_merges_images_the_model_calls_identical(
    tmp_path: Path, params_file: Path
) -> None:
    import torch

    # a model that sees only the mean colour: every fixture picture looks the same to it
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    path = tmp_path / "mean.pt"
    torch.jit.script(model).save(str(path))
    src = extract_dir(tmp_path / "extract", corrupt=True)
    out = tmp_path / "dedup"
    res = _dedup(
        src,
        out,
        params_file,
        "--embedding-model",
        str(path),
        "--set",
        "dedup.embedding_threshold=0.98",
    )
    assert res.exit_code == 0, res.output
    dups = [d for d in DUPLICATES.read(out).to_pylist() if d["dataset"] == "images"]
    assert dups and {d["method"] for d in dups} == {"embedding"}
    assert all(d["score"] >= 0.98 for d in dups)
    assert len(IMAGES_DEDUP.read(out)) == 4 - len(dups)


# --- plain tables: any Parquet/JSONL/CSV with a text and an id column ---------------------------

STORY = BODY + " The council will meet again next month to discuss the heating costs."


def _plain_rows() -> list[dict]:
    return [
        {"doc_id": "n1", "body": STORY, "lang": "en"},
        {"doc_id": "n2", "body": "By Staff Reporter\n" + STORY, "lang": "en"},
        {
            "doc_id": "n3",
            "body": "A completely different note about the football final.",
            "lang": "en",
        },
    ]


def _write_plain(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_dedup_accepts_a_plain_table_with_a_text_and_an_id_column(
    tmp_path: Path, params_file: Path, suffix: str
) -> None:
    src = tmp_path / f"notes{suffix}"
    _write_plain(src, _plain_rows())
    out = tmp_path / "out"
    res = _dedup(src, out, params_file, "--text-column", "body", "--id-column", "doc_id")
    assert res.exit_code == 0, res.output
    kept = pq.read_table(out / "kept.parquet").to_pylist()
    assert sorted(r["doc_id"] for r in kept) == ["n1", "n3"]
    assert {"body", "lang", "cluster_id", "cluster_size"} <= set(kept[0])
    members = {r["id"]: r for r in TEXT_CLUSTERS.read(out).to_pylist()}
    assert members["n2"]["cluster_id"] == members["n1"]["cluster_id"] and not members["n2"]["kept"]
    (dup,) = DUPLICATES.read(out).to_pylist()
    assert (dup["dataset"], dup["removed_id"], dup["kept_id"]) == ("texts", "n2", "n1")
    assert dup["evidence"]
    assert json.loads((out / "text_stats.json").read_text())["candidates"] >= 0


def test_dedup_names_a_missing_column_and_writes_nothing(tmp_path: Path, params_file: Path) -> None:
    src = tmp_path / "notes.parquet"
    _write_plain(src, _plain_rows())
    res = _dedup(src, tmp_path / "o", params_file, "--text-column", "text", "--id-column", "doc_id")
    assert res.exit_code == 2 and "has no column ['text']" in res.output
    assert not (tmp_path / "o").exists()
    res = _dedup(src, tmp_path / "o", params_file, "--text-column", "body")
    assert res.exit_code == 2 and "needs --text-column and --id-column" in res.output


def test_dedup_counts_null_and_repeated_ids_and_bad_bytes_as_rejects(
    tmp_path: Path, params_file: Path
) -> None:
    src = tmp_path / "notes.csv"
    rows = [
        *_plain_rows(),
        {"doc_id": "n1", "body": "Another text with the same id.", "lang": "en"},
    ]
    _write_plain(src, rows)
    with src.open("ab") as f:  # a row whose text is not UTF-8, and a row without an id
        f.write(b'"n9","caf\xe9 au lait","fr"\n"","Text without an id.","en"\n')
    out = tmp_path / "out"
    res = _dedup(src, out, params_file, "--text-column", "body", "--id-column", "doc_id")
    assert res.exit_code == 0, res.output
    reasons = sorted((r["reason"], r["record_id"]) for r in REJECTS.read(out).to_pylist())
    assert reasons == [("duplicate_id", "n1"), ("invalid_utf8", "n9"), ("missing_id", "")]
    assert "duplicate_id=1" in res.output and "invalid_utf8=1" in res.output
