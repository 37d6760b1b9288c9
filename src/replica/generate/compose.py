"""Compositions: the source among other content, drawn here with Pillow.

Overlays (text, stickers, bars, stripes, another image's patch) cover part of the source;
``embed`` puts the source on a background; collages, screenshot and meme templates (feed post,
browser page, chat, demotivator, two-panel, tweet card, caption card) show it as one element;
``region`` pastes a small region of it into another image. Each records the measured ``kept``
(fraction of the source's area still visible) and ``share`` (fraction of the canvas the source
occupies), which set the level (``levels``). Sources are square (``encode.fit``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from replica.config import Family
from replica.generate.ops import Ctx, background, font

# ---- placing the source in a slot ------------------------------------------------------------


def place(
    src: Image.Image, w: int, h: int, ctx: Ctx, fill: tuple[int, int, int] | None = None
) -> tuple[Image.Image, float, int]:
    """The source in a ``w`` x ``h`` slot: cropped to cover it or letterboxed to fit inside.

    Returns the slot image, the kept fraction of the (square) source, and how many canvas
    pixels show the source.
    """
    w, h = max(2, w), max(2, h)
    if ctx.chance(0.5):
        slot = ImageOps.fit(src, (w, h), Image.Resampling.BICUBIC)
        return slot, min(w, h) / max(w, h), w * h
    color = fill or ctx.color()
    slot = ImageOps.pad(src, (w, h), Image.Resampling.BICUBIC, color=color)
    return slot, 1.0, min(w, h) ** 2


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[int, int],
    text: str,
    size: int,
    fill: Any,
    stroke: Any = None,
    width: int | None = None,
) -> int:
    """Draw ``text`` wrapped to ``width`` pixels; returns the height used."""
    f = font(size)
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if width and line and draw.textlength(trial, font=f) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    y = xy[1]
    for ln in lines:
        draw.text(
            (xy[0], y),
            ln,
            font=f,
            fill=fill,
            stroke_width=max(1, size // 12) if stroke else 0,
            stroke_fill=stroke,
        )
        y += int(size * 1.2)
    return y - xy[1]


# ---- overlays: content drawn over the source -------------------------------------------------


def _sticker(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], ctx: Ctx) -> str:
    """A drawn sticker in ``box``: smiley, star, heart or speech bubble (never AugLy's emoji)."""
    x0, y0, x1, y1 = box
    kind = ctx.pick(["smiley", "star", "heart", "bubble"])
    color = (*ctx.color(), 255)
    if kind == "smiley":
        draw.ellipse(box, fill=(255, 204, 0, 255), outline=(40, 30, 0, 255), width=2)
        w, h = x1 - x0, y1 - y0
        for ex in (0.33, 0.67):
            cx, cy = x0 + ex * w, y0 + 0.38 * h
            draw.ellipse(
                (cx - w * 0.06, cy - h * 0.08, cx + w * 0.06, cy + h * 0.08), (0, 0, 0, 255)
            )
        draw.arc(
            (x0 + w * 0.25, y0 + h * 0.35, x1 - w * 0.25, y1 - h * 0.2), 20, 160, (0, 0, 0, 255), 3
        )
    elif kind == "star":
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) / 2
        pts = [
            (cx + r * (1 if k % 2 == 0 else 0.45) * np.sin(k * np.pi / 5),
             cy - r * (1 if k % 2 == 0 else 0.45) * np.cos(k * np.pi / 5))
            for k in range(10)
        ]  # fmt: skip
        draw.polygon(pts, fill=color)
    elif kind == "heart":
        w, h = x1 - x0, y1 - y0
        draw.ellipse((x0, y0, x0 + w * 0.55, y0 + h * 0.55), fill=color)
        draw.ellipse((x1 - w * 0.55, y0, x1, y0 + h * 0.55), fill=color)
        draw.polygon(
            [(x0 + w * 0.03, y0 + h * 0.4), (x1 - w * 0.03, y0 + h * 0.4), ((x0 + x1) / 2, y1)],
            fill=color,
        )
    else:
        draw.rounded_rectangle(box, radius=max(2, (y1 - y0) // 4), fill=(255, 255, 255, 240))
        _text(
            draw,
            (x0 + 4, y0 + 3),
            ctx.words(1, 3),
            max(8, (y1 - y0) // 4),
            (0, 0, 0, 255),
            width=x1 - x0 - 8,
        )
    return kind


def _element(layer: Image.Image, ctx: Ctx, budget: float) -> dict[str, Any]:
    """Draw one overlay element of about ``budget`` of the canvas area onto the RGBA layer."""
    s = ctx.size
    draw = ImageDraw.Draw(layer)
    kind = ctx.pick(["text", "sticker", "bar", "patch", "stripes", "text"])
    side = max(6, round(s * budget**0.5))
    if kind == "sticker":
        w = h = min(s, side)
        x, y = ctx.i(0, s - w), ctx.i(0, s - h)
        return {
            "element": "sticker",
            "shape": _sticker(draw, (x, y, x + w, y + h), ctx),
            "box": [x, y, w, h],
        }
    if kind == "bar" or kind == "text":
        w = min(s, max(side, ctx.i(s // 2, s)))
        h = max(4, min(s, round(budget * s * s / w)))
        x, y = ctx.i(0, s - w), ctx.i(0, s - h)
        alpha = ctx.i(150, 255)
        color = ctx.color()
        draw.rectangle((x, y, x + w, y + h), fill=(*color, alpha))
        if kind == "text":
            ink = (255, 255, 255, 255) if sum(color) < 380 else (0, 0, 0, 255)
            _text(draw, (x + 3, y + 1), ctx.words(2, 6), max(7, int(h * 0.6)), ink, width=w - 6)
        return {"element": kind, "box": [x, y, w, h], "alpha": alpha}
    if kind == "patch" and (other := ctx.partner()) is not None:
        w = min(s, max(8, round(side * ctx.u(0.7, 1.4, 3))))
        h = max(8, min(s, round(budget * s * s / w)))
        x, y = ctx.i(0, s - w), ctx.i(0, s - h)
        alpha = ctx.i(170, 255)
        patch = ImageOps.fit(other, (w, h)).convert("RGBA")
        patch.putalpha(alpha)
        layer.alpha_composite(patch, (x, y))
        return {"element": "patch", "box": [x, y, w, h], "alpha": alpha}
    import augly.image.functional as F

    width, density = ctx.u(0.1, 0.6, 3), ctx.u(0.05, 0.5, 3)
    angle, style = ctx.i(-80, 80), ctx.pick(["solid", "dotted", "dashed"])
    opacity = ctx.u(0.3, 0.9, 3)
    mask = F.overlay_stripes(
        Image.new("RGB", (s, s)),
        line_width=width * budget**0.5,
        line_color=(255, 255, 255),
        line_angle=angle,
        line_density=density,
        line_type=style,
        line_opacity=1.0,
    ).convert("L")
    tint = Image.new("RGBA", (s, s), (*ctx.color(), 255))
    tint.putalpha(mask.point(lambda v: round(v * opacity)))
    layer.alpha_composite(tint)
    return {
        "element": "stripes",
        "width": width,
        "density": density,
        "angle": angle,
        "style": style,
        "alpha": opacity,
    }


def overlay(src: Image.Image, ctx: Ctx, lo: float, hi: float) -> Image.Image:
    """Cover ``1 - hi < covered <= 1 - lo`` of the source (kept = 1 - covered, alpha-weighted)."""
    s = ctx.size
    for _ in range(12):
        target = ctx.u(1 - hi + 0.01, 1 - lo - 0.01)
        layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
        elements: list[dict[str, Any]] = []
        covered = 0.0
        while covered < target * 0.85 and len(elements) < 6:
            budget = (target - covered) * (ctx.u(0.6, 1.0, 3) if elements else ctx.u(0.4, 1.0, 3))
            elements.append(_element(layer, ctx, max(budget, 0.002)))
            covered = float(np.asarray(layer.getchannel("A"), np.float64).mean() / 255)
        kept = round(1 - covered, 4)
        if lo <= kept < hi:
            break
    ctx.record(Family.OVERLAY, "overlay", elements=elements, kept=kept)
    return Image.alpha_composite(src.convert("RGBA"), layer).convert("RGB")


# ---- the source on other content -------------------------------------------------------------


def embed(src: Image.Image, ctx: Ctx, lo: float, hi: float) -> Image.Image:
    """The whole source on a background (another image or a drawn one) at ``lo <= share < hi``,
    perhaps framed, shadowed or slightly turned."""
    s = ctx.size
    canvas, bg = background(ctx, (s, s))
    share = ctx.u(lo + 0.01, hi - 0.01)
    side = max(4, round(s * share**0.5))
    piece = src.resize((side, side), Image.Resampling.BICUBIC).convert("RGBA")
    frame = ctx.pick([0, 0, 2, 6])
    if frame:
        piece = ImageOps.expand(piece, frame, fill=(255, 255, 255, 255))
    angle = ctx.u(-10, 10, 2) if ctx.chance(0.4) else 0.0
    if angle:
        piece = piece.rotate(angle, Image.Resampling.BICUBIC, expand=True)
    pw, ph = min(s, piece.width), min(s, piece.height)
    piece = piece.crop((0, 0, pw, ph))
    x, y = ctx.i(0, s - pw), ctx.i(0, s - ph)
    if ctx.chance(0.3):
        shadow = Image.new("RGBA", piece.size, (0, 0, 0, 120))
        shadow.putalpha(piece.getchannel("A").point(lambda v: v // 2))
        canvas.paste(shadow, (min(s - pw, x + 4), min(s - ph, y + 4)), shadow)
    canvas.paste(piece, (x, y), piece)
    shown = side * side / (s * s)
    ctx.record(
        Family.EMBED, "embed", background=bg, box=[x, y, pw, ph], frame=frame, angle=angle,
        share=round(min(shown, 1.0), 4),
    )  # fmt: skip
    return canvas.convert("RGB")


def collage(src: Image.Image, ctx: Ctx, lo: float, hi: float) -> Image.Image:
    """A grid or split layout of 2-6 images, the source in one cell (share in [lo, hi))."""
    s = ctx.size
    for _ in range(12):
        layout = ctx.pick(["grid", "grid", "split"])
        gutter = ctx.i(0, max(1, s // 40))
        if layout == "grid":
            rows, cols = ctx.pick([(1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 2)])
            cw, ch = (s - gutter * (cols + 1)) // cols, (s - gutter * (rows + 1)) // rows
            cells = [
                (gutter + c * (cw + gutter), gutter + r * (ch + gutter), cw, ch)
                for r in range(rows)
                for c in range(cols)
            ]
            mine = ctx.i(0, len(cells) - 1)
        else:
            frac = ctx.u(0.4, 0.75, 3)
            big = round((s - 3 * gutter) * frac)
            n = ctx.i(2, 3)
            sh = (s - gutter * (n + 1)) // n
            cells = [(gutter, gutter, big, s - 2 * gutter)] + [
                (2 * gutter + big, gutter + k * (sh + gutter), s - 3 * gutter - big, sh)
                for k in range(n)
            ]
            mine = 0
        x, y, w, h = cells[mine]
        preview = (min(w, h) ** 2) / (s * s)  # the least a placed source shows
        if lo <= preview and w * h / (s * s) < 1:
            break
    canvas = Image.new("RGB", (s, s), ctx.color())
    slot, kept, shown = place(src, w, h, ctx)
    canvas.paste(slot, (x, y))
    partners = 0
    for k, (cx, cy, cw2, ch2) in enumerate(cells):
        if k == mine:
            continue
        filler, _ = background(ctx, (cw2, ch2))
        partners += 1
        canvas.paste(filler, (cx, cy))
    ctx.record(
        Family.COLLAGE, "collage", layout=layout, cells=len(cells), cell=[x, y, w, h],
        gutter=gutter, kept=round(kept, 4), share=round(shown / (s * s), 4),
    )  # fmt: skip
    return canvas


def _theme(ctx: Ctx) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """(background, ink, muted) of a light or dark UI."""
    if ctx.chance(0.5):
        return (250, 250, 250), (20, 20, 20), (150, 150, 150)
    return (18, 18, 22), (235, 235, 235), (110, 110, 120)


def screenshot(src: Image.Image, ctx: Ctx, lo: float, hi: float) -> Image.Image:
    """A drawn screenshot (social feed, browser page or chat) with the source as its picture."""
    s = ctx.size
    bg, ink, muted = _theme(ctx)
    canvas = Image.new("RGB", (s, s), bg)
    draw = ImageDraw.Draw(canvas)
    kind = ctx.pick(["feed", "browser", "chat"])
    share = ctx.u(lo + 0.01, hi - 0.01)
    side = max(8, round(s * share**0.5))
    unit = max(6, s // 20)
    if kind == "feed":
        draw.rectangle((0, 0, s, unit), fill=muted)
        draw.text((4, 0), f"{ctx.i(0, 23)}:{ctx.i(10, 59)}", font=font(unit - 2), fill=bg)
        top = unit + 4
        draw.ellipse((4, top, 4 + 2 * unit, top + 2 * unit), fill=ctx.color())
        draw.text((8 + 2 * unit, top + unit // 2), ctx.words(1, 2), font=font(unit), fill=ink)
        top += 2 * unit + 4
        top += _text(draw, (4, top), ctx.words(3, 10), unit, ink, width=s - 8)
        x = (s - side) // 2 if ctx.chance(0.5) else 4
        y = min(top, s - side)
        for k in range(3):
            icon_y = min(s - unit - 2, y + side + 4)
            draw.ellipse(
                (6 + k * 2 * unit, icon_y, 6 + k * 2 * unit + unit, icon_y + unit),
                outline=ink,
                width=2,
            )
    elif kind == "browser":
        draw.rectangle((0, 0, s, 2 * unit), fill=muted)
        draw.rounded_rectangle(
            (unit, unit // 3, s - unit, unit + unit // 2), radius=unit // 2, fill=bg
        )
        url = "https://" + "-".join(ctx.words(2, 3).split()) + ".example/" + str(ctx.i(1, 9999))
        draw.text((unit + 4, unit // 3), url, font=font(unit - 3), fill=ink)
        top = 2 * unit + 4
        top += _text(draw, (6, top), ctx.words(3, 7).title(), int(unit * 1.4), ink, width=s - 12)
        x, y = 6, min(top + 2, s - side)
        for k in range(8):
            ly = y + k * unit
            if x + side + 8 < s - 10:
                draw.rectangle((x + side + 8, ly, s - 6, ly + unit // 3), fill=muted)
        if y + side + unit < s:
            _text(draw, (6, y + side + 4), ctx.words(8, 20), unit, muted, width=s - 12)
    else:
        y = unit
        for _ in range(ctx.i(1, 3)):
            h = _text(draw, (unit + 4, y + 2), ctx.words(2, 7), unit, ink, width=s // 2)
            draw.rounded_rectangle(
                (unit, y, unit + s // 2 + 8, y + h + 4), radius=unit // 2, outline=muted, width=1
            )
            y += h + unit
        x = s - side - unit // 2
        y = min(y, s - side - unit)
        draw.rounded_rectangle(
            (x - 4, y - 4, x + side + 4, y + side + 4), radius=unit // 2, fill=muted
        )
        draw.rectangle((0, s - unit - 4, s, s), fill=muted)
    x, y = max(0, min(x, s - side)), max(0, min(y, s - side))
    slot, kept, shown = place(src, side, side, ctx, fill=bg)
    canvas.paste(slot, (x, y))
    ctx.record(
        Family.SCREENSHOT, "screenshot", template=kind, slot=[x, y, side, side],
        kept=round(kept, 4), share=round(shown / (s * s), 4),
    )  # fmt: skip
    return canvas


def meme(src: Image.Image, ctx: Ctx, lo: float, hi: float) -> Image.Image:
    """A drawn meme (demotivator, two panels, tweet card or caption card) around the source."""
    s = ctx.size
    kind = ctx.pick(["demotivator", "two_panel", "tweet", "caption"])
    share = ctx.u(lo + 0.01, hi - 0.01)
    side = max(8, round(s * share**0.5))
    unit = max(7, s // 14)
    impact = {"fill": (255, 255, 255), "stroke": (0, 0, 0)}
    if kind == "demotivator":
        canvas = Image.new("RGB", (s, s), (0, 0, 0))
        draw = ImageDraw.Draw(canvas)
        x, y = (s - side) // 2, max(2, (s - side) // 6)
        draw.rectangle((x - 3, y - 3, x + side + 2, y + side + 2), outline=(255, 255, 255), width=1)
        below = y + side + 6
        h = _text(
            draw,
            (unit, below),
            ctx.words(1, 3).upper(),
            int(unit * 1.3),
            (255, 255, 255),
            width=s - 2 * unit,
        )
        _text(
            draw, (unit, below + h), ctx.words(3, 8), unit - 2, (200, 200, 200), width=s - 2 * unit
        )
    elif kind == "two_panel":
        canvas = Image.new("RGB", (s, s), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        other, _ = background(ctx, (side, side))
        stacked = ctx.chance(0.5)
        x, y = (s - side, 0) if not stacked else (s - side, s - side)
        ox, oy = (s - side, s - side) if not stacked else (s - side, 0)
        if ctx.chance(0.5):
            x, ox = ox, x
            y, oy = oy, y
        canvas.paste(other, (max(0, min(ox, s - side)), max(0, min(oy, s - side))))
        for ty in (min(y, oy), max(y, oy)):
            _text(draw, (4, ty + 4), ctx.words(2, 6), unit, (0, 0, 0), width=max(10, s - side - 8))
    elif kind == "tweet":
        canvas = Image.new("RGB", (s, s), (255, 255, 255) if ctx.chance(0.5) else (21, 32, 43))
        ink = (15, 20, 25) if canvas.getpixel((0, 0)) == (255, 255, 255) else (240, 240, 240)
        draw = ImageDraw.Draw(canvas)
        draw.ellipse((6, 6, 6 + 2 * unit, 6 + 2 * unit), fill=ctx.color())
        draw.text(
            (10 + 2 * unit, 6),
            ctx.words(1, 2).title() + " @" + ctx.pick(["news", "meme", "daily"]),
            font=font(unit - 2),
            fill=ink,
        )
        top = 10 + 2 * unit
        top += _text(draw, (6, top), ctx.words(4, 14), unit, ink, width=s - 12)
        x, y = (s - side) // 2, min(top + 4, s - side)
    else:
        canvas = Image.new("RGB", (s, s), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        x, y = (s - side) // 2, s - side
        _text(draw, (6, 6), ctx.words(4, 12), int(unit * 1.1), (0, 0, 0), width=s - 12)
    x, y = max(0, min(x, s - side)), max(0, min(y, s - side))
    slot, kept, shown = place(src, side, side, ctx, fill=(0, 0, 0))
    canvas.paste(slot, (x, y))
    if kind in ("caption", "demotivator") or ctx.chance(0.3):
        draw = ImageDraw.Draw(canvas)
        used = _text(
            draw,
            (x + 4, y + 2),
            ctx.words(1, 4).upper(),
            max(7, side // 7),
            impact["fill"],
            impact["stroke"],
            width=side - 8,
        )
        kept *= 1 - min(1.0, used * (side - 8) / (side * side))  # the caption hides that much
    ctx.record(
        Family.MEME, "meme", template=kind, slot=[x, y, side, side],
        kept=round(kept, 4), share=round(shown / (s * s), 4),
    )  # fmt: skip
    return canvas


def region(src: Image.Image, ctx: Ctx, lo: float, hi: float) -> Image.Image:
    """A region of ``lo <= kept < hi`` of the source pasted into another image (or a drawn one)."""
    s = ctx.size
    canvas, bg = background(ctx, (s, s))
    for _ in range(20):
        area, ratio = ctx.u(lo, hi), ctx.u(0.6, 1.6, 3)
        w, h = min(s, round(s * (area * ratio) ** 0.5)), min(s, round(s * (area / ratio) ** 0.5))
        kept = round(w * h / (s * s), 4)
        if lo <= kept < hi:
            break
    bx, by = ctx.i(0, s - w), ctx.i(0, s - h)
    piece = src.crop((bx, by, bx + w, by + h))
    scale = ctx.u(0.6, 1.8, 3)
    pw, ph = min(s, max(2, round(w * scale))), min(s, max(2, round(h * scale)))
    piece = piece.resize((pw, ph), Image.Resampling.BICUBIC)
    border = ctx.pick([0, 0, 2])
    if border:
        piece = ImageOps.expand(piece, border, fill=ctx.color())
    pw, ph = min(s, piece.width), min(s, piece.height)
    x, y = ctx.i(0, s - pw), ctx.i(0, s - ph)
    canvas.paste(piece.crop((0, 0, pw, ph)), (x, y))
    ctx.record(
        Family.REGION, "region", background=bg, region=[bx, by, w, h], paste=[x, y, pw, ph],
        kept=kept, share=round(pw * ph / (s * s), 4),
    )  # fmt: skip
    return canvas
