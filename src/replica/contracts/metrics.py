"""``metrics`` (one row per metric and split) and ``predictions`` (one row per evaluated pair)."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract


def _metrics_suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToNotBeNull(column="value"),
        e.ExpectColumnValuesToBeBetween(column="n", min_value=1),
    ]


def _predictions_suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeBetween(column="level", min_value=0, max_value=5),
        e.ExpectColumnValuesToBeBetween(column="predicted", min_value=0.0, max_value=1.0),
        e.ExpectColumnValuesToBeBetween(column="predicted_level", min_value=0, max_value=5),
    ]


METRICS = Contract(
    name="metrics",
    version=1,
    schema=pa.schema(
        [
            ("metric", pa.string()),
            ("split", pa.string()),
            ("value", pa.float64()),
            ("n", pa.int64()),
        ]
    ),
    keys=("metric", "split"),
    expectations=_metrics_suite,
    description="Evaluation metrics (pcc, rmse_pct, ...) per split with the sample count.",
    text_keys=("metric", "split"),
)

PREDICTIONS = Contract(
    name="predictions",
    version=2,
    schema=pa.schema(
        [
            ("pair_id", pa.string()),
            ("split", pa.string()),
            ("family", pa.string()),
            ("level", pa.int8()),
            ("predicted", pa.float32()),  # expected level / 5
            ("predicted_level", pa.int8()),  # the PDF's mode
            ("pdf", pa.list_(pa.float32(), 6)),  # the level distribution
        ]
    ),
    keys=("pair_id",),
    expectations=_predictions_suite,
    description="The model's level distribution per evaluated pair, beside its label.",
    text_keys=("pair_id",),
)
