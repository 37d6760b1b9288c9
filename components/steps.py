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
local runner could run them honestly. Each function is self-contained: KFP ships its source alone.
"""

# No ``from __future__ import annotations``: KFP reads the real annotation types.
from kfp import dsl

IMAGE = "ghcr.io/replica/replica:cpu"
GPU_IMAGE = "ghcr.io/replica/replica:gpu"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def crawl(workspace: str, params: str, sources: str = "sources/demo.yaml"):
    """Collect the configured sources into WARC files: ``replica crawl``."""
    import json
    import subprocess

    sets = [f"--set=crawl.{k}={json.dumps(v)}" for k, v in json.loads(params).items()]
    argv = ["replica", "crawl", "--sources", sources, "--output", "data/crawl"]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def extract(workspace: str, params: str):
    """Extract articles and images from the crawl's WARC files: ``replica extract``."""
    import json
    import subprocess

    sets = [f"--set=extract.{k}={json.dumps(v)}" for k, v in json.loads(params).items()]
    argv = ["replica", "extract", "--input", "data/crawl", "--output", "data/extract"]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate(workspace: str, dataset: str, params: str):
    """Validate a step's output with its GX suites; fails the run on a broken contract."""
    import json
    import subprocess

    sets = [f"--set=validate.{k}={json.dumps(v)}" for k, v in json.loads(params).items()]
    report = f"reports/validate/{dataset}.json"
    argv = ["replica", "validate", "--input", f"data/{dataset}", "--report", report]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def dedup(workspace: str, params: str):
    """Remove exact and near-duplicate articles and images: ``replica dedup``."""
    import json
    import subprocess

    sets = [f"--set=dedup.{k}={json.dumps(v)}" for k, v in json.loads(params).items()]
    argv = ["replica", "dedup", "--input", "data/extract", "--output", "data/dedup"]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tiny_sd(workspace: str):
    """Write the tiny random Stable Diffusion model the demo makes pairs with."""
    import subprocess

    argv = ["replica", "make-tiny-sd", "--output", "data/tiny-sd"]
    subprocess.run(argv, cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def pairs(workspace: str, base: str, params: str):
    """Make image-replica pairs with img2img (GPU): ``replica pairs``."""
    import json
    import subprocess

    sections = {"base": json.loads(base), "pairs": json.loads(params)}
    sets = [f"--set={s}.{k}={json.dumps(v)}" for s, kv in sections.items() for k, v in kv.items()]
    argv = ["replica", "pairs", "--input", "data/dedup", "--output", "data/pairs"]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(workspace: str, base: str, params: str):
    """Train the copy detector on the pairs (GPU): ``replica train``."""
    import json
    import subprocess

    sections = {"base": json.loads(base), "train": json.loads(params)}
    sets = [f"--set={s}.{k}={json.dumps(v)}" for s, kv in sections.items() for k, v in kv.items()]
    argv = ["replica", "train", "--input", "data/pairs", "--output", "data/model"]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(workspace: str, params: str):
    """Score the model on the held-out pairs: ``replica evaluate``."""
    import json
    import subprocess

    sets = [f"--set=evaluate.{k}={json.dumps(v)}" for k, v in json.loads(params).items()]
    argv = ["replica", "evaluate", "--model", "data/model", "--input", "data/pairs"]
    subprocess.run([*argv, "--output", "data/eval", *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(workspace: str, params: str):
    """Register the model in MLflow with its lineage from ``dvc.lock``: ``replica register``."""
    import json
    import subprocess

    sets = [f"--set=register.{k}={json.dumps(v)}" for k, v in json.loads(params).items()]
    argv = ["replica", "register", "--model", "data/model", "--metrics", "data/eval"]
    argv += ["--lock", "dvc.lock", "--reports", "reports/validate"]
    argv += ["--output", "data/registry/registration.json"]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def promote(workspace: str, params: str):
    """Move the serving alias to the new version only through the gate: ``replica promote``."""
    import json
    import subprocess

    sets = [f"--set=promote.{k}={json.dumps(v)}" for k, v in json.loads(params).items()]
    argv = ["replica", "promote", "--registration", "data/registry/registration.json"]
    argv += ["--output", "data/registry/promotion.json"]
    subprocess.run([*argv, *sets], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def commit(workspace: str, stages: list):
    """Record the stages' current outputs in ``dvc.lock`` and the DVC cache: ``dvc commit``."""
    import subprocess

    subprocess.run(["dvc", "commit", "--force", *stages], cwd=workspace, check=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def push(workspace: str, stages: list):
    """Upload the stages' outputs to the DVC remote: ``dvc push``."""
    import subprocess

    subprocess.run(["dvc", "push", *stages], cwd=workspace, check=True)
