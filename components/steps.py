"""One KFP component per pipeline step; each runs its ``dvc.yaml`` command in the workspace.

The components wire, they never compute: ``replica <step>`` with the stage's arguments, run with
the workspace (a DVC checkout of the project on a shared volume) as the working directory, so
paths and step code are identical to ``dvc repro``'s. Data moves between steps through that
directory, not through KFP artifacts. ``params`` (and ``base``) are the step's ``params.yaml``
sections as JSON (a KFP struct would turn every integer into a float); every key is passed as
``--set section.key=value``, so a run's configuration is the pipeline's parameters (defaulted
from ``params.yaml`` when the pipeline is compiled).

They are lightweight Python components on the replica image, which carries kfp
(``install_kfp_package=False``): in a cluster the function runs in the image; locally,
``kfp.local.SubprocessRunner`` runs the same function in the current environment with
``replica`` on PATH. Container components would run the same command, but SubprocessRunner refuses
them and DockerRunner over podman reports failing tasks as successes (``platform.md`` §4), so no
local runner could run them honestly. KFP ships a component's source alone, plus the source of its
``additional_funcs``: ``run_step`` travels with every component, so it imports what it uses.
"""

# No ``from __future__ import annotations``: KFP reads the real annotation types.
from functools import partial

from kfp import dsl

IMAGE = "ghcr.io/replica/replica:cpu"
GPU_IMAGE = "ghcr.io/replica/replica:gpu"


def run_step(workspace: str, argv: list, sections: dict, run_id: str = ""):
    """Run ``argv`` in the workspace, each key of each section as ``--set section.key=value``.

    ``sections`` maps a ``params.yaml`` section name to that section as JSON. ``run_id`` (the
    pipeline job's id, ``dsl.PIPELINE_JOB_ID_PLACEHOLDER``) reaches the step as ``KFP_RUN_ID``,
    which ``register`` tags the model version with.
    """
    import json
    import os
    import subprocess

    sets = [
        f"--set={section}.{key}={json.dumps(value)}"
        for section, params in sections.items()
        for key, value in json.loads(params).items()
    ]
    env = {**os.environ, "KFP_RUN_ID": run_id} if run_id else None
    subprocess.run([*argv, *sets], cwd=workspace, check=True, env=env)


component = partial(
    dsl.component, base_image=IMAGE, install_kfp_package=False, additional_funcs=[run_step]
)


@component
def crawl(workspace: str, params: str, sources: str = "sources/demo.yaml"):
    """Collect the configured sources into WARC files: ``replica crawl``."""
    argv = ["replica", "crawl", "--sources", sources, "--output", "data/crawl"]
    run_step(workspace, argv, {"crawl": params})


@component
def extract(workspace: str, params: str):
    """Extract articles and images from the crawl's WARC files: ``replica extract``."""
    argv = ["replica", "extract", "--input", "data/crawl", "--output", "data/extract"]
    run_step(workspace, argv, {"extract": params})


@component
def validate(workspace: str, dataset: str, params: str):
    """Validate a step's output with its GX suites; fails the run on a broken contract."""
    report = f"reports/validate/{dataset}.json"
    argv = ["replica", "validate", "--input", f"data/{dataset}", "--report", report]
    run_step(workspace, argv, {"validate": params})


@component
def dedup(workspace: str, params: str):
    """Remove exact and near-duplicate articles and images: ``replica dedup``."""
    argv = ["replica", "dedup", "--input", "data/extract", "--output", "data/dedup"]
    run_step(workspace, argv, {"dedup": params})


@component
def gallery(workspace: str, params: str, source: str = "../shared/corpus/gallery/manifest.csv"):
    """Import a folder, glob, s3:// prefix or manifest of images: ``replica gallery``."""
    argv = ["replica", "gallery", "--source", source, "--output", "data/gallery"]
    run_step(workspace, argv, {"gallery": params})


@component
def tiny_sd(workspace: str):
    """Write the tiny random Stable Diffusion model the demo makes pairs with."""
    run_step(workspace, ["replica", "make-tiny-sd", "--output", "data/tiny-sd"], {})


