"""``stories``: articles grouped into stories (near-duplicate texts joined through shared
images), each with its member articles, the articles dedup kept, and its image set."""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToNotBeNull(column="story_id"),
        e.ExpectColumnValuesToBeUnique(column="story_id"),
        e.ExpectColumnValuesToBeBetween(column="n_articles", min_value=1),
        e.ExpectColumnValuesToBeBetween(column="n_kept", min_value=1),
        e.ExpectColumnValuesToBeBetween(column="n_images", min_value=0),
        e.ExpectColumnValuesToMatchRegex(
            column="first_published", regex=r"^\d{4}-\d{2}-\d{2}", mostly=1.0
        ),
    ]


STORIES = Contract(
    name="stories",
    version=1,
    schema=pa.schema(
        [
            ("story_id", pa.string()),
            ("article_ids", pa.list_(pa.string())),
            ("kept_article_ids", pa.list_(pa.string())),
            ("image_ids", pa.list_(pa.string())),
            ("n_articles", pa.int32()),
            ("n_kept", pa.int32()),
            ("n_images", pa.int32()),
            ("first_published", pa.string()),
        ]
    ),
    keys=("story_id",),
    expectations=_suite,
    description="Stories: near-duplicate article clusters joined by shared images, with images.",
    text_keys=("story_id",),
)
