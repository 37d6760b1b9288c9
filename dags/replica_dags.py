"""The replica DAGs for Airflow 3: ``dataset_refresh`` → (Asset) → ``retrain``, ``promote`` and
``audit``.

- ``dataset_refresh`` (daily): crawl → extract → validate → dedup → validate, gallery →
  validate → pairs → validate (pairs are built from the imported gallery), and fakes → validate
  → invert (GPU: FakeInversion features) → validate, then ``commit`` (record the new outputs in
  ``dvc.lock`` and the DVC cache), ``push`` (upload them to the DVC remote) and ``publish``,
  which emits the Asset ``replica_pairs`` only when the pairs dataset is a version not announced
  before: a refresh that reproduced the same data (same DVC hash) skips ``publish``, emits
  nothing and queues no ``retrain``.
- ``retrain`` (scheduled on that Asset): per detector family (``FAMILIES``: the copy detector
  and the synthetic-image detector), train → evaluate, then ``commit`` (so ``register`` finds
  the model's lineage in ``dvc.lock``) → register → promote. Tasks are named like the
  ``dvc.yaml`` foreach stages: ``train_copy`` is ``train@copy``.
- ``promote`` (manual): the promotion gate on demand, or ``rollback`` to the previous champion.
- ``audit`` (weekly, or manual with other params): a generator's images against a gallery with
  the champion copy detector; the replication ratio and an HTML report (``replica audit``). It
  writes no DVC output, so it runs outside the workspace lease.

Every ``replica`` task runs its ``dvc.yaml`` command verbatim, in the project directory, through
``/bin/sh -c``. Where it runs is the deployment's choice, set by ``REPLICA_EXECUTION`` in the
environment of the Airflow components (an env read cannot fail; a Variable or a connection
would need the metadata DB at parse time):

- ``local`` (default): a local process in the project checkout: the run's ``project_dir`` param,
  else the Variable ``replica_project_dir`` (``AIRFLOW_VAR_REPLICA_PROJECT_DIR``), else
  ``/opt/replica``, resolved when the task runs.
- ``kubernetes``: a KubernetesPodOperator pod from the replica image with the workspace PVC
  ``replica-workspace`` (a DVC checkout of the project) as its working directory, secrets from
  Kubernetes Secrets as env, and on GPU steps an ``nvidia.com/gpu`` limit, the GPU pool's node
  selector and its taint's toleration. Images and namespace are Variables read at run time.

Failure policy: a step that fails for its data fails the same way twice, so only the steps that
talk to the network retry (crawl, gallery, push, register, promote, audit), with exponential
backoff;
every task has a time limit, every DAG a run limit, and every failure is logged on
``replica.alerts`` (the logger that alerting watches).

One workspace, one writer: ``dataset_refresh`` and ``retrain`` open with ``lock`` (a setup task
taking the workspace lease for the run, waiting while another run, a KFP run or the workspace
sync job holds it) and close with ``unlock`` (its teardown, which runs even when a step failed).
Each DAG also runs one run at a time.

Pods meet the ``restricted`` Pod Security Standard: ``POD_SECURITY`` and ``CONTAINER_SECURITY``
below are the only security settings, used by every pod this file builds.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from airflow.sdk import DAG, Asset, Param

MODES = ("local", "kubernetes")
MODE = os.environ.get("REPLICA_EXECUTION", "local")
if MODE not in MODES:
    raise ValueError(f"REPLICA_EXECUTION={MODE!r}: expected one of {', '.join(MODES)}")

PAIRS = Asset(name="replica_pairs", uri="dvc://replica/data/pairs", group="replica")

PROJECT_DIR = "{{ params.project_dir or var.value.get('replica_project_dir', '/opt/replica') }}"
NAMESPACE = "{{ var.value.get('replica_namespace', 'replica') }}"
CPU_IMAGE = "{{ var.value.get('replica_image_cpu', 'ghcr.io/replica/replica:cpu') }}"
GPU_IMAGE = "{{ var.value.get('replica_image_gpu', 'ghcr.io/replica/replica:gpu') }}"
WORKSPACE = "/workspace"
WORKSPACE_PVC = "replica-workspace"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_POOL = {"replica.io/node-pool": "gpu"}  # the EKS GPU node group's label (infra/terraform)
MLFLOW_SECRET = "replica-mlflow"  # MLFLOW_TRACKING_URI (+ credentials)
AWS_SECRET = "replica-aws"  # AWS_* for the DVC remote and s3:// crawl sources
STEPS_SA = "replica-steps"  # the chart's: S3 through IRSA, nothing against the Kubernetes API
RUN_OWNER = "{{ dag.dag_id }}/{{ run_id }}"  # who holds the workspace lease
SKIP = 99  # `replica workspace publish`: nothing new to announce
# The restricted Pod Security Standard, for every pod: non-root (the image's user), the runtime's
# seccomp profile, no privilege escalation, no capabilities.
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}

log = logging.getLogger("replica.alerts")


class Step(NamedTuple):
    """One task: its command, the tasks it waits for, its limits, what it needs in a cluster."""

    task_id: str
    command: str
    upstream: tuple[str, ...]
    timeout: timedelta
    retries: int = 0
    gpu: bool = False
    secrets: tuple[str, ...] = ()


FAMILIES = ("copy", "synthetic")  # detector families: train/evaluate/register/promote each
_FOREACH = ("validate", "train", "evaluate", "register", "promote")  # dvc.yaml foreach stages


def dvc_stage(task_id: str) -> str:
    """The ``dvc.yaml`` stage a task runs: ``validate_extract`` is ``validate@extract``,
    ``train_copy`` is ``train@copy``."""
    step, sep, item = task_id.partition("_")
    return f"{step}@{item}" if sep and step in _FOREACH else task_id


def _validate(dataset: str, upstream: str) -> Step:
    return Step(
        f"validate_{dataset}",
        f"replica validate --input data/{dataset} --report reports/validate/{dataset}.json",
        (upstream,),
        timedelta(minutes=30),
    )


_REFRESH_STEPS: tuple[Step, ...] = (
    Step(
        "crawl",
        "replica crawl --sources sources/demo.yaml --output data/crawl",
        (),
        timedelta(hours=3),
        retries=2,
        secrets=(AWS_SECRET,),
    ),
    Step(
        "extract",
        "replica extract --input data/crawl --output data/extract",
        ("crawl",),
        timedelta(hours=2),
    ),
    _validate("extract", "extract"),
    Step(
        "dedup",
        "replica dedup --input data/extract --output data/dedup",
        ("validate_extract",),
        timedelta(hours=2),
    ),
    _validate("dedup", "dedup"),
    Step(
        "gallery",
        "replica gallery --source ../shared/corpus/gallery/manifest.csv --output data/gallery",
        (),
        timedelta(hours=2),
        retries=2,
        secrets=(AWS_SECRET,),
    ),
    _validate("gallery", "gallery"),
    Step("tiny_sd", "replica make-tiny-sd --output data/tiny-sd", (), timedelta(minutes=20)),
    Step(
        "pairs",
        "replica pairs --input data/gallery --output data/pairs",
        ("validate_gallery", "tiny_sd"),
        timedelta(hours=6),
        gpu=True,
    ),
    _validate("pairs", "pairs"),
    Step(
        "fakes",
        "replica fakes --real ../shared/corpus/gallery --fake ../shared/corpus/generated "
        "--output data/fakes",
        (),
        timedelta(hours=2),
    ),
    _validate("fakes", "fakes"),
    Step(
        "invert",
        "replica invert --input data/fakes --output data/invert --cache data/cache",
        ("validate_fakes", "tiny_sd"),
        timedelta(hours=8),
        gpu=True,
    ),
    _validate("invert", "invert"),
)
REFRESH: tuple[Step, ...] = (
    *_REFRESH_STEPS,
    Step(
        "commit",
        "dvc commit --force " + " ".join(dvc_stage(s.task_id) for s in _REFRESH_STEPS),
        ("validate_dedup", "validate_pairs", "validate_invert"),
        timedelta(minutes=30),
    ),
    Step(
        "push",
        "dvc push " + " ".join(s.task_id for s in _REFRESH_STEPS if "validate" not in s.task_id),
        ("commit",),
        timedelta(hours=1),
        retries=2,
        secrets=(AWS_SECRET,),
    ),
    Step("publish", "replica workspace publish data/pairs", ("push",), timedelta(minutes=10)),
)
# The lease around every run that writes the workspace (setup and teardown tasks).
LOCK = Step("lock", f"replica workspace lock --owner '{RUN_OWNER}'", (), timedelta(minutes=90))
UNLOCK = Step(
    "unlock", f"replica workspace unlock --owner '{RUN_OWNER}'", (), timedelta(minutes=10)
)

_DATA = {"copy": "data/pairs", "synthetic": "data/invert"}  # each family's training data


def _family_steps(family: str) -> tuple[tuple[Step, ...], tuple[Step, ...]]:
    """A family's steps before ``commit`` (train, evaluate) and after it (register, promote)."""
    model, ev, reg = f"data/models/{family}", f"data/eval/{family}", f"data/registry/{family}"
    before = (
        Step(
            f"train_{family}",
            f"replica train --family {family} --input {_DATA[family]} --output {model} "
            "--cache data/cache",
            (),
            timedelta(hours=8),
            gpu=True,
        ),
        Step(
            f"evaluate_{family}",
            f"replica evaluate --family {family} --model {model} --input {_DATA[family]} "
            f"--output {ev} --cache data/cache",
            (f"train_{family}",),
            timedelta(hours=2),
        ),
    )
    after = (
        Step(
            f"register_{family}",
            f"replica register --family {family} --model {model} --metrics {ev} "
            f"--lock dvc.lock --reports reports/validate --output {reg}/registration.json",
            ("commit",),
            timedelta(minutes=30),
            2,
            secrets=(MLFLOW_SECRET,),
        ),
        Step(
            f"promote_{family}",
            f"replica promote --family {family} --registration {reg}/registration.json "
            f"--output {reg}/promotion.json",
            (f"register_{family}",),
            timedelta(minutes=15),
            1,
            secrets=(MLFLOW_SECRET,),
        ),
    )
    return before, after


