"""An independent construction of graded (query, reference) pairs, to check that a copy detector
did not just learn the project's own pair generator.

``replica pairs`` builds its levels with AugLy and Pillow recipes; this file writes its own with
OpenCV and numpy only, with other operations and other parameters, and is never used for
training. Levels follow D-Rep's scale (0 none ... 5 total); per level, one of these edits:

- 5: re-encoded (JPEG 35-70 or WebP), resized 0.5-0.85x and back, sensor noise, slight blur;
- 4: gamma and white-balance shift, unsharp mask, letterbox after a 90-96 % crop, a caption strip;
- 3: rotation 6-20 deg cropped to the frame, a perspective warp, a 45-65 % crop, mirror with a
  tint, the source at 55-80 % on another photograph;
- 2: a 20-35 % crop, OpenCV stylisation / pencil sketch / k-means posterisation, a 3 x 3 mosaic
  with 8 other photographs, the source at 35-50 % inside drawn UI chrome (a screenshot);
- 1: a region of 8-15 % of the source pasted, resized, into another photograph;
- 0: another photograph: the most similar by colour histogram + HOG (a hard negative).

Commands:

    python benchmarks/graded_pairs.py build --sources DIR_OR_TABLE --output DIR [--per-level 50]
    python benchmarks/graded_pairs.py evaluate --model data/models/copy --pairs DIR

``build`` writes ``pairs.parquet`` (pairs@2 columns that evaluation reads: pair_id,
source_image_id, source_uri, source_sha256, replica_uri, replica_sha256, family, level, split)
and ``gallery.parquet`` (every source of each split); sources are split 1:3 into ``val`` (for
the baselines' calibration) and ``test`` by a hash of their path. ``evaluate`` prints the model
and the baselines on its test pairs, as ``replica evaluate`` does, plus per-family figures.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import cv2
import numpy as np

FAMILIES = {
    5: ("reencode", "rescale", "noise"),
    4: ("tone", "letterbox", "caption"),
    3: ("rotate", "perspective", "crop", "mirror", "inset"),
    2: ("tight_crop", "stylise", "mosaic", "screenshot"),
    1: ("region",),
    0: ("hard_negative",),
}
MAX_SIDE = 384


def _read(path: Path) -> np.ndarray:
    data = np.frombuffer(Path(path).read_bytes(), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode {path}")
    h, w = img.shape[:2]
    s = MAX_SIDE / max(h, w)
    if s < 1:
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return img


def _crop(img: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A crop keeping ``share`` of the area, with a random aspect jitter and position."""
    h, w = img.shape[:2]
    aspect = rng.uniform(0.8, 1.25)
    cw = int(np.clip(w * np.sqrt(share * aspect), 8, w))
    ch = int(np.clip(h * np.sqrt(share / aspect), 8, h))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img[y : y + ch, x : x + cw]


