"""Remove exact and near-duplicate articles and images, keeping one row per cluster; group
articles into stories. Or, on any table of texts, remove near-duplicate texts.

Command: ``replica dedup --input data/extract --output data/dedup [--engine local|ray]
[--embedding-model model.pt]``, or on a plain table:
``replica dedup --input texts.parquet|.jsonl|.csv --output out --text-column text
--id-column id [--date-column d] [--url-column u] [--source-column s]``

Reads:  ``articles.parquet`` (articles@1, streamed in batches), ``images.parquet`` (images@1)
        and their blobs (a uri or symlink leading out of ``--input`` is an error);
        or a plain Parquet/JSONL/CSV file with a text and an id column
        (Parquet streamed, JSONL and CSV read whole).
Writes: articles: ``articles_dedup.parquet``, ``images_dedup.parquet`` (one row per cluster,
        with cluster_id and cluster_size), ``stories.parquet`` (text clusters joined by shared
        images), the kept blobs (hard links); plain tables: ``text_clusters.parquet`` (every
        usable row's cluster) and ``kept.parquet`` (the kept rows, all their columns, with
        cluster_id and cluster_size). Both: ``duplicates.parquet`` (each removed row, the kept
        row it duplicates, method, score and evidence), ``rejects.parquet`` (empty_text,
        invalid_utf8, text_too_large, missing_id, duplicate_id, image_undecodable) and
        ``_meta.json`` (with the second pass's counts).
Params: ``dedup`` (shingle_size, num_perm, threshold, band_threshold, containment,
        band_containment, min_story_share, semantic_*, boilerplate_*, lsh_*, max_text_bytes,
        phash_max_distance, match_flips, embedding_threshold, embedding_image_size, workers,
        pool_min_rows, batch_rows), ``base.seed``, ``extract.max_image_pixels``.
Engines: ``local`` (one process below ``pool_min_rows`` rows, a pool above) and ``ray`` (Ray
        Data; ``RAY_ADDRESS`` selects a cluster) give identical clusters.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from replica.contracts import (
    ARTICLES,
    ARTICLES_DEDUP,
    DUPLICATES,
    IMAGES,
    IMAGES_DEDUP,
    REJECTS,
    STORIES,
    TEXT_CLUSTERS,
    ContractError,
)
from replica.guard.paths import UnsafePath, inside
from replica.io import StepSummary, atomic_dir, atomic_write_text, link_or_copy, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run

if TYPE_CHECKING:
    from replica.config import Params
    from replica.dedup.clusters import Clusters
    from replica.dedup.tables import TextIndex

Column = Annotated[str | None, typer.Option(help="Plain-table input: the column holding it.")]


def main(
    input: Annotated[Path, typer.Option(help="extract output directory, or a text table file.")],
    output: Annotated[Path, typer.Option(help="Directory to write the deduplicated tables to.")],
    engine: Annotated[str, typer.Option(help="local (all cores) or ray (Ray Data).")] = "local",
    embedding_model: Annotated[
        Path | None, typer.Option(help="TorchScript image embedding model: adds embedding mode.")
    ] = None,
    text_column: Column = None,
    id_column: Column = None,
    date_column: Column = None,
    url_column: Column = None,
    source_column: Column = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.dedup.engine import ARTICLE_COLUMNS, Columns, Engine, TextTable, dedup_texts
        from replica.dedup.tables import describe

        eng = Engine(engine) if engine in {e.value for e in Engine} else None
        if eng is None:
            raise ContractError(f"--engine must be one of {[e.value for e in Engine]}: {engine!r}")
        plain = input.is_file() or text_column is not None or id_column is not None
        if plain:
            if not (text_column and id_column):
                raise ContractError("a plain table needs --text-column and --id-column")
            cols = Columns(id_column, text_column, date_column, url_column, source_column)
            table = TextTable.open(input, cols)
        else:
            src = input / ARTICLES.filename
            ARTICLES.check_file(src)  # streamed below: stamp and columns are checked up front
            table = TextTable(src, ARTICLE_COLUMNS)
        summary = StepSummary("dedup")
        # 1. text: learned boilerplate → fingerprints → candidates → two passes → stories → keep
        res = dedup_texts(eng, table, cfg.dedup, cfg.base.seed)
        index, clusters = res.index, res.clusters
        dataset = "texts" if plain else "articles"
        cid, dups = describe(dataset, index.article_id, clusters, res.removals)
        kept = clusters.kept
        sizes = clusters.sizes()
        rows = table.take(index.row[kept], cfg.dedup.batch_rows, standard=False)
        rows = rows.append_column("cluster_id", [[cid[int(k)] for k in kept]]).append_column(
            "cluster_size", [sizes[kept].astype("int32")]
        )
        rejects = [dict(stage="dedup", source=str(input), **r) for r in index.rejects]
        if plain:
            members = [
                {"id": a, "cluster_id": cid[int(k)], "cluster_size": int(sizes[i]), "kept": k == i}
                for i, (a, k) in enumerate(
                    zip(index.article_id, clusters.kept_of.tolist(), strict=True)
                )
            ]
            outputs = {"kept": rows.num_rows, "duplicates": len(dups)}
            with atomic_dir(output) as tmp:
                import pyarrow.parquet as pq

                pq.write_table(rows, tmp / "kept.parquet")
                TEXT_CLUSTERS.write(members, tmp)
                DUPLICATES.write(dups, tmp)
                REJECTS.write(rejects, tmp)
                _finish(summary, len(index) + len(index.rejects), rows.num_rows, rejects, outputs)
                refs = {c.name: c.ref for c in (TEXT_CLUSTERS, DUPLICATES, REJECTS)}
                write_sidecar(tmp, summary.finish(), refs, cfg.digest("dedup"))
                _report(tmp, res.stats)
            return summary
        articles = ARTICLES_DEDUP.conform(rows)
        imgs, image_dups, story_rows, image_rejects, blobs, n_images = _images(
            input,
            index,
            clusters,
            set(articles.column("article_id").to_pylist()),
            cfg,
            embedding_model,
        )
        rejects += image_rejects
        with atomic_dir(output) as tmp:
            for uri, path in blobs.items():
                link_or_copy(path, inside(tmp, uri))
            ARTICLES_DEDUP.write(articles, tmp)
            IMAGES_DEDUP.write(imgs, tmp)
            DUPLICATES.write(dups + image_dups, tmp)
            STORIES.write(story_rows, tmp)
            REJECTS.write(rejects, tmp)
            outputs = {
                "articles": articles.num_rows,
                "images": len(imgs),
                "duplicates": len(dups) + len(image_dups),
                "stories": len(story_rows),
            }
            n_in = len(index) + len(index.rejects) + n_images
            _finish(summary, n_in, articles.num_rows + len(imgs), rejects, outputs)
            refs = {
                c.name: c.ref for c in (ARTICLES_DEDUP, IMAGES_DEDUP, DUPLICATES, STORIES, REJECTS)
            }
            write_sidecar(tmp, summary.finish(), refs, cfg.digest("dedup"))
            _report(tmp, res.stats)
        return summary

    run("dedup", body)


def _report(directory: Path, stats: dict[str, float]) -> None:
    """The text path's counts in ``text_stats.json`` (part of the dataset, so no timings: the
    same input gives the same DVC hash) and, with the second pass's cost, in one line."""
    import json

    counts = {k: v for k, v in stats.items() if not k.endswith("_seconds")}
    atomic_write_text(directory / "text_stats.json", json.dumps(counts, indent=2, sort_keys=True))
    g = stats.get
    typer.echo(
        f"[dedup] text: {g('candidates', 0):.0f} candidate pairs, {g('band_pairs', 0):.0f} in the "
        f"band, {g('band_pairs_embedded', 0):.0f} embedded, {g('band_pairs_accepted', 0):.0f} "
        f"accepted ({g('texts_embedded', 0):.0f} texts in {g('embedding_seconds', 0):.1f}s, "
        f"{g('texts_over_budget', 0):.0f} over budget); {g('pages_with_two_stories', 0):.0f} pages "
        f"hold two stories; {g('learned_boilerplate_lines', 0):.0f} boilerplate lines learned"
    )


