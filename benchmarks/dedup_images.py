"""Image dedup benchmark: our hashing vs a plain ImageHash loop, and recall at precision ≥ 0.99.

Images: every decodable file under ``../shared/corpus/images`` plus five transformed copies of
each (centre crop to 80 %, resize to 50 %, JPEG quality 30, horizontal flip, a text banner).
Truth: a copy belongs to its original's picture; originals are one picture when their
file names name the same UKBench photo (``ukbench00120*``; see ``SAME_PICTURE``) or their
decoded pixels are equal.

Prints images/s of ``hash_images`` (one decode for pixel sha256, pHash, mirrored pHash and
dHash; all cores) and of a plain loop of ``imagehash.phash`` over the same files, then, for
pHash, pHash with mirrors and dHash, the best recall over Hamming thresholds whose pairwise
precision is ≥ 0.99, and checks that the multi-index search returns exactly the brute-force
pairs at that threshold.

    .venv/bin/python benchmarks/dedup_images.py
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("REPLICA_CORPUS", ROOT.parent / "shared" / "corpus"))
# imagededup's RGBA test file is ukbench00120 re-saved with an opaque alpha channel (mean
# absolute RGB difference 0.7 of 255, alpha 255 everywhere): the same picture.
SAME_PICTURE = {"alpha_channel_image.png": "ukbench00120"}


def transforms(img: Image.Image) -> dict[str, Image.Image]:
    w, h = img.size
    banner = img.copy()
    draw = ImageDraw.Draw(banner)
    draw.rectangle([0, int(h * 0.85), w, h], fill=(0, 0, 0))
    draw.text((8, int(h * 0.87)), "BREAKING NEWS: copyright agency", fill=(255, 255, 255))
    return {
        "crop": img.crop((w // 10, h // 10, w - w // 10, h - h // 10)),
        "resize": img.resize((max(1, w // 2), max(1, h // 2))),
        "jpeg": img,  # saved at quality 30 below
        "flip": img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "text": banner,
    }


def build(out: Path) -> tuple[list[Path], np.ndarray]:
    from replica.dedup.images import hash_images

    originals = []
    for p in sorted((CORPUS / "images").rglob("*")):
        if not p.is_file():
            continue
        try:
            with Image.open(p) as im:
                im.load()
            originals.append(p)
        except Exception:  # the corpus's deliberately corrupt files
            continue
    pix = hash_images(originals, 10**8).pixel_sha
    family: dict[str, int] = {}
    fam = []
    for p, sha in zip(originals, pix, strict=True):
        m = re.search(r"ukbench\d+", p.name)
        key = SAME_PICTURE.get(p.name) or (m.group(0) if m else p.stem)
        f = family.get(key, family.get(sha, len(family)))
        family.setdefault(key, f)
        family.setdefault(sha, f)
        fam.append(f)
    paths, truth = list(originals), list(fam)
    for i, (p, f) in enumerate(zip(originals, fam, strict=True)):
        with Image.open(p) as im:
            rgb = im.convert("RGB")
        for name, t in transforms(rgb).items():
            dst = out / f"{i:03d}_{name}.{'jpg' if name == 'jpeg' else 'png'}"
            t.save(dst, quality=30) if name == "jpeg" else t.save(dst)
            paths.append(dst)
            truth.append(f)
    return paths, np.array(truth)


def best_recall(dist: np.ndarray, same: np.ndarray, min_precision: float = 0.99):
    """Best (recall, precision, threshold) over Hamming thresholds with precision ≥ bound."""
    best = (0.0, 1.0, -1)
    for t in range(0, 33):
        pred = dist <= t
        tp = int((pred & same).sum())
        precision = tp / pred.sum() if pred.sum() else 1.0
        recall = tp / same.sum()
        if precision >= min_precision and recall > best[0]:
            best = (recall, precision, t)
    return best


def main() -> None:
    import imagehash

    from replica.dedup.images import (
        cpu_count,
        hamming,
        hamming_min,
        hash_images,
        near_pairs,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="passes over the files when timing")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dedup-img-bench-") as tmp:
        paths, truth = build(Path(tmp))
        timed = paths * args.repeat
        print(
            f"images: {len(paths)} ({len(set(truth.tolist()))} pictures), timing "
            f"{len(timed)} hashes; cores={cpu_count()}"
        )
        hash_images(paths[:4], 10**8)  # warm imports
        t0 = time.perf_counter()
        hashed = hash_images(timed, 10**8, workers=cpu_count())
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        hash_images(timed, 10**8, workers=1)
        ours_1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p in timed:
            with Image.open(p) as im:
                imagehash.phash(im)
        base = time.perf_counter() - t0
        label = f"ours (pixel sha256 + pHash + mirror + dHash), {cpu_count()} threads"
        for name, secs in (
            (label, ours),
            ("ours, 1 thread", ours_1),
            ("imagehash.phash loop", base),
        ):
            print(f"{name:55s} {len(timed) / secs:7.1f} images/s")
        print(f"speed ratio ours/imagehash = {base / ours:.2f}x (1 thread: {base / ours_1:.2f}x)")

        n = len(paths)
        ph, pf, dh = hashed.phash[:n], hashed.phash_flip[:n], hashed.dhash[:n]
        a, b = np.triu_indices(n, 1)
        same = truth[a] == truth[b]
        exact = [int(str(imagehash.phash(Image.open(p).convert("RGB"))), 16) for p in paths]
        exact_h = np.array(exact, dtype=np.uint64)
        rows = {
            "imagehash pHash (exact resize)": hamming(exact_h[a], exact_h[b]),
            "ours pHash": hamming(ph[a], ph[b]),
            "ours pHash + mirror": hamming_min(ph, pf, np.stack([a, b], axis=1)),
            "ours dHash": hamming(dh[a], dh[b]),
        }
        print(f"{same.sum()} duplicate pairs among {len(same)} pairs")
        for name, dist in rows.items():
            r, p, t = best_recall(dist, same)
            print(f"{name:32s} recall {r:.3f} at precision {p:.3f} (distance <= {t})")
        r, p, t = best_recall(rows["ours pHash + mirror"], same)
        found, _ = near_pairs(ph, pf, t)
        brute = {
            (int(x), int(y))
            for x, y, d in zip(a, b, rows["ours pHash + mirror"], strict=True)
            if d <= t
        }
        assert {tuple(q) for q in found.tolist()} == brute, "index differs from brute force"
        print(f"multi-index search at distance {t}: {len(found)} pairs, equal to brute force")


if __name__ == "__main__":
    main()
