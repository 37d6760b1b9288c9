"""``inversions``: one FakeInversion feature file per image of a ``fakes`` dataset.

Each file (``uri``, safetensors, tensor ``features``: float16 [9, size, size] in [-1, 1]: the
image, its decoded DDIM-inverted noise and its decoded reconstruction) was computed with the
model and settings named by ``model_id``; ``image_sha256`` is the image file it came from.
"""

from __future__ import annotations

import pyarrow as pa

from replica.contracts._gx import expectations
from replica.contracts.base import Contract


def _suite() -> list:
    e = expectations()
    return [
        e.ExpectColumnValuesToBeUnique(column="image_id"),
        e.ExpectColumnValuesToMatchRegex(column="sha256", regex=r"^[0-9a-f]{64}$"),
        e.ExpectColumnValuesToMatchRegex(column="image_sha256", regex=r"^[0-9a-f]{64}$"),
        e.ExpectColumnValuesToBeInSet(column="channels", value_set=[9]),
        e.ExpectColumnUniqueValueCountToBeBetween(column="model_id", min_value=1, max_value=1),
        e.ExpectColumnUniqueValueCountToBeBetween(column="size", min_value=1, max_value=1),
    ]


INVERSIONS = Contract(
    name="inversions",
    version=1,
    schema=pa.schema(
        [
            ("image_id", pa.string()),
            ("image_sha256", pa.string()),
            ("uri", pa.string()),
            ("sha256", pa.string()),
            ("model_id", pa.string()),
            ("channels", pa.int32()),
            ("size", pa.int32()),
        ]
    ),
    keys=("image_id",),
    expectations=_suite,
    description="FakeInversion feature files ([image, inverted noise, reconstruction]) per image.",
)
