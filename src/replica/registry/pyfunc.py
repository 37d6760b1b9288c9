"""The copy detector as an MLflow pyfunc model: image bytes in, replication level out.

Input: a pandas DataFrame with columns ``query`` and ``reference``, one image pair per row,
each cell the PNG/JPEG bytes (the signature's ``binary`` type) or the same bytes as a base64
string (what JSON clients such as ``mlflow models serve`` send).
Output: a DataFrame with ``predicted`` (normalized level in [0, 1]) and ``level`` (0..levels-1).

The wrapper holds no weights when pickled: ``load_context`` loads the model directory that
MLflow stored as the ``model_dir`` artifact, with ``PDFEmbedding.load``.
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
        from replica.models.pdf_embedding import PDFEmbedding

        self._model = PDFEmbedding.load(context.artifacts["model_dir"])
        self._model.eval()

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        import torch

        from replica.models.pdf_embedding import preprocess

        frame = pd.DataFrame(model_input)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"input needs columns {list(COLUMNS)}; missing {missing}")
        size = self._model.config.image_size
        top = self._model.config.levels - 1
        scores: list[torch.Tensor] = []
        with torch.inference_mode():
            for start in range(0, len(frame), BATCH_SIZE):
                rows = frame.iloc[start : start + BATCH_SIZE]
                # [B, 3, H, W] in [0, 1] for each side of the pair
                query, reference = (
                    torch.stack(
                        [
                            preprocess(decode_image(v, col, start + i), size)
                            for i, v in enumerate(rows[col])
                        ]
                    )
                    for col in COLUMNS
                )
                scores.append(self._model.predict_level(query, reference).float().clamp(0, 1))
        predicted = torch.cat(scores).numpy() if scores else torch.empty(0).numpy()
        return pd.DataFrame(
            {
                "predicted": predicted.astype("float64"),
                "level": (predicted * top).round().astype("int64"),
            }
        )


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
