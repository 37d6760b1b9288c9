"""Pairs core: tiny SD round trip, transforms, the proxy label, gallery and split rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from replica.config import PairsConfig
from replica.generate.img2img import as_img2img, load_pipeline
from replica.generate.pairs import (
    GalleryImage,
    assign_splits,
    make_replicas,
    select_gallery,
    to_square,
)
from replica.generate.similarity import level_of, proxy_similarity
from replica.generate.tiny_sd import build_tiny_sd, tiny_tokenizer
from replica.generate.transforms import CATALOGUE, apply_transform

THRESHOLDS = (0.2, 0.4, 0.55, 0.7, 0.85)


def picture(seed: int, size: int = 64) -> Image.Image:
    """A smooth random picture, distinct per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def test_tokenizer_has_a_real_byte_vocab_and_truncates_to_the_encoder_length() -> None:
    tok = tiny_tokenizer()
    assert len(tok) == 514
    ids = tok("a red square", truncation=True).input_ids
    assert ids[0] == 0 and ids[-1] == 1 and len(ids) > 3
    assert tok.decode(ids, skip_special_tokens=True).strip() == "a red square"
    assert len(tok("x" * 100, truncation=True).input_ids) == 16


def test_tiny_sd_survives_save_and_from_pretrained(tmp_path: Path) -> None:
    pipe = build_tiny_sd(seed=0)
    pipe.save_pretrained(tmp_path / "sd")
    loaded = load_pipeline(str(tmp_path / "sd"))
    assert len(loaded.tokenizer) == 514
    for name in ("unet", "vae", "text_encoder"):
        a, b = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    run = as_img2img(loaded, num_inference_steps=2, guidance_scale=1.0)
    out1, out2 = (run(picture(0), "a photo", 0.6, 3) for _ in range(2))
    assert out1.size == (64, 64) and out1.mode == "RGB"
    assert np.array_equal(np.asarray(out1), np.asarray(out2))  # seeded


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot load img2img model"):
        load_pipeline(str(tmp_path))


def test_identical_images_reach_level_5_and_unrelated_stay_low() -> None:
    a = picture(1)
    assert proxy_similarity(a, a) == pytest.approx(1.0)
    assert level_of(proxy_similarity(a, a), THRESHOLDS) == 5
    unrelated = [proxy_similarity(a, picture(s)) for s in range(2, 8)]
    assert np.mean(unrelated) < 0.3
    assert max(level_of(s, THRESHOLDS) for s in unrelated) <= 2


def test_similarity_falls_as_a_blend_moves_away_from_the_source() -> None:
    a, b = picture(1), picture(2)
    sims = [proxy_similarity(a, Image.blend(b, a, alpha)) for alpha in (1.0, 0.8, 0.5, 0.2, 0.0)]
    assert sims == sorted(sims, reverse=True)
    assert sims[0] - sims[-1] > 0.7


def test_mirrored_copy_counts_as_a_copy() -> None:
    a = picture(3)
    assert (
        level_of(proxy_similarity(a, a.transpose(Image.Transpose.FLIP_LEFT_RIGHT)), THRESHOLDS) == 5
    )


def test_transforms_are_deterministic_and_named() -> None:
    a, b = picture(1), picture(2)
    for i in range(len(CATALOGUE)):
        first = apply_transform(i, a, b, np.random.default_rng(7))
        again = apply_transform(i, a, b, np.random.default_rng(7))
        assert first.name == again.name and first.name
        assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
        assert first.image.size == a.size and first.image.mode == "RGB"


def test_gallery_needs_a_caption_or_alt_and_respects_max_images() -> None:
    rows = [
        {"image_id": "c", "uri": "c.png", "sha256": "3", "caption": "", "alt": "alt text"},
        {"image_id": "a", "uri": "a.png", "sha256": "1", "caption": "cap", "alt": ""},
        {"image_id": "b", "uri": "b.png", "sha256": "2", "caption": None, "alt": " "},
        {"image_id": "d", "uri": "d.png", "sha256": "4", "caption": "cap d", "alt": None},
    ]
    gallery, skipped = select_gallery(rows, max_images=2)
    assert [(g.image_id, g.prompt) for g in gallery] == [("a", "cap"), ("c", "alt text")]
    assert skipped == {"no_caption": 1, "over_max_images": 1}


@pytest.mark.parametrize("fraction", [0.0, 0.25, 1.0])
def test_splits_are_stable_and_never_leave_a_side_empty(fraction: float) -> None:
    ids = [f"img{i}" for i in range(5)]
    splits = assign_splits(ids, fraction, seed=0)
    assert set(splits.values()) == {"train", "test"}
    assert splits == assign_splits(list(reversed(ids)), fraction, seed=0)


def test_replicas_cover_img2img_and_transforms_with_labels() -> None:
    gallery = [GalleryImage(f"g{i}", f"{i}.png", f"caption {i}") for i in range(3)]
    images = {g.image_id: to_square(picture(i, 80), 32) for i, g in enumerate(gallery)}
    splits = {"g0": "train", "g1": "train", "g2": "test"}
    cfg = PairsConfig(image_size=32, strengths=(0.5, 0.9), transforms_per_image=10)

    def noise(image: Image.Image, prompt: str, strength: float, seed: int) -> Image.Image:
        rng = np.random.default_rng(seed)
        return Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))

    reps = list(make_replicas(gallery, images, splits, cfg, seed=0, img2img=noise))
    assert len(reps) == 3 * (2 + 10) and len({r.pair_id for r in reps}) == len(reps)
    assert {r.kind for r in reps} == {"img2img", "transform"}
    assert all(r.level == 0 for r in reps if r.kind == "img2img")  # noise copies nothing
    assert len({r.level for r in reps}) >= 4  # transforms span the range
    again = list(make_replicas(gallery, images, splits, cfg, seed=0, img2img=noise))
    assert [r.similarity for r in reps] == [r.similarity for r in again]
