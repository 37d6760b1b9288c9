"""dvc.lock parsing: DVC 3 lock files, older hash layouts, foreach stages, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from replica.lineage import LockEntry, LockError, parse_dvc_lock, read_dvc_lock

LOCK = """\
schema: '2.0'
stages:
  train:
    cmd: replica train --input data/pairs --output data/model
    deps:
    - path: data/pairs
      hash: md5
      md5: 3f2a9c0d1e.dir
      size: 40960
      nfiles: 12
    - path: src/replica/steps/train.py
      hash: md5
      md5: 0b1c2d3e4f
      size: 2100
    params:
      params.yaml:
        train.lr: 0.001
        base.seed: 0
    outs:
    - path: data/model
      hash: md5
      md5: 9c1e77aa.dir
  validate@pairs:
    cmd: replica validate --input data/pairs --report reports/validate/pairs.json
    deps:
    - path: data/pairs
      md5: 3f2a9c0d1e.dir
    outs:
    - path: reports/validate/pairs.json
      md5: 55aa
  crawl:
    cmd: replica crawl
    deps:
    - path: https://example.org/feed.xml
      etag: '"abc123"'
"""


def test_reads_deps_outs_and_params_of_every_stage(tmp_path: Path) -> None:
    (tmp_path / "dvc.lock").write_text(LOCK)
    stages = read_dvc_lock(tmp_path / "dvc.lock")
    assert set(stages) == {"train", "validate@pairs", "crawl"}
    train = stages["train"]
    assert train.deps == (
        LockEntry("data/pairs", "3f2a9c0d1e.dir"),
        LockEntry("src/replica/steps/train.py", "0b1c2d3e4f"),
    )
    assert train.outs == (LockEntry("data/model", "9c1e77aa.dir"),)
    assert train.params == {"params.yaml": {"train.lr": 0.001, "base.seed": 0}}
    assert stages["validate@pairs"].deps[0].hash == "3f2a9c0d1e.dir"  # md5 only, no `hash:`
    assert stages["crawl"].deps[0].hash == '"abc123"'  # remote dep: etag
    assert train.to_dict()["deps"][0] == {"path": "data/pairs", "hash": "3f2a9c0d1e.dir"}


def test_dvc1_lock_with_stages_at_top_level() -> None:
    stages = parse_dvc_lock("train:\n  deps:\n  - path: a\n    md5: x1\n")
    assert stages["train"].deps == (LockEntry("a", "x1"),)


def test_entry_without_a_hash_is_kept_with_none() -> None:
    stages = parse_dvc_lock("schema: '2.0'\nstages:\n  s:\n    deps:\n    - path: a\n")
    assert stages["s"].deps == (LockEntry("a", None),)


def test_empty_lock_has_no_stages() -> None:
    assert parse_dvc_lock("schema: '2.0'\n") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("schema: '2.0'\nstages:\n  train: 3\n", "dvc.lock:train must be a mapping"),
        ("schema: '2.0'\nstages:\n  train:\n    deps: {a: 1}\n", "train.deps must be a list"),
        ("schema: '2.0'\nstages:\n  train:\n    deps:\n    - md5: x\n", "with a 'path'"),
    ],
)
def test_malformed_lock_is_an_error_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(LockError, match=message):
        parse_dvc_lock(text)


def test_missing_lock_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_dvc_lock(tmp_path / "dvc.lock")
