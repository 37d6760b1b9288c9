"""The offline infra checks pass on the repo's manifests, Terraform and Dockerfile, and each
fails on a deliberately broken copy with a message that names the problem."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.cluster import GPU_POOL, GPU_RESOURCE
from tests.infra.checks import ROOT, run_check

INFRA = ROOT / "infra"


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Airflow and KFP pods, rendered as ``make infra-check`` renders them."""
    out = tmp_path_factory.mktemp("pods")
    render = [sys.executable, str(INFRA / "render_pods.py"), "--out", str(out)]
    done = subprocess.run(render, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


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


def _edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_chart_manifests_pod_security_checkov_hadolint_and_workflows_pass(pods: Path) -> None:
    done = run_check("--only", "helm,k8s,pss,checkov,hadolint,workflows", "--pods", str(pods))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("     ")]
    assert " ".join(lines).split() == [
        *("ok", "helm", "ok", "k8s", "ok", "pss"),
        *("ok", "checkov", "ok", "hadolint", "ok", "workflows"),
    ]
    assert "43 workloads checked" in done.stdout or "workloads checked" in done.stdout


@pytest.mark.parametrize(
    ("field", "control"),
    [
        ("seccompProfile", "Seccomp"),
        ("runAsNonRoot", "Running as Non-root"),
        ("allowPrivilegeEscalation", "Privilege Escalation"),
        ("drop", "Capabilities"),
    ],
)
def test_a_pod_missing_a_restricted_field_fails_infra_check(
    pods: Path, tmp_path: Path, field: str, control: str
) -> None:
    """Drop one field the restricted profile requires from every rendered Airflow pod."""

    def strip(node: object) -> None:
        if isinstance(node, dict):
            node.pop(field, None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    bad = tmp_path / "pods"
    bad.mkdir()
    shutil.copy(pods / "kfp.yaml", bad)
    docs = list(yaml.safe_load_all((pods / "airflow.yaml").read_text()))
    strip(docs)
    (bad / "airflow.yaml").write_text(yaml.safe_dump_all(docs))
    done = run_check("--only", "pss", "--pods", str(bad))
    assert done.returncode == 1, done.stdout
    crawl = [line for line in done.stdout.splitlines() if "Pod/replica-crawl" in line]
    assert any(f": {control}: " in line for line in crawl), done.stdout


def test_the_chart_refuses_a_mutable_image(broken: Path, pods: Path) -> None:
    _edit_text(
        broken / "helm" / "ci-values.yaml",
        'digest: "sha256:' + "0" * 63 + '1"',
        'digest: "latest"',
    )
    done = run_check("--root", str(broken), "--only", "helm", "--pods", str(pods))
    assert done.returncode == 1
    assert "'latest' does not match pattern" in done.stdout, done.stdout


def test_terraform_plans_offline_a_tainted_gpu_pool_matching_the_workloads(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    done = run_check("--only", "terraform", "--plan", str(plan_file))
    if done.stdout.startswith("SKIPPED"):
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    changes = json.loads(plan_file.read_text())["resource_changes"]
    groups = {
        c["change"]["after"]["labels"][GPU_POOL[0]]: c["change"]["after"]
        for c in changes
        if c["type"] == "aws_eks_node_group"
    }
    assert sorted(groups) == ["cpu", "gpu"] and not groups["cpu"].get("taint")
    group = groups["gpu"]
    # The label and taint the Airflow pods and KFP tasks select and tolerate.
    assert group["labels"] == {GPU_POOL[0]: GPU_POOL[1]}
    assert [(t["key"], t["effect"]) for t in group["taint"]] == [(GPU_RESOURCE, "NO_SCHEDULE")]
    assert group["scaling_config"][0]["min_size"] == 0
    blocks = [c["change"]["after"] for c in changes if c["type"].endswith("public_access_block")]
    assert len(blocks) == 2 and all(b["restrict_public_buckets"] for b in blocks)
    # the cluster, its RWX workspace storage and the IRSA roles the chart's service accounts use
    kinds = {c["type"] for c in changes}
    assert {"aws_eks_cluster", "aws_vpc", "aws_efs_file_system", "aws_eks_addon"} <= kinds
    irsa = {c["index"] for c in changes if c["type"] == "aws_iam_role" and c["name"] == "irsa"}
    assert irsa == {"steps", "mlflow", "efs_csi"}


def test_a_broken_deployment_fails_the_schema_check(broken: Path, pods: Path) -> None:
    mlflow = broken / "helm" / "replica" / "templates" / "mlflow.yaml"
    _edit_text(mlflow, "replicas: {{ .Values.mlflow.replicas }}", 'replicas: "two"')
    _edit_text(mlflow, "imagePullPolicy:", "imagePullPolice:")
    done = run_check("--root", str(broken), "--only", "k8s", "--pods", str(pods))
    assert done.returncode == 1
    assert "Deployment/mlflow" in done.stdout and "'two' is not of type 'integer'" in done.stdout


def test_a_broken_raycluster_fails_the_vendored_crd_schema(broken: Path, pods: Path) -> None:
    ray = broken / "helm" / "replica" / "templates" / "raycluster.yaml"
    _edit_text(ray, "      maxReplicas:", "      maxReplica:")
    done = run_check("--root", str(broken), "--only", "k8s", "--pods", str(pods))
    assert done.returncode == 1
    assert "'maxReplica' was unexpected" in done.stdout, done.stdout


def test_a_broken_external_secret_fails_the_vendored_crd_schema(broken: Path, pods: Path) -> None:
    secrets = broken / "helm" / "replica" / "templates" / "externalsecrets.yaml"
    _edit_text(secrets, "creationPolicy: Owner", "creationPolicy: Always")
    done = run_check("--root", str(broken), "--only", "k8s", "--pods", str(pods))
    assert done.returncode == 1
    assert "ExternalSecret/replica-aws" in done.stdout and "'Always' is not one of" in done.stdout


def test_an_unknown_kind_is_an_error_not_a_warning(broken: Path, pods: Path) -> None:
    (broken / "k8s" / "extra.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        )
    )
    done = run_check("--root", str(broken), "--only", "k8s", "--pods", str(pods))
    assert done.returncode == 1
    assert "no schema for example.com/v1 Widget" in done.stdout


def test_airflow_values_that_would_run_tasks_locally_fail(broken: Path, pods: Path) -> None:
    values = yaml.safe_load((broken / "airflow" / "values.yaml").read_text())
    values["env"] = [e for e in values["env"] if e["name"] != "REPLICA_EXECUTION"]
    for e in values["env"]:
        if e["name"] == "AIRFLOW_VAR_REPLICA_IMAGE_GPU":
            e["value"] = "ghcr.io/replica/replica:gpu"
    (broken / "airflow" / "values.yaml").write_text(yaml.safe_dump(values))
    done = run_check("--root", str(broken), "--only", "k8s", "--pods", str(pods))
    assert done.returncode == 1
    assert "REPLICA_EXECUTION must be 'kubernetes'" in done.stdout
    assert "AIRFLOW_VAR_REPLICA_IMAGE_GPU must name the image by digest" in done.stdout


def test_a_privileged_container_fails_checkov_and_pod_security(broken: Path, pods: Path) -> None:
    mlflow = broken / "helm" / "replica" / "templates" / "mlflow.yaml"
    _edit_text(
        mlflow,
        '{{- include "replica.containerSecurity" . | nindent 10 }}',
        "securityContext: {privileged: true}",
    )
    done = run_check("--root", str(broken), "--only", "checkov,pss", "--pods", str(pods))
    assert done.returncode == 1
    assert "CKV_K8S_16" in done.stdout  # "Container should not be privileged"
    assert "Deployment/mlflow.template: Privileged Containers" in done.stdout, done.stdout


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
