"""Look after the shared workspace (the DVC checkout every orchestrated step runs in).

Commands (run in the workspace; none of them is a pipeline step):
  ``replica workspace lock --owner RUN``: take the workspace lease for a run (waits for the
  holder, ``--wait-minutes``; expires after ``--ttl-hours``). First task of every run.
  ``replica workspace unlock --owner RUN``: give it back. Last task of every run, failed or not.
  ``replica workspace publish data/pairs``: record the version of a dataset that ``dvc.lock``
  now names as published; exit 0 when it is new, exit 99 (a skip, for Airflow) when it is the
  version published last, so a refresh that reproduced the same data announces nothing.
  ``replica workspace sync --repo URL --ref COMMIT``: under the lease, make the directory a
  checkout of ``URL`` at ``COMMIT`` (fetched alone, detached, data files kept), point DVC at
  ``REPLICA_DVC_REMOTE_URL`` when set, and ``dvc pull`` the data ``dvc.lock`` names there. The
  workspace job runs it (``infra/helm/replica``); the commit is the image's.

Env: ``REPLICA_GIT_TOKEN`` (HTTPS token for a private repo, never written to disk),
``REPLICA_DVC_REMOTE_URL`` and ``AWS_*`` for the DVC remote.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from replica.workspace import (
    LEASE_FILE,
    PUBLISHED_FILE,
    LeaseError,
    acquire,
    dataset_hash,
    publish,
    release,
)

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SKIP = 99  # Airflow's skip exit code (BashOperator's default; the DAG sets it on its pod too)
Owner = Annotated[str, typer.Option(help="Who holds the lease: the orchestrator's run id.")]
Directory = Annotated[Path, typer.Option("--dir", help="The workspace (a DVC checkout).")]


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"[workspace] error: {exc}", err=True)
    raise typer.Exit(code=2) from exc


@app.command("lock")
def lock(
    owner: Owner,
    ttl_hours: Annotated[float, typer.Option(help="The lease expires after this long.")] = 24.0,
    wait_minutes: Annotated[float, typer.Option(help="How long to wait for the holder.")] = 60.0,
    directory: Directory = Path("."),
) -> None:
    """Take the workspace lease for ``--owner`` (waits while another run holds it)."""
    try:
        acquire(directory / LEASE_FILE, owner, ttl_hours * 3600, wait_minutes * 60)
    except LeaseError as exc:
        _fail(exc)
    typer.echo(f"[workspace] lease taken by {owner} for {ttl_hours:g} h")


@app.command("unlock")
def unlock(owner: Owner, directory: Directory = Path(".")) -> None:
    """Give the workspace lease back (nothing to do when ``--owner`` holds none)."""
    try:
        held = release(directory / LEASE_FILE, owner)
    except LeaseError as exc:
        _fail(exc)
    typer.echo(f"[workspace] lease {'released' if held else 'was not held'} by {owner}")


@app.command("publish")
def publish_cmd(
    output: Annotated[str, typer.Argument(help="A DVC output, as in dvc.lock: data/pairs.")],
    lock_file: Annotated[Path, typer.Option("--lock", help="dvc.lock to read.")] = Path("dvc.lock"),
    directory: Directory = Path("."),
) -> None:
    """Record ``output``'s version in ``dvc.lock`` as published; exit 99 if it already was."""
    try:
        digest = dataset_hash(directory / lock_file, output)
        new = publish(directory / PUBLISHED_FILE, output, digest)
    except (ValueError, FileNotFoundError) as exc:
        _fail(exc)
    if not new:
        typer.echo(f"[workspace] {output} {digest} was already published: nothing new")
        raise typer.Exit(code=SKIP)
    typer.echo(f"[workspace] {output} {digest} published")


@app.command("sync")
def sync(
    repo: Annotated[str, typer.Option(help="Git URL of the project.")],
    ref: Annotated[str, typer.Option(help="Commit to check out (the image's commit).")],
    owner: Owner = "workspace-sync",
    pull: Annotated[bool, typer.Option(help="dvc pull the data dvc.lock names.")] = True,
    wait_minutes: Annotated[float, typer.Option(help="How long to wait for a run.")] = 120.0,
    directory: Directory = Path("."),
) -> None:
    """Check out ``--repo`` at ``--ref`` in the workspace and pull its data, under the lease."""
    lease = directory / LEASE_FILE
    try:
        acquire(lease, owner, ttl_s=3 * 3600, wait_s=wait_minutes * 60)
    except LeaseError as exc:
        _fail(exc)
    try:
        head = _checkout(directory, repo, ref)
        if os.environ.get("REPLICA_DVC_REMOTE_URL"):
            _run(["bash", "scripts/dvc-remote-s3.sh"], directory)
        if pull:
            _run(["dvc", "pull", "--force", "--allow-missing"], directory)
    except RuntimeError as exc:
        _fail(exc)
    finally:
        release(lease, owner)
    typer.echo(f"[workspace] {directory.resolve()} is {repo} at {head} (data pulled: {pull})")


def _checkout(directory: Path, repo: str, ref: str) -> str:
    """Fetch ``ref`` alone and check it out detached; ignored files (data/, .replica/) stay."""
    directory.mkdir(parents=True, exist_ok=True)
    git = ["git", "-c", "advice.detachedHead=false"]
    token = os.environ.get("REPLICA_GIT_TOKEN")
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        git += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    if not (directory / ".git").exists():
        _run([*git, "init", "-q"], directory)
        _run([*git, "remote", "add", "origin", repo], directory)
    else:
        _run([*git, "remote", "set-url", "origin", repo], directory)
    _run([*git, "fetch", "-q", "--depth", "1", "origin", ref], directory)
    _run([*git, "checkout", "-q", "--force", "--detach", "FETCH_HEAD"], directory)
    head = _run(["git", "rev-parse", "HEAD"], directory).strip()
    if len(ref) == 40 and head != ref:
        raise RuntimeError(f"checked out {head}, not the requested commit {ref}")
    return head


def _run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        shown = " ".join(c for c in cmd if not c.startswith("http.extraHeader"))
        raise RuntimeError(f"{shown}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout
