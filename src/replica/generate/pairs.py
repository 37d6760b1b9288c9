"""D-Rep pairs by construction, on values: plan the pairs of every reference, build them, label
them by their recipe.

Plan (``plan``): for every reference image and every level 0..5, ``pairs.per_level`` pairs.
Each draws, from its own seed, a diffusion family that can give that level (with probability
``pairs.diffusion_share``; img2img by strength, inpainting by kept area, txt2img for level 0
when the image has a matched prompt) or else a constructed family built for that level, in
rotation so every family of a level takes its turn. Levels are balanced by design.

Build (``make_pairs``): constructed families run in worker processes, one task per reference
(``families.build``); diffusion families run in batches through the pipelines (``diffusion``).
Every image is fitted and encoded with the dataset's settings (``encode``); the level follows
from the recipe (``levels``); the proxy similarity (``similarity``) is stored as a measurement.
Partners (collage cells, backgrounds, pasted patches) come from the reference's split and not
from its near-duplicate cluster; negatives are its nearest such images.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from replica.config import Family, PairsConfig
from replica.generate.families import CONSTRUCTED, TARGETS, LevelNotReached, NoPartner, build
from replica.generate.levels import CAPS, DIFFUSION, check_cuts, content_level, recipe_level
from replica.generate.references import derive_seed


@dataclass(frozen=True)
class Reference:
    """A gallery image as the pairs see it (its pixels live in the images mapping)."""

    image_id: str
    sha256: str
    caption: str | None
    cluster_id: str
    split: str
    prompt: str | None = None
    prompt_similarity: float | None = None


@dataclass(frozen=True)
class PairSpec:
    """What to build for one (reference, level, slot): the family and its seed; for img2img
    the strength, for inpainting the kept area."""

    source_id: str
    level: int
    slot: int
    family: Family
    seed: int
    strength: float | None = None
    keep: float | None = None


@dataclass
class Built:
    """A finished pair: the replica's dataset bytes, its recipe and labels."""

    spec: PairSpec
    data: bytes
    ops: list[dict[str, Any]]
    partner_ids: list[str]
    proxy_similarity: float
    level: int
    generator: str | None = None


@dataclass
class Plan:
    specs: list[PairSpec]
    skipped: Counter[str] = field(default_factory=Counter)


