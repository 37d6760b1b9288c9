"""Lineage answers on plain values: a model's chain, and the models built on a dataset.

``model_lineage`` joins what the registry holds about one model version (its tags, its run's
params and metrics, the lineage record logged with it) into one document; ``models_using``
finds the versions whose lineage tags name a dataset hash. Both render as tables or JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SHOWN_FILES = 5
_HASH = re.compile(r"^[0-9a-f]{32}(\.dir)?$")


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``NAME@ALIAS`` / ``NAME/VERSION`` (optionally ``models:/``-prefixed) -> (name, alias,
    version); anything else is a ValueError that shows the accepted forms."""
    body = ref.removeprefix("models:/")
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if name and alias:
            return name, alias, None
    elif "/" in body:
        name, _, version = body.rpartition("/")
        if name and version.isdigit():
            return name, None, version
    raise ValueError(f"model reference {ref!r} must be NAME@ALIAS or NAME/VERSION")


def looks_like_hash(text: str) -> bool:
    """A DVC md5 (32 hex digits, ``.dir`` for directories)."""
    return bool(_HASH.match(text))


def model_lineage(
    version: Mapping[str, Any], run: Mapping[str, Any], record: Mapping[str, Any] | None
) -> dict[str, Any]:
    """model -> run -> params -> datasets -> stages -> inputs and source files.

    ``version``: name, version, aliases, run_id, tags. ``run``: run_id, experiment_id, params,
    metrics. ``record``: the logged lineage record, or None for models registered without one
    (then datasets come from the ``dvc.*`` tags and stages and sources are empty).
    """
    tags = dict(version.get("tags") or {})
    if record is not None:
        datasets = list(record.get("datasets", []))
        stages, inputs = list(record.get("stages", [])), list(record.get("inputs", []))
        sources = list(record.get("sources", []))
    else:
        datasets = [
            {"path": k.removeprefix("dvc."), "hash": v, "stage": None, "rows": None, "tables": {}}
            for k, v in sorted(tags.items())
            if k.startswith("dvc.") and k not in ("dvc.lock.present",)
        ]
        stages, inputs, sources = [], [], []
    return {
        "model": {
            "name": version["name"],
            "version": str(version["version"]),
            "aliases": sorted(version.get("aliases") or []),
            "run_id": version.get("run_id"),
        },
        "run": {
            "run_id": run.get("run_id"),
            "experiment_id": run.get("experiment_id"),
            "git_commit": tags.get("git.commit"),
            "git_dirty": tags.get("git.dirty"),
            "params_hash": tags.get("params.hash"),
            "orchestrator": tags.get("orchestrator"),
            "orchestrator_run_id": tags.get("orchestrator.run_id"),
            "test_split": tags.get("eval.test_split"),
            "validation": tags.get("validate.passed"),
            "metrics": dict(run.get("metrics") or {}),
        },
        "params": dict(sorted((run.get("params") or {}).items())),
        "datasets": datasets,
        "stages": stages,
        "inputs": inputs,
        "sources": sources,
        "record": record is not None,
    }


def models_using(
    versions: Iterable[Mapping[str, Any]], digest: str | None, path: str | None = None
) -> list[dict[str, Any]]:
    """Versions whose ``dvc.*`` tags hold ``digest`` (a hash, with or without ``.dir``), or, with
    ``digest`` None, any version of ``path``; each with the tag keys that matched."""
    want = digest.removesuffix(".dir") if digest else None
    found = []
    for v in versions:
        tags = v.get("tags") or {}
        if want is not None:
            keys = [
                k
                for k, val in tags.items()
                if k.startswith("dvc.") and str(val).removesuffix(".dir") == want
            ]
        else:
            keys = [k for k in tags if k in (f"dvc.{path}", f"dvc.out.{path}")]
        if keys:
            found.append(
                {
                    "name": v["name"],
                    "version": str(v["version"]),
                    "aliases": sorted(v.get("aliases") or []),
                    "run_id": v.get("run_id"),
                    "matched": {k: tags[k] for k in sorted(keys)},
                }
            )
    found.sort(key=lambda f: (f["name"], int(f["version"]) if f["version"].isdigit() else 0))
    return found


def render_model(doc: Mapping[str, Any]) -> str:
    """The lineage document as an aligned text report (``--json`` prints it whole)."""
    m, r = doc["model"], doc["run"]
    aliases = " ".join(f"@{a}" for a in m["aliases"])
    metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(r["metrics"].items()))
    lines = [
        f"model     {m['name']} v{m['version']} {aliases}".rstrip(),
        f"run       {r['run_id']} (experiment {r['experiment_id']})",
        f"git       {r['git_commit']} dirty={r['git_dirty']}",
        f"params    hash {r['params_hash']}, {len(doc['params'])} logged",
        f"orchestr. {r['orchestrator']} run {r['orchestrator_run_id']}",
        f"metrics   {metrics}",
        f"checks    validation={r['validation']} test_split={r['test_split']}",
        "",
        "datasets",
        *_table(
            ["path", "hash", "stage", "rows"],
            [[d["path"], d["hash"], d["stage"], d["rows"]] for d in doc["datasets"]],
        ),
    ]
    if doc["stages"]:
        lines += ["", "stages (sources first)"]
        lines += _table(
            ["stage", "command"], [[s["name"], s.get("cmd", "")] for s in doc["stages"]]
        )
    if doc["inputs"]:
        lines += ["", "inputs (not produced by any stage)"]
        lines += _table(["path", "hash"], [[i["path"], i["hash"]] for i in doc["inputs"]])
    for src in doc["sources"]:
        lines += ["", f"sources   {src['file']} (md5 {src.get('hash')}, stage {src.get('stage')})"]
        for entry in src.get("entries", []):
            files = entry.get("files", [])
            lines.append(f"  {entry['kind']}: {len(files)} file(s)")
            lines += [f"    {f['path']}" for f in files[:SHOWN_FILES]]
            if len(files) > SHOWN_FILES:
                lines.append(f"    ... and {len(files) - SHOWN_FILES} more (--json lists all)")
    if not doc["record"]:
        lines += ["", "note: no lineage record was logged with this model; datasets from tags"]
    return "\n".join(lines)


def render_models(found: Sequence[Mapping[str, Any]], what: str) -> str:
    """The models trained on a dataset as a table (or a sentence when there are none)."""
    if not found:
        return f"no registered model version was built on {what}"
    rows = [
        [
            f["name"],
            f["version"],
            " ".join(f"@{a}" for a in f["aliases"]),
            f["run_id"],
            ", ".join(f"{k}={v}" for k, v in f["matched"].items()),
        ]
        for f in found
    ]
    return "\n".join(
        [f"models built on {what}", *_table(["model", "version", "aliases", "run", "via"], rows)]
    )


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header, *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    ]
