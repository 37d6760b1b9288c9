"""Cluster mode (``REPLICA_EXECUTION=kubernetes``): the pods the DAGs would start, built offline.

``build_pod_request_obj`` is what KubernetesPodOperator sends to the API server; it needs a
kubeconfig to load (a dummy one here; nothing is contacted), not a cluster.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.orchestration.conftest import DAGS

GPU_TASKS = {"pairs", "invert", "train_copy", "train_synthetic"}
SECRETS = {
    "crawl": ["replica-aws"],
    "gallery": ["replica-aws"],
    "push": ["replica-aws"],
    "promote": ["replica-mlflow"],
    "audit": ["replica-mlflow"],
    **{
        f"{s}_{f}": ["replica-mlflow"]
        for s in ("register", "promote")
        for f in ("copy", "synthetic")
    },
}
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory, dag_bag: Any) -> dict[tuple[str, str], Any]:
    """Every task's pod in cluster mode, by (dag_id, task_id), plus its local-mode command."""
    from kubernetes.client import ApiClient

    config = tmp_path_factory.mktemp("kube") / "config"
    config.write_text(KUBECONFIG)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPLICA_EXECUTION", "kubernetes")
        bag = DagBag(dag_folder=str(DAGS))
        assert bag.import_errors == {}, bag.import_errors
        out = {}
        for dag in bag.dags.values():
            for task in dag.tasks:
                task.config_file = str(config)  # KUBECONFIG is read once, at import
                pod = ApiClient().sanitize_for_serialization(task.build_pod_request_obj())
                local = dag_bag.dags[dag.dag_id].get_task(task.task_id).bash_command
                out[(dag.dag_id, task.task_id)] = (pod, local, task)
    return out


def test_every_task_is_a_pod_running_the_local_command_in_the_workspace(pods: dict) -> None:
    assert {dag for dag, _ in pods} == {"dataset_refresh", "retrain", "promote", "audit"}
    for key, (pod, local, task) in pods.items():
        (container,) = pod["spec"]["containers"]
        assert type(task).__name__ == "KubernetesPodOperator", key
        assert container["command"] == ["/bin/sh", "-c"], key
        assert container["args"] == [local], key
        assert container["workingDir"] == "/workspace", key
        assert container["volumeMounts"] == [{"mountPath": "/workspace", "name": "workspace"}]
        (volume,) = pod["spec"]["volumes"]
        assert volume["persistentVolumeClaim"] == {"claimName": "replica-workspace"}, key
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, key
        assert pod["spec"]["restartPolicy"] == "Never", key
        assert "replica_namespace" in pod["metadata"]["namespace"], "namespace: a Variable"
        assert pod["metadata"]["labels"]["replica.io/step"] == key[1]


def test_gpu_limits_node_pool_and_toleration_only_on_gpu_steps(pods: dict) -> None:
    for (_, task_id), (pod, _, _) in pods.items():
        (container,) = pod["spec"]["containers"]
        limits = container["resources"]["limits"]
        if task_id in GPU_TASKS:
            assert limits["nvidia.com/gpu"] == "1", task_id
            assert pod["spec"]["nodeSelector"] == {"replica.io/node-pool": "gpu"}, task_id
            assert pod["spec"]["tolerations"] == [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ], task_id
            assert "replica_image_gpu" in container["image"], task_id
        else:
            assert "nvidia.com/gpu" not in limits, task_id
            assert not pod["spec"].get("nodeSelector"), task_id
            assert not pod["spec"].get("tolerations"), task_id
            assert "replica_image_cpu" in container["image"], task_id
        assert container["resources"]["requests"]["memory"] == limits["memory"], task_id


def test_secrets_come_from_kubernetes_secrets_as_env(pods: dict) -> None:
    for (_, task_id), (pod, _, _) in pods.items():
        (container,) = pod["spec"]["containers"]
        refs = [e["secretRef"]["name"] for e in container.get("envFrom", [])]
        assert refs == SECRETS.get(task_id, []), task_id
        assert not any("value" in e for e in container.get("env", []) if "KEY" in e["name"])


def test_pods_fail_visibly_and_wait_for_a_gpu_node(pods: dict) -> None:
    for (_, task_id), (_, _, task) in pods.items():
        assert task.on_finish_action.value == "delete_succeeded_pod", "failed pods stay"
        assert task.get_logs and task.reattach_on_restart
        assert task.startup_timeout_seconds >= (900 if task_id in GPU_TASKS else 300)


def test_pod_specs_are_valid_kubernetes(pods: dict) -> None:
    """Each pod against the Kubernetes 1.30 schema (strict: unknown fields fail)."""
    from tests.infra.checks import kubernetes_validate

    docs = [pod for pod, _, _ in pods.values()]
    for doc in docs:  # a Jinja template is not a valid DNS name; the rendered value will be
        doc["metadata"]["namespace"] = "replica"
    assert kubernetes_validate(docs) == []


def test_every_pod_meets_the_restricted_pod_security_standard(pods: dict) -> None:
    """The ``replica`` namespace enforces ``restricted``: a pod missing a field is refused."""
    from infra.pss import check_pod

    for key, (pod, _, _) in pods.items():
        assert check_pod(pod["spec"], pod["metadata"]) == [], key


def test_only_publish_may_skip_and_nothing_needs_an_xcom_sidecar(pods: dict) -> None:
    """The XCom sidecar has no securityContext of its own, so no task may ask for one."""
    for (_, task_id), (pod, _, task) in pods.items():
        assert [c["name"] for c in pod["spec"]["containers"]] == ["base"], task_id
        assert task.skip_on_exit_code == ([99] if task_id == "publish" else []), task_id


def test_every_pod_builder_runs_as_the_image_user_with_the_same_profile() -> None:
    """Airflow's pods, KFP's tasks and the chart's pods share one user and one profile."""
    import runpy

    import yaml

    from pipelines.cluster import RUN_AS
    from tests.orchestration.conftest import ROOT

    dag = runpy.run_path(str(DAGS / "replica_dags.py"))
    chart = yaml.safe_load((ROOT / "infra" / "helm" / "replica" / "values.yaml").read_text())
    assert dag["POD_SECURITY"] == chart["podSecurityContext"]
    assert dag["CONTAINER_SECURITY"].items() <= chart["containerSecurityContext"].items()
    assert dag["POD_SECURITY"]["runAsUser"] == RUN_AS == 10001
    dockerfile = (ROOT / "containers" / "Dockerfile").read_text()
    assert f"USER {RUN_AS}:{RUN_AS}" in dockerfile
