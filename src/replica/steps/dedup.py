"""Remove exact and near-duplicate articles and images, keeping one row per cluster; group
articles into stories.

Command: ``replica dedup --input data/extract --output data/dedup [--engine local|ray]
[--embedding-model model.pt]``

Reads:  ``articles.parquet`` (articles@1, streamed in batches), ``images.parquet`` (images@1)
        and their blobs (a uri or symlink leading out of ``--input`` is an error).
Writes: ``articles_dedup.parquet``, ``images_dedup.parquet`` (one row per cluster, with
        cluster_id and cluster_size), ``duplicates.parquet`` (each removed row, the kept row it
        duplicates, method and evidence score), ``stories.parquet`` (text clusters joined by
        shared images, with their image sets), ``rejects.parquet`` (empty_text, invalid_utf8,
        text_too_large, image_undecodable), the kept blobs (hard links) and ``_meta.json``.
Params: ``dedup`` (shingle_size, num_perm, threshold, lsh_fp_weight, lsh_fn_weight,
        max_text_bytes, phash_max_distance, match_flips, embedding_threshold,
        embedding_image_size, workers, batch_rows), ``base.seed``, ``extract.max_image_pixels``.
Engines: ``local`` (all cores, streaming) and ``ray`` (Ray Data; ``RAY_ADDRESS`` selects a
        cluster) give identical clusters.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import (
    ARTICLES,
    ARTICLES_DEDUP,
    DUPLICATES,
    IMAGES,
    IMAGES_DEDUP,
    REJECTS,
    STORIES,
    ContractError,
)
from replica.guard.paths import UnsafePath, inside
from replica.io import StepSummary, atomic_dir, link_or_copy, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    input: Annotated[Path, typer.Option(help="extract output directory.")],
    output: Annotated[Path, typer.Option(help="Directory to write the deduplicated tables to.")],
    engine: Annotated[str, typer.Option(help="local (all cores) or ray (Ray Data).")] = "local",
    embedding_model: Annotated[
        Path | None, typer.Option(help="TorchScript image embedding model: adds embedding mode.")
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        import numpy as np

        from replica.dedup import images as img
        from replica.dedup.engine import Engine, candidates, fingerprints, select_rows, workers_for
        from replica.dedup.tables import ImageEvidence, cluster_texts, dedup_images, describe
        from replica.dedup.tables import stories as make_stories

        eng = Engine(engine) if engine in {e.value for e in Engine} else None
        if eng is None:
            raise ContractError(f"--engine must be one of {[e.value for e in Engine]}: {engine!r}")
        summary = StepSummary("dedup")
        src = Path(input) / ARTICLES.filename
        ARTICLES.check_file(src)  # streamed below: stamp and columns are checked up front
        images = IMAGES.read(input).to_pylist()
        try:  # blob uris stay inside the input (the contract checks the text, this symlinks)
            blobs = {im["uri"]: inside(Path(input), im["uri"]) for im in images}
        except UnsafePath as exc:
            raise StepError(f"{IMAGES.ref} in {str(input)!r}: {exc}") from exc

        # 1. text: fingerprints (streamed) → LSH candidates → verified clusters, keep policy
        index = fingerprints(eng, src, cfg.dedup, cfg.base.seed)
        cands = candidates(eng, index, cfg.dedup)
        text_clusters, text_removals = cluster_texts(index, cfg.dedup, cands)
        cid, art_dups = describe("articles", index.article_id, text_clusters, text_removals)
        sizes = text_clusters.sizes()
        kept = text_clusters.kept
        articles = select_rows(src, index.row[kept], cfg.dedup.batch_rows)
        articles = articles.append_column(
            "cluster_id", [[cid[int(k)] for k in kept]]
        ).append_column("cluster_size", [sizes[kept].astype("int32")])
        rejects = [
            dict(stage="dedup", source=str(input), **r) for r in index.rejects
        ]  # record_id, url, reason, detail

        # 2. images: one decode per distinct file; undecodable files are rejects
        uris = sorted({im["uri"] for im in images})
        hashed = img.hash_images(
            [blobs[u] for u in uris], cfg.extract.max_image_pixels, workers_for(cfg.dedup)
        )
        by_uri = {u: i for i, u in enumerate(uris)}
        usable = []
        for im in images:
            err = hashed.error[by_uri[im["uri"]]]
            if err is None:
                usable.append(im)
            else:
                rejects.append(
                    dict(
                        stage="dedup",
                        source=str(input),
                        record_id=im["article_id"],
                        url=im["src_url"],
                        reason="image_undecodable",
                        detail=f"{im['uri']}: {err}"[:200],
                    )
                )
        at = [by_uri[im["uri"]] for im in usable]
        emb = None
        if embedding_model is not None:
            ok = sorted(set(at))  # decodable files only
            vecs = img.embed(
                [blobs[uris[i]] for i in ok], embedding_model, cfg.dedup.embedding_image_size
            )
            emb = vecs[np.searchsorted(ok, at)]
        ev = ImageEvidence(
            pixel_sha=[hashed.pixel_sha[i] for i in at],
            phash=hashed.phash[at],
            phash_flip=hashed.phash_flip[at],
            embedding=emb,
        )
        kept_ids = set(articles.column("article_id").to_pylist())
        imgs, image_clusters = dedup_images(usable, ev, kept_ids, cfg.dedup)

        # 3. stories: text clusters joined by shared image clusters
        story_rows = make_stories(index, text_clusters, usable, image_clusters)

        with atomic_dir(output) as tmp:
            for im in imgs.kept:
                link_or_copy(blobs[im["uri"]], inside(tmp, im["uri"]))
            ARTICLES_DEDUP.write(articles, tmp)
            IMAGES_DEDUP.write(imgs.kept, tmp)
            DUPLICATES.write(art_dups + imgs.duplicates, tmp)
            STORIES.write(story_rows, tmp)
            REJECTS.write(rejects, tmp)
            summary.rows_in = len(index) + len(index.rejects) + len(images)
            summary.rejects = Counter(r["reason"] for r in rejects)
            summary.rows_out = articles.num_rows + len(imgs.kept)
            summary.outputs = {
                "articles": articles.num_rows,
                "images": len(imgs.kept),
                "duplicates": len(art_dups) + len(imgs.duplicates),
                "stories": len(story_rows),
            }
            write_sidecar(
                tmp,
                summary.finish(),
                {
                    c.name: c.ref
                    for c in (ARTICLES_DEDUP, IMAGES_DEDUP, DUPLICATES, STORIES, REJECTS)
                },
                cfg.digest("dedup"),
            )
        return summary

    run("dedup", body)
