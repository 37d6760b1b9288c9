"""Shared fixtures: the corpus location, a tiny params file, helpers to run the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("REPLICA_CORPUS", ROOT.parent / "shared" / "corpus"))

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared third-party corpus; tests that need it skip with a clear message without it."""
    if not (CORPUS / "MANIFEST.md").exists():
        pytest.skip(f"shared corpus not found at {CORPUS} (set REPLICA_CORPUS)")
    return CORPUS


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    """A copy of the project's params.yaml in tmp_path (tests may edit it)."""
    p = tmp_path / "params.yaml"
    p.write_text((ROOT / "params.yaml").read_text())
    return p


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated MLflow SQLite store per session; tests copy it (migrations take ~5 s)."""
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _mlflow_template: Path) -> str:
    """A fresh SQLite tracking store in tmp_path, set as ``MLFLOW_TRACKING_URI``."""
    import shutil

    store = tmp_path / "mlruns"
    store.mkdir()
    shutil.copy(_mlflow_template, store / "mlflow.db")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
