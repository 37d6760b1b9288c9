"""The ``replica`` command: one subcommand per pipeline step (see ``replica <step> --help``)."""

from __future__ import annotations

import importlib

import typer

from replica import tools
from replica.steps import STEPS, lineage, workspace

app = typer.Typer(
    name="replica",
    help="Image provenance pipeline. Each subcommand is one step; every orchestrator runs these.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _step in STEPS:
    _module = importlib.import_module(f"replica.steps.{_step}")
    app.command(name=_step, help=_module.__doc__)(_module.main)

app.command(name="make-tiny-sd", help=tools.make_tiny_sd.__doc__)(tools.make_tiny_sd)
app.add_typer(lineage.app, name="lineage", help=lineage.__doc__)
app.add_typer(workspace.app, name="workspace", help=workspace.__doc__)


if __name__ == "__main__":
    app()