_BEFORE = tuple(s for f in FAMILIES for s in _family_steps(f)[0])
RETRAIN: tuple[Step, ...] = (
    *_BEFORE,
    Step(
        "commit",
        "dvc commit --force " + " ".join(dvc_stage(s.task_id) for s in _BEFORE),
        tuple(s.task_id for s in _BEFORE if s.task_id.startswith("evaluate_")),
        timedelta(minutes=30),
    ),
    *(s for f in FAMILIES for s in _family_steps(f)[1]),
)

PROMOTE: tuple[Step, ...] = (
    Step(
        "promote",
        "replica promote --family {{ params.family }} {{ '--rollback' if params.rollback else "
        "'--registration ' ~ params.registration }} "
        "--output data/registry/{{ params.family }}/promotion.json",
        (),
        timedelta(minutes=15),
        1,
        secrets=(MLFLOW_SECRET,),
    ),
)

AUDIT: tuple[Step, ...] = (
    Step(
        "audit",
        "replica audit --model {{ params.model }} --images {{ params.images }} "
        "--gallery {{ params.gallery }} --generator {{ params.generator }} "
        "--output reports/audit/{{ params.generator }} --cache data/cache",
        (),
        timedelta(hours=4),
        1,
        secrets=(MLFLOW_SECRET,),
    ),
)
_SAFE = r"^[A-Za-z0-9_./@:-]+$"  # paths and models:/ URIs; no spaces or shell characters


