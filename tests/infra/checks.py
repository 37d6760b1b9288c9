"""Run ``infra/check.py`` the way CI does: in the infra tools venv (``make infra-venv``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA_PYTHON = ROOT / ".venv-infra" / "bin" / "python"
CHECK = ROOT / "infra" / "check.py"


def infra_python() -> Path:
    """The tools venv's interpreter; the test skips, saying how to create it, when absent."""
    if not INFRA_PYTHON.exists():
        pytest.skip("infra tools venv missing: run `make infra-venv` (make infra-check does)")
    return INFRA_PYTHON


def run_check(*args: str) -> subprocess.CompletedProcess:
    """``infra/check.py`` with ``args``; stdout holds one line per check."""
    cmd = [str(infra_python()), str(CHECK), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def kubernetes_validate(docs: list[dict[str, Any]]) -> list[str]:
    """Schema errors of ``docs`` (strict, the manifests' Kubernetes version); empty: all valid."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from check import validate_k8s, REPO;"
        "docs = json.load(sys.stdin);"
        "print(json.dumps(validate_k8s([('doc', d) for d in docs], REPO / 'infra/k8s/crds')))"
    )
    done = subprocess.run(
        [str(infra_python()), "-c", code, str(CHECK.parent)],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)
