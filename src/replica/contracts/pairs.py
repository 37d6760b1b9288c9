"""``pairs`` (reference, replica) with a D-Rep level 0-5 known by construction, the gallery of
references per split (``pairs_gallery``), and human labels (``labels``).

Every image file of a pairs dataset (references and replicas) is written with the same encoder
settings; ``format_parity`` checks it from the files.
"""

from __future__ import annotations

import pyarrow as pa

from replica.config import Family
from replica.contracts._gx import expectations, format_parity
from replica.contracts.base import Contract

FAMILIES = [f.value for f in Family]
DIFFUSION = ["img2img", "inpaint", "txt2img"]
SPLITS = ["train", "val", "test"]
LABEL_SOURCES = ["construction", "human"]
SHA = r"^[0-9a-f]{64}$"


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeUnique(column="pair_id"),
        e.ExpectColumnValuesToBeBetween(column="level", min_value=0, max_value=5),
        e.ExpectColumnValuesToBeBetween(column="construction_level", min_value=0, max_value=5),
        e.ExpectColumnValuesToBeInSet(column="family", value_set=FAMILIES),
        e.ExpectColumnValuesToBeInSet(column="label_source", value_set=LABEL_SOURCES),
        # a level differs from its recipe's only where a person said so
        e.ExpectColumnPairValuesToBeEqual(
            column_A="level",
            column_B="construction_level",
            row_condition='label_source=="construction"',
            condition_parser="pandas",
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="generator",
            row_condition=f"family.isin({DIFFUSION})",
            condition_parser="pandas",
        ),
        e.ExpectColumnValuesToBeInSet(column="split", value_set=SPLITS),
        e.ExpectColumnDistinctValuesToContainSet(column="split", value_set=["train", "test"]),
        e.ExpectColumnValuesToBeBetween(column="proxy_similarity", min_value=-1.0, max_value=1.0),
        e.ExpectColumnValuesToBeBetween(column="prompt_similarity", min_value=-1.0, max_value=1.0),
        e.ExpectColumnValuesToMatchRegex(column="source_sha256", regex=SHA),
        e.ExpectColumnValuesToMatchRegex(column="replica_sha256", regex=SHA),
        e.ExpectColumnValuesToNotBeNull(column="cluster_id"),
        e.ExpectColumnValuesToBeInSet(column="blob_ok", value_set=[True]),
        *format_parity(),
    ]


PAIRS = Contract(
    name="pairs",
    version=2,
    schema=pa.schema(
        [
            ("pair_id", pa.string()),
            ("source_image_id", pa.string()),
            ("source_uri", pa.string()),
            ("source_sha256", pa.string()),
            ("replica_uri", pa.string()),
            ("replica_sha256", pa.string()),
            ("family", pa.string()),
            ("recipe", pa.string()),
            ("seed", pa.int64()),
            ("level", pa.int8()),
            ("construction_level", pa.int8()),
            ("label_source", pa.string()),
            ("proxy_similarity", pa.float32()),
            ("prompt", pa.string()),
            ("prompt_similarity", pa.float32()),
            ("split", pa.string()),
            ("cluster_id", pa.string()),
            ("generator", pa.string()),
            ("partner_ids", pa.list_(pa.string())),
        ]
    ),
    keys=("pair_id",),
    expectations=_suite,
    blob_column="replica_uri",
    blob_sha_column="replica_sha256",
    extra_blobs=(("source_uri", "source_sha256"),),
    description=(
        "Reference-replica pairs: recipe (family, operations, parameters, seed), the level that "
        "follows from it and the training level (human labels override), proxy similarity as a "
        "measurement, matched prompt, split by source image and near-duplicate cluster; "
        "partner_ids are the other gallery images whose pixels the replica holds."
    ),
    text_keys=("pair_id", "source_image_id", "source_uri", "replica_uri"),
    path_columns=("source_uri", "replica_uri"),
)


def _gallery_suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeUnique(column="image_id"),
        e.ExpectColumnValuesToBeInSet(column="split", value_set=SPLITS),
        e.ExpectColumnValuesToNotBeNull(column="cluster_id"),
        e.ExpectColumnValuesToMatchRegex(column="sha256", regex=SHA),
        e.ExpectColumnValuesToBeInSet(column="blob_ok", value_set=[True]),
        *format_parity(),
    ]


PAIRS_GALLERY = Contract(
    name="pairs_gallery",
    version=1,
    schema=pa.schema(
        [
            ("image_id", pa.string()),
            ("uri", pa.string()),
            ("sha256", pa.string()),
            ("split", pa.string()),
            ("cluster_id", pa.string()),
            ("caption", pa.string()),
            ("prompt", pa.string()),
            ("prompt_similarity", pa.float32()),
        ]
    ),
    keys=("image_id",),
    expectations=_gallery_suite,
    blob_column="uri",
    blob_sha_column="sha256",
    file_name="gallery.parquet",
    text_keys=("image_id", "uri", "sha256", "cluster_id"),
    path_columns=("uri",),
    description="Every reference image of a pairs dataset with its split (retrieval searches it).",
)


def _labels_suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeBetween(column="level", min_value=0, max_value=5),
        e.ExpectColumnValuesToNotBeNull(column="annotator"),
    ]


LABELS = Contract(
    name="labels",
    version=1,
    schema=pa.schema(
        [
            ("pair_id", pa.string()),
            ("annotator", pa.string()),
            ("level", pa.int8()),
            ("source", pa.string()),
        ]
    ),
    keys=("pair_id", "annotator"),
    expectations=_labels_suite,
    text_keys=("pair_id", "annotator"),
    description="Human D-Rep levels per (pair, annotator), from Label Studio or a CSV.",
)