def notify_failure(context: Any) -> None:
    """Log a task's or a run's failure on ``replica.alerts`` with what an operator needs first."""
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    where = f"{run.dag_id}/{ti.task_id}" if ti is not None else getattr(run, "dag_id", "?")
    log.error(
        "replica failure: %s run=%s try=%s reason=%s",
        where,
        getattr(run, "run_id", "?"),
        getattr(ti, "try_number", "-"),
        context.get("exception") or context.get("reason") or "unknown",
    )


def _local_task(step: Step, **kwargs: Any) -> Any:
    from airflow.providers.standard.operators.bash import BashOperator

    return BashOperator(
        bash_command=step.command,
        cwd=PROJECT_DIR,
        skip_on_exit_code=SKIP if step.task_id == "publish" else None,
        **kwargs,
    )


def _pod_task(step: Step, **kwargs: Any) -> Any:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import models as k8s

    if step.gpu:
        resources = k8s.V1ResourceRequirements(
            requests={"cpu": "4", "memory": "16Gi"},
            limits={"memory": "16Gi", GPU_RESOURCE: "1"},
        )
    else:
        resources = k8s.V1ResourceRequirements(
            requests={"cpu": "2", "memory": "8Gi"}, limits={"memory": "8Gi"}
        )
    return KubernetesPodOperator(
        name=f"replica-{step.task_id.replace('_', '-')}",
        namespace=NAMESPACE,
        image=GPU_IMAGE if step.gpu else CPU_IMAGE,
        image_pull_policy="IfNotPresent",
        cmds=["/bin/sh", "-c"],
        arguments=[step.command],
        labels={"app.kubernetes.io/part-of": "replica", "replica.io/step": step.task_id},
        full_pod_spec=k8s.V1Pod(
            spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="base", working_dir=WORKSPACE)])
        ),
        volumes=[
            k8s.V1Volume(
                name="workspace",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                    claim_name=WORKSPACE_PVC
                ),
            )
        ],
        volume_mounts=[k8s.V1VolumeMount(name="workspace", mount_path=WORKSPACE)],
        secrets=[Secret("env", None, name) for name in step.secrets],
        container_resources=resources,
        node_selector=GPU_POOL if step.gpu else None,
        tolerations=(
            [k8s.V1Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")]
            if step.gpu
            else None
        ),
        service_account_name=STEPS_SA,
        automount_service_account_token=False,
        security_context=POD_SECURITY,
        container_security_context=CONTAINER_SECURITY,
        skip_on_exit_code=SKIP if step.task_id == "publish" else None,
        # A GPU node group scaled to zero takes minutes to bring a node up.
        startup_timeout_seconds=900 if step.gpu else 300,
        get_logs=True,
        reattach_on_restart=True,
        on_finish_action="delete_succeeded_pod",  # failed pods stay for inspection
        **kwargs,
    )


