"""``replica extract`` on a hand-built crawl and on the corpus (Wikipedia SOPA captures)."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from replica.cli import app
from replica.contracts import ARTICLES, IMAGES, REJECTS
from tests.steps.test_crawl import crawl
from tests.unit.test_crawl import warc_bytes

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
TEXT = "The harbour board approved the new ferry timetable after a long debate. " * 5


def extract(src: Path, out: Path, params: Path) -> str:
    res = runner.invoke(
        app, ["extract", "--input", str(src), "--output", str(out), "--params", str(params)]
    )
    assert res.exit_code == 0, res.output
    return res.output


def test_extract_writes_articles_images_and_blobs(tmp_path: Path, params_file: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), "green").save(buf, "JPEG")
    photo = buf.getvalue()
    page = (
        f"<html><head><title>Ferry</title></head><body><article><p>{TEXT}</p>"
        '<img src="//img.example.com/ferry.jpg" alt="The ferry"><img src="/gone.jpg">'
        "</article></body></html>"
    ).encode()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "c.warc.gz").write_bytes(
        warc_bytes(
            [
                (
                    "https://example.com/ferry",
                    "text/html; charset=utf-8",
                    page,
                    "2024-01-01T00:00:00Z",
                ),
                ("https://img.example.com/ferry.jpg", "image/jpeg", photo, "2024-01-01T00:00:01Z"),
            ]
        )
    )
    (tmp_path / "s.yaml").write_text("sources:\n  - {kind: warc, paths: ['in/*']}\n")
    crawl(tmp_path / "s.yaml", tmp_path / "crawl", params_file)
    out = tmp_path / "extract"
    line = extract(tmp_path / "crawl", out, params_file)
    assert "[extract] in=2 out=1" in line and "image_not_captured=1" in line

    [article] = ARTICLES.read(out).to_pylist()
    assert article["url"] == "https://example.com/ferry" and article["title"] == "Ferry"
    assert article["source"] == "crawl-00000.warc.gz" and article["record_id"].startswith("<urn:")
    [image] = IMAGES.read(out).to_pylist()
    sha = hashlib.sha256(photo).hexdigest()
    assert (image["image_id"], image["article_id"], image["mime"]) == (
        sha,
        article["article_id"],
        "image/jpeg",
    )
    assert (image["width"], image["height"], image["caption"]) == (120, 90, "The ferry")
    assert (out / image["uri"]).read_bytes() == photo and image["uri"].endswith(f"{sha}.jpg")
    [rej] = REJECTS.read(out).to_pylist()
    assert (rej["stage"], rej["reason"], rej["detail"]) == (
        "extract",
        "image_not_captured",
        "https://example.com/gone.jpg",
    )
    assert json.loads((out / "_meta.json").read_text())["outputs"]["images"] == 1


def test_extract_of_no_warcs_or_an_unfinished_crawl_is_a_clean_error(
    tmp_path: Path, params_file: Path
) -> None:
    (tmp_path / "empty").mkdir()
    res = runner.invoke(
        app,
        [
            "extract",
            "--input",
            str(tmp_path / "empty"),
            "--output",
            str(tmp_path / "o"),
            "--params",
            str(params_file),
        ],
    )
    assert res.exit_code == 2 and "no WARC files" in res.output
    (tmp_path / "empty" / "crawl-00000.warc.gz").write_bytes(
        warc_bytes([("http://ex.com/a", "text/html", b"<p>a</p>", "2020-01-01T00:00:00Z")])
    )
    (tmp_path / "empty" / "_state.sqlite").write_bytes(b"")  # a crawl without its _meta.json
    res = runner.invoke(
        app,
        [
            *("extract", "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "o")),
            *("--params", str(params_file)),
        ],
    )
    assert res.exit_code == 2 and "unfinished crawl" in res.output
    assert not (tmp_path / "o").exists()


def test_wikipedia_main_page_images_keep_their_alt_captions(
    corpus: Path, tmp_path: Path, params_file: Path
) -> None:
    sopa = corpus / "warc" / "ukwa" / "wikipedia-sopa-blackout-2012"
    (tmp_path / "s.yaml").write_text(
        f"sources:\n  - {{kind: warc, paths: ['{sopa}/**/*.warc.gz']}}\n"
    )
    crawl(tmp_path / "s.yaml", tmp_path / "crawl", params_file)
    out = tmp_path / "extract"
    extract(tmp_path / "crawl", out, params_file)
    articles = ARTICLES.read(out).to_pylist()
    main = [a for a in articles if a["url"] == "http://en.wikipedia.org/wiki/Main_Page"]
    assert len(main) == 2  # captured during and after the blackout: two rows, dedup decides
    images = IMAGES.read(out).to_pylist()
    captions = Counter(i["caption"] for i in images)
    assert captions["Nick Drake's grave in Tanworth-in-Arden"] == 2
    assert {i["article_id"] for i in images} == {a["article_id"] for a in main}
    assert len(images) == 10
    assert all(min(i["width"], i["height"]) >= 48 for i in images)


@pytest.mark.slow
def test_demo_crawl_and_extract_counts(corpus: Path, tmp_path: Path, params_file: Path) -> None:
    sources = tmp_path / "demo.yaml"
    sources.write_text(
        (ROOT / "sources" / "demo.yaml").read_text().replace("../../shared/corpus", str(corpus))
    )
    crawl(sources, tmp_path / "crawl", params_file)
    out = tmp_path / "extract"
    line = extract(tmp_path / "crawl", out, params_file)
    assert "[extract] in=762 out=423" in line
    assert IMAGES.read(out).num_rows == 10
    reasons = Counter(REJECTS.read(out).column("reason").to_pylist())
    assert reasons["too_short"] == 37 and reasons["not_html"] == 112


@pytest.mark.slow
def test_ray_engine_gives_the_local_output(
    corpus: Path, tmp_path: Path, params_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    (tmp_path / "s.yaml").write_text(
        f"sources:\n  - {{kind: warc, paths: ['{corpus}/warc/ukwa/**/*.warc.gz']}}\n"
        f"  - {{kind: pages, paths: ['{corpus}/extraction/aeb/html/1*.html.gz'],"
        f" url_index: ['{corpus}/extraction/aeb/ground-truth.json']}}\n"
    )
    crawl(tmp_path / "s.yaml", tmp_path / "crawl", params_file)
    extract(tmp_path / "crawl", tmp_path / "local", params_file)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        res = runner.invoke(
            app,
            [
                *("extract", "--input", str(tmp_path / "crawl"), "--output", str(tmp_path / "ray")),
                *("--params", str(params_file), "--engine", "ray"),
            ],
        )
    finally:
        ray.shutdown()
    assert res.exit_code == 0, res.output
    for contract in (ARTICLES, IMAGES, REJECTS):
        local, remote = contract.read(tmp_path / "local"), contract.read(tmp_path / "ray")
        assert local.num_rows > 0 and local.equals(remote), contract.name
    blobs = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.*"))
    assert sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.*")) == blobs
