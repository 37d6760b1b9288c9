"""Compile every Kubeflow pipeline into ``pipelines/compiled/`` (the checked-in golden specs).

Usage: ``python -m pipelines.compile`` (``make compile``). A pipeline parameter named like a
``params.yaml`` section is that section as JSON: its default is read from ``params.yaml`` here, at
compile time, so the compiled spec shows (and a run can override) the configuration it runs
with. Recompile after changing ``params.yaml``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler

from pipelines.audit import audit
from pipelines.refresh import refresh
from pipelines.train import train

ROOT = Path(__file__).resolve().parents[1]
COMPILED = Path(__file__).resolve().parent / "compiled"
PIPELINES: dict[str, Any] = {"refresh": refresh, "train": train, "audit": audit}


def sections(pipeline: Any, params: dict[str, Any]) -> list[str]:
    """The ``params.yaml`` sections a pipeline takes: its parameters named like one."""
    func: Callable[..., Any] = pipeline.pipeline_func
    return [name for name in inspect.signature(func).parameters if name in params]


def compile_pipeline(name: str, path: Path, params_file: Path = ROOT / "params.yaml") -> Path:
    """Compile pipeline ``name`` to ``path`` with its sections' defaults from ``params_file``."""
    params = yaml.safe_load(params_file.read_text())
    pipeline = PIPELINES[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    defaults = {s: json.dumps(params[s], sort_keys=True) for s in sections(pipeline, params)}
    compiler.Compiler().compile(pipeline, str(path), pipeline_parameters=defaults)
    return path


def main() -> None:
    """Write each pipeline's compiled YAML into ``COMPILED`` and print its path."""
    for name in PIPELINES:
        print(compile_pipeline(name, COMPILED / f"{name}.yaml"))


if __name__ == "__main__":
    main()
