"""``scores`` (what ``predict`` writes) and ``audit_matches`` (what ``audit`` writes)."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeBetween(column="level", min_value=0, max_value=5),
        e.ExpectColumnValuesToBeBetween(column="predicted", min_value=0.0, max_value=1.0),
        e.ExpectColumnValuesToNotBeNull(column="query"),
        e.ExpectColumnValuesToNotBeNull(column="reference"),
    ]


_COLUMNS = [
    ("query", pa.string()),  # the query image's path as given
    ("reference", pa.string()),  # the reference image's path as given
    ("rank", pa.int32()),  # 1 = best match of the query (gallery mode); 1 in pair mode
    ("level", pa.int8()),  # the level PDF's mode
    ("predicted", pa.float32()),  # expected level / 5
    ("pdf", pa.list_(pa.float32(), 6)),  # P(level = 0..5)
]

SCORES = Contract(
    name="scores",
    version=1,
    schema=pa.schema(_COLUMNS),
    keys=("query", "reference"),
    expectations=_suite,
    description="Copy-detector scores of (query, reference) pairs: level distribution per pair.",
)

AUDIT_MATCHES = Contract(
    name="audit_matches",
    version=1,
    schema=pa.schema(_COLUMNS),
    keys=("query", "reference"),
    expectations=_suite,
    description="A generator's images and their best gallery matches with levels.",
)
