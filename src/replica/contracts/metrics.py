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


def _detection_metrics_suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeInSet(
            column="metric", value_set=["ap", "auroc", "acc", "ece", "ece_raw"]
        ),
        e.ExpectColumnValuesToBeInSet(column="reals", value_set=["plain", "matched"]),
        e.ExpectColumnValuesToBeBetween(column="n", min_value=1),
    ]


def _detections_suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeInSet(column="label", value_set=[0, 1]),
        e.ExpectColumnValuesToBeBetween(column="probability", min_value=0.0, max_value=1.0),
    ]


DETECTION_METRICS = Contract(
    name="detection_metrics",
    version=1,
    schema=pa.schema(
        [
            ("model", pa.string()),
            ("protocol", pa.string()),
            ("generator", pa.string()),
            ("reals", pa.string()),
            ("view", pa.string()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("n", pa.int64()),
        ]
    ),
    keys=("model", "protocol", "generator", "reals", "view", "metric"),
    expectations=_detection_metrics_suite,
    file_name="metrics.parquet",  # the evaluate output's table, whatever the family
    description="Synthetic-detector metrics per model, protocol (test, logo:<generator>), "
    "generator, reals (plain, matched) and view (clean, jpeg75, ...); NaN where undefined.",
)

DETECTIONS = Contract(
    name="detections",
    version=1,
    schema=pa.schema(
        [
            ("model", pa.string()),
            ("protocol", pa.string()),
            ("image_id", pa.string()),
            ("label", pa.int8()),
            ("generator", pa.string()),
            ("logit", pa.float32()),
            ("probability", pa.float32()),
        ]
    ),
    keys=("model", "protocol", "image_id"),
    expectations=_detections_suite,
    file_name="predictions.parquet",
    description="Each scored image's logit and calibrated P(generated), per model and protocol.",
)