def _build(steps: tuple[Step, ...], outlets: dict[str, list[Asset]], lease: bool = True) -> None:
    """One task per step in the DAG being defined, in the current mode, wired as listed; with
    ``lease``, inside the workspace lease (``lock`` as setup, ``unlock`` as its teardown)."""
    make = _local_task if MODE == "local" else _pod_task
    tasks = {
        step.task_id: make(
            step,
            task_id=step.task_id,
            retries=step.retries,
            execution_timeout=step.timeout,
            outlets=outlets.get(step.task_id, []),
        )
        for step in (*steps, LOCK, UNLOCK)
        if lease or step not in (LOCK, UNLOCK)
    }
    for step in steps:
        for upstream in step.upstream:
            tasks[upstream] >> tasks[step.task_id]
    if lease:
        lock, unlock = tasks.pop("lock"), tasks.pop("unlock")
        for task in tasks.values():
            if not task.upstream_task_ids:
                lock >> task
            if not task.downstream_task_ids:
                task >> unlock
        unlock.as_teardown(setups=lock)


_DEFAULT_ARGS = {
    "owner": "replica",
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "on_failure_callback": notify_failure,
}
_PROJECT_PARAMS = (
    {
        "project_dir": Param(
            "",
            type="string",
            description="Project checkout to run in; empty: Variable replica_project_dir.",
        )
    }
    if MODE == "local"
    else {}
)
_COMMON = {
    "start_date": datetime(2026, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": _DEFAULT_ARGS,
    "on_failure_callback": notify_failure,
    "tags": ["replica", MODE],
}

with DAG(
    dag_id="dataset_refresh",
    description="crawl → extract → dedup; gallery → pairs; each validated; DVC commit and push",
    doc_md=__doc__,
    schedule="0 2 * * *",
    dagrun_timeout=timedelta(hours=16),
    params=_PROJECT_PARAMS,
    **_COMMON,
) as dataset_refresh:
    _build(REFRESH, {"publish": [PAIRS]})

with DAG(
    dag_id="retrain",
    description="per detector family: train → evaluate → register → promote, on new data",
    doc_md=__doc__,
    schedule=[PAIRS],
    dagrun_timeout=timedelta(hours=12),
    params=_PROJECT_PARAMS,
    **_COMMON,
) as retrain:
    _build(RETRAIN, {})

with DAG(
    dag_id="promote",
    description="Run the promotion gate on a registration, or roll the champion back",
    doc_md=__doc__,
    schedule=None,
    dagrun_timeout=timedelta(minutes=30),
    params={
        **_PROJECT_PARAMS,
        "family": Param("copy", enum=list(FAMILIES), description="Detector family."),
        "registration": Param(
            "data/registry/copy/registration.json",
            type="string",
            pattern=r"^[A-Za-z0-9_./-]+$",
            description="registration.json (model name and version) to promote.",
        ),
        "rollback": Param(
            False, type="boolean", description="Give the alias back to 'previous' instead."
        ),
    },
    **_COMMON,
) as promote:
    _build(PROMOTE, {}, lease=False)  # a rollback must not wait for a training run

with DAG(
    dag_id="audit",
    description="A generator's images against the gallery: replication ratio and HTML report",
    doc_md=__doc__,
    schedule="0 4 * * 1",
    dagrun_timeout=timedelta(hours=6),
    params={
        **_PROJECT_PARAMS,
        "model": Param(
            "models:/replica-copy-detector@champion",
            type="string",
            pattern=_SAFE,
            description="Copy detector: a model directory or models:/name@alias.",
        ),
        "images": Param(
            "data/audit/images",
            type="string",
            pattern=_SAFE,
            description="The generator's images: a folder or a table with a path column.",
        ),
        "gallery": Param(
            "data/gallery",
            type="string",
            pattern=_SAFE,
            description="Gallery images: a folder or a table with a path column.",
        ),
        "generator": Param(
            "generator",
            type="string",
            pattern=r"^[A-Za-z0-9_.-]+$",
            description="Name of the audited generator (the report folder).",
        ),
    },
    **_COMMON,
) as audit:
    _build(AUDIT, {}, lease=False)  # writes no DVC output; a long audit must not block retrain
