"""``replica gallery``: folders, globs, manifests and s3 prefixes into the images contract, with
every refused file counted by reason."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import IMAGES, REJECTS
from tests.factories import png_bytes

runner = CliRunner()


def jpeg_bytes(seed: int, size: int = 96) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(png_bytes(seed, size))).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def mixed_folder(root: Path) -> Path:
    """Three good images (one in a subfolder), and one of each kind of bad file."""
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(png_bytes(1))
    (root / "b.jpg").write_bytes(jpeg_bytes(2))
    (root / "sub" / "c.webp").write_bytes(_save(Image.open(io.BytesIO(png_bytes(3))), "WEBP"))
    (root / "copy-of-a.png").write_bytes(png_bytes(1))  # duplicate
    (root / "notes.txt").write_text("not an image")  # not_an_image
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # not_an_image
    (root / "broken.jpg").write_bytes(jpeg_bytes(4)[:600])  # corrupt_image
    (root / "icon.png").write_bytes(png_bytes(5, size=16))  # too_small
    (root / "bomb.png").write_bytes(_save(Image.new("L", (3000, 3000)), "PNG"))  # bomb
    (root / "photo.ico").write_bytes(_save(Image.new("RGB", (96, 96)), "ICO"))  # unsupported
    (root / ".git").mkdir()
    (root / ".git" / "x.png").write_bytes(png_bytes(6))  # hidden folders are skipped
    return root


def _save(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def gallery(source: str, out: Path, params_file: Path, *extra: str):
    args = ["gallery", "--source", source, "--output", str(out), "--params", str(params_file)]
    return runner.invoke(app, [*args, "--set", "gallery.max_pixels=4000000", *extra])


def test_a_mixed_folder_imports_the_images_and_counts_every_reject(
    tmp_path: Path, params_file: Path
) -> None:
    out = tmp_path / "g"
    res = gallery(str(mixed_folder(tmp_path / "in")), out, params_file)
    assert res.exit_code == 0, res.output
    rows = IMAGES.read(out).to_pylist()
    assert sorted(Path(r["src_url"]).name for r in rows) == ["a.png", "b.jpg", "c.webp"]
    for r in rows:
        assert r["article_id"] == "gallery" and r["image_id"] == r["sha256"]
        assert r["uri"] == f"blobs/{r['sha256'][:2]}/{r['sha256']}.{r['uri'].rsplit('.', 1)[1]}"
        assert (out / r["uri"]).read_bytes() == Path(r["src_url"]).read_bytes()
        assert r["caption"] is None and (r["width"], r["height"]) == (96, 96)
    assert {r["mime"] for r in rows} == {"image/png", "image/jpeg", "image/webp"}
    rejects = {Path(r["source"]).name: r["reason"] for r in REJECTS.read(out).to_pylist()}
    assert rejects == {
        "copy-of-a.png": "duplicate",
        "notes.txt": "not_an_image",
        ".DS_Store": "not_an_image",
        "broken.jpg": "corrupt_image",
        "icon.png": "too_small",
        "bomb.png": "decompression_bomb",
        "photo.ico": "unsupported_format",
    }
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["rows_in"] == 10 and meta["rows_out"] == 3
    assert meta["rejects"]["not_an_image"] == 2
    validate = ["validate", "--input", str(out), "--report", str(tmp_path / "v.json")]
    res = runner.invoke(app, [*validate, "--params", str(params_file)])
    assert res.exit_code == 0 and "PASS images" in res.output


def test_manifests_csv_and_parquet_keep_captions_and_count_missing_files(
    tmp_path: Path, params_file: Path
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "x.png").write_bytes(png_bytes(7))
    (root / "y.png").write_bytes(png_bytes(8))
    (root / "m.csv").write_text(
        "path,caption,category\nx.png,  A  red   bus ,vehicle\ny.png,,other\nz.png,gone,other\n"
    )
    pq.write_table(
        pa.table({"path": [str(root / "x.png"), "y.png"], "caption": ["a bus", None]}),
        root / "m.parquet",
    )
    for name, captions in (
        ("m.csv", {"x.png": "A red bus", "y.png": None}),
        ("m.parquet", {"x.png": "a bus", "y.png": None}),
    ):
        out = tmp_path / name
        res = gallery(str(root / name), out, params_file)
        assert res.exit_code == 0, res.output
        got = {Path(r["src_url"]).name: r["caption"] for r in IMAGES.read(out).to_pylist()}
        assert got == captions
    assert [r["reason"] for r in REJECTS.read(tmp_path / "m.csv").to_pylist()] == ["missing_file"]


def test_a_glob_and_an_s3_prefix(tmp_path: Path, params_file: Path, monkeypatch) -> None:
    from moto.server import ThreadedMotoServer

    root = mixed_folder(tmp_path / "in")
    res = gallery(str(root / "**" / "*.webp"), tmp_path / "glob", params_file)
    assert res.exit_code == 0, res.output
    assert [Path(r["src_url"]).name for r in IMAGES.read(tmp_path / "glob").to_pylist()] == [
        "c.webp"
    ]

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="photos")
        for name in ("a.png", "b.jpg", "notes.txt"):
            s3.put_object(Bucket="photos", Key=f"set1/{name}", Body=(root / name).read_bytes())
        s3.put_object(Bucket="photos", Key="other/x.png", Body=png_bytes(9))
        res = gallery("s3://photos/set1/", tmp_path / "s3", params_file)
    finally:
        server.stop()
    assert res.exit_code == 0, res.output
    rows = IMAGES.read(tmp_path / "s3").to_pylist()
    assert sorted(r["src_url"] for r in rows) == [
        "s3://photos/set1/a.png",
        "s3://photos/set1/b.jpg",
    ]
    assert [r["reason"] for r in REJECTS.read(tmp_path / "s3").to_pylist()] == ["not_an_image"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nowhere", "is not a folder, glob"),
        ("missing.csv", "does not exist"),
        ("empty", "holds no files"),
    ],
)
def test_unusable_sources_are_one_line_errors(
    tmp_path: Path, params_file: Path, source: str, message: str
) -> None:
    (tmp_path / "empty").mkdir()
    res = gallery(str(tmp_path / source), tmp_path / "g", params_file)
    assert res.exit_code == 2 and message in res.output
    assert not (tmp_path / "g").exists()


def test_the_corpus_gallery_imports_every_manifest_photo(
    corpus: Path, tmp_path: Path, params_file: Path
) -> None:
    import csv

    manifest = corpus / "gallery" / "manifest.csv"
    res = gallery(
        str(manifest), tmp_path / "g", params_file, "--set", "gallery.max_pixels=40000000"
    )
    assert res.exit_code == 0, res.output
    with manifest.open() as fh:
        expected = {row["sha256"] for row in csv.DictReader(fh)}
    rows = IMAGES.read(tmp_path / "g").to_pylist()
    assert len(expected) == 620 and {r["sha256"] for r in rows} == expected
    assert REJECTS.read(tmp_path / "g").num_rows == 0
    folder = gallery(str(corpus / "gallery" / "images"), tmp_path / "f", params_file)
    assert (
        folder.exit_code == 0
        and {r["sha256"] for r in IMAGES.read(tmp_path / "f").to_pylist()} == expected
    )
