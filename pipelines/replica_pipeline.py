"""The replica pipeline for Kubeflow Pipelines: the ``dvc.yaml`` stages as KFP tasks, same order.

Compile with ``python -m pipelines.compile`` (``make compile``): it writes ``COMPILED``, the
checked-in spec that ``tests/orchestration`` compares against.

Every task runs ``replica <step>`` in one image and reads/writes under ``workspace``, a directory on
the PVC ``pvc_name`` mounted at ``/workspace`` in every pod (use a ReadWriteMany claim: the GPU
steps may land on other nodes). The workspace must hold ``sources/`` and ``dvc.lock`` before a run,
as a DVC checkout does. Steps hand data over through that directory, so KFP sees no data edges:
the order is explicit (``.after``) and caching is off, because a task's inputs (a path) do not
change when the data under it does. ``pairs`` and ``train`` get one NVIDIA GPU each.
"""

from pathlib import Path

from kfp import compiler, dsl, kubernetes

from components import steps

WORKSPACE = "/workspace"
PVC_NAME = "replica-workspace"
GPU_RESOURCE = "nvidia.com/gpu"
COMPILED = Path(__file__).resolve().parent / "compiled" / "replica_pipeline.yaml"


def _configure(
    task: dsl.PipelineTask,
    name: str,
    image: str,
    pvc_name: str,
    *,
    gpu: bool = False,
    retries: int = 0,
) -> dsl.PipelineTask:
    """Name the task like the Airflow task, pin the image, mount the workspace, add GPU/retries."""
    task.set_display_name(name)
    task.set_caching_options(enable_caching=False)
    task.set_container_image(image)
    kubernetes.mount_pvc(task, pvc_name=pvc_name, mount_path=WORKSPACE)
    if gpu:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
        kubernetes.add_toleration(task, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
    if retries:
        task.set_retry(num_retries=retries)
    return task


@dsl.pipeline(
    name="replica-pipeline",
    description="crawl → extract → dedup → pairs → train → evaluate → register → promote, "
    "each dataset validated before use.",
)
def replica_pipeline(
    workspace: str = WORKSPACE,
    image: str = steps.IMAGE,
    pvc_name: str = PVC_NAME,
) -> None:
    """Wire the steps in ``dvc.yaml`` order; ``workspace`` must lie under ``/workspace``."""
    ws = {"workspace": workspace}
    crawl = _configure(steps.crawl(**ws), "crawl", image, pvc_name, retries=1)
    extract = _configure(steps.extract(**ws), "extract", image, pvc_name).after(crawl)
    validate_extract = _configure(
        steps.validate(dataset="extract", **ws), "validate_extract", image, pvc_name
    ).after(extract)
    dedup = _configure(steps.dedup(**ws), "dedup", image, pvc_name).after(validate_extract)
    validate_dedup = _configure(
        steps.validate(dataset="dedup", **ws), "validate_dedup", image, pvc_name
    ).after(dedup)
    tiny_sd = _configure(steps.tiny_sd(**ws), "tiny_sd", image, pvc_name)
    pairs = _configure(steps.pairs(**ws), "pairs", image, pvc_name, gpu=True).after(
        validate_dedup, tiny_sd
    )
    validate_pairs = _configure(
        steps.validate(dataset="pairs", **ws), "validate_pairs", image, pvc_name
    ).after(pairs)
    train = _configure(steps.train(**ws), "train", image, pvc_name, gpu=True).after(validate_pairs)
    evaluate = _configure(steps.evaluate(**ws), "evaluate", image, pvc_name).after(train)
    register = _configure(steps.register(**ws), "register", image, pvc_name, retries=1)
    register.after(evaluate)
    promote = _configure(steps.promote(**ws), "promote", image, pvc_name, retries=1)
    promote.after(register)


def compile_pipeline(path: Path = COMPILED) -> Path:
    """Compile the pipeline to a KFP IR YAML file at ``path`` and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(replica_pipeline, str(path))
    return path
