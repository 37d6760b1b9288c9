"""Lazy access to Great Expectations' expectation classes (the import takes seconds)."""

from __future__ import annotations

from types import ModuleType


def expectations() -> ModuleType:
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx.expectations
