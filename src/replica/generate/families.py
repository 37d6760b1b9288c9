"""Constructed replicas: a family's main operation for a target level, then light finishing.

``TARGETS`` lists the levels each constructed family is built for; ``build`` draws the main
operation's kept content inside the level's interval (``levels.content_interval``), appends
finishing operations that cannot lower that level (re-encodes, resizes, noise; photometric
edits below level 5), and checks the recipe's level is the target (redrawing otherwise, with
the same generator, so the result is still a function of the seed).
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageOps

from replica.config import Family
from replica.generate import compose, ops
from replica.generate.levels import content_interval, recipe_level
from replica.generate.ops import Ctx

TARGETS: dict[Family, tuple[int, ...]] = {
    Family.REENCODE: (5,),
    Family.RESIZE: (5,),
    Family.NOISE: (5,),
    Family.PHOTOMETRIC: (4,),
    Family.CROP: (4, 3, 2),
    Family.OVERLAY: (4, 3),
    Family.FLIP: (3,),
    Family.ROTATE: (3,),
    Family.PERSPECTIVE: (3,),
    Family.EMBED: (3,),
    Family.STYLIZE: (2,),
    Family.COLLAGE: (2,),
    Family.SCREENSHOT: (2,),
    Family.MEME: (2,),
    Family.REGION: (1,),
    Family.NEGATIVE: (0,),
}
CONSTRUCTED = tuple(TARGETS)
# the kept-content range each composite family is drawn from at its capped level
_CAPPED_RANGE = (0.2, 0.6)
_REGION_RANGE = (0.03, 0.19)


class NoPartner(LookupError):
    """A negative needs another image of the source's split, and there is none."""


class LevelNotReached(RuntimeError):
    """Eight draws of a family missed its target level (the caller counts the pair out)."""


def _main(family: Family, level: int, src: Image.Image, ctx: Ctx, cuts: Sequence[float]):
    if family in ops.LEVEL5:
        return ctx.pick(ops.LEVEL5[family])(src, ctx)
    if family is Family.PHOTOMETRIC:
        return ops.photometric(src, ctx)
    if family is Family.CROP:
        lo, hi = content_interval(level, cuts)
        return ops.crop(src, ctx, max(lo, 0.05), min(hi, 0.97))
    if family is Family.OVERLAY:
        lo, hi = content_interval(level, cuts)
        return compose.overlay(src, ctx, lo, min(hi, 0.98))
    if family is Family.FLIP:
        return ops.flip(src, ctx)
    if family is Family.ROTATE:
        return ops.rotate(src, ctx)
    if family is Family.PERSPECTIVE:
        return ops.perspective(src, ctx)
    if family is Family.EMBED:
        lo, hi = content_interval(level, cuts)
        return compose.embed(src, ctx, lo, min(hi, 0.9))
    if family is Family.STYLIZE:
        return ops.stylize(src, ctx)
    if family in (Family.COLLAGE, Family.SCREENSHOT, Family.MEME):
        lo = max(_CAPPED_RANGE[0], content_interval(level, cuts)[0])
        make = {Family.COLLAGE: compose.collage, Family.SCREENSHOT: compose.screenshot}
        return make.get(family, compose.meme)(src, ctx, lo, _CAPPED_RANGE[1])
    if family is Family.REGION:
        hi = min(_REGION_RANGE[1], content_interval(level, cuts)[1])
        return compose.region(src, ctx, _REGION_RANGE[0], hi)
    if family is Family.NEGATIVE:
        other = ctx.partner()
        if other is None:
            raise NoPartner("no other image in the source's split for a negative")
        ctx.record(Family.NEGATIVE, "other_image", image_id=ctx.partner_ids[-1])
        return other
    raise ValueError(f"{family.value} is not a constructed family")


def _finish(img: Image.Image, level: int, ctx: Ctx) -> Image.Image:
    """0-2 light operations that keep the level: level-5 ones always, photometric below 5."""
    n = ctx.pick([0, 1, 1, 2]) if level < 5 else ctx.pick([0, 0, 1])
    for _ in range(n):
        if level < 5 and ctx.chance(0.35):
            img = ops.photometric(img, ctx, n=1)
        else:
            img = ctx.pick(ops.FINISHERS)(img, ctx)
    return img


def build(
    family: Family, level: int, src: Image.Image, ctx: Ctx, cuts: Sequence[float]
) -> Image.Image:
    """A replica of ``src`` by ``family`` whose recipe (``ctx.ops``) has level ``level``."""
    if level not in TARGETS[family]:
        raise ValueError(f"family {family.value} is not built for level {level}")
    for _ in range(8):
        ctx.ops.clear()
        ctx.partner_ids.clear()
        img = _finish(_main(family, level, src, ctx, cuts).convert("RGB"), level, ctx)
        if img.size != (ctx.size, ctx.size):
            img = ImageOps.fit(img, (ctx.size, ctx.size), Image.Resampling.BICUBIC)
        if recipe_level(ctx.ops, cuts) == level:
            return img
    raise LevelNotReached(
        f"family {family.value} did not reach level {level} in 8 draws; last recipe {ctx.ops}"
    )
