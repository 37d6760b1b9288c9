"""``pairs``: (gallery image, replica) pairs with a replication level 0-5 and a split."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract

KINDS = ["img2img", "transform"]


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeUnique(column="pair_id"),
        e.ExpectColumnValuesToBeBetween(column="level", min_value=0, max_value=5),
        e.ExpectColumnValuesToBeBetween(column="similarity", min_value=-1.0, max_value=1.0),
        e.ExpectColumnValuesToBeInSet(column="kind", value_set=KINDS),
        e.ExpectColumnValuesToBeInSet(column="split", value_set=["train", "test"]),
        e.ExpectColumnValuesToBeInSet(column="label_source", value_set=["proxy", "human"]),
        e.ExpectColumnValuesToMatchRegex(column="replica_sha256", regex=r"^[0-9a-f]{64}$"),
        e.ExpectColumnValuesToBeInSet(column="blob_ok", value_set=[True]),
        e.ExpectColumnDistinctValuesToContainSet(column="split", value_set=["train", "test"]),
    ]


PAIRS = Contract(
    name="pairs",
    version=1,
    schema=pa.schema(
        [
            ("pair_id", pa.string()),
            ("source_image_id", pa.string()),
            ("source_uri", pa.string()),
            ("replica_uri", pa.string()),
            ("replica_sha256", pa.string()),
            ("kind", pa.string()),
            ("transform", pa.string()),
            ("strength", pa.float32()),
            ("prompt", pa.string()),
            ("similarity", pa.float32()),
            ("level", pa.int8()),
            ("label_source", pa.string()),
            ("split", pa.string()),
        ]
    ),
    keys=("pair_id",),
    expectations=_suite,
    blob_column="replica_uri",
    blob_sha_column="replica_sha256",
    description="Image-replica pairs: how the replica was made, its proxy level 0-5, its split.",
    text_keys=("pair_id", "source_image_id", "source_uri", "replica_uri"),
    path_columns=("source_uri", "replica_uri"),
)
