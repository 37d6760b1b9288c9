"""Hand-crafted global descriptors of one image, and their pair similarities.

They are the baselines ``evaluate`` reports beside the model (pHash, colour histogram + HOG)
and features the fusion head reads. Per image, all in one pass over a decoded RGB array:

- pHash and the pHash of the mirror image (ImageHash's definition, from ``dedup.images``);
- a colour histogram: 8 x 8 x 8 RGB bins, L2-normalised;
- HOG on a 64 x 64 grey thumbnail (Dalal-Triggs: 8-px cells, 2 x 2-cell blocks with L2-Hys
  normalisation, 9 unsigned orientations), also of the mirror image, L2-normalised (OpenCV 5
  no longer ships its HOGDescriptor, so it is computed here with numpy);
- a 16 x 16 grey thumbnail, zero-mean and unit-norm, for normalised cross-correlation;
- the aspect ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from replica.dedup.images import hamming, phash_from_gray

HOG_SIZE = 64
HOG_CELL = 8
HOG_BINS = 9
THUMB = 16


def hog(gray: np.ndarray) -> np.ndarray:
    """Dalal-Triggs HOG of a grey image whose sides are multiples of ``HOG_CELL``.

    Centred gradients; each pixel votes its magnitude into the two nearest of ``HOG_BINS``
    unsigned orientation bins of its cell; blocks of 2 x 2 cells (stride one cell) are
    L2-normalised, clipped at 0.2 and normalised again (L2-Hys). [64, 64] -> [7 * 7 * 36].
    """
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
    mag = np.hypot(gx, gy)
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180.0
    pos = angle / (180.0 / HOG_BINS) - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    h, w = g.shape
    rows, cols = h // HOG_CELL, w // HOG_CELL
    cell = (np.arange(h)[:, None] // HOG_CELL) * cols + (np.arange(w)[None, :] // HOG_CELL)
    index = np.concatenate([(cell * HOG_BINS + (lo + k) % HOG_BINS).ravel() for k in (0, 1)])
    votes = np.concatenate([(mag * (1.0 - frac)).ravel(), (mag * frac).ravel()])
    cells = np.bincount(index, votes, rows * cols * HOG_BINS).reshape(rows, cols, HOG_BINS)
    blocks = np.concatenate(
        [cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]], axis=-1
    )  # [rows - 1, cols - 1, 4 * bins]
    blocks = blocks / np.sqrt((blocks**2).sum(-1, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks**2).sum(-1, keepdims=True) + 1e-6)
    return blocks.astype(np.float32).ravel()


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).ravel()
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


@dataclass
class GlobalDescriptors:
    """Global descriptors of one image (all arrays, so they cache as .npz)."""

    phash: np.ndarray  # uint64 [1]
    phash_flip: np.ndarray  # uint64 [1]
    hist: np.ndarray  # float32 [512]
    hog: np.ndarray  # float32 [1764]
    hog_flip: np.ndarray  # float32 [1764]
    thumb: np.ndarray  # float32 [256]
    thumb_flip: np.ndarray  # float32 [256]
    aspect: np.ndarray  # float32 [1]: width / height

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(vars(self))

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> GlobalDescriptors:
        return cls(**{k: a[k] for k in cls.__dataclass_fields__})


def describe(rgb: np.ndarray) -> GlobalDescriptors:
    """The descriptors of an RGB uint8 image [H, W, 3]."""
    h, w = rgb.shape[:2]
    if max(h, w) > 4 * HOG_SIZE:  # every descriptor is coarser than this: shrink once
        scale = 4 * HOG_SIZE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    g32 = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    ph, ph_flip = phash_from_gray(g32[None])
    hist = cv2.calcHist([rgb], [0, 1, 2], None, [8, 8, 8], [0, 256, 0, 256, 0, 256])
    g64 = cv2.resize(gray, (HOG_SIZE, HOG_SIZE), interpolation=cv2.INTER_AREA)
    small = cv2.resize(gray, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)

    def centred(x: np.ndarray) -> np.ndarray:
        return _unit(x - x.mean())

    return GlobalDescriptors(
        phash=ph,
        phash_flip=ph_flip,
        hist=_unit(hist),
        hog=_unit(hog(g64)),
        hog_flip=_unit(hog(np.ascontiguousarray(g64[:, ::-1]))),
        thumb=centred(small),
        thumb_flip=centred(np.ascontiguousarray(small[:, ::-1])),
        aspect=np.array([w / h], np.float32),
    )


def phash_similarity(q: GlobalDescriptors, r: GlobalDescriptors) -> float:
    """The pHash baseline: 1 - Hamming distance / 64."""
    return 1.0 - float(hamming(q.phash, r.phash)[0]) / 64.0


def hist_hog_similarity(q: GlobalDescriptors, r: GlobalDescriptors) -> float:
    """The colour-histogram + HOG baseline: the mean of the two cosines."""
    return 0.5 * (float(q.hist @ r.hist) + float(q.hog @ r.hog))


GLOBAL_FIELDS = (
    "phash_sim",  # 1 - d/64
    "phash_sim_flip",  # the better of plain and mirrored
    "hist_cos",
    "hog_cos",
    "hog_cos_flip",  # the better of plain and mirrored
    "thumb_ncc",
    "thumb_ncc_flip",  # the better of plain and mirrored
    "log_aspect",  # |log| of the ratio of aspect ratios
)


def pair_vector(q: GlobalDescriptors, r: GlobalDescriptors) -> np.ndarray:
    """Similarities of a pair in ``GLOBAL_FIELDS`` order."""
    d = float(hamming(q.phash, r.phash)[0])
    d_flip = min(d, float(hamming(q.phash_flip, r.phash)[0]))
    hog = float(q.hog @ r.hog)
    thumb = float(q.thumb @ r.thumb)
    return np.array(
        [
            1 - d / 64,
            1 - d_flip / 64,
            float(q.hist @ r.hist),
            hog,
            max(hog, float(q.hog_flip @ r.hog)),
            thumb,
            max(thumb, float(q.thumb_flip @ r.thumb)),
            abs(math.log(float(q.aspect[0]) / float(r.aspect[0]))),
        ],
        np.float32,
    )
