"""The encoding read back from image files (the format-parity rule's input) and the dataset's
fit and encoder."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from replica.config import Encoding, Fit
from replica.generate.encode import encode, fit
from replica.quality.blobs import check_blob, derive_blob_columns, encoding_of, quality_tag


def saved(image: Image.Image, fmt: str, **kw) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return Image.open(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("quality", [5, 37, 50, 75, 90, 95, 100])
def test_jpeg_quality_is_read_back_exactly(quality: int) -> None:
    img = saved(Image.new("RGB", (32, 32), (200, 30, 30)), "JPEG", quality=quality, subsampling=2)
    assert encoding_of(img) == f"JPEG/q{quality}/4:2:0/RGB"


def test_other_encodings_and_foreign_tables() -> None:
    assert encoding_of(saved(Image.new("RGB", (8, 8)), "PNG")) == "PNG/RGB"
    assert encoding_of(saved(Image.new("L", (8, 8)), "PNG")) == "PNG/L"
    assert encoding_of(saved(Image.new("RGB", (8, 8)), "WEBP", quality=80)).startswith("WEBP/")
    custom = [min(255, v + 1) for v in range(1, 65)]
    assert quality_tag(custom).startswith("q~")


def test_derived_columns_flag_a_row_whose_files_differ(tmp_path: Path) -> None:
    jpg = encode(Image.new("RGB", (16, 16), (9, 9, 9)), Encoding.JPEG, 95)
    png = encode(Image.new("RGB", (16, 16), (9, 9, 9)), Encoding.PNG, 95)
    (tmp_path / "a.jpg").write_bytes(jpg)
    (tmp_path / "b.jpg").write_bytes(jpg)
    (tmp_path / "c.png").write_bytes(png)
    df = pd.DataFrame({"src": ["a.jpg", "a.jpg", "a.jpg"], "rep": ["b.jpg", "c.png", "gone.jpg"]})
    ok, formats, reasons = derive_blob_columns(df, [("src", None), ("rep", None)], tmp_path, 10**6)
    assert ok == [True, True, False]
    assert formats == ["JPEG/q95/4:4:4/RGB", "mixed:JPEG/q95/4:4:4/RGB|PNG/RGB", None]
    assert reasons == {"blob_missing": 1}
    assert check_blob(tmp_path, "a.jpg", "0" * 64, 10**6).reason == "sha_mismatch"
    assert check_blob(tmp_path, "../a.jpg", None, 10**6).reason == "outside"


def test_fit_keeps_the_aspect_ratio_by_crop_or_pad() -> None:
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 50, 100))  # a blue left quarter
    cropped, padded = fit(wide, 64, Fit.CROP), fit(wide, 64, Fit.PAD)
    assert cropped.size == padded.size == (64, 64)
    red, _, blue = cropped.getpixel((8, 32))
    assert red > 240 and blue < 10  # the blue quarter is cropped away
    assert padded.getpixel((2, 2)) == (114, 114, 114) and padded.getpixel((2, 32))[2] > 200
    rgba = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    assert fit(rgba, 32, Fit.CROP).getpixel((5, 5)) == (255, 255, 255)  # alpha on white