@component
def pairs(workspace: str, base: str, params: str, gallery: str):
    """Build D-Rep pairs from the gallery, diffusion replicas on the GPU: ``replica pairs``."""
    argv = ["replica", "pairs", "--input", "data/gallery", "--output", "data/pairs"]
    run_step(workspace, argv, {"base": base, "pairs": params, "gallery": gallery})


@component
def fakes(workspace: str, base: str, params: str):
    """Real and generated images re-encoded alike (format parity): ``replica fakes``."""
    argv = ["replica", "fakes", "--real", "../shared/corpus/gallery"]
    argv += ["--fake", "../shared/corpus/generated", "--output", "data/fakes"]
    run_step(workspace, argv, {"base": base, "fakes": params})


@component
def invert(workspace: str, params: str):
    """FakeInversion features of the fakes dataset (GPU): ``replica invert``."""
    argv = ["replica", "invert", "--input", "data/fakes", "--output", "data/invert"]
    run_step(workspace, [*argv, "--cache", "data/cache"], {"invert": params})


@component
def train(workspace: str, family: str, data: str, base: str, params: str, family_params: str):
    """Train a detector family on its data (GPU): ``replica train --family``."""
    argv = ["replica", "train", "--family", family, "--input", data]
    argv += ["--output", f"data/models/{family}", "--cache", "data/cache"]
    run_step(workspace, argv, {"base": base, "train": params, family: family_params})


@component
def evaluate(workspace: str, family: str, data: str, params: str, family_params: str):
    """Score the model and its baselines on the held-out data: ``replica evaluate --family``."""
    argv = ["replica", "evaluate", "--family", family, "--model", f"data/models/{family}"]
    argv += ["--input", data, "--output", f"data/eval/{family}", "--cache", "data/cache"]
    run_step(workspace, argv, {"evaluate": params, family: family_params})


@component
def register(workspace: str, family: str, params: str, run_id: str):
    """Register the model in MLflow with its lineage from ``dvc.lock``: ``replica register``."""
    argv = ["replica", "register", "--family", family, "--model", f"data/models/{family}"]
    argv += ["--metrics", f"data/eval/{family}", "--lock", "dvc.lock"]
    argv += ["--reports", "reports/validate"]
    argv += ["--output", f"data/registry/{family}/registration.json"]
    run_step(workspace, argv, {"register": params}, run_id)


@component
def promote(workspace: str, family: str, params: str, run_id: str):
    """Move the serving alias to the new version only through the gate: ``replica promote``."""
    argv = ["replica", "promote", "--family", family]
    argv += ["--registration", f"data/registry/{family}/registration.json"]
    argv += ["--output", f"data/registry/{family}/promotion.json"]
    run_step(workspace, argv, {"promote": params}, run_id)


@component
def audit(
    workspace: str, model: str, images: str, gallery: str, generator: str, params: str, predict: str
):
    """A generator's images against a gallery: ``replica audit`` (ratio + HTML report)."""
    argv = ["replica", "audit", "--model", model, "--images", images, "--gallery", gallery]
    argv += ["--generator", generator, "--output", f"reports/audit/{generator}"]
    run_step(workspace, [*argv, "--cache", "data/cache"], {"audit": params, "predict": predict})


@component
def commit(workspace: str, stages: list):
    """Record the stages' current outputs in ``dvc.lock`` and the DVC cache: ``dvc commit``."""
    run_step(workspace, ["dvc", "commit", "--force", *stages], {})


@component
def push(workspace: str, stages: list):
    """Upload the stages' outputs to the DVC remote: ``dvc push``."""
    run_step(workspace, ["dvc", "push", *stages], {})


@component
def lock(workspace: str, owner: str):
    """Take the workspace lease for this run (waits while another run holds it)."""
    run_step(workspace, ["replica", "workspace", "lock", "--owner", owner], {})


@component
def unlock(workspace: str, owner: str):
    """Give the workspace lease back; runs after the last task, failed or not."""
    run_step(workspace, ["replica", "workspace", "unlock", "--owner", owner], {})
