"""The two detector families as MLflow pyfunc models (the family's ``register`` picks one).

``CopyDetectorModel`` (``copy``): a pandas DataFrame with columns ``query`` and ``reference``,
one image pair per row, each cell the PNG/JPEG bytes (the signature's ``binary`` type) or the
same bytes as a base64 string (what JSON clients such as ``mlflow models serve`` send). Output:
``predicted`` (expected level / 5, in [0, 1]) and ``level`` (the mode of the fused level
distribution, 0..5), one row per pair; scoring is ``replica.scoring.score.score_pairs``
(verification and fusion included).

``SyntheticDetectorModel`` (``synthetic``): column ``image`` (and optionally ``caption``) in,
``probability`` and ``generated`` out (see the class).

The wrappers hold no weights when pickled: ``load_context`` loads the model directory that
MLflow stored as the ``model_dir`` artifact (``CopyDetector.load`` / ``SyntheticScorer``).
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

COLUMNS = ("query", "reference")
BATCH_SIZE = 64


class CopyDetectorModel(PythonModel):
    """Scores how strongly ``query`` replicates ``reference`` (0 = unrelated, 1 = a copy)."""

    def load_context(self, context: Any) -> None:
        from replica.models.copy import CopyDetector
        from replica.scoring.features import Featurizer

        self._featurizer = Featurizer(CopyDetector.load(context.artifacts["model_dir"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        from pathlib import Path

        from replica.scoring.features import ImageRef
        from replica.scoring.fuse import expected
        from replica.scoring.score import score_pairs

        frame = pd.DataFrame(model_input)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"input needs columns {list(COLUMNS)}; missing {missing}")
        query, reference = (
            [
                ImageRef(Path(f"{col}[{i}]"), data=image_bytes(v, col, i))
                for i, v in enumerate(frame[col])
            ]
            for col in COLUMNS
        )
        pdf = score_pairs(self._featurizer, query, reference, BATCH_SIZE)
        return pd.DataFrame(
            {
                "predicted": expected(pdf).astype("float64"),
                "level": pdf.argmax(1).astype("int64"),
            }
        )


def image_bytes(value: Any, column: str, row: int) -> bytes:
    """PNG/JPEG bytes (or their base64 text) that decode as an image; a clear error names the
    cell."""
    decode_image(value, column, row)
    return base64.b64decode(value) if isinstance(value, str) else bytes(value)


def decode_image(value: Any, column: str, row: int) -> Any:
    """PNG/JPEG bytes or their base64 text -> an RGB PIL image; a clear error names the cell."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, str):
        try:
            value = base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{column}[{row}] is a string but not base64: {exc}") from exc
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(
            f"{column}[{row}] must be image bytes or base64 text, got {type(value).__name__}"
        )
    try:
        with Image.open(io.BytesIO(bytes(value))) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{column}[{row}] is not a readable image: {exc}") from exc


def input_example(size: int = 16) -> pd.DataFrame:
    """A one-row example (two small PNGs): defines the signature, is stored with the model."""
    from PIL import Image

    def png(shade: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (size, size), (shade, 128, 255 - shade)).save(buf, format="PNG")
        return buf.getvalue()

    return pd.DataFrame({"query": [png(40)], "reference": [png(200)]})


SYNTHETIC_COLUMNS = ("image",)


class SyntheticDetectorModel(PythonModel):
    """Scores whether each ``image`` was generated (the ``synthetic`` family).

    Input: a DataFrame with column ``image`` (PNG/JPEG bytes or their base64 text) and
    optionally ``caption`` (FakeInversion conditions its inversion on it). Output: ``probability``
    (calibrated P(generated), in [0, 1]) and ``generated`` (at the threshold chosen on the
    validation split). Images are re-encoded like the training data first (the model's
    ``encoding``), so a PNG and a JPEG of the same picture get the same score.
    """

    def load_context(self, context: Any) -> None:
        from pathlib import Path

        from replica.train.synthetic import SyntheticScorer

        self._scorer = SyntheticScorer(Path(context.artifacts["model_dir"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        if "image" not in frame.columns:
            raise ValueError(f"input needs column 'image'; got {list(frame.columns)}")
        images = [decode_image(v, "image", i) for i, v in enumerate(frame["image"])]
        captions = (
            [c if isinstance(c, str) else "" for c in frame["caption"]]
            if "caption" in frame.columns
            else None
        )
        prob = self._scorer.probabilities(images, captions)
        return pd.DataFrame(
            {"probability": prob.astype("float64"), "generated": prob >= self._scorer.threshold}
        )


def synthetic_signature() -> Any:
    """Image bytes in; P(generated) and the decision out. Declared, not inferred."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("binary", "image")]),
        outputs=Schema([ColSpec("double", "probability"), ColSpec("boolean", "generated")]),
    )


def synthetic_input_example(size: int = 32) -> pd.DataFrame:
    """A one-row example (a small PNG): defines the signature, is stored with the model."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (90, 140, 200)).save(buf, format="PNG")
    return pd.DataFrame({"image": [buf.getvalue()]})
