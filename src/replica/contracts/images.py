"""``images``: one image occurrence per row (an image in an article), blobs content-addressed."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract

MIMES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"]

FIELDS = [
    ("image_id", pa.string()),
    ("article_id", pa.string()),
    ("sha256", pa.string()),
    ("uri", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("mime", pa.string()),
    ("caption", pa.string()),
    ("alt", pa.string()),
    ("src_url", pa.string()),
]
DEDUP_FIELDS = [("cluster_id", pa.string()), ("cluster_size", pa.int32())]


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToNotBeNull(column="image_id"),
        e.ExpectColumnValuesToMatchRegex(column="sha256", regex=r"^[0-9a-f]{64}$"),
        e.ExpectColumnValuesToNotBeNull(column="uri"),
        e.ExpectColumnValuesToBeBetween(column="width", min_value=1),
        e.ExpectColumnValuesToBeBetween(column="height", min_value=1),
        e.ExpectColumnValuesToBeInSet(column="mime", value_set=MIMES),
        e.ExpectColumnValuesToBeInSet(column="blob_ok", value_set=[True]),
    ]


def _dedup_suite() -> list:
    e = expectations()
    return [
        *_suite(),
        e.ExpectColumnValuesToBeUnique(column="cluster_id"),
        e.ExpectColumnValuesToBeBetween(column="cluster_size", min_value=1),
    ]


IMAGES = Contract(
    name="images",
    version=1,
    schema=pa.schema(FIELDS),
    keys=("article_id", "image_id"),
    expectations=_suite,
    blob_column="uri",
    blob_sha_column="sha256",
    description="Images found in articles: sha256-addressed blob uri, size, mime, caption, alt.",
    text_keys=("image_id", "article_id", "sha256", "uri", "src_url"),
    path_columns=("uri",),
)

IMAGES_DEDUP = Contract(
    name="images_dedup",
    version=1,
    schema=pa.schema(FIELDS + DEDUP_FIELDS),
    keys=("image_id",),
    expectations=_dedup_suite,
    blob_column="uri",
    blob_sha_column="sha256",
    description="One image per duplicate cluster (exact sha256 or perceptual hash).",
    text_keys=("image_id", "article_id", "sha256", "uri", "src_url", "cluster_id"),
    path_columns=("uri",),
)
