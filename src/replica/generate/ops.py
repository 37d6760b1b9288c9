"""Image operations that make replicas, each recording its family and drawn parameters.

Operations are AugLy's functional image API where it has the operation and works here, and
Pillow otherwise (AugLy 1.0's ``perspective_transform`` needs numpy < 2 and ``meme_format``
Pillow < 10, so perspective and memes use Pillow). Every parameter is drawn from the pair's
seeded generator and written into the recipe (rounded first, so the recipe replays exactly).
AugLy's bundled screenshot templates and emoji images are never used: they are reserved for
independent evaluation; screenshots, memes and stickers are drawn here (``templates``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from replica.config import Family

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# fmt: off
WORDS = (
    "breaking", "news", "today", "live", "photo", "exclusive", "update", "watch", "this",
    "amazing", "look", "when", "you", "finally", "see", "the", "real", "story", "behind", "viral",
    "moment", "nobody", "expected", "what", "happened", "next", "city", "council", "weekend",
    "market", "summer", "winter", "storm", "team", "wins", "final", "match", "crowd", "gathers",
    "street", "festival", "new", "record", "report", "says", "experts", "warn", "prices", "rise",
    "again", "official", "statement", "share", "follow", "like", "comment", "trending", "now",
    "best", "of", "the", "year", "my", "friend", "me", "literally", "every", "monday", "morning",
    "coffee", "mood", "same", "energy", "plot", "twist", "they", "said", "it", "could", "not",
    "be", "done",
)  # overlay, meme and screenshot text
# fmt: on


@dataclass
class Ctx:
    """What an operation draws from: the canvas size, the pair's generator, partner images.

    ``partner()`` returns another gallery image of the source's split (not of its cluster)
    fitted to the canvas, and records its id; ``ops`` collects the recipe.
    """

    size: int
    rng: np.random.Generator
    draw_partner: Callable[[np.random.Generator], tuple[str, Image.Image] | None]
    ops: list[dict[str, Any]] = field(default_factory=list)
    partner_ids: list[str] = field(default_factory=list)

    def u(self, lo: float, hi: float, digits: int = 4) -> float:
        return round(float(self.rng.uniform(lo, hi)), digits)

    def i(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi] (inclusive)."""
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def color(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.rng.integers(0, 256, 3))  # type: ignore[return-value]

    def words(self, lo: int, hi: int) -> str:
        return " ".join(self.pick(WORDS) for _ in range(self.i(lo, hi)))

    def partner(self) -> Image.Image | None:
        found = self.draw_partner(self.rng)
        if found is None:
            return None
        pid, img = found
        self.partner_ids.append(pid)
        return img

    def record(self, family: Family, op: str, **params: Any) -> dict[str, Any]:
        entry = {"family": family.value, "op": op, **params}
        self.ops.append(entry)
        return entry


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in scalable font (the same on every machine, so images reproduce)."""
    return ImageFont.load_default(size=max(6, size))


def background(ctx: Ctx, size: tuple[int, int]) -> tuple[Image.Image, str]:
    """A partner image (cropped to ``size``), else a drawn gradient, pattern or flat colour."""
    if ctx.chance(0.6) and (other := ctx.partner()) is not None:
        return ImageOps.fit(other, size, Image.Resampling.BICUBIC), "partner"
    kind = ctx.pick(["flat", "gradient", "stripes", "checker"])
    a, b = ctx.color(), ctx.color()
    img = Image.new("RGB", size, a)
    if kind == "gradient":
        mask = Image.linear_gradient("L").resize(size).rotate(ctx.i(0, 359))
        img = Image.composite(Image.new("RGB", size, b), img, mask)
    elif kind in ("stripes", "checker"):
        step = max(4, ctx.i(max(1, size[0] // 16), max(1, size[0] // 5)))
        draw = ImageDraw.Draw(img)
        rows = range(0, size[1], step) if kind == "checker" else [0]
        for r, y in enumerate(rows):
            bottom = y + step - 1 if kind == "checker" else size[1]
            for c, x in enumerate(range(0, size[0], step)):
                if (r + c) % 2:
                    draw.rectangle((x, y, x + step - 1, bottom), fill=b)
    return img, kind


# ---- level 5: re-encodes, resizes, imperceptible noise --------------------------------------


def jpeg(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    q = ctx.i(35, 95)
    ctx.record(Family.REENCODE, "jpeg", quality=q)
    return F.encoding_quality(img, quality=q)


def webp(img: Image.Image, ctx: Ctx) -> Image.Image:
    q = ctx.i(40, 95)
    ctx.record(Family.REENCODE, "webp", quality=q)
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=q, method=4)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def rescale(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    factor, how = ctx.u(0.45, 0.95, 3), ctx.pick(sorted(RESAMPLE))
    ctx.record(Family.RESIZE, "rescale", factor=factor, resample=how)
    side = max(8, round(ctx.size * factor))
    small = F.resize(img, width=side, height=side, resample=RESAMPLE[how])
    return small.resize((ctx.size, ctx.size), Image.Resampling.BICUBIC)


def aspect(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    ratio = ctx.u(0.88, 1.14, 3)
    ctx.record(Family.RESIZE, "aspect", ratio=ratio)
    return F.change_aspect_ratio(img, ratio=ratio).resize((ctx.size, ctx.size))


def gaussian_noise(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    var, seed = ctx.u(0.0002, 0.0015, 5), ctx.i(0, 2**31 - 1)
    ctx.record(Family.NOISE, "gaussian_noise", var=var, seed=seed)
    return F.random_noise(img, mean=0.0, var=var, seed=seed)


def light_blur(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    radius = ctx.u(0.3, 0.7, 3)
    ctx.record(Family.NOISE, "light_blur", radius=radius)
    return F.blur(img, radius=radius)


def light_sharpen(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    factor = ctx.u(1.2, 1.8, 3)
    ctx.record(Family.NOISE, "light_sharpen", factor=factor)
    return F.sharpen(img, factor=factor)


LEVEL5: dict[Family, tuple[Callable[[Image.Image, Ctx], Image.Image], ...]] = {
    Family.REENCODE: (jpeg, webp),
    Family.RESIZE: (rescale, aspect),
    Family.NOISE: (gaussian_noise, light_blur, light_sharpen),
}
FINISHERS = tuple(op for ops in LEVEL5.values() for op in ops)


# ---- level 4: light photometric edits --------------------------------------------------------


def _photometric(img: Image.Image, ctx: Ctx) -> Image.Image:
    """One photometric edit (of eleven), parameters drawn and recorded."""
    import augly.image.functional as F

    kind = ctx.pick(
        [
            "brightness",
            "contrast",
            "saturation",
            "color_jitter",
            "grayscale",
            "blur",
            "sharpen",
            "gamma",
            "hue",
            "autocontrast",
            "temperature",
        ]
    )
    rec = lambda **p: ctx.record(Family.PHOTOMETRIC, kind, **p)  # noqa: E731
    if kind == "brightness":
        f = ctx.u(0.6, 1.5, 3)
        rec(factor=f)
        return F.brightness(img, factor=f)
    if kind == "contrast":
        f = ctx.u(0.55, 1.6, 3)
        rec(factor=f)
        return F.contrast(img, factor=f)
    if kind == "saturation":
        f = ctx.u(0.0, 2.0, 3)
        rec(factor=f)
        return F.saturation(img, factor=f)
    if kind == "color_jitter":
        b, c, s = ctx.u(0.75, 1.3, 3), ctx.u(0.75, 1.3, 3), ctx.u(0.5, 1.6, 3)
        rec(brightness=b, contrast=c, saturation=s)
        return F.color_jitter(img, brightness_factor=b, contrast_factor=c, saturation_factor=s)
    if kind == "grayscale":
        rec()
        return F.grayscale(img)
    if kind == "blur":
        r = ctx.u(0.8, 2.2, 3)
        rec(radius=r)
        return F.blur(img, radius=r)
    if kind == "sharpen":
        f = ctx.u(2.0, 4.0, 3)
        rec(factor=f)
        return F.sharpen(img, factor=f)
    if kind == "gamma":
        g = ctx.u(0.55, 1.8, 3)
        rec(gamma=g)
        lut = [round(255 * (v / 255) ** g) for v in range(256)]
        return img.point(lut * 3)
    if kind == "hue":
        shift = ctx.i(12, 244)
        rec(shift=shift)
        hue, sat, val = img.convert("HSV").split()
        turned = hue.point(lambda x: (x + shift) % 256)
        return Image.merge("HSV", (turned, sat, val)).convert("RGB")
    if kind == "autocontrast":
        cutoff = ctx.u(0.5, 4.0, 2)
        rec(cutoff=cutoff)
        return ImageOps.autocontrast(img, cutoff=cutoff)
    warm = ctx.u(-0.25, 0.25, 3)  # temperature: red up and blue down (warm) or the reverse
    rec(warm=warm)
    red, green, blue = img.split()
    red = red.point(lambda x: min(255, x * (1 + warm)))
    return Image.merge("RGB", (red, green, blue.point(lambda x: x * (1 - warm))))


def photometric(img: Image.Image, ctx: Ctx, n: int | None = None) -> Image.Image:
    """1-3 stacked photometric edits."""
    for _ in range(n or ctx.i(1, 3)):
        img = _photometric(img, ctx)
    return img


# ---- content operations: crop, flips, rotations, perspective, stylisation --------------------


def crop(img: Image.Image, ctx: Ctx, lo: float, hi: float) -> Image.Image:
    """Keep a box of ``lo <= area < hi`` of the source (aspect jitter), resized to the canvas."""
    import augly.image.functional as F

    s = ctx.size
    for _ in range(20):
        area, ratio = ctx.u(lo, hi), ctx.u(0.75, 1.33, 3)
        w, h = min(s, round(s * (area * ratio) ** 0.5)), min(s, round(s * (area / ratio) ** 0.5))
        kept = round(w * h / (s * s), 4)
        if lo <= kept < hi:
            break
    x, y = ctx.i(0, s - w), ctx.i(0, s - h)
    ctx.record(Family.CROP, "crop", box=[x, y, x + w, y + h], kept=kept)
    out = F.crop(img, x1=x / s, y1=y / s, x2=(x + w) / s, y2=(y + h) / s)
    return out.resize((s, s), Image.Resampling.BICUBIC)


def flip(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    how = ctx.pick(["horizontal", "horizontal", "vertical", "both"])
    ctx.record(Family.FLIP, "flip", axis=how)
    if how in ("horizontal", "both"):
        img = F.hflip(img)
    return F.vflip(img) if how in ("vertical", "both") else img


def rotate(img: Image.Image, ctx: Ctx) -> Image.Image:
    """A right-angle turn, or 5-45 degrees either cropped (AugLy) or on a filled canvas."""
    import augly.image.functional as F

    s = ctx.size
    how = ctx.pick(["right_angle", "crop", "fill", "fill"])
    if how == "right_angle":
        turns = ctx.i(1, 3)
        ctx.record(Family.ROTATE, "rotate", how=how, degrees=90 * turns)
        return img.rotate(90 * turns)
    deg = ctx.u(5, 45, 2) * ctx.pick([-1, 1])
    if how == "crop":
        ctx.record(Family.ROTATE, "rotate", how=how, degrees=deg)
        return F.rotate(img, degrees=deg).resize((s, s), Image.Resampling.BICUBIC)
    color = ctx.color()
    ctx.record(Family.ROTATE, "rotate", how=how, degrees=deg, fill=list(color))
    turned = img.rotate(deg, Image.Resampling.BICUBIC, expand=True, fillcolor=color)
    return turned.resize((s, s), Image.Resampling.BICUBIC)


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list:
    """The 8 coefficients Pillow's PERSPECTIVE transform takes to map ``dst`` corners to ``src``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def perspective(img: Image.Image, ctx: Ctx) -> Image.Image:
    """Move the four corners inwards by up to ``strength`` of the side (a camera tilt), or skew."""
    s = ctx.size
    if ctx.chance(0.3):
        import augly.image.functional as F

        factor, axis = ctx.u(0.1, 0.4, 3) * ctx.pick([-1, 1]), ctx.i(0, 1)
        ctx.record(Family.PERSPECTIVE, "skew", factor=factor, axis=axis)
        return F.skew(img, skew_factor=factor, axis=axis).resize((s, s))
    strength = ctx.u(0.05, 0.22, 3)
    moves = [round(float(v), 4) for v in ctx.rng.uniform(0, strength, 8)]
    color = ctx.color()
    ctx.record(Family.PERSPECTIVE, "perspective", corners=moves, fill=list(color))
    corners = [(0, 0), (s, 0), (s, s), (0, s)]
    signs = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    dst = [
        (x + sx * moves[2 * k] * s, y + sy * moves[2 * k + 1] * s)
        for k, ((x, y), (sx, sy)) in enumerate(zip(corners, signs, strict=True))
    ]
    coeffs = _perspective_coeffs([(float(x), float(y)) for x, y in corners], dst)
    return img.transform(
        (s, s), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=color
    )


