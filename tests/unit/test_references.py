"""The gallery side of pairs: near-duplicate clusters, splits, hard negatives, prompt matching,
and building the same pairs with one or two worker processes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from replica.config import PairsConfig
from replica.generate import prompts
from replica.generate.pairs import make_pairs, plan, prepare, select_rows
from replica.generate.references import (
    assign_splits,
    clusters,
    descriptor,
    nearest_others,
)
from tests.factories import png_bytes


def write_images(root: Path, n: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        (root / f"{i}.png").write_bytes(png_bytes(40 + i, size=96))
        paths.append(root / f"{i}.png")
    with Image.open(paths[0]) as im:  # a near copy of image 0
        ImageEnhance.Contrast(im.convert("RGB")).enhance(1.1).resize((80, 80)).save(root / "n.jpg")
    return [*paths, root / "n.jpg"]


def test_near_copies_share_a_cluster_and_others_do_not(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 6)
    ids = [p.stem for p in paths]
    cluster_of = clusters(ids, paths, max_distance=10, max_pixels=10**8)
    assert cluster_of["0"] == cluster_of["n"]
    assert len(set(cluster_of.values())) == 6


@pytest.mark.parametrize("n", [2, 3, 4, 6, 10, 100])
def test_splits_keep_clusters_whole_and_every_used_split_has_two_clusters(n: int) -> None:
    cluster_of = {f"i{k}": f"c{k // 2}" for k in range(2 * n)}
    split = assign_splits(cluster_of, 0.1, 0.2, seed=0)
    counts = Counter(split.values())
    assert counts["train"] >= 1 and counts["test"] >= 1
    if n >= 4:
        assert min(counts.values()) >= 2
    more = assign_splits({**cluster_of, "new": "c-new"}, 0.1, 0.2, seed=0)
    if n >= 10:  # a growing gallery keeps the old assignment
        assert {c: more[c] for c in split} == split


def test_descriptor_neighbours_stay_in_the_split_and_leave_the_cluster(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 8)
    ids = [p.stem for p in paths]
    vectors = np.stack([descriptor(Image.open(p)) for p in paths])
    assert vectors.shape[0] == 9 and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    cluster_of = {i: ("c0" if i in ("0", "n") else f"c{i}") for i in ids}
    split_of = {i: ("test" if i in ("5", "6", "7") else "train") for i in ids}
    near = nearest_others(vectors, ids, split_of, cluster_of, k=2)
    assert "n" not in near["0"] and "0" not in near["n"]
    for i, others in near.items():
        assert all(split_of[o] == split_of[i] and cluster_of[o] != cluster_of[i] for o in others)
    bright = descriptor(ImageEnhance.Brightness(Image.open(paths[3])).enhance(1.2))
    assert int(np.argmax(vectors @ bright)) == 3  # an edited copy is nearest its source


def test_prompt_matching_finds_the_closest_meaning() -> None:
    model = prompts.load_text_model(prompts.PACKAGED)
    pool = ["stock markets fell sharply today", "a puppy plays on the sandy beach", "a red bus"]
    found = prompts.match(["a dog running by the sea", "the share price dropped"], pool, model, 2)
    assert [m[0].prompt for m in found] == [pool[1], pool[0]]
    assert found[0][0].similarity > found[0][1].similarity > -1


def test_a_prompt_pool_file_in_each_format(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("a cat\n\n a  cat\na dog\n")
    (tmp_path / "p.csv").write_text("prompt,id\na cat,1\na dog,2\n")
    assert prompts.read_pool(tmp_path / "p.txt") == ["a cat", "a dog"]
    assert prompts.read_pool(tmp_path / "p.csv") == ["a cat", "a dog"]
    (tmp_path / "bad.csv").write_text("text\nx\n")
    with pytest.raises(ValueError, match="no 'prompt' column"):
        prompts.read_pool(tmp_path / "bad.csv")


def test_rows_without_captions_are_kept_and_one_row_per_image() -> None:
    rows = [
        {"image_id": "b", "sha256": "2", "uri": "b", "caption": None, "alt": None},
        {"image_id": "a", "sha256": "1", "uri": "a", "caption": "", "alt": None},
        {"image_id": "a", "sha256": "1", "uri": "a", "caption": " A  cat ", "alt": None},
        {"image_id": "c", "sha256": "3", "uri": "c", "caption": None, "alt": "alt text"},
    ]
    chosen, _ = select_rows(rows, max_images=0)
    assert [(r["image_id"], r["caption"]) for r in chosen] == [
        ("a", "A cat"),
        ("b", None),
        ("c", "alt text"),
    ]
    assert select_rows(rows, max_images=2)[1] == {"over_max_images": 1}


def test_one_or_two_worker_processes_build_the_same_pairs(tmp_path: Path) -> None:
    paths = write_images(tmp_path, 7)
    rows = [
        {"image_id": p.stem, "sha256": f"{k:064x}", "uri": p.name, "caption": None, "alt": None}
        for k, p in enumerate(paths)
    ]
    families = tuple(
        f for f in PairsConfig().families if f.value not in ("img2img", "inpaint", "txt2img")
    )
    cfg = PairsConfig(image_size=64, families=families, val_fraction=0.0)
    prep = prepare(rows, tmp_path, cfg, seed=0)
    specs = plan(prep.refs, cfg, seed=0).specs
    one = list(make_pairs(specs, prep.refs, prep.images, prep.nearest, cfg, workers=1))
    two = list(make_pairs(specs, prep.refs, prep.images, prep.nearest, cfg, workers=2))
    assert [b.data for b in one] == [b.data for b in two]
    assert [b.ops for b in one] == [b.ops for b in two]
    assert Counter(b.level for b in one) == {level: 2 * 8 for level in range(6)}  # per_level 2
