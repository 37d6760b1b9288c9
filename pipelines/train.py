"""The ``train`` pipeline: per detector family train → evaluate, commit, register → promote.

The same tasks, commands and order as the Airflow DAG ``retrain`` (tasks named like the DVC
foreach stages: ``train_copy`` is ``train@copy``): ``commit`` records the models and their
evaluations in ``dvc.lock`` so ``register`` tags each version with their hashes (and the
pipeline job's id, as ``KFP_RUN_ID``); all inside the workspace lease (``lock``, ``unlock``).
``train_*`` runs on the GPU pool in the GPU image; ``register_*`` and ``promote_*`` read
``MLFLOW_TRACKING_URI`` from the ``replica-mlflow`` Secret. The parameters named like
``params.yaml`` sections are those sections as JSON, defaulted from it when compiled
(``python -m pipelines.compile``).
"""

from kfp import dsl

from components import steps
from pipelines.cluster import (
    MLFLOW_ENV,
    MLFLOW_SECRET,
    PVC_NAME,
    WORKSPACE,
    configure,
    hold_workspace,
)

FAMILIES = {"copy": "data/pairs", "synthetic": "data/invert"}  # family -> its training data


@dsl.pipeline(
    name="retrain",  # like the Airflow DAG; "train" would collide with its first component
    description="per detector family: train → evaluate → register → promote.",
)
def train(
    base: str,
    train: str,
    copy: str,
    synthetic: str,
    evaluate: str,
    register: str,
    promote: str,
    workspace: str = WORKSPACE,
    pvc_name: str = PVC_NAME,
    gpu_image: str = steps.GPU_IMAGE,
) -> None:
    """Wire the steps in ``dvc.yaml`` order; ``workspace`` must lie on the ``pvc_name`` mount."""
    ws = {"workspace": workspace}
    pvc = {"pvc_name": pvc_name}
    mlflow = ((MLFLOW_SECRET, MLFLOW_ENV),)
    sections = {"copy": copy, "synthetic": synthetic}
    trained, evaluated = [], []
    for family, data in FAMILIES.items():
        t_train = configure(
            steps.train(
                family=family, data=data, base=base, params=train,
                family_params=sections[family], **ws,
            ),
            f"train_{family}",
            timeout_s=8 * 3600,
            gpu=True,
            image=gpu_image,
            **pvc,
        )  # fmt: skip
        trained.append(t_train)
        evaluated.append(
            configure(
                steps.evaluate(
                    family=family, data=data, params=evaluate,
                    family_params=sections[family], **ws,
                ),
                f"evaluate_{family}",
                timeout_s=2 * 3600,
                **pvc,
            ).after(t_train)
        )  # fmt: skip
    stages = [f"{step}@{family}" for family in FAMILIES for step in ("train", "evaluate")]
    t_commit = configure(steps.commit(stages=stages, **ws), "commit", timeout_s=1800, **pvc).after(
        *evaluated
    )
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    held = [*trained, *evaluated, t_commit]
    for family in FAMILIES:
        t_register = configure(
            steps.register(family=family, params=register, run_id=run_id, **ws),
            f"register_{family}",
            timeout_s=1800,
            retries=2,
            secrets=mlflow,
            **pvc,
        ).after(t_commit)
        t_promote = configure(
            steps.promote(family=family, params=promote, run_id=run_id, **ws),
            f"promote_{family}",
            timeout_s=900,
            retries=1,
            secrets=mlflow,
            **pvc,
        ).after(t_register)
        held += [t_register, t_promote]
    hold_workspace(held, **ws, **pvc)
