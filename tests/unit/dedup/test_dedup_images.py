"""Image dedup core: ImageHash-exact hashes, mirrors, multi-index search, pixels, embeddings."""

from __future__ import annotations

import io
import random
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image

from replica.config import DedupConfig
from replica.dedup import images as img
from replica.dedup.tables import ImageEvidence, dedup_images
from tests.factories import png_bytes

CFG = DedupConfig(phash_max_distance=6)


def test_hashes_equal_imagehash_bit_for_bit_on_the_corpus(corpus: Path) -> None:
    paths = sorted(p for p in (corpus / "images").rglob("*") if p.is_file())
    got = img.hash_images(paths, 40_000_000, workers=2, reducing_gap=0)
    for p, ph, dh, err in zip(
        paths, got.phash.tolist(), got.dhash.tolist(), got.error, strict=True
    ):
        if "corrupt" in p.name:
            assert err and "cannot identify" in err
            continue
        with Image.open(p) as im:
            rgb = im.convert("RGB")
        assert ph == int(str(imagehash.phash(rgb)), 16), p
        assert dh == int(str(imagehash.dhash(rgb)), 16), p


def test_mirror_and_resize_are_found_but_unrelated_photo_is_not(corpus: Path) -> None:
    d = corpus / "images" / "imagededup" / "mixed_images"
    names = [
        "ukbench00120.jpg",
        "ukbench00120_hflip.jpg",
        "ukbench00120_resize.jpg",
        "ukbench09268.jpg",
        "ukbench00120_rotation.jpg",
    ]
    h = img.hash_images([d / n for n in names], 40_000_000)
    pairs, dist = img.near_pairs(h.phash, h.phash_flip, 6)
    assert {tuple(p) for p in pairs.tolist()} == {(0, 1), (0, 2), (1, 2)}
    assert (dist <= 6).all()
    no_flip, _ = img.near_pairs(h.phash, None, 6)
    assert {tuple(p) for p in no_flip.tolist()} == {(0, 2)}


def test_multi_index_hashing_matches_brute_force() -> None:
    rng = random.Random(0)
    base = [rng.getrandbits(64) for _ in range(300)]
    hashes = base + [h ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64)) for h in base[:60]]
    arr = np.array(hashes, dtype=np.uint64)
    pairs, dist = img.hamming_pairs(arr, 4)
    brute = {
        (i, j)
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if (hashes[i] ^ hashes[j]).bit_count() <= 4
    }
    assert {tuple(p) for p in pairs.tolist()} == brute and len(brute) >= 60
    assert dist.tolist() == [(hashes[a] ^ hashes[b]).bit_count() for a, b in pairs.tolist()]


def test_same_pixels_in_another_container_is_an_exact_pixel_duplicate(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(png_bytes(3))
    with Image.open(png) as im:
        im.save(tmp_path / "b.bmp")
        im.save(tmp_path / "c.jpg", quality=60)
    h = img.hash_images([png, tmp_path / "b.bmp", tmp_path / "c.jpg"], 10**7)
    assert h.pixel_sha[0] == h.pixel_sha[1] != h.pixel_sha[2]


def _row(aid: str, sha: str, w: int) -> dict:
    return {"article_id": aid, "image_id": sha, "sha256": sha, "width": w, "height": w}


def test_images_exact_copies_collapse_and_near_copies_are_explained() -> None:
    rows = [
        _row("a1", "x" * 64, 100),
        _row("a2", "x" * 64, 100),
        _row("a1", "y" * 64, 200),
        _row("a2", "z" * 64, 50),
    ]
    ev = ImageEvidence(
        pixel_sha=["p1", "p1", "p2", "p3"],
        phash=np.array([0b1010, 0b1010, 0b1011, 0xFFFF_0000_FFFF_0000], np.uint64),
        phash_flip=np.array([0, 0, 0, 0b1010], np.uint64),
    )
    result, _ = dedup_images(rows, ev, {"a1"}, CFG)
    assert [(r["image_id"], r["cluster_size"]) for r in result.kept] == [("y" * 64, 4)]
    got = {d["removed_id"]: (d["kept_id"], d["method"], d["score"]) for d in result.duplicates}
    assert got == {"x" * 64: ("y" * 64, "phash", 1.0), "z" * 64: ("y" * 64, "phash_flip", 1.0)}


def test_an_image_of_unknown_size_loses_to_its_sized_copy() -> None:
    rows = [{**_row("a1", "u" * 64, 0), "width": None}, _row("a1", "s" * 64, 10)]
    ev = ImageEvidence(["p", "p"], np.zeros(2, np.uint64), np.zeros(2, np.uint64))
    result, _ = dedup_images(rows, ev, {"a1"}, CFG)
    assert [(r["image_id"], r["cluster_size"]) for r in result.kept] == [("s" * 64, 2)]
    assert [d["method"] for d in result.duplicates] == ["exact_pixels"]


def test_embedding_mode_with_a_tiny_torchscript_model(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 16),
    )
    path = tmp_path / "embed.pt"
    torch.jit.script(model).save(str(path))
    files = []
    for name, data in (("a", png_bytes(1)), ("b", png_bytes(2))):
        files.append(tmp_path / f"{name}.png")
        files[-1].write_bytes(data)
    with Image.open(files[0]) as im:  # a recompressed, slightly smaller copy of a
        buf = io.BytesIO()
        im.resize((90, 90)).save(buf, format="JPEG", quality=70)
    files.append(tmp_path / "a_copy.jpg")
    files[-1].write_bytes(buf.getvalue())
    emb = img.embed(files, path, size=32)
    assert emb.shape == (3, 16) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sims = emb @ emb.T
    pairs, scores = img.embedding_pairs(emb, float(sims[0, 2]) - 1e-4)
    assert (0, 2) in {tuple(p) for p in pairs.tolist()}
    assert np.allclose(scores, [sims[a, b] for a, b in pairs.tolist()], atol=1e-5)
