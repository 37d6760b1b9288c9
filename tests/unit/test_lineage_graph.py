"""The lineage graph, record and report on a small lock: order, datasets, sources, search."""

from __future__ import annotations

import pytest

from replica.lineage import parse_dvc_lock
from replica.lineage.graph import external_deps, option_value, upstream
from replica.lineage.record import build_record, sources_files
from replica.lineage.report import (
    looks_like_hash,
    model_lineage,
    models_using,
    parse_model_ref,
    render_model,
    render_models,
)
from tests.unit.test_registry_tags import UPSTREAM_LOCK

STAGES = parse_dvc_lock(UPSTREAM_LOCK)
SOURCES = [
    {
        "file": "sources/demo.yaml",
        "hash": "s0",
        "stage": "crawl",
        "entries": [
            {"kind": "warc", "files": [{"path": f"w{i}.warc", "size": 1} for i in range(7)]}
        ],
    }
]


def test_upstream_lists_sources_first_and_skips_downstream() -> None:
    assert upstream(STAGES, "train") == ["crawl", "pairs", "train"]
    assert [d.path for d in external_deps(STAGES, ["crawl", "pairs", "train"])] == [
        "../shared/corpus",
        "sources/demo.yaml",
        "src/replica/crawl",
    ]
    with pytest.raises(KeyError, match="not in the lock"):
        upstream(STAGES, "nope")


def test_option_value_reads_both_spellings() -> None:
    assert option_value("replica crawl --sources a.yaml --output x", "--sources") == "a.yaml"
    assert option_value("replica crawl --sources=b.yaml", "--sources") == "b.yaml"
    assert option_value("replica train", "--sources") is None
    assert sources_files(STAGES, upstream(STAGES, "train")) == [("crawl", "sources/demo.yaml")]


def test_record_has_datasets_with_rows_in_chain_order() -> None:
    metas = {"data/pairs": {"rows_out": 104, "outputs": {"pairs": 104}}}
    record = build_record(STAGES, "train", metas, SOURCES)
    assert [(d["path"], d["hash"], d["rows"]) for d in record["datasets"]] == [
        ("data/crawl", "c1.dir", None),
        ("data/pairs", "p1.dir", 104),
        ("data/model", "m1.dir", None),
    ]
    assert [s["name"] for s in record["stages"]] == ["crawl", "pairs", "train"]
    assert record["stages"][0]["cmd"].startswith("replica crawl --sources")


def test_model_lineage_renders_chain_and_truncates_long_file_lists() -> None:
    record = build_record(STAGES, "train", {}, SOURCES)
    version = {"name": "m", "version": "3", "aliases": ["champion"], "run_id": "r1"}
    version["tags"] = {"git.commit": "abc", "params.hash": "ph", "dvc.data/pairs": "p1.dir"}
    doc = model_lineage(version, {"run_id": "r1", "metrics": {"pcc": 70.0}}, record)
    text = render_model(doc)
    assert "m v3 @champion" in text and "data/pairs" in text and "p1.dir" in text
    assert "w0.warc" in text and "and 2 more" in text and "git       abc" in text
    bare = model_lineage(version, {"run_id": "r1"}, None)
    assert bare["datasets"][0]["path"] == "data/pairs" and "no lineage record" in render_model(bare)


def test_models_using_matches_hash_with_or_without_dir_suffix_or_any_path_version() -> None:
    versions = [
        {"name": "m", "version": "2", "run_id": "b", "tags": {"dvc.data/pairs": "p1.dir"}},
        {"name": "m", "version": "1", "run_id": "a", "tags": {"dvc.data/pairs": "p0.dir"}},
        {"name": "m", "version": "10", "run_id": "c", "tags": {"git.commit": "p1"}},
    ]
    assert [f["version"] for f in models_using(versions, "p1")] == ["2"]
    assert [f["version"] for f in models_using(versions, None, "data/pairs")] == ["1", "2"]
    assert "no registered model" in render_models([], "x")
    assert "dvc.data/pairs=p1.dir" in render_models(models_using(versions, "p1.dir"), "x")


def test_model_refs_and_hashes() -> None:
    assert parse_model_ref("m@champion") == ("m", "champion", None)
    assert parse_model_ref("models:/m/3") == ("m", None, "3")
    for bad in ("m", "m/x", "@a"):
        with pytest.raises(ValueError, match="NAME@ALIAS or NAME/VERSION"):
            parse_model_ref(bad)
    assert looks_like_hash("e237701acdbd14edc087634029d06832.dir")
    assert not looks_like_hash("data/pairs")
