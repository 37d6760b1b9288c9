"""Move the serving alias to the newly registered model version only if it passes the gate.

Command: ``replica promote --family copy --registration data/registry/copy/registration.json
--output data/registry/copy/promotion.json`` (``--rollback``: give the alias back to
``previous``)

Reads:  ``--registration`` (written by ``register``: model_name, version); from MLflow, the
        candidate's tags and run metrics and those of the version now holding ``promote.alias``.
Checks: required checks first (``validate.passed`` tag is true; the bias ``guards`` hold; the
        candidate beats every baseline of its own evaluation on ``beat_baselines``; its test
        split holds ``min_test_pairs`` pairs of ``min_test_sources`` source images; its
        ``eval.test_split`` equals the holder's), then the gate metric with
        ``min_improvement`` and the tie rule (a tie keeps the holder).
Writes: on promotion, alias ``promote.alias`` -> candidate and ``previous`` -> the old holder;
        always the decision as model-version tags (``promote.*``), one line appended to the
        decisions table (``--decisions``, JSON lines) and ``--output`` (JSON).
        ``--rollback`` swaps ``promote.alias`` and ``previous`` and records that the same way.
Params: ``promote`` (alias, require_validation, require_same_split, and per family:
        gate_metric, higher_is_better, min_improvement, floor, guards, beat_baselines,
        min_test_pairs, min_test_sources); ``register.<family>.model_name`` for ``--rollback``
        without ``--registration``.
Env:    ``MLFLOW_TRACKING_URI`` (default: SQLite in ``./mlruns/mlflow.db``).

Concurrent promoters are serialized by a lock in the registry itself (see
``registry.store.promotion_lock``), so two racing promotions cannot both move the alias on a
stale reading. A refusal is a normal outcome (exit 0). An unreachable registry, an unknown
version or a missing metric is an error (exit 2) and changes nothing.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from replica.config import Detector
from replica.io import StepSummary, atomic_write_text, read_json
from replica.registry.decisions import append_decision
from replica.registry.gate import GateRule, decide, decision_tags, parse_guard, required_checks
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    output: Annotated[Path, typer.Option(help="Where to write promotion.json.")],
    registration: Annotated[
        Path | None, typer.Option(help="registration.json written by register.")
    ] = None,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Give the alias back to the 'previous' version.")
    ] = False,
    decisions: Annotated[
        Path, typer.Option(help="Decisions table (JSON lines) every decision is appended to.")
    ] = Path("reports/promote/decisions.jsonl"),
    family: Annotated[Detector, typer.Option(help="Detector family of the model.")] = Detector.copy,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)
    p = cfg.promote
    gate = p.family(family)

    def body() -> StepSummary:
        from replica.registry.store import (
            PREVIOUS_ALIAS,
            RegistryError,
            connect,
            promotion_lock,
            read_standing,
            record_decision,
            tracking_from_env,
        )
        from replica.registry.store import rollback as roll_back

        summary = StepSummary("promote", rows_in=1)
        for guard in gate.guards:
            try:
                parse_guard(guard)
            except ValueError as exc:
                raise StepError(f"promote.{family.value}.guards: {exc}") from exc
        if registration is None and not rollback:
            raise StepError("--registration is required (or --rollback)")
        name, version = cfg.register.family(family).model_name, None
        if registration is not None:
            try:
                reg = read_json(registration)
                name, version = str(reg["model_name"]), str(reg["version"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StepError(f"{registration} is not a registration.json: {exc!r}") from exc
        tracking = tracking_from_env(os.environ, Path.cwd())
        rule = GateRule(gate.gate_metric, gate.higher_is_better, gate.min_improvement, gate.floor)
        owner = f"{socket.gethostname()}:{os.getpid()}"
        try:
            client = connect(tracking)
            with promotion_lock(client, tracking, name, owner):
                if rollback or version is None:
                    restored, displaced = roll_back(client, tracking, name, p.alias)
                    doc: dict[str, Any] = {
                        "model_name": name,
                        "decision": "rollback",
                        "alias": p.alias,
                        "alias_version": restored,
                        "previous_version": displaced,
                        "reason": f"@{p.alias} restored to v{restored} (was v{displaced})",
                    }
                else:
                    standing = read_standing(
                        client, tracking, name, version, p.alias, gate.gate_metric
                    )
                    failed = required_checks(
                        standing.candidate_tags,
                        standing.candidate_metrics,
                        standing.champion_tags,
                        gate.guards,
                        p.require_validation,
                        p.require_same_split,
                        gate.beat_baselines,
                        gate.min_test_pairs,
                        gate.min_test_sources,
                    )
                    decision = decide(
                        rule,
                        standing.candidate_value,
                        standing.champion_value,
                        standing.candidate_version,
                        standing.champion_version,
                        failed,
                    )
                    tags = decision_tags(decision, rule, p.alias, standing.champion_version)
                    previous = record_decision(
                        client, tracking, name, standing, p.alias, decision.promoted, tags
                    )
                    doc = {
                        "model_name": name,
                        "candidate_version": standing.candidate_version,
                        "champion_version_before": standing.champion_version,
                        "alias": p.alias,
                        "alias_version": standing.candidate_version
                        if decision.promoted
                        else standing.champion_version,
                        "previous_version": previous,
                        "previous_alias": PREVIOUS_ALIAS,
                        "rule": asdict(rule),
                        "failed_checks": [code for code, _ in failed],
                        **decision.to_dict(),
                    }
        except RegistryError as exc:
            raise StepError(str(exc)) from exc
        doc |= {"decided_at": datetime.now(UTC).isoformat(timespec="seconds"), "by": owner}
        append_decision(decisions, doc)
        atomic_write_text(output, json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n")
        holder = doc["alias_version"]
        verb = "ROLLED BACK" if rollback else "PROMOTED" if doc["promoted"] else "REFUSED"
        subject = name if rollback else f"{name} v{version}"
        typer.echo(
            f"[promote] {verb} {subject}: @{p.alias} -> "
            f"{f'v{holder}' if holder else 'none'}; {doc['reason']}"
        )
        summary.rows_out = int(rollback or doc["promoted"])
        summary.outputs = {str(doc["decision"]): 1}
        return summary

    run("promote", body)
