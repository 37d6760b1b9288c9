"""Build D-Rep pairs (levels 0-5 by construction) from a gallery; export and import human labels.

Command: ``replica pairs --input <data/gallery | data/dedup> --output data/pairs
[--model DIR_OR_HUB_ID] [--prompts FILE] [--labels FILE]``

Reads:  ``images.parquet`` (contract images: ``replica gallery`` or ``extract``) or
        ``images_dedup.parquet`` and their files; a prompt pool (``--prompts``: one prompt per
        line, or a CSV/Parquet ``prompt`` column; default: the gallery's captions); the
        diffusion model (``--model``, else ``pairs.model``), only if a diffusion family is
        drawn; human labels (``--labels``, as ``import-labels`` reads them).
Writes: ``pairs.parquet`` (contract pairs@2), ``gallery.parquet`` (every reference with its
        split), every reference and replica under ``images/<sha[:2]>/<sha>.<ext>`` with one
        encoder, with ``--labels`` also ``labels.parquet`` and ``agreement.json``; ``_meta.json``.
Params: ``pairs`` (families, per_level, level_cuts, image size and encoding, splits, negatives,
        prompts, diffusion and its GPU fast path), ``base.seed``.

Subcommands: ``replica pairs export-labels --input data/pairs --output labels/`` writes a
stratified sample as Label Studio tasks (``tasks.json`` + ``label_config.xml``);
``replica pairs import-labels --input data/pairs --labels export.json [--output DIR]`` applies
a Label Studio JSON export or a CSV (pair_id, level, annotator): human levels override
construction, and ``agreement.json`` gives the agreement figures.

Counted rejects: undecodable_image, over_max_images, no_negative_in_split (a split with one
cluster), <family>_level_not_reached (a layout that cannot fit the canvas); label files:
cancelled, bad_level, no_pair_id, unknown_pair. A missing caption is never a reject.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from replica.contracts import IMAGES, IMAGES_DEDUP, LABELS, PAIRS, PAIRS_GALLERY
from replica.io import SIDECAR, StepSummary, atomic_dir, link_or_copy, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run

app = typer.Typer(help=__doc__, add_completion=False)


def _read_gallery(input: Path) -> list[dict[str, Any]]:
    if (Path(input) / IMAGES_DEDUP.filename).exists():
        return IMAGES_DEDUP.read(input).to_pylist()
    if (Path(input) / IMAGES.filename).exists():
        return IMAGES.read(input).to_pylist()
    raise StepError(f"{str(input)!r} holds neither images_dedup.parquet nor images.parquet")


def _write_labelled(out: Path, rows: list[dict[str, Any]], votes: list, summary: StepSummary):
    """Apply votes to rows and write pairs, labels and agreement into ``out``."""
    from replica.generate.labels import agreement, apply_labels

    rows, counts = apply_labels(rows, votes)
    summary.rejects["unknown_pair"] += counts.pop("unknown_pair", 0)
    construction = {r["pair_id"]: r["construction_level"] for r in rows}
    votes = [v for v in votes if v.pair_id in construction]  # the rest are counted rejects
    LABELS.write([v.__dict__ for v in votes], out)
    figures = {**agreement(votes, construction), "labelled_pairs": counts["human"]}
    figures["changed_by_humans"] = counts["changed"]
    (out / "agreement.json").write_text(json.dumps(figures, indent=2) + "\n")
    typer.echo(f"[pairs] human labels: {json.dumps(figures)}")
    summary.outputs["human_labelled"] = counts["human"]
    return rows


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    input: Annotated[
        Path | None, typer.Option(help="Gallery dir (images.parquet) or dedup output.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Directory to write the pairs into.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Diffusion model dir or hub id (default: pairs.model).")
    ] = None,
    prompts: Annotated[
        Path | None, typer.Option(help="Prompt pool file (default: the gallery's captions).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Human labels to apply (Label Studio JSON or CSV).")
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if input is None or output is None:
        raise typer.BadParameter("replica pairs needs --input and --output")
    cfg = load(params, set_)

    def body() -> StepSummary:
        from tqdm import tqdm

        from replica.dedup.lsh import cpu_count
        from replica.generate import pairs as core
        from replica.generate.encode import SUFFIX, encode
        from replica.generate.labels import read_labels
        from replica.generate.levels import DIFFUSION
        from replica.generate.prompts import read_pool

        summary = StepSummary("pairs")
        c = cfg.pairs
        try:
            core.check_config(c)
            pool = read_pool(prompts) if prompts else None
            votes, label_rejects = read_labels(labels) if labels else ([], Counter())
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        summary.rejects.update(label_rejects)
        rows = _read_gallery(input)
        summary.rows_in = len(rows)
        workers = c.workers or cpu_count()
        prep = core.prepare(rows, input, c, cfg.base.seed, pool, cfg.gallery.max_pixels, workers)
        summary.rejects.update(prep.rejects)
        if len(prep.refs) < 2:
            raise StepError(f"need >= 2 decodable gallery images for a split, got {len(prep.refs)}")
        planned = core.plan(prep.refs, c, cfg.base.seed)
        summary.rejects.update(planned.skipped)
        kinds = sorted({s.family.value for s in planned.specs if s.family in DIFFUSION})
        pipes, generator = None, model or c.model
        if kinds:
            from replica.generate import diffusion

            if not generator:
                raise StepError(
                    f"{kinds} drawn but no diffusion model: pass --model or set pairs.model"
                )
            try:
                pipes = diffusion.load_pipelines(generator, kinds, c.inpaint_model)
            except OSError as exc:
                raise StepError(str(exc)) from exc
            diffusion.apply_fast_path(pipes, diffusion.FastPath.from_config(c))
        by_id = {r.image_id: r for r in prep.refs}
        suffix = SUFFIX[c.encoding]

        def put(out: Path, data: bytes) -> tuple[str, str]:
            import hashlib

            sha = hashlib.sha256(data).hexdigest()
            rel = f"images/{sha[:2]}/{sha}.{suffix}"
            if not (out / rel).exists():
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes(data)
            return rel, sha

        with atomic_dir(output) as out:
            files = {
                r.image_id: put(out, encode(prep.images[r.image_id], c.encoding, c.quality))
                for r in prep.refs
            }
            PAIRS_GALLERY.write(
                [core.reference_record(r, files[r.image_id]) for r in prep.refs], out
            )
            records: list[dict[str, Any]] = []
            built = core.make_pairs(
                planned.specs, prep.refs, prep.images, prep.nearest, c, pipes, generator, workers
            )
            for b in tqdm(built, total=len(planned.specs), desc="pairs", disable=None):
                if isinstance(b, tuple):
                    summary.rejects[b[1]] += 1
                    continue
                ref = by_id[b.spec.source_id]
                records.append(core.pair_record(b, ref, files[ref.image_id], put(out, b.data)))
            if labels:
                records = _write_labelled(out, records, votes, summary)
            PAIRS.write(records, out)
            summary.rows_out = len(records)
            levels = Counter(r["level"] for r in records)
            families = Counter(r["family"] for r in records)
            summary.outputs |= {"pairs": len(records), "references": len(prep.refs), **prep.stats}
            typer.echo(f"[pairs] levels 0..5: {[levels[k] for k in range(6)]}")
            typer.echo(f"[pairs] families: {dict(sorted(families.items()))}")
            contracts = {"pairs": PAIRS.ref, "pairs_gallery": PAIRS_GALLERY.ref}
            if labels:
                contracts["labels"] = LABELS.ref
            ran_with = cfg.sections("base", "pairs")
            write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
        return summary

    run("pairs", body)


@app.command("export-labels")
def export_labels(
    input: Annotated[Path, typer.Option(help="Pairs directory (pairs.parquet).")],
    output: Annotated[Path, typer.Option(help="Directory for tasks.json and label_config.xml.")],
    per_stratum: Annotated[int, typer.Option(help="Pairs per (level, family) stratum.")] = 5,
    url_prefix: Annotated[
        str, typer.Option(help="Prefix turning image uris into URLs Label Studio can load.")
    ] = "",
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    """Write a stratified sample of pairs as Label Studio tasks (tasks.json, label_config.xml)."""
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.generate.labels import LABEL_CONFIG, export_tasks

        summary = StepSummary("pairs export-labels")
        rows = PAIRS.read(input).to_pylist()
        summary.rows_in = len(rows)
        tasks = export_tasks(rows, per_stratum, cfg.base.seed, url_prefix)
        with atomic_dir(output) as out:
            (out / "tasks.json").write_text(json.dumps(tasks, indent=1) + "\n")
            (out / "label_config.xml").write_text(LABEL_CONFIG)
        summary.rows_out = len(tasks)
        summary.outputs = {"tasks": len(tasks)}
        return summary

    run("pairs export-labels", body)


@app.command("import-labels")
def import_labels(
    input: Annotated[Path, typer.Option(help="Pairs directory (pairs.parquet).")],
    labels: Annotated[Path, typer.Option(help="Label Studio JSON export or CSV.")],
    output: Annotated[
        Path | None, typer.Option(help="Where to write the labelled pairs (default: --input).")
    ] = None,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    """Apply human labels (they override construction) and write agreement figures."""
    cfg = load(params, set_)

    def body() -> StepSummary:
        from replica.generate.labels import Vote, merge, read_labels

        summary = StepSummary("pairs import-labels")
        rows = PAIRS.read(input).to_pylist()
        try:
            new, rejects = read_labels(labels)
        except ValueError as exc:
            raise StepError(str(exc)) from exc
        summary.rows_in, summary.rejects = len(new), rejects
        old = []
        if (Path(input) / LABELS.filename).exists():
            old = [Vote(**v) for v in LABELS.read(input).to_pylist()]
        votes = merge(old, new)
        tables = {PAIRS.filename, LABELS.filename, "agreement.json", SIDECAR}
        with atomic_dir(output or input) as out:
            for path in sorted(Path(input).rglob("*")):
                if path.is_file() and path.relative_to(input).as_posix() not in tables:
                    link_or_copy(path, out / path.relative_to(input))
            PAIRS.write(_write_labelled(out, rows, votes, summary), out)
            summary.rows_out = len(rows)
            meta = json.loads((Path(input) / SIDECAR).read_text())
            contracts = {**meta.get("contracts", {}), "labels": LABELS.ref}
            write_sidecar(out, summary.finish(), contracts, cfg.digest("base", "pairs"))
        return summary

    run("pairs import-labels", body)