def _paste(
    canvas: np.ndarray, item: np.ndarray, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """``item`` resized so its long side is ``scale`` of the canvas's, at a random place."""
    out = canvas.copy()
    h, w = out.shape[:2]
    ih, iw = item.shape[:2]
    s = scale * min(w / iw, h / ih)
    item = cv2.resize(
        item, (max(4, int(iw * s)), max(4, int(ih * s))), interpolation=cv2.INTER_AREA
    )
    ih, iw = item.shape[:2]
    x, y = int(rng.integers(0, w - iw + 1)), int(rng.integers(0, h - ih + 1))
    out[y : y + ih, x : x + iw] = item
    return out


def _encode(img: np.ndarray, ext: str, quality: int) -> np.ndarray:
    flag = cv2.IMWRITE_WEBP_QUALITY if ext == ".webp" else cv2.IMWRITE_JPEG_QUALITY
    ok, buf = cv2.imencode(ext, img, [flag, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def edit(
    level: int, family: str, img: np.ndarray, others: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """The query of ``family`` (a family of ``level``) made from ``img`` (and ``others``)."""
    h, w = img.shape[:2]
    if family == "reencode":
        return _encode(img, rng.choice([".jpg", ".webp"]), int(rng.integers(35, 71)))
    if family == "rescale":
        f = rng.uniform(0.5, 0.85)
        small = cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if family == "noise":
        noisy = img.astype(np.float32) + rng.normal(0, rng.uniform(4, 9), img.shape)
        return cv2.GaussianBlur(np.clip(noisy, 0, 255).astype(np.uint8), (3, 3), 0.6)
    if family == "tone":
        gamma = rng.uniform(0.7, 1.4)
        lut = (255 * (np.arange(256) / 255) ** gamma).astype(np.uint8)
        out = cv2.LUT(img, lut).astype(np.float32) * rng.uniform(0.85, 1.15, 3)
        blur = cv2.GaussianBlur(out, (0, 0), 2)
        return np.clip(out * 1.5 - blur * 0.5, 0, 255).astype(np.uint8)
    if family == "letterbox":
        crop = _crop(img, rng.uniform(0.9, 0.96), rng)
        pad = int(0.08 * max(h, w))
        return cv2.copyMakeBorder(crop, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    if family == "caption":
        bar = int(h * rng.uniform(0.08, 0.14))
        out = cv2.copyMakeBorder(img, 0, bar, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(
            out,
            "photo: agency / 2024",
            (6, h + bar - 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            bar / 40,
            (20, 20, 20),
            1,
            cv2.LINE_AA,
        )
        return out
    if family == "rotate":
        angle = rng.choice([-1, 1]) * rng.uniform(6, 20)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0 + abs(angle) / 60)
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    if family == "perspective":
        d = rng.uniform(0.06, 0.12)
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        jitter = rng.uniform(-d, d, (4, 2)) * [w, h]
        dst = np.float32(src + jitter)
        return cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (w, h))
    if family == "crop":
        return _crop(img, rng.uniform(0.45, 0.65), rng)
    if family == "mirror":
        tint = rng.uniform(0.8, 1.2, 3)
        return np.clip(img[:, ::-1].astype(np.float32) * tint, 0, 255).astype(np.uint8)
    if family == "inset":
        return _paste(others[0], img, rng.uniform(0.55, 0.8), rng)
    if family == "tight_crop":
        return _crop(img, rng.uniform(0.2, 0.35), rng)
    if family == "stylise":
        kind = int(rng.integers(0, 3))
        if kind == 0:
            return cv2.stylization(img, sigma_s=60, sigma_r=0.45)
        if kind == 1:
            return cv2.pencilSketch(img, sigma_s=50, sigma_r=0.07, shade_factor=0.05)[1]
        pixels = img.reshape(-1, 3).astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 1.0)
        _, label, centre = cv2.kmeans(pixels, 4, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
        return centre.astype(np.uint8)[label.ravel()].reshape(img.shape)
    if family == "mosaic":
        tiles = [img, *others[:8]]
        order = rng.permutation(9)
        th, tw = h // 3, w // 3
        out = np.zeros((th * 3, tw * 3, 3), np.uint8)
        for cell, k in enumerate(order):
            r, c = divmod(cell, 3)
            out[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = cv2.resize(tiles[k], (tw, th))
        return out
    if family == "screenshot":
        canvas = np.full((int(h * 1.3), int(w * 1.3), 3), 242, np.uint8)
        ch, cw = canvas.shape[:2]
        cv2.rectangle(canvas, (0, 0), (cw, int(ch * 0.08)), (60, 60, 60), -1)
        for k in range(5):
            y = int(ch * (0.15 + 0.16 * k))
            cv2.rectangle(canvas, (int(cw * 0.62), y), (int(cw * 0.95), y + 8), (180, 180, 180), -1)
        inner = _paste(canvas[:, : int(cw * 0.6)], img, rng.uniform(0.6, 0.8), rng)
        canvas[:, : int(cw * 0.6)] = inner
        return canvas
    if family == "region":
        part = _crop(img, rng.uniform(0.08, 0.15), rng)
        return _paste(others[0], part, rng.uniform(0.25, 0.4), rng)
    if family == "hard_negative":
        return others[0]
    raise ValueError(f"unknown family {family!r}")


def _signature(img: np.ndarray) -> np.ndarray:
    """Colour histogram + HOG-like gradient histogram, for picking hard negatives."""
    hist = cv2.calcHist([img], [0, 1, 2], None, [4, 4, 4], [0, 256] * 3).ravel()
    g = cv2.cvtColor(cv2.resize(img, (64, 64)), cv2.COLOR_BGR2GRAY).astype(np.float32)
    mag, ang = cv2.cartToPolar(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    grad = np.histogram(ang % np.pi, 9, (0, np.pi), weights=mag)[0]
    v = np.concatenate([hist / max(hist.sum(), 1), grad / max(grad.sum(), 1)])
    return v / np.linalg.norm(v)


def _sources(spec: Path, split: str | None) -> list[Path]:
    """A folder's images, or a table's (``path``, ``uri`` or ``source_uri`` column, relative to
    the table's folder; ``split``: only rows of that split)."""
    if spec.is_dir():
        suffixes = {".jpg", ".jpeg", ".png", ".webp"}
        return sorted(p for p in spec.rglob("*") if p.suffix.lower() in suffixes)
    import pyarrow.parquet as pq

    rows = pq.read_table(spec).to_pylist()
    rows = [r for r in rows if split is None or r.get("split") == split]
    column = next(c for c in ("path", "uri", "source_uri") if c in rows[0])
    return sorted({spec.parent / r[column] for r in rows})


def build(sources: list[Path], output: Path, per_level: int, seed: int) -> int:
    """Write the pairs under ``output``; returns the pair count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    images = [_read(p) for p in sources]
    sig = np.stack([_signature(i) for i in images])
    split = [
        "val" if int(hashlib.sha256(str(p).encode()).hexdigest(), 16) % 4 == 0 else "test"
        for p in sources
    ]
    (output / "img").mkdir(parents=True, exist_ok=True)

    def save(img: np.ndarray) -> tuple[str, str]:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        data = buf.tobytes()
        sha = hashlib.sha256(data).hexdigest()
        (output / "img" / f"{sha}.jpg").write_bytes(data)
        return f"img/{sha}.jpg", sha

    refs = [save(img) for img in images]
    rows, gallery = [], []
    for i, p in enumerate(sources):
        gallery.append(
            {
                "source_image_id": str(p.name),
                "source_uri": refs[i][0],
                "source_sha256": refs[i][1],
                "split": split[i],
            }
        )
    by_split = {s: [i for i in range(len(sources)) if split[i] == s] for s in ("val", "test")}
    n_val = max(per_level // 3, 2)
    for level, families in FAMILIES.items():
        for n in range(per_level + n_val):
            which = "val" if n < n_val else "test"
            pool = by_split[which]
            i = int(rng.choice(pool))
            family = families[n % len(families)]
            same = [j for j in pool if j != i]
            if family == "hard_negative":
                others = [images[max(same, key=lambda j: float(sig[i] @ sig[j]))]]
            else:
                picked = rng.choice(same, size=8, replace=len(same) < 8)
                others = [images[j] for j in picked]
            query = edit(level, family, images[i], others, rng)
            uri, sha = save(query)
            rows.append(
                {
                    "pair_id": hashlib.sha256(f"{seed}:{level}:{n}".encode()).hexdigest()[:20],
                    "source_image_id": str(sources[i].name),
                    "source_uri": refs[i][0],
                    "source_sha256": refs[i][1],
                    "replica_uri": uri,
                    "replica_sha256": sha,
                    "family": family,
                    "level": level,
                    "split": which,
                }
            )
    pq.write_table(pa.Table.from_pylist(rows), output / "pairs.parquet")
    pq.write_table(pa.Table.from_pylist(gallery), output / "gallery.parquet")
    return len(rows)


def evaluate(model: Path, pairs: Path, cache: Path | None) -> None:
    import pyarrow.parquet as pq

    from replica.cache import ArrayCache
    from replica.evaluate.copy import Reference
    from replica.evaluate.copy import evaluate as run
    from replica.evaluate.report import family_text, table_text
    from replica.models.copy import CopyDetector
    from replica.scoring.features import ImageRef

    rows = pq.read_table(pairs / "pairs.parquet").to_pylist()
    gallery = [
        g for g in pq.read_table(pairs / "gallery.parquet").to_pylist() if g["split"] == "test"
    ]
    refs = [
        Reference(g["source_image_id"], ImageRef(pairs / g["source_uri"], g["source_sha256"]))
        for g in gallery
    ]
    test = [r for r in rows if r["split"] == "test"]
    val = [r for r in rows if r["split"] == "val"]
    started = time.perf_counter()
    ev = run(
        CopyDetector.load(model), test, val, pairs, refs, cache=ArrayCache(cache) if cache else None
    )
    print(
        f"# independent graded pairs: {len(test)} test pairs, {len(val)} val pairs "
        f"(baselines calibrated on val), {len(refs)} test references; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(table_text(ev.table))
    print()
    print(family_text(ev.per_family))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the graded pairs")
    b.add_argument("--sources", type=Path, required=True, help="folder, or table with path/uri")
    b.add_argument("--output", type=Path, required=True)
    b.add_argument("--split", default=None, help="only the table's rows of this split")
    b.add_argument("--per-level", type=int, default=50, help="test pairs per level (+1/3 val)")
    b.add_argument("--seed", type=int, default=20240)
    e = sub.add_parser("evaluate", help="the model and the baselines on the graded pairs")
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--pairs", type=Path, required=True)
    e.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "build":
        sources = _sources(args.sources, args.split)
        if len(sources) < 12:
            sys.exit(f"need at least 12 source images, got {len(sources)}")
        n = build(sources, args.output, args.per_level, args.seed)
        print(f"[graded_pairs] {n} pairs from {len(sources)} sources in {args.output}")
    else:
        evaluate(args.model, args.pairs, args.cache)


if __name__ == "__main__":
    main()
