"""The replica pipeline for Airflow: the ``dvc.yaml`` stages as tasks, same commands, same order.

Each task runs its stage's ``replica <step>`` command in the project directory, resolved at run
time: the run's ``project_dir`` param, else the Airflow Variable ``replica_project_dir`` (settable
through the env as ``AIRFLOW_VAR_REPLICA_PROJECT_DIR``), else ``/opt/replica`` (the image's
working directory). Nothing is read at parse time. ``validate`` runs once per dataset, as DVC's
``foreach`` does, under the ids ``validate_<dataset>``. A failed task stops everything downstream,
like ``dvc repro``. Runs share one project directory, so only one runs at a time.

``STEPS`` is the only list of commands here: a cluster mode swaps the operator, not the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

PROJECT_DIR = "{{ params.project_dir or var.value.get('replica_project_dir', '/opt/replica') }}"


class Step(NamedTuple):
    """One task: the ``dvc.yaml`` command, the tasks it waits for, and its failure policy."""

    task_id: str
    command: str
    upstream: tuple[str, ...]
    timeout: timedelta
    retries: int = 0  # steps are deterministic: only network-bound ones retry


STEPS: tuple[Step, ...] = (
    Step(
        "crawl",
        "replica crawl --sources sources/demo.yaml --output data/crawl",
        (),
        timedelta(hours=2),
        retries=1,
    ),
    Step(
        "extract",
        "replica extract --input data/crawl --output data/extract",
        ("crawl",),
        timedelta(hours=1),
    ),
    Step(
        "validate_extract",
        "replica validate --input data/extract --report reports/validate/extract.json",
        ("extract",),
        timedelta(minutes=15),
    ),
    Step(
        "dedup",
        "replica dedup --input data/extract --output data/dedup",
        ("validate_extract",),
        timedelta(hours=1),
    ),
    Step(
        "validate_dedup",
        "replica validate --input data/dedup --report reports/validate/dedup.json",
        ("dedup",),
        timedelta(minutes=15),
    ),
    Step(
        "tiny_sd",
        "replica make-tiny-sd --output data/tiny-sd",
        (),
        timedelta(minutes=10),
    ),
    Step(
        "pairs",
        "replica pairs --input data/dedup --output data/pairs",
        ("validate_dedup", "tiny_sd"),
        timedelta(hours=4),
    ),
    Step(
        "validate_pairs",
        "replica validate --input data/pairs --report reports/validate/pairs.json",
        ("pairs",),
        timedelta(minutes=15),
    ),
    Step(
        "train",
        "replica train --input data/pairs --output data/model",
        ("validate_pairs",),
        timedelta(hours=6),
    ),
    Step(
        "evaluate",
        "replica evaluate --model data/model --input data/pairs --output data/eval",
        ("train",),
        timedelta(hours=1),
    ),
    Step(
        "register",
        "replica register --model data/model --metrics data/eval --lock dvc.lock "
        "--output data/registry/registration.json",
        ("evaluate",),
        timedelta(minutes=15),
        retries=1,
    ),
    Step(
        "promote",
        "replica promote --registration data/registry/registration.json "
        "--output data/registry/promotion.json",
        ("register",),
        timedelta(minutes=10),
        retries=1,
    ),
)

with DAG(
    dag_id="replica_pipeline",
    description="crawl → extract → dedup → pairs → train → evaluate → register → promote",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=16),
    default_args={"owner": "replica", "retry_delay": timedelta(minutes=5)},
    params={
        "project_dir": Param(
            "",
            type="string",
            description="Project checkout to run in; empty: Variable replica_project_dir.",
        )
    },
    tags=["replica"],
) as dag:
    tasks = {
        step.task_id: BashOperator(
            task_id=step.task_id,
            bash_command=step.command,
            cwd=PROJECT_DIR,
            retries=step.retries,
            execution_timeout=step.timeout,
        )
        for step in STEPS
    }
    for step in STEPS:
        for upstream in step.upstream:
            tasks[upstream] >> tasks[step.task_id]
