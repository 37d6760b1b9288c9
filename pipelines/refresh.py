"""The ``refresh`` pipeline: crawl → extract → dedup, gallery → pairs, and fakes → invert,
each output validated, then DVC.

The same tasks, commands and order as the Airflow DAG ``dataset_refresh``: ``commit`` records the
new outputs in ``dvc.lock``, ``push`` uploads them, all inside the workspace lease (``lock`` and
``unlock``). Every task runs in the workspace PVC (a DVC checkout of the project, ReadWriteMany:
a GPU step may land on another node); ``pairs`` and ``invert`` run on the GPU pool in the GPU
image. The parameters named like ``params.yaml`` sections are those sections as JSON, defaulted
from it when compiled (``python -m pipelines.compile``).
"""

from kfp import dsl

from components import steps
from pipelines.cluster import AWS_ENV, AWS_SECRET, PVC_NAME, WORKSPACE, configure, hold_workspace

VALIDATED = ("extract", "dedup", "gallery", "pairs", "fakes", "invert")
COMMIT_STAGES = ["crawl", "extract", "validate@extract", "dedup", "validate@dedup"]
COMMIT_STAGES += ["gallery", "validate@gallery", "tiny_sd", "pairs", "validate@pairs"]
COMMIT_STAGES += ["fakes", "validate@fakes", "invert", "validate@invert"]
PUSH_STAGES = ["crawl", "extract", "dedup", "gallery", "tiny_sd", "pairs", "fakes", "invert"]


@dsl.pipeline(
    name="refresh",
    description="crawl → extract → dedup; gallery → pairs; each validated; commit and push.",
)
def refresh(
    base: str,
    crawl: str,
    extract: str,
    validate: str,
    dedup: str,
    gallery: str,
    pairs: str,
    fakes: str,
    invert: str,
    workspace: str = WORKSPACE,
    pvc_name: str = PVC_NAME,
    gpu_image: str = steps.GPU_IMAGE,
) -> None:
    """Wire the steps in ``dvc.yaml`` order; ``workspace`` must lie on the ``pvc_name`` mount."""
    ws = {"workspace": workspace}
    pvc = {"pvc_name": pvc_name}
    aws = ((AWS_SECRET, AWS_ENV),)
    t_crawl = configure(
        steps.crawl(params=crawl, **ws), "crawl", timeout_s=3 * 3600, retries=2, secrets=aws, **pvc
    )
    t_extract = configure(steps.extract(params=extract, **ws), "extract", timeout_s=7200, **pvc)
    t_extract.after(t_crawl)
    t_val_extract = configure(
        steps.validate(dataset="extract", params=validate, **ws),
        "validate_extract",
        timeout_s=1800,
        **pvc,
    ).after(t_extract)
    t_dedup = configure(steps.dedup(params=dedup, **ws), "dedup", timeout_s=7200, **pvc)
    t_dedup.after(t_val_extract)
    t_val_dedup = configure(
        steps.validate(dataset="dedup", params=validate, **ws),
        "validate_dedup",
        timeout_s=1800,
        **pvc,
    ).after(t_dedup)
    t_gallery = configure(
        steps.gallery(params=gallery, **ws),
        "gallery",
        timeout_s=7200,
        retries=2,
        secrets=aws,
        **pvc,
    )
    t_val_gallery = configure(
        steps.validate(dataset="gallery", params=validate, **ws),
        "validate_gallery",
        timeout_s=1800,
        **pvc,
    ).after(t_gallery)
    t_tiny_sd = configure(steps.tiny_sd(**ws), "tiny_sd", timeout_s=1200, **pvc)
    t_pairs = configure(
        steps.pairs(base=base, params=pairs, gallery=gallery, **ws),
        "pairs",
        timeout_s=6 * 3600,
        gpu=True,
        image=gpu_image,
        **pvc,
    ).after(t_val_gallery, t_tiny_sd)
    t_val_pairs = configure(
        steps.validate(dataset="pairs", params=validate, **ws),
        "validate_pairs",
        timeout_s=1800,
        **pvc,
    ).after(t_pairs)
    t_fakes = configure(steps.fakes(base=base, params=fakes, **ws), "fakes", timeout_s=7200, **pvc)
    t_val_fakes = configure(
        steps.validate(dataset="fakes", params=validate, **ws),
        "validate_fakes",
        timeout_s=1800,
        **pvc,
    ).after(t_fakes)
    t_invert = configure(
        steps.invert(params=invert, **ws),
        "invert",
        timeout_s=8 * 3600,
        gpu=True,
        image=gpu_image,
        **pvc,
    ).after(t_val_fakes, t_tiny_sd)
    t_val_invert = configure(
        steps.validate(dataset="invert", params=validate, **ws),
        "validate_invert",
        timeout_s=1800,
        **pvc,
    ).after(t_invert)
    t_commit = configure(
        steps.commit(stages=COMMIT_STAGES, **ws), "commit", timeout_s=1800, **pvc
    ).after(t_val_pairs, t_val_dedup, t_val_invert)
    t_push = configure(
        steps.push(stages=PUSH_STAGES, **ws), "push", timeout_s=3600, retries=2, secrets=aws, **pvc
    ).after(t_commit)
    steps_run = [t_crawl, t_extract, t_val_extract, t_dedup, t_val_dedup, t_gallery]
    steps_run += [t_val_gallery, t_tiny_sd, t_pairs, t_val_pairs]
    steps_run += [t_fakes, t_val_fakes, t_invert, t_val_invert]
    hold_workspace([*steps_run, t_commit, t_push], **ws, **pvc)
