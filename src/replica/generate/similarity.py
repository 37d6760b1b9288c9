"""The proxy similarity: how visually a replica copies its source, as a number in [-1, 1].

A measurement stored beside every pair, never its label (levels follow from the recipe,
``levels``): it shows, for instance, that a random-weight diffusion model copies nothing. It is
the mean of three signals on small grayscale versions of both images, each 1 for identical
images and about 0 for unrelated ones,

- normalized cross-correlation of 32x32 pixels (global structure and tone),
- mean SSIM over 8x8 blocks of the same 32x32 images (local structure),
- pHash agreement ``1 - 2 * hamming / 64`` (the 64-bit DCT hash; robust to resizing and JPEG),

taken as the maximum over the replica and its mirror image, because a mirrored copy is a copy.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image, ImageOps

SIDE = 32  # grayscale side for NCC and SSIM
BLOCK = 8  # SSIM block side
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2  # SSIM stabilisers for 8-bit data


def _gray(image: Image.Image) -> np.ndarray:
    small = image.convert("L").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float64)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of pixel values; 0 when either image is flat."""
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-9 else 0.0


def block_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM averaged over non-overlapping BLOCK x BLOCK windows of two equal-size images."""
    n = a.shape[0] // BLOCK

    def blocks(x: np.ndarray) -> np.ndarray:  # [n*n, BLOCK*BLOCK]
        return x.reshape(n, BLOCK, n, BLOCK).transpose(0, 2, 1, 3).reshape(n * n, -1)

    xa, xb = blocks(a), blocks(b)
    ma, mb = xa.mean(1), xb.mean(1)
    va, vb = xa.var(1), xb.var(1)
    cov = ((xa - ma[:, None]) * (xb - mb[:, None])).mean(1)
    ssim = ((2 * ma * mb + _C1) * (2 * cov + _C2)) / ((ma**2 + mb**2 + _C1) * (va + vb + _C2))
    return float(ssim.mean())


def phash_agreement(a: Image.Image, b: Image.Image) -> float:
    """1 for equal 64-bit pHashes, about 0 for unrelated images, -1 for opposite ones."""
    distance = imagehash.phash(a) - imagehash.phash(b)
    return 1.0 - 2.0 * distance / 64.0


def _similarity(source: Image.Image, replica: Image.Image) -> float:
    ga, gb = _gray(source), _gray(replica)
    return (ncc(ga, gb) + block_ssim(ga, gb) + phash_agreement(source, replica)) / 3.0


def proxy_similarity(source: Image.Image, replica: Image.Image) -> float:
    """The documented proxy score in [-1, 1] (see module docstring)."""
    score = max(_similarity(source, replica), _similarity(source, ImageOps.mirror(replica)))
    return float(np.clip(score, -1.0, 1.0))
