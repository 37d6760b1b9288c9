"""What every step command shares: the params options, error handling and the summary line."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from replica.config import ConfigError, Params, load_params
from replica.contracts import ContractError
from replica.guard.secrets import install_log_redaction, redact
from replica.io import StepSummary

if TYPE_CHECKING:
    from replica.scoring.retrieval import Reference

ParamsPath = Annotated[
    Path, typer.Option("--params", help="params.yaml to read (one section per step).")
]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a param, e.g. --set train.lr=1e-4 (repeatable)."),
]


class StepError(RuntimeError):
    """A step cannot go on; the message says which rule was broken and by what value."""


def load(params: Path, overrides: list[str] | None) -> Params:
    """The typed params; a bad file or ``--set`` is a one-line error and exit 2, not a traceback."""
    try:
        return load_params(params, overrides or [])
    except ConfigError as exc:
        typer.echo(f"[replica] params error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def run(step: str, body: Callable[[], StepSummary]) -> StepSummary:
    """Run a step body; print its summary line, or a one-line error and exit non-zero.

    Every message, log line and traceback goes through ``redact``: no credential from the
    environment or a URI reaches the terminal, Airflow's or KFP's logs.
    """
    install_log_redaction()
    try:
        summary = body()
    except (ContractError, StepError, FileNotFoundError) as exc:
        typer.echo(f"[{step}] error: {redact(str(exc))}", err=True)
        raise typer.Exit(code=2) from exc
    except Exception as exc:  # a bug: the traceback, redacted, and exit 1
        typer.echo(redact("".join(traceback.format_exception(exc))).rstrip(), err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(summary.finish().line())
    sys.stdout.flush()
    return summary


def model_dir(model: str, scratch: Path) -> Path:
    """A model directory, or a registered model (``models:/<name>@<alias>`` or
    ``models:/<name>/<version>``) fetched from MLflow into ``scratch``."""
    if not model.startswith("models:/"):
        path = Path(model)
        if not path.is_dir():
            raise StepError(f"--model {model!r} is neither a directory nor a models:/ URI")
        return path
    import os

    from replica.registry.store import RegistryError, download_model_dir, tracking_from_env

    try:
        return download_model_dir(tracking_from_env(os.environ, Path.cwd()), model, scratch)
    except RegistryError as exc:
        raise StepError(str(exc)) from exc


def split_references(root: Path, split: str, rows: Sequence[Mapping[str, Any]]) -> list[Reference]:
    """Every reference image of ``split`` in a pairs dir, which its queries are searched
    against: ``gallery.parquet`` (contract pairs_gallery) when the dir has one, else the
    distinct sources of ``rows`` (that split's pairs)."""
    from replica.contracts import PAIRS_GALLERY
    from replica.scoring.features import ImageRef
    from replica.scoring.retrieval import Reference

    if (root / PAIRS_GALLERY.filename).is_file():
        found = [r for r in PAIRS_GALLERY.read(root).to_pylist() if r["split"] == split]
        return [
            Reference(str(r["image_id"]), ImageRef(root / r["uri"], r["sha256"])) for r in found
        ]
    seen: dict[str, Reference] = {}
    for r in rows:
        sid = str(r["source_image_id"])
        if sid not in seen:
            seen[sid] = Reference(sid, ImageRef(root / r["source_uri"], r.get("source_sha256")))
    return list(seen.values())
