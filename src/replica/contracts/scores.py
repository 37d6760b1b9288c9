"""``scores`` and ``synthetic_scores`` (what ``predict`` writes for the copy and the synthetic
family) and ``audit_matches`` (what ``audit`` writes)."""

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


def _synthetic_suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeBetween(column="probability", min_value=0.0, max_value=1.0),
        e.ExpectColumnValuesToBeBetween(column="threshold", min_value=0.0, max_value=1.0),
        e.ExpectColumnValuesToMatchRegex(column="sha256", regex="^[0-9a-f]{64}$"),
        e.ExpectColumnValuesToNotBeNull(column="model_id"),
    ]


SYNTHETIC_SCORES = Contract(
    name="synthetic_scores",
    version=1,
    schema=pa.schema(
        [
            ("path", pa.string()),  # the image's path as given
            ("sha256", pa.string()),  # of the file's bytes
            ("probability", pa.float32()),  # calibrated P(generated)
            ("generated", pa.bool_()),  # the model's decision: probability >= threshold
            ("threshold", pa.float32()),  # the model's threshold, chosen on its validation split
            ("model_id", pa.string()),  # the --model given, @ a fingerprint of its files
        ]
    ),
    keys=("path",),
    expectations=_synthetic_suite,
    description="Synthetic-detector scores: calibrated P(generated) and the decision per image.",
)