def _stylize_one(img: Image.Image, ctx: Ctx) -> Image.Image:
    import augly.image.functional as F

    kind = ctx.pick(
        [
            "posterize",
            "solarize",
            "contour",
            "emboss",
            "edges",
            "oil",
            "pixelate",
            "quantize",
            "invert",
            "sketch",
            "cartoon",
        ]
    )
    rec = lambda **p: ctx.record(Family.STYLIZE, kind, **p)  # noqa: E731
    if kind == "posterize":
        bits = ctx.i(1, 3)
        rec(bits=bits)
        return ImageOps.posterize(img, bits)
    if kind == "solarize":
        t = ctx.i(60, 190)
        rec(threshold=t)
        return ImageOps.solarize(img, t)
    if kind == "contour":
        rec()
        return img.filter(ImageFilter.CONTOUR)
    if kind == "emboss":
        rec()
        return img.filter(ImageFilter.EMBOSS)
    if kind == "edges":
        rec()
        return ImageOps.invert(img.filter(ImageFilter.FIND_EDGES))
    if kind == "oil":
        size = ctx.pick([5, 7, 9])
        rec(size=size)
        return img.filter(ImageFilter.ModeFilter(size))
    if kind == "pixelate":
        ratio = ctx.u(0.06, 0.2, 3)
        rec(ratio=ratio)
        return F.pixelization(img, ratio=ratio)
    if kind == "quantize":
        colors = ctx.i(3, 8)
        rec(colors=colors)
        return F.convert_color(img, mode="P", colors=colors).convert("RGB")
    if kind == "invert":
        rec()
        return ImageOps.invert(img)
    if kind == "sketch":
        rec()
        gray = ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES)
        return ImageOps.autocontrast(ImageOps.invert(gray)).convert("RGB")
    bits = ctx.i(2, 3)
    rec(bits=bits)
    flat = ImageOps.posterize(img.filter(ImageFilter.MedianFilter(5)), bits)
    edges = ImageOps.invert(ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES))
    return Image.composite(flat, Image.new("RGB", img.size), edges.point(lambda x: 255 * (x > 200)))


def stylize(img: Image.Image, ctx: Ctx) -> Image.Image:
    """One or two stylisations (posterize, solarize, contour, oil, pixelate, sketch, ...)."""
    for _ in range(ctx.pick([1, 1, 2])):
        img = _stylize_one(img, ctx)
    return img.convert("RGB")
