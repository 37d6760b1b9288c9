"""The KFP pipelines compile to the checked-in specs, carry GPU settings on GPU steps only, and
run the ``dvc.yaml`` commands in order with KFP's local runner.

Regenerate the golden files after an intended change (including any ``params.yaml`` edit: the
sections are the pipelines' parameter defaults)::

    make compile   # or: UPDATE_GOLDEN=1 .venv/bin/pytest tests/orchestration/test_kfp_pipeline.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import compile as kc
from pipelines.cluster import GPU_POOL, GPU_RESOURCE, WORKSPACE
from tests.orchestration.conftest import BIN, ROOT

FAMILIES = ("copy", "synthetic")
GPU_TASKS = {"pairs", "invert", *(f"train_{f}" for f in FAMILIES)}
DVC_TASKS = {"commit", "push", "lock", "unlock"}  # dvc commands and the workspace lease
SECRETS = {"crawl": "replica-aws", "gallery": "replica-aws", "push": "replica-aws"}
SECRETS |= {f"{s}_{f}": "replica-mlflow" for s in ("register", "promote") for f in FAMILIES}
RETRAIN = {f"{s}_{f}" for s in ("train", "evaluate", "register", "promote") for f in FAMILIES}
SECRETS |= {"audit": "replica-mlflow"}
MODEL = "models:/replica-copy-detector@champion"
STAGE_PIPELINES = ("refresh", "train")  # together one task per dvc.yaml stage; audit is extra
RECORDER = """#!/bin/sh
{ printf '%s' "$(basename "$0")"; printf '\\t%s' "$@"; printf '\\n'; } >> "$REPLICA_CALLS"
[ -z "$KFP_RUN_ID" ] || printf '%s\\n' "$KFP_RUN_ID" >> "$REPLICA_CALLS.run_ids"
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("kfp")
    paths = {name: kc.compile_pipeline(name, out / f"{name}.yaml") for name in kc.PIPELINES}
    if os.environ.get("UPDATE_GOLDEN") == "1":
        for name, path in paths.items():
            shutil.copyfile(path, kc.COMPILED / f"{name}.yaml")
    return paths


