"""extract core: image references in HTML, image checks, articles and their images."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from replica.config import ExtractConfig
from replica.extract import WebRecord, extract_records, find_images, inspect_image, normalize_url
from replica.extract.images import parse_srcset

PAGE = "https://news.example.com/2024/story.html"
TEXT = "The council met on Tuesday and agreed a new budget for the harbour. " * 6


def png(w: int, h: int, color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def test_srcset_largest_first() -> None:
    assert parse_srcset("a.jpg 320w, b.jpg 1024w, c.jpg 640w") == ["b.jpg", "c.jpg", "a.jpg"]
    assert parse_srcset("a.jpg, b.jpg 2x") == ["b.jpg", "a.jpg"]


def test_find_images_resolves_urls_and_captions() -> None:
    html = """<html><head><meta property="og:image" content="/og.jpg"></head><body>
    <figure><img src="small.jpg" srcset="small.jpg 300w, big.jpg 1200w" alt="A harbour">
      <figcaption> Boats in  the harbour </figcaption></figure>
    <picture><source srcset="//cdn.example.com/p.webp 800w"><img src="/p.jpg" alt="pic"></picture>
    <a href="/x" title="Link title"><img src="linked.png"></a>
    <img src="data:image/gif;base64,R0lGOD" alt="lazy">
    </body></html>"""
    refs = find_images(html, PAGE)
    fig, pic, linked, lazy, og = refs
    assert fig.candidates == (
        "https://news.example.com/2024/big.jpg",
        "https://news.example.com/2024/small.jpg",
    )
    assert (fig.caption, fig.alt) == ("Boats in the harbour", "A harbour")
    assert pic.candidates == ("https://cdn.example.com/p.webp", "https://news.example.com/p.jpg")
    assert (pic.caption, pic.alt) == ("pic", "pic")
    assert (linked.caption, linked.alt) == ("Link title", None)
    assert lazy.candidates == ("data:",)
    assert og.candidates == ("https://news.example.com/og.jpg",)


def test_normalize_url() -> None:
    assert normalize_url("HTTP://Ex.COM:80/a?b=1#frag") == "http://ex.com/a?b=1"
    assert normalize_url("https://ex.com") == "https://ex.com/"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (png(40, 100), "image_too_small"),
        (png(700, 100), "image_bad_aspect"),
        (png(3000, 3000), "image_too_many_pixels"),
        (b"\x89PNG not really", "image_undecodable"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "image_unsupported_format"),
    ],
)
def test_inspect_image_rejects(data: bytes, reason: str) -> None:
    assert inspect_image(data, ExtractConfig(max_image_pixels=4_000_000)) == reason


def test_inspect_image_size_limit_and_ok() -> None:
    assert inspect_image(png(100, 80), ExtractConfig(max_image_bytes=10)) == "image_too_large"
    info = inspect_image(png(100, 80), ExtractConfig())
    assert not isinstance(info, str)
    assert (info.width, info.height, info.mime, info.ext) == (100, 80, "image/png", "png")


def rec(url: str, mime: str, body: bytes, rid: str = "<urn:1>", status: int = 200) -> WebRecord:
    return WebRecord("crawl-00000.warc.gz", rid, url, status, mime, body)


def test_articles_get_captured_images_and_every_refusal_is_counted() -> None:
    photo = png(200, 150, "blue")
    html = f"""<html lang="en-GB"><head><title>Harbour budget</title>
    <meta property="article:published_time" content="2024-03-05T10:00:00Z"></head><body>
    <article><h1>Harbour budget</h1><p>{TEXT}</p>
    <figure><img src="/img/photo.png"><figcaption>The harbour</figcaption></figure>
    <img src="/img/photo.png#again" alt="again">
    <img src="/img/missing.jpg"><img src="/img/icon.png"></article></body></html>"""
    records = [
        rec(PAGE, "text/html", html.encode()),
        rec(PAGE, "text/html", html.encode(), rid="<urn:2>"),  # a second capture of the page
        rec("https://news.example.com/img/photo.png", "image/png", photo),
        rec("https://news.example.com/img/icon.png", "image/png", png(16, 16)),
        rec("https://news.example.com/short", "text/html", b"<html><p>Too short.</p></html>"),
        rec("https://news.example.com/style.css", "text/css", b"p{}"),
        rec("https://news.example.com/moved", "text/html", b"", status=301),
    ]
    result = extract_records(records, ExtractConfig())
    assert len(result.articles) == 2
    a = result.articles[0]
    assert (a["title"], a["published"], a["lang"], a["url"]) == (
        "Harbour budget",
        "2024-03-05",
        "en",
        PAGE,
    )
    assert len({x["article_id"] for x in result.articles}) == 2
    sha = hashlib.sha256(photo).hexdigest()
    assert [(i["image_id"], i["caption"], i["width"]) for i in result.images] == [
        (sha, "The harbour", 200)
    ] * 2
    assert result.images[0]["uri"] == f"blobs/{sha[:2]}/{sha}.png"
    assert result.blobs == {result.images[0]["uri"]: photo}
    reasons = sorted(r["reason"] for r in result.rejects)
    assert reasons == sorted(
        ["duplicate_in_article", "image_not_captured", "image_too_small"] * 2
        + ["too_short", "not_html", "http_status"]
    )
    missing = [r for r in result.rejects if r["reason"] == "image_not_captured"]
    assert missing[0]["detail"] == "https://news.example.com/img/missing.jpg"
    assert result.rows_in == len(records) and result.image_records == 2
