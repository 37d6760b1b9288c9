"""Write the pods the orchestrators would start, as YAML, for the offline checks (infra/check.py).

Run with the project venv (it needs Airflow and KFP; ``make infra-check`` does):

    .venv/bin/python infra/render_pods.py [--out build/infra/pods]

- ``airflow.yaml``: every task of every DAG in cluster mode (``REPLICA_EXECUTION=kubernetes``), the
  pod ``KubernetesPodOperator.build_pod_request_obj`` would send (a dummy kubeconfig; no cluster).
- ``kfp.yaml``: every task of every compiled pipeline (``pipelines/compiled``) as the KFP backend
  runs it: the task's container, its workspace volume, and its security context, which is what
  the pipeline sets (``set_security_context``) plus what the backend adds to every task container
  (no privilege escalation, all capabilities dropped, RuntimeDefault seccomp).

Jinja templates and KFP placeholders (namespace, images) are replaced by plausible values, since
a template is not a valid DNS name or image reference; everything else is as built.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "replica"
IMAGE = "ghcr.io/replica/replica@sha256:" + "0" * 64
# What the KFP backend sets on every task container (kfp-kubernetes 2.17, ``set_security_context``)
KFP_BACKEND_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


def airflow_pods(work: Path) -> list[dict[str, Any]]:
    """The pod of every DAG task in cluster mode (run it in a process of its own: it sets the
    Airflow home and the execution mode in the environment before Airflow is imported)."""
    os.environ.update(
        AIRFLOW_HOME=str(work / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        REPLICA_EXECUTION="kubernetes",
    )
    from airflow.dag_processing.dagbag import DagBag
    from kubernetes.client import ApiClient

    config = work / "kubeconfig"
    config.write_text(KUBECONFIG)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    pods = []
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.config_file = str(config)
            pod = ApiClient().sanitize_for_serialization(task.build_pod_request_obj())
            pod["metadata"]["namespace"] = NAMESPACE
            for container in pod["spec"]["containers"]:
                container["image"] = IMAGE
            pods.append(pod)
    return pods


def kfp_pods(compiled: Path) -> list[dict[str, Any]]:
    """The main container of every compiled KFP task, in the pod the backend would run."""
    pods = []
    for path in sorted(compiled.glob("*.yaml")):
        pipeline, platform = yaml.safe_load_all(path.read_text())
        k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for label, executor in pipeline["deploymentSpec"]["executors"].items():
            spec = executor["container"]
            config = k8s.get(label, {})
            identity = {
                key: int(value) if key in ("runAsUser", "runAsGroup") else value
                for key, value in config.get("securityContext", {}).items()
            }
            mounts = config.get("pvcMount", [])
            container = {
                "name": "main",
                "image": IMAGE,
                "command": spec.get("command", []),
                "args": spec.get("args", []),
                "securityContext": {**KFP_BACKEND_SECURITY, **identity},
                "volumeMounts": [
                    {"name": f"pvc-{i}", "mountPath": m["mountPath"]} for i, m in enumerate(mounts)
                ],
            }
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"kfp-{path.stem}-{label}", "namespace": NAMESPACE},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [container],
                        "volumes": [
                            {
                                "name": f"pvc-{i}",
                                "persistentVolumeClaim": {"claimName": "replica-workspace"},
                            }
                            for i, _ in enumerate(mounts)
                        ],
                    },
                }
            )
    return pods


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "infra" / "pods")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="replica-pods-") as tmp:
        rendered = {
            "airflow": airflow_pods(Path(tmp)),
            "kfp": kfp_pods(REPO / "pipelines" / "compiled"),
        }
    for name, pods in rendered.items():
        (args.out / f"{name}.yaml").write_text(yaml.safe_dump_all(pods, sort_keys=False))
        print(f"{len(pods)} {name} pods -> {args.out / f'{name}.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
