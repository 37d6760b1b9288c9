"""``rejects``: every input a step refused, with the stage, a reason code and a detail."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract

SCHEMA = pa.schema(
    [
        ("stage", pa.string()),
        ("source", pa.string()),
        ("record_id", pa.string()),
        ("url", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToNotBeNull(column="stage"),
        e.ExpectColumnValuesToNotBeNull(column="reason"),
        e.ExpectColumnValuesToMatchRegex(column="reason", regex=r"^[a-z][a-z0-9_]*$"),
    ]


REJECTS = Contract(
    name="rejects",
    version=1,
    schema=SCHEMA,
    keys=(),
    expectations=_suite,
    description="Inputs a step refused: stage, source file, record id, url, reason code, detail.",
)
