"""The offline infra checks pass on the repo's manifests, Terraform and Dockerfile, and each
fails on a deliberately broken copy with a message that names the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.cluster import GPU_POOL, GPU_RESOURCE
from tests.infra.checks import ROOT, run_check

INFRA = ROOT / "infra"


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A copy of ``infra/`` for a test to break."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform*"))
    return copy


def _edit_docs(path: Path, edit: object) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        edit(doc)  # type: ignore[operator]
    path.write_text(yaml.safe_dump_all(docs))


def test_manifests_checkov_and_hadolint_pass() -> None:
    done = run_check("--only", "k8s,checkov,hadolint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["ok", "k8s", "ok", "checkov", "ok", "hadolint"]


def test_terraform_plans_offline_a_tainted_gpu_pool_matching_the_workloads(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    done = run_check("--only", "terraform", "--plan", str(plan_file))
    if done.stdout.startswith("SKIPPED"):
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    changes = json.loads(plan_file.read_text())["resource_changes"]
    (group,) = [c["change"]["after"] for c in changes if c["type"] == "aws_eks_node_group"]
    # The label and taint the Airflow pods and KFP tasks select and tolerate.
    assert group["labels"] == {GPU_POOL[0]: GPU_POOL[1]}
    assert [(t["key"], t["effect"]) for t in group["taint"]] == [(GPU_RESOURCE, "NO_SCHEDULE")]
    assert group["scaling_config"][0]["min_size"] == 0
    blocks = [c["change"]["after"] for c in changes if c["type"].endswith("public_access_block")]
    assert len(blocks) == 2 and all(b["restrict_public_buckets"] for b in blocks)


def test_a_broken_deployment_fails_the_schema_check(broken: Path) -> None:
    def edit(doc: dict) -> None:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = "two"
            doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"

    _edit_docs(broken / "k8s" / "mlflow.yaml", edit)
    done = run_check("--root", str(broken), "--only", "k8s")
    assert done.returncode == 1
    assert "Deployment/mlflow" in done.stdout and "'two' is not of type 'integer'" in done.stdout


def test_a_broken_raycluster_fails_the_vendored_crd_schema(broken: Path) -> None:
    def edit(doc: dict) -> None:
        worker = doc["spec"]["workerGroupSpecs"][0]
        worker["maxReplica"] = worker.pop("maxReplicas")
        worker["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = [8]

    _edit_docs(broken / "k8s" / "raycluster.yaml", edit)
    done = run_check("--root", str(broken), "--only", "k8s")
    assert done.returncode == 1
    assert "'maxReplica' was unexpected" in done.stdout, done.stdout


def test_an_unknown_kind_is_an_error_not_a_warning(broken: Path) -> None:
    (broken / "k8s" / "extra.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        )
    )
    done = run_check("--root", str(broken), "--only", "k8s")
    assert done.returncode == 1
    assert "no schema for example.com/v1 Widget" in done.stdout


def test_airflow_values_that_would_run_tasks_locally_fail(broken: Path) -> None:
    values = yaml.safe_load((broken / "airflow" / "values.yaml").read_text())
    values["env"] = [e for e in values["env"] if e["name"] != "REPLICA_EXECUTION"]
    (broken / "airflow" / "values.yaml").write_text(yaml.safe_dump(values))
    done = run_check("--root", str(broken), "--only", "k8s")
    assert done.returncode == 1
    assert "REPLICA_EXECUTION must be 'kubernetes'" in done.stdout


def test_a_privileged_container_fails_checkov(broken: Path) -> None:
    def edit(doc: dict) -> None:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {
                "privileged": True
            }

    _edit_docs(broken / "k8s" / "mlflow.yaml", edit)
    done = run_check("--root", str(broken), "--only", "checkov")
    assert done.returncode == 1
    assert "CKV_K8S_16" in done.stdout  # "Container should not be privileged"


def test_terraform_without_public_access_block_or_taint_fails(broken: Path) -> None:
    main = broken / "terraform" / "main.tf"
    text = main.read_text()
    start = text.index('resource "aws_s3_bucket_public_access_block"')
    end = text.index('resource "aws_s3_bucket_ownership_controls"')
    text = text[:start] + text[end:]
    start, end = text.index("  taint {"), text.index("  # The cluster autoscaler")
    main.write_text(text[:start] + text[end:])
    done = run_check("--root", str(broken), "--only", "terraform", "--plan", str(broken / "p.json"))
    if done.stdout.startswith("SKIPPED"):
        pytest.skip(done.stdout.strip())
    assert done.returncode == 1
    assert "no nvidia.com/gpu NO_SCHEDULE taint" in done.stdout
    assert 'bucket ["data"]: no compliant aws_s3_bucket_public_access_block' in done.stdout
