"""Image fingerprints and duplicate pairs: sha256 of bytes and of decoded pixels, pHash/dHash
computed for a whole batch with one DCT call, a multi-index hash over Hamming space (no
all-pairs scan), and an embedding mode (a user's TorchScript model + faiss range search).

The hashes are ImageHash's definitions (``phash``: 32x32 grayscale, 2-D DCT-II, the 8x8 low
frequencies against their median; ``dhash``: 9x8 grayscale, horizontal gradient signs), bit for
bit, with the first coefficient as the most significant bit. The pHash of the mirrored image
comes free from the same DCT: mirroring negates the odd horizontal frequencies.
"""

from __future__ import annotations

import hashlib
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from replica.dedup import lsh

_FLIP_SIGN = np.where(np.arange(8) % 2 == 1, -1.0, 1.0)[None, None, :]


@dataclass(frozen=True)
class ImageHashes:
    """Per image: sha256 of decoded RGB pixels (with size), pHash, pHash of the mirror, dHash.

    ``error`` holds why an image could not be decoded (its hashes are then 0 and ``ok`` False).
    """

    pixel_sha: list[str]
    phash: np.ndarray  # uint64
    phash_flip: np.ndarray  # uint64
    dhash: np.ndarray  # uint64
    error: list[str | None]

    @property
    def ok(self) -> np.ndarray:
        return np.array([e is None for e in self.error], dtype=bool)


def _pack(bits: np.ndarray) -> np.ndarray:
    """bool[n, 64] → uint64[n], first bit most significant (ImageHash's hex order)."""
    return np.packbits(bits.reshape(len(bits), 64), axis=1).view(">u8").ravel().astype(np.uint64)


