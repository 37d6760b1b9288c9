"""Answer "where did this model come from?" and "which models were built on this data?".

Commands:
  ``replica lineage model NAME@ALIAS|NAME/VERSION [--json]``: the chain model -> run -> params
  -> datasets (DVC hashes, row counts) -> upstream stages -> inputs and the source WARC files and
  feeds, from the model version's tags and the lineage record ``register`` logged with it.
  ``replica lineage data PATH|HASH [--lock dvc.lock] [--json]``: the model versions whose
  lineage tags hold that hash (a PATH is looked up in ``--lock``; a path not in it matches
  any version of that path).

Reads only the registry (``MLFLOW_TRACKING_URI``, default: SQLite in ``./mlruns/mlflow.db``)
and, for ``data PATH``, the lock file. Not a pipeline step: it writes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from replica.guard.secrets import install_log_redaction, redact
from replica.steps._common import StepError

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print the whole answer as JSON.")]


def _client() -> tuple[Any, Any]:
    from replica.registry.store import connect, tracking_from_env

    tracking = tracking_from_env(os.environ, Path.cwd())
    return connect(tracking), tracking


def _answer(fn: Any) -> None:
    """Run a query; registry and input errors are one line on stderr and exit 2."""
    from replica.lineage import LockError
    from replica.registry.store import RegistryError

    install_log_redaction()
    try:
        fn()
    except (RegistryError, StepError, LockError, ValueError, FileNotFoundError) as exc:
        typer.echo(f"[lineage] error: {redact(str(exc))}", err=True)
        raise typer.Exit(code=2) from exc


@app.command("model")
def model(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION (models:/ optional).")],
    as_json: AsJson = False,
) -> None:
    """The lineage of one model version: run, params, datasets, stages, sources."""

    def query() -> None:
        from replica.lineage.record import RECORD_PATH
        from replica.lineage.report import model_lineage, parse_model_ref, render_model
        from replica.registry.store import find_version, read_run, read_run_json

        name, alias, version = parse_model_ref(ref)
        client, tracking = _client()
        mv = find_version(client, tracking, name, alias, version)
        if not mv["run_id"]:
            raise StepError(f"{ref} has no source run; it was not registered by replica")
        run = read_run(client, tracking, mv["run_id"])
        record = read_run_json(tracking, mv["run_id"], RECORD_PATH)
        doc = model_lineage(mv, run, record)
        typer.echo(json.dumps(doc, indent=2, sort_keys=True) if as_json else render_model(doc))

    _answer(query)


@app.command("data")
def data(
    target: Annotated[str, typer.Argument(help="A dataset path (e.g. data/pairs) or DVC hash.")],
    lock: Annotated[Path, typer.Option(help="dvc.lock that maps a PATH to its hash.")] = Path(
        "dvc.lock"
    ),
    as_json: AsJson = False,
) -> None:
    """The model versions built on a dataset (by its DVC hash, or a path's current hash)."""

    def query() -> None:
        from replica.lineage import read_dvc_lock
        from replica.lineage.report import looks_like_hash, models_using, render_models
        from replica.registry.store import all_versions

        digest: str | None = target if looks_like_hash(target) else None
        path = None if digest else os.path.normpath(target)
        if path is not None and Path(lock).is_file():
            for stage in read_dvc_lock(lock).values():
                for entry in (*stage.outs, *stage.deps):
                    if entry.path == path and entry.hash:
                        digest = entry.hash
        client, tracking = _client()
        versions = all_versions(client, tracking)
        found = models_using(versions, digest, path)
        if digest is None and not found:  # not a known path: maybe a hash in another format
            found = models_using(versions, target)
            digest = target if found else None
        what = f"{path} ({digest})" if path and digest else (digest or f"any version of {path}")
        doc = {"query": target, "path": path, "hash": digest, "models": found}
        typer.echo(
            json.dumps(doc, indent=2, sort_keys=True) if as_json else render_models(found, what)
        )

    _answer(query)
