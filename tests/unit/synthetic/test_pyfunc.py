"""The synthetic detector as an MLflow pyfunc, without a tracking store."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from replica.models.synthetic import ArtefactConfig, ArtefactDetector
from replica.registry.pyfunc import SyntheticDetectorModel, synthetic_input_example
from tests.fakes_factory import generated, photo

ENCODING = {"parity": True, "format": "jpeg", "quality": 90, "image_size": 48,
            "size_policy": "resize"}  # fmt: skip


def _bytes(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDetectorModel:
    from replica.fakes.encode import reencode

    det = ArtefactDetector(ArtefactConfig(encoding=ENCODING))
    train = [reencode(photo(i), ENCODING) for i in range(16)]
    train += [reencode(generated(i), ENCODING) for i in range(16)]
    det.fit(det.features([np.asarray(im) for im in train]), np.array([0] * 16 + [1] * 16))
    path = tmp_path_factory.mktemp("synthetic")
    det.save(path)
    model = SyntheticDetectorModel()
    model.load_context(SimpleNamespace(artifacts={"model_dir": str(path)}))
    return model


def test_scores_bytes_and_base64_alike(served: SyntheticDetectorModel) -> None:
    images = [_bytes(generated(100 + i), "PNG") for i in range(3)]
    images += [_bytes(photo(100 + i), "JPEG") for i in range(3)]
    out = served.predict(None, pd.DataFrame({"image": images}))
    assert list(out.columns) == ["probability", "generated"] and len(out) == 6
    assert out["probability"].between(0, 1).all()
    assert out["generated"].tolist() == [True] * 3 + [False] * 3
    b64 = pd.DataFrame({"image": [base64.b64encode(b).decode() for b in images]})
    pd.testing.assert_frame_equal(served.predict(None, b64), out)


def test_the_file_format_does_not_change_the_score(served: SyntheticDetectorModel) -> None:
    picture = generated(200, (64, 64))
    out = served.predict(None, pd.DataFrame({"image": [_bytes(picture, "PNG"),
                                                       _bytes(picture, "WEBP")]}))  # fmt: skip
    assert out["probability"][0] == pytest.approx(out["probability"][1], abs=0.1)


def test_bad_input_is_named(served: SyntheticDetectorModel) -> None:
    with pytest.raises(ValueError, match="needs column 'image'"):
        served.predict(None, pd.DataFrame({"picture": [b"x"]}))
    with pytest.raises(ValueError, match=r"image\[0\] is not a readable image"):
        served.predict(None, pd.DataFrame({"image": [b"not an image"]}))
    assert len(served.predict(None, synthetic_input_example())) == 1
