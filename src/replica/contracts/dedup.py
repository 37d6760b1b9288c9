"""``duplicates``: every row dedup removed, the kept row it duplicates, and the evidence."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract

METHODS = [
    "exact_text",  # same normalized word sequence; score 1.0
    "minhash",  # estimated Jaccard with the kept row (>= dedup.threshold)
    "minhash_chain",  # joined through verified pairs; score: direct estimate with the kept row
    "exact_bytes",  # same sha256 of the file; score 0 (Hamming distance)
    "exact_pixels",  # same sha256 of the decoded pixels
    "phash",  # pHash Hamming distance to the kept image
    "phash_flip",  # pHash Hamming distance to the kept image's mirror
    "phash_chain",  # joined through near pairs; score: direct pHash distance
    "embedding",  # cosine similarity of the embedding model's vectors
]


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
    text_keys=("removed_id", "kept_id", "cluster_id"),
)
