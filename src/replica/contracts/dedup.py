"""``duplicates``: every row dedup removed, the kept row it duplicates, and the evidence."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract

METHODS = ["exact_text", "minhash", "exact_bytes", "phash"]


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeInSet(column="dataset", value_set=["articles", "images"]),
        e.ExpectColumnValuesToBeInSet(column="method", value_set=METHODS),
        e.ExpectColumnValuesToNotBeNull(column="kept_id"),
    ]


DUPLICATES = Contract(
    name="duplicates",
    version=1,
    schema=pa.schema(
        [
            ("dataset", pa.string()),
            ("removed_id", pa.string()),
            ("kept_id", pa.string()),
            ("cluster_id", pa.string()),
            ("method", pa.string()),
            ("score", pa.float64()),
        ]
    ),
    keys=("dataset", "removed_id"),
    expectations=_suite,
    description="Removed duplicates: which kept row they duplicate, by which method, with score.",
)
