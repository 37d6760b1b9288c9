"""Remove exact and near-duplicate articles and images, keeping one row per cluster.

Command: ``replica dedup --input data/extract --output data/dedup``

Reads:  ``articles.parquet`` (articles@1), ``images.parquet`` (images@1) and their blobs.
Writes: ``articles_dedup.parquet``, ``images_dedup.parquet`` (one row per cluster, with
        cluster_id and cluster_size), ``duplicates.parquet`` (each removed row, the kept row it
        duplicates, method and score), ``rejects.parquet``, the kept blobs (hard links) and
        ``_meta.json``.
Params: ``dedup`` (shingle_size, num_perm, threshold, phash_max_distance), ``base.seed``,
        ``extract.max_image_pixels``.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import ARTICLES, ARTICLES_DEDUP, DUPLICATES, IMAGES, IMAGES_DEDUP, REJECTS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, load, run


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def main(
    input: Annotated[Path, typer.Option(help="extract output directory.")],
    output: Annotated[Path, typer.Option(help="Directory to write the deduplicated tables to.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.dedup.images import phash
        from replica.dedup.tables import dedup_articles, dedup_images

        summary = StepSummary("dedup")
        articles = ARTICLES.read(input).to_pylist()
        images = IMAGES.read(input).to_pylist()
        summary.rows_in = len(articles) + len(images)
        rejects: list[dict] = []

        def reject(row: dict, reason: str, detail: str) -> None:
            rid = row.get("article_id") or ""
            rejects.append(
                dict(
                    stage="dedup",
                    source=str(input),
                    record_id=rid,
                    url=row.get("url") or row.get("src_url"),
                    reason=reason,
                    detail=detail,
                )
            )

        usable = []
        for a in articles:
            if a["text"] and a["text"].strip():
                usable.append(a)
            else:
                reject(a, "empty_text", "article text is empty after extraction")
        arts = dedup_articles(usable, cfg.dedup, cfg.base.seed)
        kept_ids = {a["article_id"] for a in arts.kept}

        hashes: list[int | None] = []
        for im in images:
            try:
                hashes.append(phash(Path(input) / im["uri"], cfg.extract.max_image_pixels))
            except Exception as exc:  # any decoder failure is a counted, reasoned reject
                hashes.append(None)
                reject(im, "image_undecodable", f"{im['uri']}: {exc}"[:200])
        decodable = [im for im, h in zip(images, hashes, strict=True) if h is not None]
        imgs = dedup_images(decodable, [h for h in hashes if h is not None], kept_ids, cfg.dedup)

        with atomic_dir(output) as tmp:
            for im in imgs.kept:
                _link(Path(input) / im["uri"], tmp / im["uri"])
            ARTICLES_DEDUP.write(arts.kept, tmp)
            IMAGES_DEDUP.write(imgs.kept, tmp)
            DUPLICATES.write(arts.duplicates + imgs.duplicates, tmp)
            REJECTS.write(rejects, tmp)
            summary.rejects = Counter(r["reason"] for r in rejects)
            summary.rows_out = len(arts.kept) + len(imgs.kept)
            summary.outputs = {
                "articles": len(arts.kept),
                "images": len(imgs.kept),
                "duplicates": len(arts.duplicates) + len(imgs.duplicates),
            }
            write_sidecar(
                tmp,
                summary.finish(),
                {c.name: c.ref for c in (ARTICLES_DEDUP, IMAGES_DEDUP, DUPLICATES, REJECTS)},
                cfg.digest("dedup"),
            )
        return summary

    run("dedup", body)
