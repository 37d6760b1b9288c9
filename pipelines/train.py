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


@dsl.pipeline(
    name="retrain",  # like the Airflow DAG; "train" would collide with its first component
    description="train → evaluate → register → promote on the workspace's pairs dataset.",
)
def train(
    base: str,
    train: str,
    copy: str,
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
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    family, data = "copy", "data/pairs"
    t_train = configure(
        steps.train(family=family, data=data, base=base, params=train, family_params=copy, **ws),
        f"train_{family}",
        timeout_s=8 * 3600,
        gpu=True,
        image=gpu_image,
        **pvc,
    )
    t_evaluate = configure(
        steps.evaluate(family=family, data=data, params=evaluate, **ws),
        f"evaluate_{family}",
        timeout_s=3600,
        **pvc,
    ).after(t_train)
    t_commit = configure(
        steps.commit(stages=[f"train@{family}", f"evaluate@{family}"], **ws),
        "commit",
        timeout_s=1800,
        **pvc,
    ).after(t_evaluate)
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
    hold_workspace([t_train, t_evaluate, t_commit, t_register, t_promote], **ws, **pvc)
