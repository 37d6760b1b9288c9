"""The encoding signature that the format-parity rule compares."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from replica.quality.encoding import describe, encoding_of, ijg_table, jpeg_quality


def _open(fmt: str, size: tuple[int, int] = (40, 30), **kw: object) -> Image.Image:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, format=fmt, **kw)
    buf.seek(0)
    return Image.open(buf)


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 92, 100])
def test_jpeg_quality_is_read_back_exactly(quality: int) -> None:
    assert describe(_open("JPEG", quality=quality)) == f"JPEG RGB 40x30 q{quality} 4:2:0"


def test_non_ijg_tables_are_marked_as_estimates() -> None:
    table = [v + 1 for v in ijg_table(80)]
    q, exact = jpeg_quality(table)
    assert not exact and 75 <= q <= 85


def test_png_webp_and_size_are_part_of_the_signature(tmp_path: Path) -> None:
    assert describe(_open("PNG")) == "PNG RGB 40x30"
    assert describe(_open("WEBP", size=(64, 64))) == "WEBP RGB 64x64"
    assert describe(_open("JPEG", size=(30, 40), quality=90, subsampling=0)).endswith("4:4:4")
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8 not really")
    assert encoding_of(tmp_path / "junk.jpg") is None
    assert encoding_of(tmp_path / "missing.png") is None
