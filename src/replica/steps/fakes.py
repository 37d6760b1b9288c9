"""Build the synthetic-detector dataset: real and generated images, re-encoded alike.

Command: ``replica fakes --real data/gallery --fake ../shared/corpus/generated
[--fake data/pairs] --output data/fakes``

Reads:  each ``--real``/``--fake`` source (repeatable): a step output with ``images.parquet``
        or ``images_dedup.parquet`` (the gallery), a ``pairs.parquet`` at version >= 2 (its
        diffusion replicas, with their ``generator``), a ``manifest.csv``/``.parquet`` (``path``
        plus optional ``generator``, ``caption``/``prompt``, ``label``) or a folder of images
        (fakes take the folder name as generator).
Writes: ``fakes.parquet`` (contract fakes), ``blobs/<sha[:2]>/<sha>.<ext>``, ``encoding.json``
        (the encoder settings: models trained on the dataset re-encode new images alike),
        ``rejects.parquet`` (no_generator, label_conflict, undecodable, too_small, too_large,
        duplicate, unreadable) and ``_meta.json``.
Params: ``fakes`` (parity, format, quality, image_size, size_policy, test_generators,
        test_fraction, val_fraction, match_by, max_image_pixels), ``base.seed``.

With ``fakes.parity`` (the default) every image is decoded and written again with one encoder,
size policy and quality; ``validate`` then checks that a single encoding remains. With parity
off the original files are kept: only to measure how far the file format alone separates the
classes (``validate`` fails such a dataset by design).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import FAKES, REJECTS
from replica.io import StepSummary, atomic_dir, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    real: Annotated[list[Path], typer.Option(help="Source of real images (repeatable).")],
    fake: Annotated[list[Path], typer.Option(help="Source of generated images (repeatable).")],
    output: Annotated[Path, typer.Option(help="Directory to write the dataset into.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from tqdm import tqdm

        from replica.fakes import build
        from replica.fakes.encode import ENCODING_FILE, check_config, encoding_dict
        from replica.fakes.sources import SourceError, candidates

        summary = StepSummary("fakes")
        try:
            check_config(cfg.fakes)
            offered = [c for p in real for c in candidates(p, "real")]
            offered += [c for p in fake for c in candidates(p, "fake")]
        except (ValueError, SourceError) as exc:
            raise StepError(str(exc)) from exc
        summary.rows_in = len(offered)
        items: dict[str, build.Item] = {}
        rejects = []
        for cand in tqdm(offered, desc="fakes", disable=None):
            try:
                try:
                    data = cand.path.read_bytes()
                except OSError as exc:
                    raise build.Reject("unreadable", f"{cand.path}: {exc}") from exc
                item = build.prepare(cand, data, cfg.fakes)
                if item.row["image_id"] in items:
                    raise build.Reject("duplicate", f"{cand.path}: same bytes as an earlier image")
                items[item.row["image_id"]] = item
            except build.Reject as rej:
                summary.rejects[rej.reason] += 1
                rejects.append(
                    {"stage": "fakes", "source": cand.source, "record_id": str(cand.path),
                     "url": None, "reason": rej.reason, "detail": str(rej)}
                )  # fmt: skip
        kept = list(items.values())
        if not any(i.row["label"] == "real" for i in kept) or not any(
            i.row["label"] == "fake" for i in kept
        ):
            raise StepError(f"need real and fake images; kept {len(kept)} of {len(offered)}")
        build.assign_splits(kept, cfg.fakes, cfg.base.seed)
        try:
            build.attach_matches(kept, cfg.fakes)
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        with atomic_dir(output) as out:
            for item in kept:
                target = out / item.row["uri"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.blob.data)
            FAKES.write([i.row for i in kept], out)
            (out / ENCODING_FILE).write_text(json.dumps(encoding_dict(cfg.fakes), indent=2) + "\n")
            REJECTS.write(rejects, out)
            counts = Counter(str(i.row["generator"] or "real") for i in kept)
            typer.echo(f"[fakes] per class: {dict(sorted(counts.items()))}")
            summary.rows_out = len(kept)
            summary.outputs = {"fakes": len(kept), "rejects": len(rejects)}
            contracts = {"fakes": FAKES.ref, "rejects": REJECTS.ref}
            ran_with = cfg.sections("base", "fakes")
            write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
        return summary

    run("fakes", body)
