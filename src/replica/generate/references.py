"""The gallery side of a pairs dataset: near-duplicate clusters, splits, and hard negatives.

- **Clusters** join images whose pHash (or mirrored pHash) differ by at most
  ``pairs.cluster_max_distance`` bits, with the dedup step's hashing (``dedup.images``), so an
  image and its near copies always share a split.
- **Splits** are drawn per cluster from a hash of (seed, cluster id): stable when the gallery
  grows, and every image of a cluster lands on the same side.
- **Hard negatives** are each image's nearest neighbours among the other clusters of its split:
  by caption meaning (Sentence-BERT) when both have captions, else by a global descriptor (an
  HSV colour histogram, a HOG of the grey image and an 8x8 grey thumbnail, each L2-normalised),
  searched with faiss.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from replica.dedup.clusters import digest
from replica.dedup.images import hash_images, near_pairs
from replica.dedup.lsh import components

SPLITS = ("train", "val", "test")


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 32-bit number for (seed, *parts): per-pair seeds and split draws."""
    return int(hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).hexdigest()[:8], 16)


def clusters(
    ids: Sequence[str], paths: Sequence[Path], max_distance: int, max_pixels: int
) -> dict[str, str]:
    """``image_id -> cluster_id`` from pHash distance (mirror included); ids of an image that
    does not decode are their own cluster (the caller rejects those images anyway)."""
    hashes = hash_images(list(paths), max_pixels, workers=1, reducing_gap=0)
    ok = hashes.ok
    pairs, _ = near_pairs(hashes.phash, hashes.phash_flip, max_distance)
    pairs = pairs[ok[pairs[:, 0]] & ok[pairs[:, 1]]] if len(pairs) else pairs
    labels = components(len(ids), pairs)
    members: dict[int, list[str]] = {}
    for image_id, label in zip(ids, labels.tolist(), strict=True):
        members.setdefault(label, []).append(image_id)
    return {i: digest(m) for m in members.values() for i in m}


def assign_splits(
    cluster_of: Mapping[str, str], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, str]:
    """``cluster_id -> split``: ``test`` under ``test_fraction`` of a hash, then ``val``.

    Every split that holds images holds two clusters or more (so a reference always has another
    image of its split for negatives and collages): with four clusters or more, train and test
    get at least two (the clusters whose draws lie nearest move), and a val split that would
    hold fewer than two joins train.
    """
    cids = sorted(set(cluster_of.values()))
    u = {c: derive_seed(seed, "split", c) / 2**32 for c in cids}
    split = {
        c: "test" if v < test_fraction else "val" if v < test_fraction + val_fraction else "train"
        for c, v in u.items()
    }
    side = {"test": 0.0, "val": test_fraction, "train": 1.0}
    least = {"train": 2 if len(cids) >= 4 else 1, "test": 2 if len(cids) >= 4 else 1}
    least["val"] = 2 if val_fraction > 0 and len(cids) >= 6 else 0

    def count(name: str) -> int:
        return sum(1 for v in split.values() if v == name)

    for need in ("train", "test", "val"):
        while 0 < least[need] > count(need) and len(cids) >= 2:
            donors = [c for c in cids if split[c] != need and count(split[c]) > least[split[c]]]
            if not donors:
                break
            split[min(donors, key=lambda c: abs(u[c] - side[need]))] = need
    if count("val") < 2:
        split = {c: "train" if v == "val" else v for c, v in split.items()}
    return split


def gradient_histograms(gray: np.ndarray, cell: int = 8, bins: int = 9) -> np.ndarray:
    """HOG-style: per ``cell`` x ``cell`` cell, a histogram of unsigned gradient orientations
    weighted by magnitude, square-rooted (OpenCV 5 dropped its HOGDescriptor)."""
    import cv2

    g = gray.astype(np.float32)
    mag, ang = cv2.cartToPolar(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    b = (np.mod(ang, np.pi) / np.pi * bins).astype(np.int64).clip(0, bins - 1)
    h, w = gray.shape
    cells = (np.arange(h)[:, None] // cell) * (w // cell) + np.arange(w)[None, :] // cell
    flat = np.bincount((cells * bins + b).ravel(), mag.ravel(), (h // cell) * (w // cell) * bins)
    return np.sqrt(flat).astype(np.float32)


def descriptor(image: Image.Image) -> np.ndarray:
    """A global descriptor of an RGB image (float32, L2-normalised; see module docstring)."""
    import cv2

    small = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    hog = gradient_histograms(gray)
    thumb = cv2.resize(gray, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    thumb -= thumb.mean()
    parts = [np.sqrt(hist), hog, thumb]
    vec = np.concatenate([p / max(float(np.linalg.norm(p)), 1e-9) for p in parts])
    return (vec / np.linalg.norm(vec)).astype(np.float32)


def nearest_others(
    vectors: np.ndarray,
    ids: Sequence[str],
    split_of: Mapping[str, str],
    cluster_of: Mapping[str, str],
    k: int,
) -> dict[str, list[str]]:
    """Each id's ``k`` nearest ids (inner product) of the same split and another cluster."""
    import faiss

    out: dict[str, list[str]] = {}
    for split in sorted(set(split_of[i] for i in ids)):
        members = [n for n, i in enumerate(ids) if split_of[i] == split]
        x = np.ascontiguousarray(vectors[members], dtype=np.float32)
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
        _, found = index.search(x, min(len(members), k + 1 + 16))
        for row, n in enumerate(members):
            me = ids[n]
            near = [ids[members[j]] for j in found[row] if j >= 0]
            out[me] = [o for o in near if cluster_of[o] != cluster_of[me]][:k]
    return out
