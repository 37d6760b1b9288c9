"""Lazy access to Great Expectations' expectation classes (the import takes seconds)."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def expectations() -> ModuleType:
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx.expectations


def format_parity() -> list[Any]:
    """Every blob of the table has one encoding (format, JPEG quality, subsampling, mode).

    ``blob_format`` is derived by ``validate`` from the files themselves, so a dataset whose
    classes differ in file format (the confound that lets a detector learn "PNG = fake") fails.
    """
    e = expectations()
    return [
        e.ExpectColumnValuesToNotBeNull(column="blob_format"),
        e.ExpectColumnValuesToNotMatchRegex(column="blob_format", regex=r"^mixed:"),
        e.ExpectColumnUniqueValueCountToBeBetween(column="blob_format", min_value=1, max_value=1),
    ]
