"""Levels by construction: the rule is monotone in kept content, every constructed family builds
its target level deterministically, and the plan balances levels."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from replica.config import Family, PairsConfig
from replica.generate.families import TARGETS, NoPartner, build
from replica.generate.levels import (
    CAPS,
    check_cuts,
    content_interval,
    content_level,
    op_level,
    recipe_level,
)
from replica.generate.ops import Ctx
from replica.generate.pairs import Reference, diffusion_options, plan

CUTS = (0.2, 0.45, 0.8)
CONTENT_FAMILIES = [
    Family.CROP,
    Family.OVERLAY,
    Family.EMBED,
    Family.COLLAGE,
    Family.SCREENSHOT,
    Family.MEME,
    Family.REGION,
    Family.IMG2IMG,
    Family.INPAINT,
]
fraction = st.floats(0.0, 1.0, allow_nan=False)


def picture(seed: int, size: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


@given(a=fraction, b=fraction, family=st.sampled_from(CONTENT_FAMILIES), other=fraction)
def test_keeping_more_of_the_source_never_lowers_the_level(a, b, family, other) -> None:
    lo, hi = sorted((a, b))
    for key in ("kept", "share"):
        fixed = "share" if key == "kept" else "kept"
        less = op_level({"family": family.value, key: lo, fixed: other}, CUTS)
        more = op_level({"family": family.value, key: hi, fixed: other}, CUTS)
        assert less <= more <= CAPS[family]


@given(s1=st.floats(0.01, 0.99), s2=st.floats(0.01, 0.99))
def test_img2img_level_never_rises_with_strength(s1: float, s2: float) -> None:
    weak, strong = sorted((s1, s2))
    level = lambda s: op_level({"family": "img2img", "kept": 1 - s}, CUTS)  # noqa: E731
    assert level(strong) <= level(weak)


@given(ops=st.lists(st.tuples(st.sampled_from(list(Family)), fraction), min_size=1, max_size=4))
def test_a_recipe_is_as_low_as_its_lowest_operation(ops) -> None:
    recipe = [{"family": f.value, "kept": k} for f, k in ops]
    assert recipe_level(recipe, CUTS) == min(op_level(op, CUTS) for op in recipe)


def test_content_levels_and_intervals_agree() -> None:
    assert [content_level(c, CUTS) for c in (0.0, 0.1, 0.2, 0.44, 0.45, 0.8, 1.0)] == [
        0, 1, 2, 2, 3, 4, 4,
    ]  # fmt: skip
    for level in range(1, 5):
        lo, hi = content_interval(level, CUTS)
        assert content_level(lo if lo > 0 else 1e-6, CUTS) == level
        assert content_level(min(hi, 1.0) - 1e-6, CUTS) == level
    assert (
        op_level({"family": "reencode"}, CUTS) == 5 and op_level({"family": "negative"}, CUTS) == 0
    )


@pytest.mark.parametrize("cuts", [(0.2, 0.45), (0.5, 0.2, 0.8), (0.0, 0.4, 0.8), (0.2, 0.4, 1.0)])
def test_bad_cuts_are_refused(cuts) -> None:
    with pytest.raises(ValueError, match=r"pairs\.level_cuts"):
        check_cuts(cuts)


def make_ctx(seed: int, partners: list[Image.Image] | None) -> Ctx:
    pool = partners or []

    def draw(rng: np.random.Generator):
        if not pool:
            return None
        k = int(rng.integers(len(pool)))
        return f"p{k}", pool[k]

    return Ctx(64, np.random.default_rng(seed), draw)


CASES = [(f, level) for f, levels in TARGETS.items() for level in levels]


@pytest.mark.parametrize(("family", "level"), CASES, ids=[f"{f.value}-{lv}" for f, lv in CASES])
def test_every_family_builds_its_level_reproducibly(family: Family, level: int) -> None:
    src, partners = picture(1), [picture(s) for s in range(2, 6)]
    for seed in range(6):
        ctx = make_ctx(seed, partners)
        image = build(family, level, src, ctx, CUTS)
        assert image.size == (64, 64) and image.mode == "RGB"
        assert recipe_level(ctx.ops, CUTS) == level
        assert ctx.ops[0]["family"] == family.value
        json.dumps(ctx.ops)  # a recipe is plain JSON
        assert set(ctx.partner_ids) <= {f"p{k}" for k in range(4)}
        again_ctx = make_ctx(seed, partners)
        again = build(family, level, src, again_ctx, CUTS)
        assert again_ctx.ops == ctx.ops
        assert np.array_equal(np.asarray(image), np.asarray(again))


def test_measured_content_sets_the_composite_levels() -> None:
    src, partners = picture(1), [picture(2)]
    for seed in range(10):
        ctx = make_ctx(seed, partners)
        build(Family.REGION, 1, src, ctx, CUTS)
        assert ctx.ops[0]["kept"] < 0.2
        ctx = make_ctx(seed, partners)
        build(Family.CROP, 3, src, ctx, CUTS)
        x0, y0, x1, y1 = ctx.ops[0]["box"]
        assert ctx.ops[0]["kept"] == pytest.approx((x1 - x0) * (y1 - y0) / 64**2, abs=1e-4)
        assert 0.45 <= ctx.ops[0]["kept"] < 0.8


def test_a_negative_needs_another_image_and_composites_draw_their_own_background() -> None:
    with pytest.raises(NoPartner):
        build(Family.NEGATIVE, 0, picture(1), make_ctx(0, None), CUTS)
    ctx = make_ctx(0, None)
    build(Family.COLLAGE, 2, picture(1), ctx, CUTS)  # cells are drawn patterns
    assert ctx.partner_ids == []


def test_plan_balances_levels_and_rotates_families() -> None:
    refs = [
        Reference(
            f"i{k}",
            f"{k:064x}",
            "a caption" if k % 2 else None,
            f"c{k}",
            "train",
            "p" if k % 2 else None,
        )
        for k in range(60)
    ]
    cfg = PairsConfig(per_level=2, diffusion_share=0.3)
    specs = plan(refs, cfg, seed=0).specs
    levels = Counter(s.level for s in specs)
    assert levels == {level: 120 for level in range(6)}
    families = Counter(s.family for s in specs)
    assert set(families) == set(Family)  # every family of the level table, diffusion included
    assert all(s.family is not Family.TXT2IMG or refs[int(s.source_id[1:])].prompt for s in specs)
    for s in specs:
        if s.family is Family.IMG2IMG:
            assert op_level({"family": "img2img", "kept": 1 - s.strength}, CUTS) == s.level
    assert plan(refs, cfg, seed=0).specs == specs
    assert plan(refs, cfg, seed=1).specs != specs


def test_diffusion_options_follow_the_documented_rule() -> None:
    cfg = PairsConfig()
    by_level = {lv: diffusion_options(cfg, lv, "prompt") for lv in range(6)}
    assert by_level[5] == []
    assert [v for f, v in by_level[4] if f is Family.IMG2IMG] == [0.15]
    assert [v for f, v in by_level[1] if f is Family.INPAINT] == [0.1]
    assert (Family.TXT2IMG, 0.0) in by_level[0]
    assert diffusion_options(cfg, 0, None) == []  # no prompt, no text-to-image


@pytest.mark.parametrize("size", [(30, 70), (70, 30), (64, 64), (5, 9)])
def test_drawn_backgrounds_fill_any_cell_shape(size: tuple[int, int]) -> None:
    from replica.generate.ops import background

    kinds = set()
    for seed in range(40):
        image, kind = background(make_ctx(seed, None), size)
        assert image.size == size and image.mode == "RGB"
        kinds.add(kind)
    assert kinds == {"flat", "gradient", "stripes", "checker"}


@pytest.mark.parametrize("family", [Family.COLLAGE, Family.EMBED, Family.REGION, Family.MEME])
def test_composites_build_with_drawn_content_only(family: Family) -> None:
    for seed in range(30):  # no partner images: every cell and background is drawn
        ctx = make_ctx(seed, None)
        build(
            family, TARGETS[family][0], picture(seed, 96), Ctx(96, ctx.rng, ctx.draw_partner), CUTS
        )
