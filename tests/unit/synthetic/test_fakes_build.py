"""Building the fakes dataset on values: parity encoding, splits by generator, matched reals."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from replica.config import FakesConfig, MatchBy, SizePolicy
from replica.fakes import build
from replica.fakes.encode import TooSmall, encode, fit
from replica.fakes.match import content_embedding, match_reals
from replica.fakes.sources import Candidate
from replica.quality.encoding import describe
from tests.fakes_factory import generated, photo


def _bytes(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def test_parity_gives_one_encoding_whatever_the_input_file() -> None:
    cfg = FakesConfig(image_size=48, quality=85)
    inputs = [
        photo(1, (90, 70)).convert("RGBA"),  # PNG with alpha
        photo(2, (60, 100)),
        generated(3, (64, 64)).convert("P"),
    ]
    sigs = {describe(Image.open(io.BytesIO(encode(im, cfg).data))) for im in inputs}
    assert sigs == {"JPEG RGB 48x48 q85 4:2:0"}


def test_crop_policy_refuses_to_upscale_and_resize_keeps_the_centre() -> None:
    with pytest.raises(TooSmall):
        fit(photo(0, (40, 60)), 48, SizePolicy.crop)
    wide = Image.new("RGB", (300, 100), (0, 0, 0))
    wide.paste((255, 255, 255), (100, 0, 200, 100))  # a white centre square
    out = np.asarray(fit(wide, 50, SizePolicy.resize))
    assert out.shape == (50, 50, 3) and out.mean() > 250


def test_prepare_counts_what_it_cannot_use(tmp_path: Path) -> None:
    cfg = FakesConfig(image_size=32)
    ok = Candidate("fake", "gen", tmp_path / "a.png", "sd", "a cat")
    item = build.prepare(ok, _bytes(generated(0), "PNG"), cfg)
    assert item.row["orig_format"] == "PNG" and item.row["mime"] == "image/jpeg"
    assert item.row["uri"] == f"blobs/{item.row['sha256'][:2]}/{item.row['sha256']}.jpg"
    cases = {
        "no_generator": (replace(ok, generator=None), _bytes(generated(0), "PNG")),
        "label_conflict": (replace(ok, declared_label="real"), _bytes(generated(0), "PNG")),
        "undecodable": (ok, b"\x89PNG\r\n\x1a\n broken"),
    }
    for reason, (cand, data) in cases.items():
        with pytest.raises(build.Reject) as err:
            build.prepare(cand, data, cfg)
        assert err.value.reason == reason
    with pytest.raises(build.Reject) as err:
        build.prepare(
            ok, _bytes(generated(0, (20, 20)), "PNG"), replace(cfg, size_policy=SizePolicy.crop)
        )
    assert err.value.reason == "too_small"


def _items(n_real: int, gens: dict[str, int]) -> list[build.Item]:
    cfg = FakesConfig(image_size=32)
    items = [build.prepare(Candidate("real", "g", Path(f"r{i}"), None, None),
                           _bytes(photo(i), "PNG"), cfg) for i in range(n_real)]  # fmt: skip
    seed = 100
    for name, count in gens.items():
        for _ in range(count):
            cand = Candidate("fake", "f", Path(f"f{seed}"), name, None)
            items.append(build.prepare(cand, _bytes(generated(seed), "PNG"), cfg))
            seed += 1
    return items


def test_held_out_generators_are_only_in_test_and_seen_ones_never_are() -> None:
    items = _items(40, {"seen": 20, "unseen": 10})
    build.assign_splits(items, FakesConfig(test_generators=("unseen",), val_fraction=0.2), 0)
    by = {(i.row["generator"], i.row["split"]) for i in items if i.row["label"] == "fake"}
    assert {s for g, s in by if g == "unseen"} == {"test"}
    assert {s for g, s in by if g == "seen"} == {"train", "val"}
    reals = [i.row["split"] for i in items if i.row["label"] == "real"]
    assert set(reals) == {"train", "val", "test"}
    again = _items(40, {"seen": 20, "unseen": 10})
    build.assign_splits(again, FakesConfig(test_generators=("unseen",), val_fraction=0.2), 0)
    assert [i.row["split"] for i in again] == [i.row["split"] for i in items], "seeded"


def test_each_fake_is_matched_to_its_nearest_test_real() -> None:
    items = _items(30, {"a": 6, "b": 6})
    build.assign_splits(items, FakesConfig(), 0)
    build.attach_matches(items, FakesConfig(match_by=MatchBy.embedding))
    test_reals = [i for i in items if i.row["label"] == "real" and i.row["split"] == "test"]
    for fake in (i for i in items if i.row["label"] == "fake"):
        sims = [float(fake.content @ r.content) for r in test_reals]
        best = test_reals[int(np.argmax(sims))]
        assert fake.row["match_id"] == best.row["image_id"]
        assert fake.row["match_by"] == "embedding"
        assert fake.row["match_score"] == pytest.approx(max(sims), abs=1e-5)
    assert all(i.row["match_id"] is None for i in items if i.row["label"] == "real")


def test_caption_matching_uses_meaning_when_every_image_has_text() -> None:
    content = np.stack([content_embedding(photo(i)) for i in range(3)])
    matches = match_reals(
        content[:2],
        content,
        ["a red double-decker bus in the city", "a bowl of fruit on a kitchen table"],
        ["a plate of apples and pears", "a dog asleep on a sofa", "a London bus on a street"],
        MatchBy.auto,
    )
    assert [(m.real_index, m.by) for m in matches] == [(2, "caption"), (0, "caption")]
    fallback = match_reals(content[:1], content, ["a bus"], ["x", None, "y"], MatchBy.auto)
    assert fallback[0].by == "embedding" and fallback[0].real_index == 0
    with pytest.raises(ValueError, match="no caption"):
        match_reals(content[:1], content, ["a bus"], ["x", None, "y"], MatchBy.caption)
