"""Lineage tags, params flattening, metrics checks and tracking-URI resolution."""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest

from replica.lineage import parse_dvc_lock
from replica.registry.store import resolve_tracking
from replica.registry.tags import (
    check_metrics,
    flatten,
    json_metrics,
    lineage_tags,
    orchestrator_tags,
    split_hash,
    tag_key,
    validation_tags,
)

LOCK = """\
schema: '2.0'
stages:
  train:
    deps:
    - {path: data/pairs, hash: md5, md5: aa11.dir}
    - {path: reports/validate/pairs.json, hash: md5, md5: bb22}
    outs:
    - {path: data/model, hash: md5, md5: cc33.dir}
"""


def test_flatten_nests_with_dots_and_stringifies() -> None:
    assert flatten({"train": {"lr": 0.001, "sizes": [1, 2]}, "seed": 0}, "p.") == {
        "p.train.lr": "0.001",
        "p.train.sizes": "[1, 2]",
        "p.seed": "0",
    }


def test_check_metrics_accepts_numbers_only() -> None:
    assert check_metrics({"pcc": 0.5, "n_test": 12}, "m.json") == {"pcc": 0.5, "n_test": 12.0}
    with pytest.raises(ValueError, match="must be numbers"):
        check_metrics({"pcc": "high"}, "m.json")
    with pytest.raises(ValueError, match="non-empty mapping"):
        check_metrics([0.5], "m.json")
    assert json_metrics({"pcc": float("nan"), "rmse": 0.1}) == {"pcc": None, "rmse": 0.1}


def test_code_tags_name_the_image_commit_and_version_when_the_image_sets_them() -> None:
    env = {"REPLICA_GIT_COMMIT": "c0ffee", "REPLICA_VERSION": "0.2.0"}
    tags = lineage_tags({"commit": None, "dirty": None}, "ph", None, env)
    assert (tags["code.commit"], tags["code.version"]) == ("c0ffee", "0.2.0")
    assert tags["git.commit"] == "unknown"


def test_lineage_tags_carry_git_params_and_train_stage_hashes() -> None:
    tags = lineage_tags(
        {"commit": "abc", "dirty": True},
        "ph",
        parse_dvc_lock(LOCK),
        {"AIRFLOW_CTX_DAG_RUN_ID": "manual__1"},
    )
    assert tags == {
        "git.commit": "abc",
        "git.dirty": "true",
        "params.hash": "ph",
        "dvc.lock.present": "true",
        "dvc.data/pairs": "aa11.dir",
        "dvc.reports/validate/pairs.json": "bb22",
        "dvc.out.data/model": "cc33.dir",
        "orchestrator.airflow.dag_run_id": "manual__1",
        "orchestrator": "airflow",
        "orchestrator.run_id": "manual__1",
        "code.version": "0.1.0",
    }


UPSTREAM_LOCK = """\
schema: '2.0'
stages:
  crawl:
    cmd: replica crawl --sources sources/demo.yaml --output data/crawl
    deps:
    - {path: ../shared/corpus, hash: md5, md5: c0.dir}
    - {path: sources/demo.yaml, hash: md5, md5: s0}
    - {path: src/replica/crawl, hash: md5, md5: code.dir}
    outs:
    - {path: data/crawl, hash: md5, md5: c1.dir}
  pairs:
    deps:
    - {path: data/crawl, hash: md5, md5: c1.dir}
    outs:
    - {path: data/pairs, hash: md5, md5: p1.dir}
  train:
    deps:
    - {path: data/pairs, hash: md5, md5: p1.dir}
    outs:
    - {path: data/model, hash: md5, md5: m1.dir}
  evaluate:
    deps:
    - {path: data/model, hash: md5, md5: m1.dir}
    outs:
    - {path: data/eval, hash: md5, md5: e1.dir}
"""


def test_every_upstream_dataset_is_a_tag_but_not_code_or_downstream() -> None:
    tags = lineage_tags({}, "ph", parse_dvc_lock(UPSTREAM_LOCK), {})
    dvc = {k: v for k, v in tags.items() if k.startswith("dvc.") and k != "dvc.lock.present"}
    assert dvc == {
        "dvc.../shared/corpus": "c0.dir",
        "dvc.sources/demo.yaml": "s0",
        "dvc.data/crawl": "c1.dir",
        "dvc.data/pairs": "p1.dir",
        "dvc.out.data/model": "m1.dir",
    }


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"AIRFLOW_CTX_DAG_RUN_ID": "scheduled__x", "DVC_STAGE": "register"},
            ("airflow", "scheduled__x"),
        ),
        ({"KFP_RUN_ID": "job-7"}, ("kfp", "job-7")),
        ({"KFP_POD_NAME": "pod-1"}, ("kfp", "pod-1")),
        ({"DVC_STAGE": "register"}, ("dvc", "dvc")),
        ({}, ("none", "none")),
    ],
)
def test_orchestrator_and_its_run_id(env: dict[str, str], expected: tuple[str, str]) -> None:
    tags = orchestrator_tags(env)
    assert (tags["orchestrator"], tags["orchestrator.run_id"]) == expected


def test_validation_tags_pass_only_when_every_report_passed() -> None:
    ok = validation_tags({"pairs": {"success": True}, "dedup": {"success": True}})
    assert ok == {"validate.dedup": "passed", "validate.pairs": "passed", "validate.passed": "true"}
    bad = validation_tags({"pairs": {"success": True}, "extract": {"success": False}})
    assert bad["validate.extract"] == "failed" and bad["validate.passed"] == "false"
    assert validation_tags({}) == {"validate.passed": "unknown"}


def test_split_hash_ignores_order_and_sees_membership() -> None:
    assert split_hash(["b", "a", "c"]) == split_hash(["c", "b", "a"])
    assert split_hash(["a", "b"]) != split_hash(["a", "b", "c"])


def test_without_lock_or_train_stage_lineage_is_marked_absent() -> None:
    for stages in (None, parse_dvc_lock("schema: '2.0'\nstages: {}\n")):
        tags = lineage_tags({"commit": None, "dirty": None}, "ph", stages, {})
        assert tags["dvc.lock.present"] == "false"
        assert tags["git.commit"] == tags["git.dirty"] == "unknown"
        assert not any(k.startswith("dvc.data") for k in tags)


@pytest.mark.parametrize("path", ["../shared/corpus", "data/x y", "s3://b/k?v=1", "a//b/"])
def test_tag_keys_are_valid_mlflow_names(path: str) -> None:
    key = tag_key(f"dvc.{path}")
    assert posixpath.normpath(key) == key  # MLflow refuses keys that normalize differently
    assert all(c.isalnum() or c in "_-./ " for c in key)


def test_tracking_defaults_to_sqlite_under_cwd_and_env_wins(tmp_path: Path) -> None:
    default = resolve_tracking({}, tmp_path)
    assert default.uri == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert default.artifact_location == f"{tmp_path.resolve()}/mlruns/artifacts"
    env = resolve_tracking({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, tmp_path)
    assert (env.uri, env.artifact_location) == ("http://mlflow:5000", None)
