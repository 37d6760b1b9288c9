"""Compute FakeInversion features for every image of a ``fakes`` dataset (GPU pool).

Command: ``replica invert --input data/fakes --output data/invert [--cache data/cache]``

Reads:  ``fakes.parquet`` (contract fakes), its images and ``encoding.json``; the Stable
        Diffusion model ``invert.model`` (a local diffusers directory or a hub id, never
        downloaded).
Writes: the fakes dataset extended with its features, so ``train``/``evaluate --family
        synthetic`` read one directory whatever the model: ``fakes.parquet``, ``blobs/`` and
        ``encoding.json`` (hard links of the input's), ``inversions.parquet`` (contract
        inversions), ``features/<sha[:2]>/<sha>.safetensors`` (float16 [9, S, S]: image, decoded
        inverted noise, decoded reconstruction; written from the cache) and ``_meta.json``.
Params: ``invert`` (model, image_size, steps, guidance_scale, caption_source, batch_size).
Env:    ``REPLICA_CACHE`` (default for ``--cache``): the feature cache, keyed by image sha256 and
        model id (model, size, steps, guidance, caption source), so a rerun inverts only new
        images and ``train``/``evaluate`` reuse the same features.

Runs on a GPU when one is visible (fp16), else on CPU (fp32: the tiny model for tests/demo).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from replica.contracts import FAKES, INVERSIONS
from replica.io import StepSummary, atomic_dir, link_or_copy, write_sidecar
from replica.steps._common import Overrides, ParamsPath, StepError, load, run

CacheDir = Annotated[
    Path, typer.Option(envvar="REPLICA_CACHE", help="Feature cache (image sha256 + model id).")
]


def main(
    input: Annotated[Path, typer.Option(help="fakes output directory (fakes.parquet).")],
    output: Annotated[Path, typer.Option(help="Directory to write the feature files into.")],
    cache: CacheDir = Path("data/cache"),
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)

    def body() -> StepSummary:
        from safetensors.torch import save_file
        from tqdm import tqdm

        from replica.cache import FeatureCache
        from replica.fakes.encode import ENCODING_FILE
        from replica.invert.inversion import cached_features, inverter_for
        from replica.train.synthetic import load_pixels

        summary = StepSummary("invert")
        rows = FAKES.read(input).to_pylist()
        summary.rows_in = len(rows)
        if not cfg.invert.model:
            raise StepError("no Stable Diffusion model: set invert.model (a dir or hub id)")
        try:
            inverter = inverter_for(cfg.invert.model, cfg.invert)
        except (OSError, ValueError) as exc:
            raise StepError(str(exc)) from exc
        store = FeatureCache(cache, inverter.model_id)
        with tqdm(total=len(rows), desc="invert", disable=None) as bar:
            features = cached_features(
                inverter,
                store,
                [r["sha256"] for r in rows],
                lambda i: load_pixels(Path(input) / rows[i]["uri"]),
                [r["caption"] or "" for r in rows],
                cfg.invert.batch_size,
                bar.update,
            )
        size = cfg.invert.image_size
        with atomic_dir(output) as out:
            for row in rows:  # the dataset itself, so one directory holds images and features
                link_or_copy(Path(input) / row["uri"], out / row["uri"])
            FAKES.write(rows, out)
            if (Path(input) / ENCODING_FILE).is_file():
                link_or_copy(Path(input) / ENCODING_FILE, out / ENCODING_FILE)
            records = []
            for row, feat in zip(rows, features, strict=True):
                if tuple(feat.shape) != (9, size, size):
                    raise StepError(f"features of {row['image_id']} have shape {tuple(feat.shape)}")
                uri = f"features/{row['sha256'][:2]}/{row['sha256']}.safetensors"
                (out / uri).parent.mkdir(parents=True, exist_ok=True)
                save_file({"features": feat.contiguous()}, str(out / uri))
                records.append(
                    {"image_id": row["image_id"], "image_sha256": row["sha256"], "uri": uri,
                     "sha256": _sha256(out / uri), "model_id": inverter.model_id,
                     "channels": 9, "size": size}
                )  # fmt: skip
            INVERSIONS.write(records, out)
            typer.echo(
                f"[invert] {inverter.model_id}: cache hits={store.hits} misses={store.misses}"
            )
            summary.rows_out = len(records)
            # cache hits/misses stay out of _meta.json: it is hashed, and a rerun on the same
            # input (all hits) must give the same dataset version
            summary.outputs = {"inversions": len(records)}
            contracts = {"inversions": INVERSIONS.ref, "fakes": FAKES.ref}
            # the dataset's own params (fakes, base) travel with it, beside the inversion's
            ran_with = _upstream_params(Path(input)) | cfg.sections("invert")
            write_sidecar(out, summary.finish(), contracts, cfg.digest(*ran_with), ran_with)
        return summary

    run("invert", body)


def _upstream_params(directory: Path) -> dict:
    """The params sections the input dataset was made with (its ``_meta.json``), if recorded."""
    import json

    from replica.io import SIDECAR

    try:
        return dict(json.loads((directory / SIDECAR).read_text()).get("params") or {})
    except (OSError, ValueError):
        return {}


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
