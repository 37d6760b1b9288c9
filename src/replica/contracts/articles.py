"""``articles``: one extracted news article per row, keyed by ``article_id``."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract

FIELDS = [
    ("article_id", pa.string()),
    ("url", pa.string()),
    ("title", pa.string()),
    ("text", pa.string()),
    ("published", pa.string()),
    ("lang", pa.string()),
    ("source", pa.string()),
    ("record_id", pa.string()),
]
DEDUP_FIELDS = [("cluster_id", pa.string()), ("cluster_size", pa.int32())]


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToNotBeNull(column="article_id"),
        e.ExpectColumnValuesToBeUnique(column="article_id"),
        e.ExpectColumnValuesToNotBeNull(column="url"),
        e.ExpectColumnValuesToMatchRegex(column="url", regex=r"^(?:https?|file)://\S+\Z"),
        e.ExpectColumnValuesToNotBeNull(column="text"),
        e.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
        e.ExpectColumnValuesToMatchRegex(
            column="published", regex=r"^\d{4}-\d{2}-\d{2}", mostly=1.0
        ),
    ]


def _dedup_suite() -> list:
    e = expectations()
    return [
        *_suite(),
        e.ExpectColumnValuesToNotBeNull(column="cluster_id"),
        e.ExpectColumnValuesToBeUnique(column="cluster_id"),
        e.ExpectColumnValuesToBeBetween(column="cluster_size", min_value=1),
    ]


ARTICLES = Contract(
    name="articles",
    version=1,
    schema=pa.schema(FIELDS),
    keys=("article_id",),
    expectations=_suite,
    description="Extracted articles: url, title, text, published (ISO date), lang, source WARC.",
    text_keys=("article_id", "url"),
)

ARTICLES_DEDUP = Contract(
    name="articles_dedup",
    version=1,
    schema=pa.schema(FIELDS + DEDUP_FIELDS),
    keys=("article_id",),
    expectations=_dedup_suite,
    description="One article per duplicate cluster, with its cluster id and size.",
    text_keys=("article_id", "url", "cluster_id"),
)
