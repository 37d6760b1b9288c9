"""The stage graph recorded in ``dvc.lock``: which stages, in which order, produced an output.

A stage depends on another when one of its dependencies is the other's output (same path).
Walking that relation upward from ``train`` gives every stage, dataset and source file a model
came from, with the exact content hash DVC recorded for each.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from replica.lineage.dvclock import LockEntry, StageLock


def producers(stages: Mapping[str, StageLock]) -> dict[str, str]:
    """Output path -> the stage that writes it."""
    return {out.path: name for name, lock in stages.items() for out in lock.outs}


def upstream(stages: Mapping[str, StageLock], stage: str) -> list[str]:
    """``stage`` and every stage it transitively depends on, sources first (stable order)."""
    if stage not in stages:
        raise KeyError(f"stage {stage!r} is not in the lock file; it has {sorted(stages)}")
    made_by = producers(stages)
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in stages[name].deps:
            parent = made_by.get(dep.path)
            if parent is not None and parent != name:
                visit(parent)
        order.append(name)

    visit(stage)
    return order


def external_deps(stages: Mapping[str, StageLock], chain: list[str]) -> list[LockEntry]:
    """Dependencies of the chain that no stage produces: source data, code, config files."""
    made_by = producers(stages)
    seen: dict[str, LockEntry] = {}
    for name in chain:
        for dep in stages[name].deps:
            if dep.path not in made_by:
                seen.setdefault(dep.path, dep)
    return list(seen.values())


def data_entries(stages: Mapping[str, StageLock], chain: list[str]) -> dict[str, str | None]:
    """Path -> hash for every output in the chain and every dependency outside ``src/``."""
    entries: dict[str, str | None] = {}
    for name in chain:
        for entry in (*stages[name].deps, *stages[name].outs):
            if not entry.path.startswith("src/"):
                entries.setdefault(entry.path, entry.hash)
    return entries


def option_value(cmd: str, option: str) -> str | None:
    """The value given to ``option`` in a stage command (``--opt v`` or ``--opt=v``)."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    for i, word in enumerate(words):
        if word == option and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None
