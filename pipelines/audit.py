"""The ``audit`` pipeline: one ``replica audit`` run, a generator's images against a gallery.

The same command as the Airflow DAG ``audit``; schedule it with a KFP recurring run. The model is
the champion copy detector by default (read from MLflow with the ``replica-mlflow`` Secret); the
report lands under ``reports/audit/<generator>`` in the workspace. ``audit`` and ``predict``
are those ``params.yaml`` sections as JSON, defaulted from it when compiled.
"""

from kfp import dsl

from components import steps
from pipelines.cluster import MLFLOW_ENV, MLFLOW_SECRET, PVC_NAME, WORKSPACE, configure


@dsl.pipeline(
    name="generator-audit",  # not "audit": kfp would resolve that name to the component
    description="A generator's images against the gallery: replication ratio and HTML report.",
)
def audit(
    audit: str,
    predict: str,
    model: str = "models:/replica-copy-detector@champion",
    images: str = "data/audit/images",
    gallery: str = "data/gallery",
    generator: str = "generator",
    workspace: str = WORKSPACE,
    pvc_name: str = PVC_NAME,
) -> None:
    """One task on a CPU node; the workspace holds the images and the feature cache."""
    configure(
        steps.audit(
            workspace=workspace,
            model=model,
            images=images,
            gallery=gallery,
            generator=generator,
            params=audit,
            predict=predict,
        ),
        "audit",
        timeout_s=4 * 3600,
        retries=1,
        secrets=((MLFLOW_SECRET, MLFLOW_ENV),),
        pvc_name=pvc_name,
    )
