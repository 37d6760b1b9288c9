"""Move the serving alias to the newly registered model version only if it passes the gate.

Command: ``replica promote --registration data/registry/registration.json
--output data/registry/promotion.json``

Reads:  ``--registration`` (written by ``register``: model_name, version); from MLflow, the gate
        metric of the candidate's run and of the version now holding ``promote.alias``.
Writes: on promotion, alias ``promote.alias`` -> candidate and ``previous`` -> the old holder;
        always the decision as model-version tags (``promote.*``) and ``--output`` (JSON).
Params: ``promote`` (alias, gate_metric, higher_is_better, min_improvement, floor).
Env:    ``MLFLOW_TRACKING_URI`` (default: SQLite in ``./mlruns/mlflow.db``).

A refusal is a normal outcome (exit 0). An unreachable registry, an unknown version or a
missing metric is an error (exit 2) and changes nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from replica.io import StepSummary, atomic_write_text, read_json
from replica.registry.gate import GateRule, decide, decision_tags
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    registration: Annotated[Path, typer.Option(help="registration.json written by register.")],
    output: Annotated[Path, typer.Option(help="Where to write promotion.json.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)
    p = cfg.promote

    def body() -> StepSummary:
        from replica.registry.store import (
            MLFLOW_ENV_DEFAULTS,
            PREVIOUS_ALIAS,
            RegistryError,
            connect,
            read_standing,
            record_decision,
            resolve_tracking,
        )

        summary = StepSummary("promote", rows_in=1)
        try:
            reg = read_json(registration)
            name, version = str(reg["model_name"]), str(reg["version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StepError(f"{registration} is not a registration.json: {exc!r}") from exc
        for var, value in MLFLOW_ENV_DEFAULTS.items():
            os.environ.setdefault(var, value)
        tracking = resolve_tracking(os.environ, Path.cwd())
        rule = GateRule(p.gate_metric, p.higher_is_better, p.min_improvement, p.floor)
        try:
            client = connect(tracking)
            standing = read_standing(client, tracking, name, version, p.alias, p.gate_metric)
            decision = decide(
                rule,
                standing.candidate_value,
                standing.champion_value,
                standing.candidate_version,
                standing.champion_version,
            )
            tags = decision_tags(decision, rule, p.alias, standing.champion_version)
            previous = record_decision(
                client, tracking, name, standing, p.alias, decision.promoted, tags
            )
        except RegistryError as exc:
            raise StepError(str(exc)) from exc
        holder = standing.candidate_version if decision.promoted else standing.champion_version
        doc = {
            "model_name": name,
            "candidate_version": standing.candidate_version,
            "champion_version_before": standing.champion_version,
            "alias": p.alias,
            "alias_version": holder,
            "previous_version": previous,
            "previous_alias": PREVIOUS_ALIAS,
            "rule": asdict(rule),
            **decision.to_dict(),
            "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_text(output, json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n")
        verb = "PROMOTED" if decision.promoted else "REFUSED"
        typer.echo(
            f"[promote] {verb} {name} v{standing.candidate_version}: @{p.alias} -> "
            f"{f'v{holder}' if holder else 'none'}; {decision.reason}"
        )
        summary.rows_out = int(decision.promoted)
        summary.outputs = {decision.label: 1}
        return summary

    run("promote", body)