def phash_from_gray(gray32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pHash and mirrored pHash of float[n, 32, 32] grayscale thumbnails, vectorized."""
    from scipy.fft import dct

    coef = dct(dct(gray32, axis=1), axis=2)[:, :8, :8]  # [n, 8 rows (vertical), 8 cols]
    flip = coef * _FLIP_SIGN
    med = np.median(coef.reshape(len(coef), -1), axis=1)[:, None, None]
    med_f = np.median(flip.reshape(len(flip), -1), axis=1)[:, None, None]
    return _pack(coef > med), _pack(flip > med_f)


def dhash_from_gray(gray98: np.ndarray) -> np.ndarray:
    """dHash of int[n, 8, 9] grayscale thumbnails (rows, columns), vectorized."""
    return _pack(gray98[:, :, 1:] > gray98[:, :, :-1])


def _thumbs(path: Path, max_pixels: int, reducing_gap: float) -> tuple[str, np.ndarray, np.ndarray]:
    """One decode: pixel sha256, the 32x32 and 9x8 grayscale thumbnails ImageHash uses.

    ``reducing_gap`` > 0 first box-reduces the image to about that many times 32 pixels on its
    short side (ImageHash's exact bits with 0)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    gray = rgb.convert("L")
    if reducing_gap:  # box-reduce first, then Lanczos: much faster, a bit off ImageHash's bits
        gray = gray.reduce(max(1, min(gray.size) // int(32 * reducing_gap)))
    g32 = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    g98 = np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    return digest.hexdigest(), g32, g98


def _hash_chunk(args: tuple[list[str], int, float]) -> ImageHashes:
    paths, max_pixels, reducing_gap = args
    shas: list[str] = []
    errors: list[str | None] = []
    g32 = np.zeros((len(paths), 32, 32))
    g98 = np.zeros((len(paths), 8, 9), dtype=np.int16)
    for i, p in enumerate(paths):
        try:
            sha, g32[i], g98[i] = _thumbs(Path(p), max_pixels, reducing_gap)
            shas.append(sha)
            errors.append(None)
        except Exception as exc:  # any decoder failure is reported per image, never raised
            shas.append("")
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
    ph, pf = phash_from_gray(g32) if paths else (np.zeros(0, np.uint64),) * 2
    dh = dhash_from_gray(g98) if paths else np.zeros(0, np.uint64)
    bad = ~np.array([e is None for e in errors], dtype=bool)
    for arr in (ph, pf, dh):
        arr[bad] = 0
    return ImageHashes(shas, ph, pf, dh, errors)


def hash_images(
    paths: list[Path],
    max_pixels: int,
    workers: int = 1,
    chunk: int = 16,
    reducing_gap: float = 4.0,
) -> ImageHashes:
    """Decode every image once and hash it; ``workers`` > 1 spreads chunks over threads."""
    jobs = [
        ([str(p) for p in paths[s : s + chunk]], max_pixels, reducing_gap)
        for s in range(0, len(paths), chunk)
    ]
    if workers > 1 and len(jobs) > 1:  # Pillow and hashlib release the GIL: threads scale
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(_hash_chunk, jobs))
    else:
        parts = [_hash_chunk(j) for j in jobs]
    return ImageHashes(
        pixel_sha=[s for p in parts for s in p.pixel_sha],
        phash=np.concatenate([p.phash for p in parts]) if parts else np.zeros(0, np.uint64),
        phash_flip=np.concatenate([p.phash_flip for p in parts])
        if parts
        else np.zeros(0, np.uint64),
        dhash=np.concatenate([p.dhash for p in parts]) if parts else np.zeros(0, np.uint64),
        error=[e for p in parts for e in p.error],
    )


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(np.asarray(a, np.uint64) ^ np.asarray(b, np.uint64)).astype(np.int64)


def hamming_pairs(hashes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within ``radius`` bits, by multi-index hashing; returns (pairs[m, 2], dist[m]).

    Split the 64 bits into ``radius + 1`` chunks: two hashes within ``radius`` bits agree
    exactly on at least one chunk (pigeonhole), so candidates are pairs sharing a chunk value,
    found by sorting, then verified by popcount.
    """
    h = np.asarray(hashes, dtype=np.uint64)
    ids = np.arange(len(h), dtype=np.int64)
    m = radius + 1
    bounds = np.linspace(0, 64, m + 1).astype(int)
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        chunk = (h >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        parts.append(lsh.bucket_pairs(chunk, ids))
    pairs = lsh.unique_pairs(np.concatenate(parts) if parts else np.zeros((0, 2), np.int64))
    dist = hamming(h[pairs[:, 0]], h[pairs[:, 1]])
    ok = dist <= radius
    return pairs[ok], dist[ok]


def near_pairs(
    hashes: np.ndarray, flips: np.ndarray | None, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs within ``radius`` bits, also matching each image against the others' mirrors."""
    if flips is None:
        return hamming_pairs(hashes, radius)
    n = len(hashes)
    pairs, dist = hamming_pairs(np.concatenate([hashes, flips]), radius)
    a, b = pairs[:, 0], pairs[:, 1]
    keep = (a < n) & (b >= n) & (a != b - n) | (b < n)
    a, b, dist = a[keep], np.where(b[keep] >= n, b[keep] - n, b[keep]), dist[keep]
    out = lsh.unique_pairs(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return out, hamming_min(hashes, flips, out)


def hamming_min(hashes: np.ndarray, flips: np.ndarray | None, pairs: np.ndarray) -> np.ndarray:
    """Distance of each pair, the smaller of direct and mirrored when ``flips`` is given."""
    d = hamming(hashes[pairs[:, 0]], hashes[pairs[:, 1]])
    if flips is None:
        return d
    a, b = pairs[:, 0], pairs[:, 1]
    return np.minimum(d, np.minimum(hamming(hashes[a], flips[b]), hamming(flips[a], hashes[b])))


def embed(paths: list[Path], model_path: Path, size: int, batch: int = 32) -> np.ndarray:
    """L2-normalized embeddings from a TorchScript model: float[n, 3, size, size] in [0, 1] in,
    float[n, d] out. Undecodable images must be filtered out beforehand."""
    import torch
    from PIL import Image

    model = torch.jit.load(str(model_path), map_location="cpu").eval()
    out = []
    with torch.inference_mode():
        for s in range(0, len(paths), batch):
            arrs = []
            for p in paths[s : s + batch]:
                with Image.open(p) as img:
                    small = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
                arrs.append(np.asarray(small, dtype=np.float32) / 255.0)
            x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()
            out.append(model(x).float().reshape(len(arrs), -1).numpy())
    emb = np.concatenate(out) if out else np.zeros((0, 1), np.float32)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def embedding_pairs(emb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with cosine similarity ≥ ``threshold`` (faiss range search on inner product)."""
    import faiss

    x = np.ascontiguousarray(emb, dtype=np.float32)
    if len(x) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    lims, sims, ids = index.range_search(x, threshold)
    q = np.repeat(np.arange(len(x)), np.diff(lims).astype(np.int64))
    keep = q < ids
    pairs = np.stack([q[keep], ids[keep]], axis=1).astype(np.int64)
    return pairs, sims[keep].astype(np.float64)
