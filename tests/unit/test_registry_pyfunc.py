"""The pyfunc wrapper on a tiny model, without a tracking store: decoding, batching, ranges."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image

from replica.registry import pyfunc
from replica.registry.pyfunc import CopyDetectorModel, decode_image, input_example
from tests.copyfix import fitted_detector
from tests.factories import jpeg_bytes, textured


def _png(color: tuple[int, int, int], size: int = 20) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> CopyDetectorModel:
    root = tmp_path_factory.mktemp("pyfunc")
    fitted_detector(root)
    model = CopyDetectorModel()
    model.load_context(SimpleNamespace(artifacts={"model_dir": str(root / "model")}))
    return model


def test_predicts_levels_for_bytes_and_base64_alike(
    detector: CopyDetectorModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pyfunc, "BATCH_SIZE", 2)  # 5 rows -> 3 batches
    source = textured(11, (200, 150))
    queries = [jpeg_bytes(source)] + [jpeg_bytes(textured(20 + i, (200, 150))) for i in range(4)]
    raw = pd.DataFrame({"query": queries, "reference": [jpeg_bytes(source)] * 5})
    out = detector.predict(None, raw)
    assert list(out.columns) == ["predicted", "level"] and len(out) == 5
    assert out["predicted"].between(0, 1).all() and out["level"].between(0, 5).all()
    assert out["level"][0] >= 4 and (out["level"][1:] <= 1).all()  # the copy and the others
    b64 = raw.map(lambda b: base64.b64encode(b).decode())
    pd.testing.assert_frame_equal(detector.predict(None, b64), out)


def test_missing_column_and_bad_cells_are_named(detector: CopyDetectorModel) -> None:
    with pytest.raises(ValueError, match=r"missing \['reference'\]"):
        detector.predict(None, pd.DataFrame({"query": [_png((1, 2, 3))]}))
    with pytest.raises(ValueError, match=r"reference\[0\] is not a readable image"):
        detector.predict(None, pd.DataFrame({"query": [_png((1, 2, 3))], "reference": [b"x"]}))
    with pytest.raises(ValueError, match=r"query\[3\] must be image bytes"):
        decode_image(7, "query", 3)


def test_input_example_is_two_decodable_pngs() -> None:
    row = input_example().iloc[0]
    assert decode_image(row["query"], "query", 0).size == (16, 16)
    assert decode_image(row["reference"], "reference", 0).mode == "RGB"
