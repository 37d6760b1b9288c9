"""Import a user's images as a gallery that ``replica pairs`` builds D-Rep pairs from.

Command: ``replica gallery --source <folder | glob | s3://bucket/prefix | manifest.csv |
manifest.parquet> --output data/gallery``

Reads:  the source's files (a manifest lists ``path``, relative to it, and an optional
        ``caption``; a missing caption is fine: captions matter only for prompt matching and
        text-to-image). ``s3://`` sources read credentials and ``AWS_ENDPOINT_URL`` from the env.
Writes: ``images.parquet`` (contract images; ``image_id`` = sha256 of the bytes, ``article_id``
        = ``gallery``, ``src_url`` = where the file came from), the original bytes at
        ``blobs/<sha[:2]>/<sha>.<ext>`` (``uri`` relative to ``--output``), ``rejects.parquet``
        (every refused file with its reason), ``_meta.json``.
Params: ``gallery`` (min_side, max_pixels, max_bytes, workers).

Rejects: missing_file, unreadable, too_large, not_an_image, unsupported_format,
decompression_bomb, corrupt_image, too_small, duplicate (same sha256 as an earlier file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import IMAGES, REJECTS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    source: Annotated[
        str, typer.Option(help="Folder, glob, s3://bucket/prefix, or a .csv/.parquet manifest.")
    ],
    output: Annotated[Path, typer.Option(help="Directory to write the gallery into.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from tqdm import tqdm

        from replica.dedup.lsh import cpu_count
        from replica.gallery.ingest import Imported, ingest
        from replica.gallery.sources import GallerySourceError, list_candidates, read_bytes

        summary = StepSummary("gallery")
        try:
            candidates = list_candidates(source)
        except GallerySourceError as exc:
            raise StepError(str(exc)) from exc
        summary.rows_in = len(candidates)
        workers = cfg.gallery.workers or cpu_count()
        rows, rejects = [], []
        with atomic_dir(output) as out:
            results = ingest(candidates, cfg.gallery, read_bytes, workers)
            for r in tqdm(results, total=len(candidates), desc="gallery", disable=None):
                if isinstance(r, Imported):
                    target = out / str(r.row["uri"])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(r.data)
                    rows.append(r.row)
                else:
                    rejects.append(r.row())
                    summary.rejects[r.reason] += 1
            if not rows:
                raise StepError(f"no importable image in {source!r} ({dict(summary.rejects)})")
            IMAGES.write(rows, out)
            REJECTS.write(rejects, out)
            summary.rows_out = len(rows)
            captioned = sum(1 for r in rows if r["caption"])
            summary.outputs = {"images": len(rows), "captioned": captioned}
            contracts = {c.name: c.ref for c in (IMAGES, REJECTS)}
            write_sidecar(out, summary.finish(), contracts, cfg.digest("gallery"))
        return summary

    run("gallery", body)
