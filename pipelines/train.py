"""The ``train`` pipeline: train → evaluate → commit → register → promote.

The same tasks, commands and order as the Airflow DAG ``retrain``: ``commit`` records the model
and its evaluation in ``dvc.lock`` so ``register`` tags the version with their hashes. ``train``
runs on the GPU pool in the GPU image; ``register`` and ``promote`` read ``MLFLOW_TRACKING_URI``
from the ``replica-mlflow`` Secret. The parameters named like ``params.yaml`` sections are those
sections as JSON, defaulted from it when compiled (``python -m pipelines.compile``).
"""

from kfp import dsl

from components import steps
from pipelines.cluster import MLFLOW_ENV, MLFLOW_SECRET, PVC_NAME, WORKSPACE, configure


@dsl.pipeline(
    name="train",
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
    t_train = configure(
        steps.train(base=base, params=train, family_params=copy, **ws),
        "train",
        timeout_s=8 * 3600,
        gpu=True,
        image=gpu_image,
        **pvc,
    )
    t_evaluate = configure(steps.evaluate(params=evaluate, **ws), "evaluate", timeout_s=3600, **pvc)
    t_evaluate.after(t_train)
    t_commit = configure(
        steps.commit(stages=["train", "evaluate"], **ws), "commit", timeout_s=1800, **pvc
    ).after(t_evaluate)
    t_register = configure(
        steps.register(params=register, **ws),
        "register",
        timeout_s=1800,
        retries=2,
        secrets=mlflow,
        **pvc,
    ).after(t_commit)
    configure(
        steps.promote(params=promote, **ws),
        "promote",
        timeout_s=900,
        retries=1,
        secrets=mlflow,
        **pvc,
    ).after(t_register)
