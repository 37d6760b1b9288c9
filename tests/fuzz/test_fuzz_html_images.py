"""Fuzz the HTML and image readers: pages built from hostile markup and attribute values, and
image bytes that are random or a valid image with damage. ``analyse`` itself must not raise
(the pool would count it ``extract_failed``: a fuzz finding here is a bug to fix), extract's
rows must satisfy the contracts, and every image check must end in a verdict."""

from __future__ import annotations

import io
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import strategies as st
from PIL import Image

from replica.config import ExtractConfig
from replica.contracts import ARTICLES, IMAGES, REJECTS
from replica.dedup.images import hash_images
from replica.extract.images import ImageInfo, inspect_image
from replica.extract.records import WebRecord
from replica.extract.run import analyse, combine
from replica.quality.blobs import check_blob
from tests.fuzz._profiles import PROFILES, fuzz, hostile_text, url_text

CFG = ExtractConfig(min_text_chars=20, min_image_side=4, max_image_pixels=4_000_000)
WORDS = "The harbour board approved the new ferry timetable after a long debate. " * 3


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;")


@st.composite
def pages(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["img", "picture", "og", "base", "text", "raw", "figure"]))
        u = _attr(draw(url_text))
        if kind == "img":
            parts.append(f'<img src="{u}" srcset="{_attr(draw(hostile_text))}" alt="{u}">')
        elif kind == "picture":
            parts.append(f'<picture><source srcset="{u} 2x, {u} 100w"><img src="{u}"></picture>')
        elif kind == "og":
            parts.append(f'<meta property="og:image" content="{u}">')
        elif kind == "base":
            parts.append(f'<base href="{u}">')
        elif kind == "figure":
            parts.append(f'<figure><img data-src="{u}"><figcaption>{u}</figcaption></figure>')
        elif kind == "text":
            parts.append(f"<p>{WORDS}{_attr(draw(hostile_text))}</p>")
        else:
            parts.append(draw(hostile_text))
    lang = _attr(draw(st.sampled_from(["en", "x", "", "日本"])))
    return f'<html lang="{lang}"><head><title>{_attr(draw(hostile_text))}</title></head>' + (
        f"<body><article>{''.join(parts)}</article></body></html>"
    )


@st.composite
def images(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    fmt = draw(st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]))
    w, h = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (draw(st.integers(0, 255)), 10, 20)).save(buf, fmt)
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(0, 3))):  # damage: flipped bytes, then maybe a cut
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def extract_page(args: tuple[str, str, bytes]) -> str:
    page, url, image = args
    recs = [
        WebRecord("f", "<urn:1>", url, 200, "text/html", page.encode("utf-8", "surrogatepass")),
        WebRecord("f", "<urn:2>", "https://news.example/i.png", 200, "image/png", image),
    ]
    result = combine([analyse(r, CFG) for r in recs], CFG)
    ARTICLES.conform(result.articles)
    IMAGES.conform(result.images)
    REJECTS.conform(result.rejects)
    reasons = sorted({r["reason"] for r in result.rejects})
    return f"articles={len(result.articles)}:" + ("+".join(reasons) or "-")


def check_image(data: bytes) -> str:
    verdict = inspect_image(data, CFG)
    assert isinstance(verdict, ImageInfo | str)
    with TemporaryDirectory() as tmp:
        (Path(tmp) / "b.img").write_bytes(data)
        blob = check_blob(Path(tmp), "b.img", None, CFG.max_image_pixels)  # validate's check
        hashed = hash_images([Path(tmp) / "b.img"], CFG.max_image_pixels)  # dedup's decode
    assert blob in (None, "undecodable") and len(hashed.error) == 1
    return verdict if isinstance(verdict, str) else "ok"


@pytest.mark.parametrize("profile", PROFILES)
def test_any_page_ends_as_an_article_or_rejects(profile) -> None:
    pages_and_urls = st.tuples(pages(), url_text, images())
    fuzz(profile, "html", pages_and_urls, extract_page)


@pytest.mark.parametrize("profile", PROFILES)
def test_any_image_bytes_end_in_a_verdict(profile) -> None:
    fuzz(profile, "image", images(), check_image)
