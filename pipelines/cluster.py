"""How every pipeline task runs on the cluster: workspace volume, image, limits, GPU pool, secrets.

The GPU settings match the EKS GPU node group in ``infra/terraform`` (its label and its taint) and
the Airflow DAGs' pods: ``nvidia.com/gpu`` limit, node selector ``replica.io/node-pool=gpu`` and
a toleration for the ``nvidia.com/gpu`` taint. CPU tasks get none of them, so they can never
occupy a GPU node.

Pod security: every task runs as the image's non-root user (``set_security_context``); the KFP
backend adds the rest of the ``restricted`` profile to every task container itself (no privilege
escalation, all capabilities dropped, the runtime's seccomp profile), so task pods are admitted
in a namespace that enforces it. ``hold_workspace`` wraps a run in the workspace lease.
"""

from __future__ import annotations

from kfp import dsl, kubernetes

from components import steps

WORKSPACE = "/workspace"
PVC_NAME = "replica-workspace"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_POOL = ("replica.io/node-pool", "gpu")
MLFLOW_SECRET = "replica-mlflow"
MLFLOW_ENV = {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"}
AWS_SECRET = "replica-aws"
RUN_AS = 10001  # the image's user and group (containers/Dockerfile)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
}


def configure(
    task: dsl.PipelineTask,
    name: str,
    *,
    pvc_name: str,
    timeout_s: int,
    image: str | None = None,
    gpu: bool = False,
    retries: int = 0,
    secrets: tuple[tuple[str, dict[str, str]], ...] = (),
) -> dsl.PipelineTask:
    """Name the task like its Airflow task, mount the workspace, set limits, GPU and secrets.

    Caching is off: a task's inputs are a path and params, which stay the same when the data
    under the path changes, so a cache hit could skip a step whose input is new.
    """
    task.set_display_name(name)
    task.set_caching_options(enable_caching=False)
    kubernetes.mount_pvc(task, pvc_name=pvc_name, mount_path=WORKSPACE)
    kubernetes.set_timeout(task, timeout_s)
    kubernetes.add_pod_label(task, "replica.io/step", name)
    kubernetes.set_security_context(
        task, run_as_user=RUN_AS, run_as_group=RUN_AS, run_as_non_root=True
    )
    if image is not None:
        task.set_container_image(image)
    if gpu:
        task.set_cpu_request("4").set_memory_request("16Gi").set_memory_limit("16Gi")
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
        kubernetes.add_node_selector(task, label_key=GPU_POOL[0], label_value=GPU_POOL[1])
        kubernetes.add_toleration(task, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
    else:
        task.set_cpu_request("2").set_memory_request("8Gi").set_memory_limit("8Gi")
    if retries:
        task.set_retry(num_retries=retries, backoff_duration="120s", backoff_factor=2.0)
    for secret, env in secrets:
        kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env=env)
    return task


def hold_workspace(tasks: list[dsl.PipelineTask], *, workspace: str, pvc_name: str) -> None:
    """Run ``tasks`` inside the workspace lease: ``lock`` before all of them, ``unlock`` after
    all of them whether they succeeded or not (the lease names the pipeline job)."""
    owner = {"workspace": workspace, "owner": dsl.PIPELINE_JOB_ID_PLACEHOLDER}
    lock = configure(steps.lock(**owner), "lock", pvc_name=pvc_name, timeout_s=5400)
    for task in tasks:
        task.after(lock)
    unlock = configure(steps.unlock(**owner), "unlock", pvc_name=pvc_name, timeout_s=600)
    unlock.after(*tasks).ignore_upstream_failure()
