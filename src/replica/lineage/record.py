"""The lineage record a model carries: every stage, dataset and source file it came from.

``register`` builds it from ``dvc.lock``, the datasets' ``_meta.json`` sidecars and the crawl's
sources file, and logs it with the model (``lineage/lineage.json``), so ``replica lineage``
answers "where did this model come from?" from the registry alone, on any machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from replica.lineage.dvclock import StageLock
from replica.lineage.graph import external_deps, option_value, producers, upstream

RECORD_SCHEMA = 1
RECORD_PATH = "lineage/lineage.json"


def build_record(
    stages: Mapping[str, StageLock],
    stage: str,
    metas: Mapping[str, Mapping[str, Any]],
    sources: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The record for ``stage`` (``train``): its upstream stages (sources first), each output
    with its hash and row counts (from ``metas``: output path -> ``_meta.json``), the inputs no
    stage produced, and ``sources``: the crawl's sources files with the files each entry
    matched (``{"file", "hash", "entries": [{"kind", "files": [...]}]}``)."""
    chain = upstream(stages, stage)
    made_by = producers(stages)
    datasets = []
    for path, name in made_by.items():
        if name not in chain:
            continue
        digest = next(o.hash for o in stages[name].outs if o.path == path)
        meta = metas.get(path) or {}
        datasets.append(
            {
                "path": path,
                "hash": digest,
                "stage": name,
                "rows": meta.get("rows_out"),
                "tables": dict(meta.get("outputs") or {}),
            }
        )
    datasets.sort(key=lambda d: (chain.index(str(d["stage"])), str(d["path"])))
    return {
        "schema": RECORD_SCHEMA,
        "stage": stage,
        "stages": [{"name": name, **stages[name].to_dict()} for name in chain],
        "datasets": datasets,
        "inputs": [{"path": e.path, "hash": e.hash} for e in external_deps(stages, chain)],
        "sources": list(sources),
    }


def sources_files(stages: Mapping[str, StageLock], chain: Sequence[str]) -> list[tuple[str, str]]:
    """``(stage, sources file)`` for every stage in the chain whose command has ``--sources``."""
    found = []
    for name in chain:
        value = option_value(stages[name].cmd, "--sources")
        if value:
            found.append((name, value))
    return found
