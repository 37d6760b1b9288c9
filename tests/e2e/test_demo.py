"""The demo pipeline end to end with ``dvc repro`` on the shared corpus, in a scratch clone.

The clone sits beside a link to the real ``shared/`` so the demo's relative corpus paths hold.
Afterwards a broken dataset must stop the pipeline at ``validate`` with nothing downstream run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.scratch import copy_project

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
STEPS = ["crawl", "extract", "validate", "dedup", "gallery", "pairs", "fakes", "invert", "train"]
STEPS += ["evaluate", "register", "promote"]
FAMILIES = ("copy", "synthetic")


def _sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> tuple[Path, dict, str]:
    work = copy_project(tmp_path_factory.mktemp("demo"), corpus)
    (work / "dvc.lock").write_bytes((ROOT / "dvc.lock").read_bytes())  # tracked, as in a clone
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AIRFLOW"))}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], [*GIT, "commit", "-qm", "demo"]):
        assert _sh(cmd, work, env).returncode == 0
    res = _sh(["dvc", "repro"], work, env)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return work, env, res.stdout


def test_demo_prints_a_summary_line_per_step(demo: tuple[Path, dict, str]) -> None:
    _, _, out = demo
    for step in STEPS:
        assert f"[{step}] in=" in out, f"no summary line for {step}:\n{out[-3000:]}"
    assert "champion" in out


def test_demo_pairs_come_from_the_gallery_with_balanced_levels(
    demo: tuple[Path, dict, str],
) -> None:
    from collections import Counter

    work, _, _ = demo
    rows = pq.read_table(work / "data" / "pairs" / "pairs.parquet").to_pylist()
    levels = Counter(r["level"] for r in rows)
    assert set(levels) == set(range(6))
    assert max(levels.values()) <= 1.1 * min(levels.values())
    families = {r["family"] for r in rows}
    assert {"img2img", "inpaint", "negative", "region", "collage", "meme"} <= families
    assert {r["split"] for r in rows} == {"train", "val", "test"}


def test_demo_ends_with_a_champion_tagged_with_its_lineage(demo: tuple[Path, dict, str]) -> None:
    from mlflow import MlflowClient

    work, env, _ = demo
    client = MlflowClient(tracking_uri=f"sqlite:///{work}/mlruns/mlflow.db")
    name = yaml.safe_load((work / "params.yaml").read_text())["register"]["copy"]["model_name"]
    champion = client.get_model_version_by_alias(name, "champion")
    head = _sh(["git", "rev-parse", "HEAD"], work, env).stdout.strip()
    assert champion.tags["git.commit"] == head
    # the run rewrote the tracked dvc.lock; the code is still the commit's
    assert _sh(["git", "status", "--porcelain"], work, env).stdout.split() == ["M", "dvc.lock"]
    assert champion.tags["git.dirty"] == "false"
    lock = yaml.safe_load((work / "dvc.lock").read_text())
    pairs_dep = next(d for d in lock["stages"]["train@copy"]["deps"] if d["path"] == "data/pairs")
    assert champion.tags["dvc.data/pairs"] == pairs_dep["md5"]


def test_demo_ends_with_both_detectors_each_a_champion_through_its_gate(
    demo: tuple[Path, dict, str],
) -> None:
    from mlflow import MlflowClient

    work, _, _ = demo
    client = MlflowClient(tracking_uri=f"sqlite:///{work}/mlruns/mlflow.db")
    params = yaml.safe_load((work / "params.yaml").read_text())
    for family in FAMILIES:
        decision = json.loads((work / "data/registry" / family / "promotion.json").read_text())
        assert decision["promoted"] and decision["alias"] == "champion", decision
        name = params["register"][family]["model_name"]
        assert decision["model_name"] == name
        champion = client.get_model_version_by_alias(name, "champion")
        assert champion.tags["family"] == family
        assert champion.tags["promote.decision"] == "promoted"
    synthetic = client.get_model_version_by_alias("replica-synthetic-detector", "champion")
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    invert = next(o for o in lock["invert"]["outs"] if o["path"] == "data/invert")
    assert synthetic.tags["dvc.data/invert"] == invert["md5"]
    metrics = json.loads((work / "data/eval/synthetic/metrics.json").read_text())
    assert metrics["baseline.format.auroc"] == 0.5, "format parity: the file tells nothing"


def test_lineage_names_the_lock_hashes_and_the_gallery(demo: tuple[Path, dict, str]) -> None:
    work, env, _ = demo
    name = yaml.safe_load((work / "params.yaml").read_text())["register"]["copy"]["model_name"]
    res = _sh([str(BIN / "replica"), "lineage", "model", f"{name}@champion", "--json"], work, env)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(res.stdout)
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    outs = {o["path"]: o["md5"] for st in lock.values() for o in st.get("outs", [])}
    datasets = {d["path"]: d for d in doc["datasets"]}
    assert {"data/gallery", "data/tiny-sd", "data/pairs", "data/models/copy"} <= set(datasets)
    assert all(d["hash"] == outs[p] for p, d in datasets.items())
    pairs_meta = json.loads((work / "data" / "pairs" / "_meta.json").read_text())
    assert datasets["data/pairs"]["rows"] == pairs_meta["rows_out"] > 0
    folder = "../shared/corpus/gallery"
    gallery = next(d for d in lock["gallery"]["deps"] if d["path"] == folder)
    assert {"path": folder, "hash": gallery["md5"]} in doc["inputs"]
    names = [s["name"] for s in doc["stages"]]
    assert names[0] == "gallery" and names[-1] == "train@copy" and "pairs" in names
    assert doc["sources"] == []  # the pairs come from the gallery, not from the crawl

    pairs_hash = outs["data/pairs"]
    res = _sh([str(BIN / "replica"), "lineage", "data", pairs_hash, "--json"], work, env)
    assert res.returncode == 0, res.stderr[-3000:]
    found = json.loads(res.stdout)["models"]
    assert [(m["name"], m["version"]) for m in found] == [(name, doc["model"]["version"])]
    assert "champion" in found[0]["aliases"]


def test_a_fresh_clone_pulls_every_output_and_dvc_status_is_clean(
    demo: tuple[Path, dict, str],
) -> None:
    """After the demo is committed and pushed, a clone needs only `dvc pull`: metrics, GX
    reports and the registry records come back too, and nothing is stale or missing."""
    work, env, _ = demo
    assert _sh(["dvc", "push"], work, env).returncode == 0
    for cmd in (["git", "add", "dvc.lock"], [*GIT, "commit", "-qm", "demo results"]):
        assert _sh(cmd, work, env).returncode == 0
    clone = work.parent / "clone"  # beside shared/, like the original
    assert _sh(["git", "clone", "-q", str(work), str(clone)], work.parent, env).returncode == 0
    remote = ["dvc", "remote", "modify", "--local", "local", "url", str(work / ".dvc-storage")]
    assert _sh(remote, clone, env).returncode == 0
    pulled = _sh(["dvc", "pull"], clone, env)
    assert pulled.returncode == 0, pulled.stdout[-2000:] + pulled.stderr[-2000:]
    status = _sh(["dvc", "status"], clone, env)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout[-3000:]
    for family in FAMILIES:
        for kept in (f"data/eval/{family}/metrics.json", f"data/registry/{family}/promotion.json"):
            assert (clone / kept).is_file(), kept
        registration = f"data/registry/{family}/registration.json"
        assert json.loads((clone / registration).read_text()) == json.loads(
            (work / registration).read_text()
        )
    assert (clone / "reports/validate/pairs.json").is_file()


def test_broken_dataset_stops_the_pipeline_at_validate(demo: tuple[Path, dict, str]) -> None:
    work, env, _ = demo
    assert _sh(["dvc", "freeze", "extract"], work, env).returncode == 0
    articles = work / "data" / "extract" / "articles.parquet"
    table = pq.read_table(articles)
    df = table.to_pandas()
    df.loc[df.index[:3], "url"] = None
    pq.write_table(table.from_pandas(df, schema=table.schema, preserve_index=False), articles)
    dedup_before = (work / "data" / "dedup" / "_meta.json").read_text()

    res = _sh(["dvc", "repro"], work, env)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "FAIL articles" in out
    assert "expect_column_values_to_not_be_null on 'url': 3 unexpected" in out
    assert "[dedup]" not in out
    assert (work / "data" / "dedup" / "_meta.json").read_text() == dedup_before
