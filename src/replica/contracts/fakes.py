"""``fakes``: real and generated images for the synthetic-image detector, all encoded alike.

One row per distinct image (``image_id`` = sha256 of the original file). ``uri``/``sha256``/
``width``/``height``/``mime`` describe the file in the dataset, which the ``fakes`` step
re-encoded with one encoder for every row (format parity); ``orig_*`` keep what the original
file was, so a reader can show how much the encoding alone would have told the classes apart.
``match_id`` is each fake's real counterpart for the matched-real protocol (its nearest
test-split real by caption or content embedding).
"""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract
from replica.contracts.images import MIMES

LABELS = ["real", "fake"]
SPLITS = ["train", "val", "test"]


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeUnique(column="image_id"),
        e.ExpectColumnValuesToBeInSet(column="label", value_set=LABELS),
        e.ExpectColumnDistinctValuesToContainSet(column="label", value_set=LABELS),
        e.ExpectColumnValuesToBeInSet(column="split", value_set=SPLITS),
        e.ExpectColumnDistinctValuesToContainSet(column="split", value_set=["train", "test"]),
        e.ExpectColumnValuesToMatchRegex(column="sha256", regex=r"^[0-9a-f]{64}$"),
        e.ExpectColumnValuesToBeInSet(column="mime", value_set=MIMES),
        e.ExpectColumnValuesToBeInSet(column="blob_ok", value_set=[True]),
        # format parity: every file (real or fake) has the same format, mode, size and quality
        e.ExpectColumnUniqueValueCountToBeBetween(column="blob_encoding", min_value=1, max_value=1),
        e.ExpectColumnValuesToNotBeNull(
            column="generator", row_condition='label=="fake"', condition_parser="pandas"
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="match_id", row_condition='label=="fake"', condition_parser="pandas"
        ),
    ]


FAKES = Contract(
    name="fakes",
    version=1,
    schema=pa.schema(
        [
            ("image_id", pa.string()),
            ("label", pa.string()),
            ("generator", pa.string()),
            ("source", pa.string()),
            ("split", pa.string()),
            ("uri", pa.string()),
            ("sha256", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("mime", pa.string()),
            ("caption", pa.string()),
            ("orig_format", pa.string()),
            ("orig_width", pa.int32()),
            ("orig_height", pa.int32()),
            ("orig_bytes", pa.int64()),
            ("match_id", pa.string()),
            ("match_by", pa.string()),
            ("match_score", pa.float32()),
        ]
    ),
    keys=("image_id",),
    expectations=_suite,
    blob_column="uri",
    blob_sha_column="sha256",
    description="Real and generated images re-encoded alike, labelled, split, with matched reals.",
)
