"""The committed ``dvc.lock`` is in step with the code, params, commands and sources.

A stale lock makes a fresh clone rerun everything (``dvc status`` reports every stage changed)
and gives registered models wrong lineage. Data need not be present: a stage's data inputs
(other stages' outputs) and its own outputs are ``dvc pull``'s business, not the lock's; every
other input (source code, ``params.yaml`` sections, the corpus, the sources file) and the command
must match. Regenerate with ``make lock`` and commit ``dvc.lock`` with the change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.orchestration.conftest import ROOT

DVC = Path(sys.executable).parent / "dvc"


def _outputs(lock: dict[str, Any]) -> list[str]:
    return [o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])]


def _is_data(path: str, outputs: list[str]) -> bool:
    return any(path == o or path.startswith(o.rstrip("/") + "/") for o in outputs)


def stale_inputs(status: dict[str, Any], outputs: list[str]) -> dict[str, list[str]]:
    """Per stage, what in ``dvc status --json`` says the lock no longer describes the code."""
    stale: dict[str, list[str]] = {}
    for stage, changes in status.items():
        for change in changes:
            if isinstance(change, str):  # "changed command", "always changed"
                stale.setdefault(stage, []).append(change)
                continue
            for path, state in change.get("changed deps", {}).items():
                rel = os.path.relpath(path, ROOT) if os.path.isabs(path) else path
                if isinstance(state, dict):  # a params file: {section: modified|new|deleted}
                    stale.setdefault(stage, []).extend(f"{rel}:{k} {v}" for k, v in state.items())
                elif not _is_data(rel, outputs):
                    stale.setdefault(stage, []).append(f"{rel} {state}")
    return stale


def test_stale_inputs_tell_code_from_data() -> None:
    status = {
        "extract": [
            {"changed deps": {"data/crawl": "deleted", "src/replica/extract": "modified"}},
            {"changed outs": {"data/extract": "not in cache"}},
        ],
        "train": ["changed command", {"changed deps": {"params.yaml": {"train": "modified"}}}],
        "dedup": [{"changed deps": {"data/extract/articles.parquet": "modified"}}],
    }
    outputs = ["data/crawl", "data/extract"]
    assert stale_inputs(status, outputs) == {
        "extract": ["src/replica/extract modified"],
        "train": ["changed command", "params.yaml:train modified"],
    }


def test_the_committed_lock_describes_the_current_code_params_and_commands() -> None:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    done = subprocess.run(
        [str(DVC), "status", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stale = stale_inputs(json.loads(done.stdout or "{}"), _outputs(lock))
    assert not stale, (
        f"dvc.lock is stale (run `make lock` and commit dvc.lock): {json.dumps(stale, indent=1)}"
    )
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    expected = {
        f"{name}@{item}" if "foreach" in body else name
        for name, body in stages.items()
        for item in body.get("foreach", [None])
    }
    assert set(lock["stages"]) == expected, "every dvc.yaml stage has run into the lock"
