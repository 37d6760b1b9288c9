"""A scratch copy of the project for the tests that run the real pipeline on the shared corpus.

The copy sits at ``base/main`` beside a link to the real ``shared/``, so the demo's relative
corpus paths (``../shared/corpus``) hold. It leaves out the developer's data, outputs, lock, caches,
virtual environments and local DVC config, and empties the DVC run cache (which would otherwise
skip every stage), so nothing it runs touches the developer's checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(
    ".venv",
    ".venv-*",
    "build",
    "data",
    "reports",
    "mlruns",
    "__pycache__",
    ".git",
    "dvc.lock",
    "config.local",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".dvc-storage",
    "mlflow-server",
    ".terraform",
)


def copy_project(base: Path, corpus: Path) -> Path:
    """Copy the project to ``base/main`` beside ``base/shared`` (a link to ``corpus``'s parent)."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "shared").symlink_to(corpus.parent)
    work = base / "main"
    shutil.copytree(ROOT, work, ignore=IGNORE)
    for stale in ("cache", "tmp"):
        shutil.rmtree(work / ".dvc" / stale, ignore_errors=True)
    return work