@pytest.fixture(scope="module")
def specs(compiled: dict[str, Path]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, path in compiled.items():
        pipeline, platform = yaml.safe_load_all(path.read_text())
        out[name] = {"pipeline": pipeline, "platform": platform}
    return out


@pytest.fixture(scope="module")
def tasks(specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per pipeline, compiled tasks by display name (= Airflow task id) with their executors."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, spec in specs.items():
        pipeline = spec["pipeline"]
        k8s = spec["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        out[name] = {}
        for key, task in pipeline["root"]["dag"]["tasks"].items():
            label = pipeline["components"][task["componentRef"]["name"]]["executorLabel"]
            out[name][task["taskInfo"]["name"]] = {
                **task,
                "key": key,
                "container": pipeline["deploymentSpec"]["executors"][label]["container"],
                "k8s": k8s.get(label, {}),
            }
    return out


def test_compiles_to_the_golden_specs(specs: dict[str, dict[str, Any]]) -> None:
    assert sorted(specs) == ["audit", "refresh", "train"]
    for name, spec in specs.items():
        golden = list(yaml.safe_load_all((kc.COMPILED / f"{name}.yaml").read_text()))
        assert [spec["pipeline"], spec["platform"]] == golden, (
            f"pipeline {name} changed (or params.yaml did): review, then `make compile`"
        )


def test_specs_are_valid_kfp_ir(specs: dict[str, dict[str, Any]]) -> None:
    """Strict protobuf parse: an unknown or misplaced field raises."""
    from google.protobuf import json_format
    from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2
    from kfp.pipeline_spec import pipeline_spec_pb2

    for spec in specs.values():
        json_format.ParseDict(spec["pipeline"], pipeline_spec_pb2.PipelineSpec())
        json_format.ParseDict(spec["platform"], pipeline_spec_pb2.PlatformSpec())
        executors = spec["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for executor in executors.values():
            json_format.ParseDict(executor, k8s_pb2.KubernetesExecutorConfig())


def test_refresh_and_train_hold_one_task_per_dvc_stage(tasks: dict, dvc_stages: dict) -> None:
    refresh, train = (set(tasks[n]) - DVC_TASKS for n in ("refresh", "train"))
    assert refresh.isdisjoint(train)
    assert sorted(refresh | train) == sorted(dvc_stages)
    assert set(tasks["train"]) == RETRAIN | {"commit", "lock", "unlock"}


def _closures(pipeline: dict) -> dict[str, set[str]]:
    by_key = {t["key"]: name for name, t in pipeline.items()}
    direct = {n: {by_key[k] for k in t.get("dependentTasks", [])} for n, t in pipeline.items()}

    def closure(name: str) -> set[str]:
        return set().union(*({u} | closure(u) for u in direct[name])) if direct[name] else set()

    return {name: closure(name) for name in pipeline}


def test_task_order_matches_dvc_dependencies(tasks: dict, dvc_ancestors: dict) -> None:
    for pipeline in (tasks[name] for name in STAGE_PIPELINES):
        closure = _closures(pipeline)
        for name in set(pipeline) - DVC_TASKS:
            expected = dvc_ancestors[name] & set(pipeline)
            if "commit" in closure[name]:  # the one commit waits for every family's training
                expected |= closure["commit"]
            assert closure[name] - DVC_TASKS == expected - DVC_TASKS, name
        after = {n for n in pipeline if n.startswith(("register_", "promote_"))}
        assert closure["commit"] >= set(pipeline) - DVC_TASKS - after


def test_every_run_holds_the_workspace_lease_until_its_last_task_ends(tasks: dict) -> None:
    """``lock`` precedes every task; ``unlock`` follows all of them, failed or not. (The audit
    writes no DVC output and runs outside the lease, as the Airflow DAG does.)"""
    assert set(tasks["audit"]) == {"audit"}
    for pipeline in (tasks[name] for name in STAGE_PIPELINES):
        closure = _closures(pipeline)
        others = set(pipeline) - {"lock", "unlock"}
        assert all("lock" in closure[name] for name in others)
        assert closure["unlock"] >= others | {"lock"}
        assert pipeline["unlock"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"


def test_gpu_settings_only_on_gpu_steps(tasks: dict) -> None:
    for pipeline in tasks.values():
        for name, task in pipeline.items():
            resources = task["container"].get("resources", {})
            accelerator = resources.get("accelerator")
            k8s = task["k8s"]
            if name in GPU_TASKS:
                assert accelerator["resourceType"] == GPU_RESOURCE, name
                assert accelerator["resourceCount"] == "1", name
                assert k8s["nodeSelector"]["labels"] == {GPU_POOL[0]: GPU_POOL[1]}, name
                assert [(t["key"], t["effect"]) for t in k8s["tolerations"]] == [
                    (GPU_RESOURCE, "NoSchedule")
                ], name
                assert task["inputs"]["parameters"]["pipelinechannel--gpu_image"], name
            else:
                assert accelerator is None, name
                assert "nodeSelector" not in k8s and "tolerations" not in k8s, name
            assert resources["resourceMemoryLimit"], name
            assert int(k8s["activeDeadlineSeconds"]) > 0, name


def test_every_task_mounts_the_workspace_uncached_with_its_secrets(tasks: dict) -> None:
    """Inputs are a path and params, so a KFP cache hit could skip a step whose data changed."""
    for pipeline in tasks.values():
        for name, task in pipeline.items():
            assert not task["cachingOptions"].get("enableCache"), name
            mounts = task["k8s"]["pvcMount"]
            assert [(m["mountPath"], m["pvcNameParameter"]) for m in mounts] == [
                (WORKSPACE, {"componentInputParameter": "pvc_name"})
            ], name
            secrets = [s["secretNameParameter"] for s in task["k8s"].get("secretAsEnv", [])]
            expected = [{"runtimeValue": {"constant": SECRETS[name]}}] if name in SECRETS else []
            assert secrets == expected, name


def test_section_defaults_are_params_yaml(specs: dict[str, dict[str, Any]]) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for spec in specs.values():
        inputs = spec["pipeline"]["root"]["inputDefinitions"]["parameters"]
        sections = {k: v for k, v in inputs.items() if k in params}
        assert sections, "no params.yaml section among the pipeline parameters"
        for section, value in sections.items():
            assert json.loads(value["defaultValue"]) == params[section], section


def test_importing_the_pipelines_imports_no_project_or_heavy_code() -> None:
    """Pipeline and component modules wire: no replica, torch, pandas or airflow at import."""
    probe = (
        "import sys, pipelines.refresh, pipelines.train;"
        "print(sorted({'replica', 'torch', 'pandas', 'airflow', 'yaml'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() in ("[]", "['yaml']")


def _run_compiled(name: str, workspace: Path, pipeline_root: Path) -> None:
    """Run a golden spec with KFP's local SubprocessRunner (in this environment)."""
    from kfp import components, local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    components.load_component_from_file(str(kc.COMPILED / f"{name}.yaml"))(workspace=str(workspace))


def test_local_runner_runs_the_compiled_refresh_commands_in_dvc_order(
    dvc_stages: dict, dvc_ancestors: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``replica`` and ``dvc`` are recorders here; the real run is the slow test below."""
    bin_dir, workspace, calls = tmp_path / "bin", tmp_path / "ws", tmp_path / "calls"
    bin_dir.mkdir()
    workspace.mkdir()
    for tool in ("replica", "dvc"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REPLICA_CALLS", str(calls))

    _run_compiled("refresh", workspace, tmp_path / "root")

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    by_argv = {stage.argv: name for name, stage in dvc_stages.items()}
    order = []
    for line in calls.read_text().splitlines():
        argv = line.split("\t")
        if argv[0] == "dvc" or argv[1] == "workspace":
            order.append(argv[1 + (argv[1] == "workspace")])
            continue
        sets = [a.removeprefix("--set=") for a in argv if a.startswith("--set=")]
        for item in sets:
            key, value = item.split("=", 1)
            section, field = key.split(".")
            assert yaml.safe_load(value) == params[section][field], item
        order.append(by_argv[tuple(a for a in argv if not a.startswith("--set="))])
    assert order[0] == "lock" and order[-3:] == ["commit", "push", "unlock"]
    for i, name in enumerate(order[1:-3], start=1):
        assert dvc_ancestors[name] & set(order) <= set(order[:i]), f"{name} ran too early"
    assert {n for n in order if n in dvc_stages} == set(dvc_stages) - RETRAIN


def test_register_and_promote_get_the_pipeline_job_id_as_kfp_run_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, workspace, calls = tmp_path / "bin", tmp_path / "ws", tmp_path / "calls"
    bin_dir.mkdir()
    workspace.mkdir()
    for tool in ("replica", "dvc"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REPLICA_CALLS", str(calls))
    monkeypatch.delenv("KFP_RUN_ID", raising=False)

    from kfp import local

    from pipelines.train import train

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    sections = {s: json.dumps(params[s]) for s in kc.sections(train, params)}
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    train(workspace=str(workspace), **sections)

    lines = [line.split("\t") for line in calls.read_text().splitlines()]
    owners = [a[-1] for a in lines if a[1:3] in (["workspace", "lock"], ["workspace", "unlock"])]
    run_ids = (tmp_path / "calls.run_ids").read_text().split()
    registry = [a[1:4] for a in lines if a[0] == "replica" and a[1] in ("register", "promote")]
    assert sorted(registry) == sorted(
        [step, "--family", family] for step in ("register", "promote") for family in FAMILIES
    )
    assert len(run_ids) == len(registry) and len(set(run_ids)) == 1 and run_ids[0]
    assert owners == [run_ids[0], run_ids[0]], "the lease names the same pipeline job"


@pytest.mark.slow
def test_local_runner_runs_the_refresh_pipeline_on_the_demo_corpus(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.orchestration.conftest import scratch_project

    work, env = scratch_project(tmp_path / "project", corpus)
    for key in [k for k in os.environ if k not in env]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    _run_compiled("refresh", work, tmp_path / "root")

    report = json.loads((work / "reports" / "validate" / "pairs.json").read_text())
    assert report["success"] is True
    meta = json.loads((work / "data" / "pairs" / "_meta.json").read_text())
    assert meta["rows_out"] > 0
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    pairs_md5 = next(o["md5"] for o in lock["pairs"]["outs"] if o["path"] == "data/pairs")
    pushed = work.parent / "dvc-remote" / "files" / "md5" / pairs_md5[:2] / pairs_md5[2:]
    assert pushed.is_file()


def test_local_runner_runs_the_compiled_train_and_audit_commands(
    dvc_stages: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled train pipeline runs each family's dvc.yaml commands with the params
    sections as ``--set`` (a family subsection as one mapping); audit runs ``replica audit``."""
    bin_dir, workspace, calls = tmp_path / "bin", tmp_path / "ws", tmp_path / "calls"
    bin_dir.mkdir()
    workspace.mkdir()
    for tool in ("replica", "dvc"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REPLICA_CALLS", str(calls))

    _run_compiled("train", workspace, tmp_path / "root")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    by_argv = {stage.argv: name for name, stage in dvc_stages.items()}
    order = []
    for line in calls.read_text().splitlines():
        argv = line.split("\t")
        if argv[0] == "dvc":
            stages = [f"{s}@{f}" for f in FAMILIES for s in ("train", "evaluate")]
            assert argv[1:] == ["commit", "--force", *stages]
            order.append("commit")
            continue
        if argv[1] == "workspace":
            order.append(argv[2])
            continue
        for item in (a.removeprefix("--set=") for a in argv if a.startswith("--set=")):
            key, value = item.split("=", 1)
            section, field = key.split(".")
            assert yaml.safe_load(value) == params[section][field], item
        order.append(by_argv[tuple(a for a in argv if not a.startswith("--set="))])
    assert order[0] == "lock" and order[-1] == "unlock" and order.count("commit") == 1
    assert sorted(order[1:-1]) == sorted([*RETRAIN, "commit"])
    for family in FAMILIES:  # train, evaluate, the one commit, register, promote
        chain = [f"train_{family}", f"evaluate_{family}", "commit"]
        chain += [f"register_{family}", f"promote_{family}"]
        assert [order.index(n) for n in chain] == sorted(order.index(n) for n in chain), order

    calls.unlink()
    _run_compiled("audit", workspace, tmp_path / "root2")
    ((tool, *args),) = [line.split("\t") for line in calls.read_text().splitlines()]
    plain = [a for a in args if not a.startswith("--set=")]
    assert [tool, *plain[:3]] == ["replica", "audit", "--model", MODEL]
    assert {a.split("=")[1].split(".")[0] for a in args if a.startswith("--set=")} == {
        "audit",
        "predict",
    }
