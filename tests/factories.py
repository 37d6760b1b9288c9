"""Small hand-made datasets written through the contracts (tests' own fixtures)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from replica.contracts import ARTICLES, IMAGES

BODY = (
    "Residents gathered in the market square on Saturday to protest the closure of the "
    "library, which the council says costs too much to heat. Organisers collected more than "
    "two thousand signatures and plan to present them at next week's meeting, where a vote on "
    "the building's future is expected. Several speakers said the library is the only warm "
    "public space in the district during winter."
)


def png_bytes(seed: int, size: int = 96) -> bytes:
    """A deterministic smooth random picture (distinct per seed, stable under resizing)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_blob(root: Path, data: bytes, ext: str = "png") -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    uri = f"blobs/{sha[:2]}/{sha}.{ext}"
    (root / uri).parent.mkdir(parents=True, exist_ok=True)
    (root / uri).write_bytes(data)
    return sha, uri


def article(aid: str, text: str = BODY, published: str | None = "2024-03-01") -> dict:
    return {
        "article_id": aid,
        "url": f"https://news.example/{aid}",
        "title": f"Title {aid}",
        "text": text,
        "published": published,
        "lang": "en",
        "source": "fixture.warc.gz",
        "record_id": f"<urn:uuid:{aid}>",
    }


def image_row(aid: str, sha: str, uri: str, caption: str, size: int = 96) -> dict:
    return {
        "image_id": sha,
        "article_id": aid,
        "sha256": sha,
        "uri": uri,
        "width": size,
        "height": size,
        "mime": "image/png",
        "caption": caption,
        "alt": caption,
        "src_url": f"https://img.example/{sha[:8]}.png",
    }


def extract_dir(root: Path, n_images: int = 4, corrupt: bool = False) -> Path:
    """An ``extract``-shaped directory: 3 articles (one an exact copy) and captioned images.

    Image 0 appears in two articles (an exact duplicate occurrence); with ``corrupt`` one more
    image row points at bytes Pillow cannot decode.
    """
    root.mkdir(parents=True, exist_ok=True)
    arts = [article("a1"), article("a2", BODY.upper(), "2024-03-02"), article("a3", BODY[::-1])]
    rows = []
    for i in range(n_images):
        sha, uri = write_blob(root, png_bytes(i))
        rows.append(image_row("a1", sha, uri, f"A photo of scene number {i}"))
    rows.append({**rows[0], "article_id": "a3"})
    if corrupt:
        data = b"\xff\xd8\xff" + bytes(range(256)) * 4
        sha, uri = write_blob(root, data, "jpg")
        rows.append({**image_row("a3", sha, uri, "broken"), "mime": "image/jpeg"})
    ARTICLES.write(arts, root)
    IMAGES.write(rows, root)
    return root


def textured(seed: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A deterministic picture with many corners (shapes, lines, text-like strokes), so local
    features find keypoints as they do on photographs; distinct per seed."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(4, w // 3)), y0 + int(rng.integers(4, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == 1:
            draw.ellipse((x0, y0, x1, y1), outline=colour, width=2)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, 4)))
    return img


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