def _finish(
    summary: StepSummary, rows_in: int, rows_out: int, rejects: list, outputs: dict
) -> None:
    summary.rows_in = rows_in
    summary.rows_out = rows_out
    summary.rejects = Counter(r["reason"] for r in rejects)
    summary.outputs = outputs


def _images(
    input: Path,
    index: TextIndex,
    clusters: Clusters,
    kept_ids: set[str],
    cfg: Params,
    embedding_model: Path | None,
) -> tuple[
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    dict[str, Path],
    int,
]:
    """Images of the extract output: hashes (undecodable files are rejects), clusters, stories.
    Returns kept images, image duplicates, stories, rejects, kept blobs by uri, images read."""
    import numpy as np

    from replica.dedup import images as img
    from replica.dedup.engine import workers_for
    from replica.dedup.tables import ImageEvidence, dedup_images
    from replica.dedup.tables import stories as make_stories

    images = IMAGES.read(input).to_pylist()
    try:  # blob uris stay inside the input (the contract checks the text, this symlinks)
        paths = {im["uri"]: inside(input, im["uri"]) for im in images}
    except UnsafePath as exc:
        raise StepError(f"{IMAGES.ref} in {str(input)!r}: {exc}") from exc
    uris = sorted(paths)
    hashed = img.hash_images(
        [paths[u] for u in uris], cfg.extract.max_image_pixels, workers_for(cfg.dedup)
    )
    by_uri = {u: i for i, u in enumerate(uris)}
    usable, rejects = [], []
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
            [paths[uris[i]] for i in ok], embedding_model, cfg.dedup.embedding_image_size
        )
        emb = vecs[np.searchsorted(ok, at)]
    ev = ImageEvidence(
        pixel_sha=[hashed.pixel_sha[i] for i in at],
        phash=hashed.phash[at],
        phash_flip=hashed.phash_flip[at],
        embedding=emb,
    )
    imgs, image_clusters = dedup_images(usable, ev, kept_ids, cfg.dedup)
    story_rows = make_stories(index, clusters, usable, image_clusters)
    blobs = {im["uri"]: paths[im["uri"]] for im in imgs.kept}
    return imgs.kept, imgs.duplicates, story_rows, rejects, blobs, len(images)
