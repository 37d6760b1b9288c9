"""One KFP container component per pipeline step; each runs ``replica <step>`` in the project image.

The components wire, they never compute: each is the ``dvc.yaml`` command of its stage with every
path argument placed under ``workspace``, a directory all steps share (a PVC mount in a cluster).
Data moves between steps through that directory, not through KFP artifacts, so the paths (and the
step code) are identical to ``dvc repro``'s. ``params.yaml`` is read from the image's working
directory, so a run's configuration is the one baked into its image.

The image is ``IMAGE`` here; the pipeline overrides it per run (``image`` pipeline parameter).
"""

# No ``from __future__ import annotations``: KFP reads the real annotation types.
from kfp import dsl

IMAGE = "replica:cpu"


@dsl.container_component
def crawl(workspace: str):
    """Fetch the configured sources into raw WARC files."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "crawl"],
        args=["--sources", f"{workspace}/sources/demo.yaml", "--output", f"{workspace}/data/crawl"],
    )


@dsl.container_component
def extract(workspace: str):
    """Extract articles and images from the crawled WARC files."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "extract"],
        args=["--input", f"{workspace}/data/crawl", "--output", f"{workspace}/data/extract"],
    )


@dsl.container_component
def validate(workspace: str, dataset: str):
    """Run a dataset's expectation suite; fails the run when the data breaks its contract."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "validate"],
        args=[
            "--input",
            f"{workspace}/data/{dataset}",
            "--report",
            f"{workspace}/reports/validate/{dataset}.json",
        ],
    )


@dsl.container_component
def dedup(workspace: str):
    """Cluster near-duplicate articles and images and keep one per cluster."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "dedup"],
        args=["--input", f"{workspace}/data/extract", "--output", f"{workspace}/data/dedup"],
    )


@dsl.container_component
def tiny_sd(workspace: str):
    """Write the tiny random Stable Diffusion model the demo generates pairs with."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "make-tiny-sd"],
        args=["--output", f"{workspace}/data/tiny-sd"],
    )


@dsl.container_component
def pairs(workspace: str):
    """Generate image pairs with known replication levels (GPU)."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "pairs"],
        args=["--input", f"{workspace}/data/dedup", "--output", f"{workspace}/data/pairs"],
    )


@dsl.container_component
def train(workspace: str):
    """Train the copy detector on the pairs (GPU)."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "train"],
        args=["--input", f"{workspace}/data/pairs", "--output", f"{workspace}/data/model"],
    )


@dsl.container_component
def evaluate(workspace: str):
    """Score the model on the held-out pairs and write metrics."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "evaluate"],
        args=[
            "--model",
            f"{workspace}/data/model",
            "--input",
            f"{workspace}/data/pairs",
            "--output",
            f"{workspace}/data/eval",
        ],
    )


@dsl.container_component
def register(workspace: str):
    """Register the model in MLflow with its lineage (dataset hashes from ``dvc.lock``)."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "register"],
        args=[
            "--model",
            f"{workspace}/data/model",
            "--metrics",
            f"{workspace}/data/eval",
            "--lock",
            f"{workspace}/dvc.lock",
            "--output",
            f"{workspace}/data/registry/registration.json",
        ],
    )


@dsl.container_component
def promote(workspace: str):
    """Move the serving alias to the new version only if it passes the gate."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["replica", "promote"],
        args=[
            "--registration",
            f"{workspace}/data/registry/registration.json",
            "--output",
            f"{workspace}/data/registry/promotion.json",
        ],
    )
