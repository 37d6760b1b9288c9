"""The KFP pipeline compiles to the checked-in spec and runs the ``dvc.yaml`` commands in order.

Regenerate the golden file after an intended change::

    make compile   # or: UPDATE_GOLDEN=1 .venv/bin/pytest tests/orchestration/test_kfp_pipeline.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import replica_pipeline as rp
from tests.orchestration.conftest import ROOT

GPU_TASKS = {"pairs", "train"}
PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = rp.compile_pipeline(tmp_path_factory.mktemp("kfp") / "replica_pipeline.yaml")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.copyfile(path, rp.COMPILED)
    return path


@pytest.fixture(scope="module")
def spec(compiled: Path) -> dict[str, Any]:
    pipeline, platform = yaml.safe_load_all(compiled.read_text())
    return {"pipeline": pipeline, "platform": platform}


@pytest.fixture(scope="module")
def tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Compiled tasks by display name (= Airflow task id), each with its executor spliced in."""
    pipeline = spec["pipeline"]
    k8s = spec["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    out = {}
    for key, task in pipeline["root"]["dag"]["tasks"].items():
        label = pipeline["components"][task["componentRef"]["name"]]["executorLabel"]
        out[task["taskInfo"]["name"]] = {
            **task,
            "key": key,
            "container": pipeline["deploymentSpec"]["executors"][label]["container"],
            "k8s": k8s.get(label, {}),
        }
    return out


def test_compiles_to_the_golden_spec(spec: dict[str, Any]) -> None:
    golden = list(yaml.safe_load_all(rp.COMPILED.read_text()))
    assert [spec["pipeline"], spec["platform"]] == golden, (
        "pipeline changed: review, then `make compile` (or UPDATE_GOLDEN=1 pytest ...)"
    )


def test_spec_is_valid_kfp_ir(spec: dict[str, Any]) -> None:
    """Strict protobuf parse: an unknown or misplaced field raises."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    json_format.ParseDict(spec["pipeline"], pipeline_spec_pb2.PipelineSpec())
    json_format.ParseDict(spec["platform"], pipeline_spec_pb2.PlatformSpec())


def test_one_task_per_dvc_stage(tasks: dict, dvc_stages: dict) -> None:
    assert sorted(tasks) == sorted(dvc_stages)


def test_task_order_matches_dvc_dependencies(tasks: dict, dvc_ancestors: dict) -> None:
    by_key = {t["key"]: name for name, t in tasks.items()}
    direct = {name: {by_key[k] for k in t.get("dependentTasks", [])} for name, t in tasks.items()}

    def closure(name: str) -> set[str]:
        return set().union(*({u} | closure(u) for u in direct[name])) if direct[name] else set()

    assert {name: closure(name) for name in tasks} == dvc_ancestors


def _resolve(arg: str, task: dict[str, Any], defaults: dict[str, Any]) -> str:
    """Substitute a task's input placeholders with its constants or the pipeline defaults."""

    def value(match: re.Match[str]) -> str:
        source = task["inputs"]["parameters"][match.group(1)]
        if "runtimeValue" in source:
            return source["runtimeValue"]["constant"]
        return defaults[source["componentInputParameter"]]["defaultValue"]

    return PLACEHOLDER.sub(value, arg)


def test_each_task_runs_its_dvc_command_under_the_workspace(
    spec: dict[str, Any], tasks: dict, dvc_stages: dict
) -> None:
    defaults = spec["pipeline"]["root"]["inputDefinitions"]["parameters"]
    workspace = defaults["workspace"]["defaultValue"] + "/"
    for name, task in tasks.items():
        container = task["container"]
        argv = [*container["command"], *(_resolve(a, task, defaults) for a in container["args"])]
        paths = [a for a in argv[2:] if not a.startswith("--")]
        assert all(p.startswith(workspace) for p in paths), (name, paths)
        relative = [a.removeprefix(workspace) for a in argv]
        assert tuple(relative) == dvc_stages[name].argv, name
        assert _resolve(container["image"], task, defaults) == "replica:cpu"


def test_gpu_only_on_pairs_and_train(tasks: dict) -> None:
    for name, task in tasks.items():
        accelerator = task["container"].get("resources", {}).get("accelerator")
        tolerations = task["k8s"].get("tolerations", [])
        if name in GPU_TASKS:
            assert accelerator["resourceType"] == "nvidia.com/gpu", name
            assert accelerator["resourceCount"] == "1", name
            assert [t["key"] for t in tolerations] == ["nvidia.com/gpu"], name
        else:
            assert accelerator is None, name
            assert tolerations == [], name


def test_every_task_is_uncached_on_the_shared_workspace(tasks: dict) -> None:
    """Inputs are only a path, so a KFP cache hit would skip a step whose data changed."""
    for name, task in tasks.items():
        assert not task["cachingOptions"].get("enableCache"), name
        mounts = task["k8s"]["pvcMount"]
        assert [(m["mountPath"], m["pvcNameParameter"]) for m in mounts] == [
            (rp.WORKSPACE, {"componentInputParameter": "pvc_name"})
        ], name


def test_importing_the_pipeline_imports_no_project_or_heavy_code() -> None:
    """Pipeline and component modules wire: no replica, torch, pandas or airflow at import."""
    probe = (
        "import sys, pipelines.replica_pipeline;"
        "print(sorted({'replica', 'torch', 'pandas', 'airflow'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]"