def check_config(cfg: PairsConfig) -> None:
    """Params that cannot build a balanced dataset are a ValueError naming the param."""
    check_cuts(cfg.level_cuts)
    for name in ("per_level", "image_size", "batch_size", "negative_top_k", "prompt_top_k"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"pairs.{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.image_size % 8:
        raise ValueError(f"pairs.image_size must be a multiple of 8, got {cfg.image_size}")
    fractions = (cfg.val_fraction, cfg.test_fraction)
    if min(fractions) < 0 or sum(fractions) >= 1:
        raise ValueError(
            f"pairs.val_fraction + pairs.test_fraction must be in [0, 1), got "
            f"{cfg.val_fraction} + {cfg.test_fraction}"
        )
    if not 1 <= cfg.quality <= 100:
        raise ValueError(f"pairs.quality must be in 1..100, got {cfg.quality}")
    for s in cfg.img2img_strengths:
        if not 0 < s < 1 or int(cfg.num_inference_steps * s) < 1:
            raise ValueError(
                f"pairs.img2img_strengths value {s} with pairs.num_inference_steps "
                f"{cfg.num_inference_steps} gives no denoising step; need 0 < strength < 1 and "
                "num_inference_steps * strength >= 1"
            )
    for k in cfg.inpaint_keep:
        if not 0 < k < 1:
            raise ValueError(f"pairs.inpaint_keep values must be in (0, 1), got {k}")
    for level in range(6):
        if not constructed_pool(cfg, level) and not diffusion_options(cfg, level, "x"):
            raise ValueError(
                f"pairs.families {[f.value for f in cfg.families]} reach no level {level}"
            )


def constructed_pool(cfg: PairsConfig, level: int) -> list[Family]:
    return [f for f in CONSTRUCTED if f in cfg.families and level in TARGETS[f]]


def diffusion_options(
    cfg: PairsConfig, level: int, prompt: str | None
) -> list[tuple[Family, float]]:
    """(family, strength or kept area) pairs that give ``level`` by the documented rule."""
    out: list[tuple[Family, float]] = []
    if Family.IMG2IMG in cfg.families:
        out += [
            (Family.IMG2IMG, s)
            for s in cfg.img2img_strengths
            if min(CAPS[Family.IMG2IMG], content_level(1 - s, cfg.level_cuts)) == level
        ]
    if Family.INPAINT in cfg.families:
        out += [
            (Family.INPAINT, k)
            for k in cfg.inpaint_keep
            if min(CAPS[Family.INPAINT], content_level(k, cfg.level_cuts)) == level
        ]
    if Family.TXT2IMG in cfg.families and level == 0 and prompt:
        out.append((Family.TXT2IMG, 0.0))
    return out


def plan(refs: Sequence[Reference], cfg: PairsConfig, seed: int) -> Plan:
    """Every pair to build (module docstring), in a stable order."""
    specs: list[PairSpec] = []
    skipped: Counter[str] = Counter()
    for ref in sorted(refs, key=lambda r: r.image_id):
        for level in range(6):
            pool = constructed_pool(cfg, level)
            options = diffusion_options(cfg, level, ref.prompt)
            offset = derive_seed(seed, ref.sha256, level, "offset")
            for slot in range(cfg.per_level):
                pair_seed = derive_seed(seed, ref.sha256, level, slot)
                rng = np.random.default_rng(pair_seed)
                if options and (not pool or rng.random() < cfg.diffusion_share):
                    family, value = options[int(rng.integers(len(options)))]
                    strength = value if family is Family.IMG2IMG else None
                    keep = value if family is Family.INPAINT else None
                    spec = PairSpec(ref.image_id, level, slot, family, pair_seed, strength, keep)
                    specs.append(spec)
                elif pool:
                    family = pool[(offset + slot) % len(pool)]
                    specs.append(PairSpec(ref.image_id, level, slot, family, pair_seed))
                else:
                    skipped[f"no_family_for_level_{level}"] += 1
    return Plan(specs, skipped)


def pair_id(source_sha: str, family: str, recipe: str, seed: int) -> str:
    """Content-derived: the same reference, family, recipe and seed give the same id."""
    return hashlib.sha256(f"{source_sha}|{family}|{recipe}|{seed}".encode()).hexdigest()[:20]


def recipe_json(ops: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps({"ops": list(ops)}, sort_keys=True, separators=(",", ":"))


# ---- constructed families in worker processes ------------------------------------------------

_IMAGES: dict[str, Image.Image] = {}


def _init_worker(images: dict[str, tuple[str, tuple[int, int], bytes]]) -> None:
    _IMAGES.clear()
    _IMAGES.update({k: Image.frombytes(m, s, b) for k, (m, s, b) in images.items()})


@dataclass(frozen=True)
class _Task:
    source_id: str
    specs: tuple[PairSpec, ...]
    pool: tuple[str, ...]  # partners: same split, another cluster
    nearest: tuple[str, ...]  # negatives: the nearest such images


def _draw_from(ids: Sequence[str]):
    def draw(rng: np.random.Generator) -> tuple[str, Image.Image] | None:
        if not ids:
            return None
        pid = ids[int(rng.integers(len(ids)))]
        return pid, _IMAGES[pid]

    return draw


def _run_task(task: _Task, cfg: PairsConfig) -> list[Built | tuple[PairSpec, str]]:
    from replica.generate.encode import encode
    from replica.generate.ops import Ctx
    from replica.generate.similarity import proxy_similarity

    source = _IMAGES[task.source_id]
    out: list[Built | tuple[PairSpec, str]] = []
    for spec in task.specs:
        ids = task.nearest if spec.family is Family.NEGATIVE else task.pool
        ctx = Ctx(cfg.image_size, np.random.default_rng(spec.seed), _draw_from(ids))
        try:
            image = build(spec.family, spec.level, source, ctx, cfg.level_cuts)
        except NoPartner:
            out.append((spec, "no_negative_in_split"))
            continue
        except LevelNotReached:  # e.g. a canvas too small for the drawn layout
            out.append((spec, f"{spec.family.value}_level_not_reached"))
            continue
        data = encode(image, cfg.encoding, cfg.quality)
        sim = proxy_similarity(source, image)
        level = recipe_level(ctx.ops, cfg.level_cuts)
        out.append(
            Built(spec, data, list(ctx.ops), list(dict.fromkeys(ctx.partner_ids)), sim, level)
        )
    return out


# ---- diffusion families in the main process --------------------------------------------------


def _keep_box(size: int, keep: float, rng: np.random.Generator, cuts: Sequence[float]) -> list[int]:
    """A box of about ``keep`` of the canvas whose measured area gives the same level."""
    want = min(CAPS[Family.INPAINT], content_level(keep, cuts))
    for _ in range(20):
        ratio = float(rng.uniform(0.6, 1.6))
        w = min(size, max(8, round(size * (keep * ratio) ** 0.5)))
        h = min(size, max(8, round(size * (keep / ratio) ** 0.5)))
        if min(CAPS[Family.INPAINT], content_level(w * h / size**2, cuts)) == want:
            break
    x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
    return [x, y, w, h]


def model_of(family: Family, model: str, cfg: PairsConfig) -> str:
    """The model a diffusion family runs (inpainting may have its own checkpoint)."""
    return cfg.inpaint_model if family is Family.INPAINT and cfg.inpaint_model else model


def pair_record(built: Built, ref: Reference, source: tuple[str, str], replica: tuple[str, str]):
    """The ``pairs`` row of a built pair; ``source``/``replica`` are (uri, sha256)."""
    spec = built.spec
    recipe = recipe_json(built.ops)
    return {
        "pair_id": pair_id(ref.sha256, spec.family.value, recipe, spec.seed),
        "source_image_id": ref.image_id,
        "source_uri": source[0],
        "source_sha256": source[1],
        "replica_uri": replica[0],
        "replica_sha256": replica[1],
        "family": spec.family.value,
        "recipe": recipe,
        "seed": spec.seed,
        "level": built.level,
        "construction_level": built.level,
        "label_source": "construction",
        "proxy_similarity": built.proxy_similarity,
        "prompt": ref.prompt,
        "prompt_similarity": ref.prompt_similarity,
        "split": ref.split,
        "cluster_id": ref.cluster_id,
        "generator": built.generator,
        "partner_ids": built.partner_ids,
    }


def reference_record(ref: Reference, file: tuple[str, str]) -> dict[str, Any]:
    """The ``pairs_gallery`` row of a reference; ``file`` is its (uri, sha256)."""
    return {
        "image_id": ref.image_id,
        "uri": file[0],
        "sha256": file[1],
        "split": ref.split,
        "cluster_id": ref.cluster_id,
        "caption": ref.caption,
        "prompt": ref.prompt,
        "prompt_similarity": ref.prompt_similarity,
    }


def _diffusion(
    specs: Sequence[PairSpec],
    refs: Mapping[str, Reference],
    images: Mapping[str, Image.Image],
    cfg: PairsConfig,
    pipes: Mapping[str, Any],
    generator: str,
) -> Iterator[Built]:
    from replica.generate import diffusion
    from replica.generate.encode import encode
    from replica.generate.similarity import proxy_similarity

    fast = diffusion.FastPath.from_config(cfg)
    s = cfg.image_size
    jobs = []
    for spec in specs:
        ref, source = refs[spec.source_id], images[spec.source_id]
        prompt = ref.prompt or ""
        common: dict[str, Any] = {
            "family": spec.family.value,
            "op": spec.family.value,
            "model": model_of(spec.family, generator, cfg),
            "prompt": prompt,
            "steps": cfg.num_inference_steps,
            "guidance": cfg.guidance_scale,
            "cfg_fraction": cfg.cfg_fraction,
            "seed": spec.seed,
        }
        if spec.family is Family.IMG2IMG:
            assert spec.strength is not None
            op = {**common, "strength": spec.strength, "kept": round(1 - spec.strength, 4)}
            job = diffusion.Job(spec.seed, prompt, source, strength=spec.strength)
        elif spec.family is Family.INPAINT:
            assert spec.keep is not None
            rng = np.random.default_rng(derive_seed(spec.seed, "keep_box"))
            x, y, w, h = _keep_box(s, spec.keep, rng, cfg.level_cuts)
            mask = Image.new("L", (s, s), 255)
            mask.paste(0, (x, y, x + w, y + h))
            op = {**common, "keep_box": [x, y, w, h], "kept": round(w * h / s**2, 4)}
            job = diffusion.Job(spec.seed, prompt, source, mask)
        else:
            op = common
            job = diffusion.Job(spec.seed, prompt)
        jobs.append((spec, op, job))
    jobs.sort(
        key=lambda j: (j[0].family.value, j[2].strength, j[0].source_id, j[0].level, j[0].slot)
    )
    key = lambda j: (j[0].family, j[2].strength)  # noqa: E731
    for batch in diffusion.batches(jobs, fast.batch_size, key):
        family = batch[0][0].family.value
        outs = diffusion.run_batch(
            pipes[family],
            family,
            [j for _, _, j in batch],
            s,
            cfg.num_inference_steps,
            cfg.guidance_scale,
            fast,
        )
        for (spec, op, _), image in zip(batch, outs, strict=True):
            if spec.family is Family.INPAINT:  # the kept region is the source's own pixels
                x, y, w, h = op["keep_box"]
                image.paste(images[spec.source_id].crop((x, y, x + w, y + h)), (x, y))
            source = images[spec.source_id]
            level = recipe_level([op], cfg.level_cuts)
            yield Built(
                spec,
                encode(image, cfg.encoding, cfg.quality),
                [op],
                [],
                proxy_similarity(source, image),
                level,
                op["model"],
            )


# ---- the gallery side --------------------------------------------------------------------------


@dataclass
class Prepared:
    """References with clusters, splits and prompts; their fitted pixels; negative candidates."""

    refs: list[Reference]
    images: dict[str, Image.Image]
    nearest: dict[str, list[str]]
    rejects: Counter[str] = field(default_factory=Counter)
    stats: dict[str, int] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    return (" ".join(value.split()) or None) if isinstance(value, str) else None


def select_rows(
    rows: Sequence[Mapping[str, Any]], max_images: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """One row per image (the first with a caption, else alt text), by sha256, at most
    ``max_images`` (0: all). A missing caption never drops an image."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        caption = _text(row.get("caption")) or _text(row.get("alt"))
        have = chosen.get(row["image_id"])
        if have is None or (caption and not have["caption"]):
            chosen[row["image_id"]] = {**row, "caption": caption}
    ordered = sorted(chosen.values(), key=lambda r: (r["sha256"], r["image_id"]))
    skipped: Counter[str] = Counter()
    if max_images and len(ordered) > max_images:
        skipped["over_max_images"] = len(ordered) - max_images
        ordered = ordered[:max_images]
    return ordered, skipped


def _load(path: Path, cfg: PairsConfig, max_pixels: int) -> Image.Image | None:
    from replica.generate.encode import fit

    try:
        Image.MAX_IMAGE_PIXELS = max_pixels
        with Image.open(path) as im:
            return fit(im, cfg.image_size, cfg.fit)
    except Exception:  # Pillow raises many types for damaged files
        return None


def prepare(
    rows: Sequence[Mapping[str, Any]],
    root: Path,
    cfg: PairsConfig,
    seed: int,
    prompt_pool: Sequence[str] | None = None,
    max_pixels: int = 40_000_000,
    workers: int = 1,
) -> Prepared:
    """Decode and fit the gallery (``uri`` relative to ``root``), cluster and split it, match
    prompts, and find every image's negative candidates (``references``, ``prompts``)."""
    from concurrent.futures import ThreadPoolExecutor

    from replica.config import NegativesBy
    from replica.generate import prompts as text
    from replica.generate.references import (
        assign_splits,
        clusters,
        descriptor,
        nearest_others,
    )

    selected, rejects = select_rows(rows, cfg.max_images)
    paths = [Path(root) / r["uri"] for r in selected]
    with ThreadPoolExecutor(max(1, workers)) as threads:
        fitted = list(threads.map(lambda p: _load(p, cfg, max_pixels), paths))
    keep = [i for i, im in enumerate(fitted) if im is not None]
    rejects["undecodable_image"] += len(selected) - len(keep)
    images = {selected[i]["image_id"]: im for i in keep if (im := fitted[i]) is not None}
    selected, paths = [selected[i] for i in keep], [paths[i] for i in keep]
    ids = [r["image_id"] for r in selected]
    if len(ids) < 2:
        return Prepared([], images, {}, +rejects)
    cluster_of = clusters(ids, paths, cfg.cluster_max_distance, max_pixels)
    split_of_cluster = assign_splits(cluster_of, cfg.val_fraction, cfg.test_fraction, seed)
    split_of = {i: split_of_cluster[cluster_of[i]] for i in ids}
    captioned = [r for r in selected if r["caption"]]
    matches: dict[str, text.Match] = {}
    nearest_caption: dict[str, list[str]] = {}
    if captioned:
        model = text.load_text_model(cfg.text_model)
        captions = [r["caption"] for r in captioned]
        pool = list(prompt_pool) if prompt_pool else list(dict.fromkeys(captions))
        for r, found in zip(
            captioned, text.match(captions, pool, model, cfg.prompt_top_k), strict=True
        ):
            rng = np.random.default_rng(derive_seed(seed, r["sha256"], "prompt"))
            matches[r["image_id"]] = found[int(rng.integers(len(found)))]
        if cfg.negatives_by is NegativesBy.CAPTION and len(captioned) > 1:
            cap_ids = [r["image_id"] for r in captioned]
            nearest_caption = nearest_others(
                text.embed(model, captions), cap_ids, split_of, cluster_of, cfg.negative_top_k
            )
    vectors = np.stack([descriptor(images[i]) for i in ids])
    nearest = nearest_others(vectors, ids, split_of, cluster_of, cfg.negative_top_k)
    by_caption = 0
    for i, near in nearest_caption.items():
        if near:
            nearest[i], by_caption = near, by_caption + 1
    refs = [
        Reference(
            r["image_id"],
            r["sha256"],
            r["caption"],
            cluster_of[r["image_id"]],
            split_of[r["image_id"]],
            matches[r["image_id"]].prompt if r["image_id"] in matches else None,
            matches[r["image_id"]].similarity if r["image_id"] in matches else None,
        )
        for r in selected
    ]
    stats = {
        "captioned": len(captioned),
        "clusters": len(set(cluster_of.values())),
        "negatives_by_caption": by_caption,
        "prompt_pool": len(prompt_pool) if prompt_pool else len({r["caption"] for r in captioned}),
    }
    return Prepared(refs, images, nearest, +rejects, stats)


# ---- everything ------------------------------------------------------------------------------


def make_pairs(
    specs: Sequence[PairSpec],
    refs: Sequence[Reference],
    images: Mapping[str, Image.Image],
    nearest: Mapping[str, Sequence[str]],
    cfg: PairsConfig,
    pipes: Mapping[str, Any] | None = None,
    generator: str | None = None,
    workers: int = 1,
) -> Iterator[Built | tuple[PairSpec, str]]:
    """Build every planned pair: constructed ones (in ``workers`` processes), then diffusion.

    ``images`` are the fitted references (``cfg.image_size`` squares); ``nearest`` gives each
    reference's negative candidates. Yields a ``Built`` or ``(spec, reject reason)`` per spec,
    in a stable order whatever ``workers`` is.
    """
    by_id = {r.image_id: r for r in refs}
    constructed = [s for s in specs if s.family not in DIFFUSION]
    diffused = [s for s in specs if s.family in DIFFUSION]
    tasks = []
    for source_id in dict.fromkeys(s.source_id for s in constructed):
        ref = by_id[source_id]
        pool = tuple(
            r.image_id for r in refs if r.split == ref.split and r.cluster_id != ref.cluster_id
        )
        tasks.append(
            _Task(
                source_id,
                tuple(s for s in constructed if s.source_id == source_id),
                pool,
                tuple(nearest.get(source_id, ())),
            )
        )
    if workers > 1 and len(tasks) > 1:
        import multiprocessing

        payload = {k: (im.mode, im.size, im.tobytes()) for k, im in images.items()}
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(payload,),
        ) as pool_exec:
            for results in pool_exec.map(_run_task, tasks, [cfg] * len(tasks), chunksize=4):
                yield from results
    else:
        _IMAGES.clear()
        _IMAGES.update(images)
        for task in tasks:
            yield from _run_task(task, cfg)
    if diffused:
        if pipes is None or generator is None:
            raise ValueError("diffusion families were planned but no pipelines were given")
        yield from _diffusion(diffused, by_id, images, cfg, pipes, generator)
