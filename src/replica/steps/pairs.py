"""Make (source, replica) image pairs with a proxy replication level 0-5 and a train/test split.

Command: ``replica pairs --input data/dedup --output data/pairs [--model data/tiny-sd]``

Reads:  ``images_dedup.parquet`` (contract images_dedup; ``uri`` relative to ``--input``) and
        its image files; the img2img model (a local diffusers directory or a hub id).
Writes: ``pairs.parquet`` (contract pairs), ``replicas/<sha[:2]>/<sha>.png``, the sources under
        ``sources/`` (hardlinked, else copied) so the directory is self-contained, ``_meta.json``.
Params: ``pairs`` (model, image_size, strengths, num_inference_steps, guidance_scale,
        transforms_per_image, level_thresholds, test_fraction, max_images), ``base.seed``.

Gallery images without a caption or alt text are counted as ``no_caption``; images that do not
decode are counted as ``undecodable_image``. Fewer than two usable images is an error, since
both splits must be non-empty.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import IMAGES_DEDUP, PAIRS
from replica.io import StepSummary, atomic_dir, link_or_copy, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def _place_source(src: Path, out: Path, uri: str) -> str:
    """Hardlink (else copy) a source image into ``out/sources``; return its relative uri."""
    rel = Path("sources") / uri
    target = out / rel
    if not target.exists():
        link_or_copy(src, target)
    return rel.as_posix()


def _write_png(image, out: Path) -> tuple[str, str]:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    rel = Path("replicas") / sha[:2] / f"{sha}.png"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(data)
    return rel.as_posix(), sha


def main(
    input: Annotated[Path, typer.Option(help="dedup output directory (images_dedup.parquet).")],
    output: Annotated[Path, typer.Option(help="Directory to write the pairs dataset into.")],
    model: Annotated[
        str | None, typer.Option(help="img2img model dir or hub id (default: pairs.model).")
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from PIL import Image, UnidentifiedImageError
        from tqdm import tqdm

        from replica.generate import pairs as core
        from replica.generate.img2img import as_img2img, load_pipeline

        summary = StepSummary("pairs")
        try:
            core.check_schedule(cfg.pairs)
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        rows = IMAGES_DEDUP.read(input).to_pylist()
        summary.rows_in = len(rows)
        gallery, skipped = core.select_gallery(rows, cfg.pairs.max_images)
        summary.rejects.update(skipped)
        images = {}
        for g in list(gallery):
            try:
                with Image.open(Path(input) / g.uri) as im:
                    images[g.image_id] = core.to_square(im, cfg.pairs.image_size)
            except (OSError, UnidentifiedImageError):
                summary.rejects["undecodable_image"] += 1
                gallery.remove(g)
        if len(gallery) < 2:
            raise StepError(
                f"need >= 2 captioned, decodable images for a split, got {len(gallery)}"
            )
        model_id = model or cfg.pairs.model
        if not model_id:
            raise StepError("no img2img model: pass --model or set pairs.model")
        try:
            pipe = load_pipeline(model_id)
        except OSError as exc:
            raise StepError(str(exc)) from exc
        img2img = as_img2img(pipe, cfg.pairs.num_inference_steps, cfg.pairs.guidance_scale)
        splits = core.assign_splits(
            [g.image_id for g in gallery], cfg.pairs.test_fraction, cfg.base.seed
        )
        by_id = {g.image_id: g for g in gallery}
        records: list[dict[str, object]] = []
        levels: list[int] = []
        total = len(gallery) * (len(cfg.pairs.strengths) + cfg.pairs.transforms_per_image)
        replicas = core.make_replicas(gallery, images, splits, cfg.pairs, cfg.base.seed, img2img)
        with atomic_dir(output) as out:
            for r in tqdm(replicas, total=total, desc="pairs", disable=None):
                g = by_id[r.source_image_id]
                replica_uri, sha = _write_png(r.image, out)
                records.append(
                    {
                        "pair_id": r.pair_id,
                        "source_image_id": g.image_id,
                        "source_uri": _place_source(Path(input) / g.uri, out, g.uri),
                        "replica_uri": replica_uri,
                        "replica_sha256": sha,
                        "kind": r.kind,
                        "transform": r.transform,
                        "strength": r.strength,
                        "prompt": r.prompt,
                        "similarity": r.similarity,
                        "level": r.level,
                        "label_source": "proxy",
                        "split": splits[g.image_id],
                    }
                )
                levels.append(r.level)
            PAIRS.write(records, out)
            summary.rows_out = len(records)
            summary.outputs = {"pairs": len(records), "gallery": len(gallery)}
            hist = core.level_histogram(levels, len(cfg.pairs.level_thresholds) + 1)
            typer.echo(f"[pairs] levels 0..{len(hist) - 1}: {hist}")
            ran_with = cfg.sections("base", "pairs")
            write_sidecar(
                out, summary.finish(), {"pairs": PAIRS.ref}, cfg.digest(*ran_with), ran_with
            )
        return summary

    run("pairs", body)
