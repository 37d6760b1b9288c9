"""Register a trained model in MLflow with its metrics and its lineage.

Command: ``replica register --family copy --model data/models/copy --metrics data/eval/copy
--lock dvc.lock --output data/registry/copy/registration.json``

Reads:  ``--model`` (model directory with ``config.json``), ``--metrics`` (``metrics.json`` or
        the directory holding it: flat metric name -> number; ``predictions.parquet`` beside it
        gives the plot and the test split's identity), ``--lock`` (``dvc.lock``: the content
        hash of every input of the ``train@<family>`` stage and of every stage upstream of it;
        absent = registering outside DVC, tagged ``dvc.lock.present=false`` with a warning),
        ``--reports`` (the GX reports ``validate`` wrote, ``*.json``; each of the family's
        ``register.<family>.required_reports`` must be there, or ``validate.passed`` is false),
        the
        upstream datasets'
        ``_meta.json`` (row counts) and the crawl's sources file (named in its ``dvc.lock`` cmd).
Writes: one MLflow run named ``register`` in experiment ``register.experiment`` (params: the
        model's config and the params sections that shaped it; metrics; tags; artifacts:
        ``plots/predicted_vs_label.png``, ``validation/*.json``, ``config/params.json`` (resolved
        params), ``config/model.json``, ``lineage/dvc.lock``, ``lineage/lineage.json``; the model
        as a pyfunc with signature and input example), a new version of the family's
        ``register.<family>.model_name`` with the same tags, and ``--output`` (JSON: model_name,
        version, run_id, model_uri, metrics, tags). Tags: ``git.commit``, ``git.dirty``,
        ``params.hash``, ``dvc.<path>`` for every upstream dataset, ``validate.<report>`` and
        ``validate.passed``, ``family``,
        ``eval.test_split`` (hash of the sorted test pair ids), ``orchestrator`` and
        ``orchestrator.run_id`` (Airflow DAG run, ``KFP_RUN_ID``, or ``dvc``).
Params: ``register`` (experiment, and per family model_name, required_reports); the sections
        that shaped the family's model (``LOGGED``) are logged as run params with the values
        the steps ran with (their ``--set`` overrides included), read from the ``params`` their
        outputs' ``_meta.json`` record; ``params.yaml`` only for a section no sidecar records
        (with a warning).

``--family synthetic``: the model is a synthetic detector (``load_detector``), served by the
pyfunc ``SyntheticDetectorModel`` (image in, P(generated) out); the test split's identity is
the hash of the candidate's test image ids in evaluate's ``predictions.parquet`` (contract
detections), and evaluate's reliability plots and report are logged with the version; the
lineage stage is ``train@synthetic``.
Env:    ``MLFLOW_TRACKING_URI`` (default: SQLite in ``./mlruns/mlflow.db``, artifacts in
        ``./mlruns/artifacts``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from replica.config import Detector, params_digest
from replica.io import SIDECAR, StepSummary, atomic_write_text, git_state
from replica.lineage import StageLock, read_dvc_lock
from replica.lineage.graph import upstream
from replica.lineage.record import RECORD_PATH, build_record, sources_files
from replica.registry.tags import (
    check_metrics,
    flatten,
    lineage_tags,
    split_hash,
    validation_tags,
)
from replica.steps._common import Overrides, ParamsPath, StepError, load, run

LOGGED = {  # the params sections that shaped each family's model, logged as run params
    Detector.copy: ("base", "pairs", "train", "copy", "evaluate", "register"),
    Detector.synthetic: ("base", "fakes", "invert", "train", "synthetic", "register"),
}


def stage_of(family: Detector) -> str:
    """The DVC stage that trained a family's model: ``train@<family>``."""
    return f"train@{family.value}"


def main(
    model: Annotated[Path, typer.Option(help="Trained model directory (weights + config.json).")],
    metrics: Annotated[Path, typer.Option(help="metrics.json, or the directory holding it.")],
    output: Annotated[Path, typer.Option(help="Where to write registration.json.")],
    lock: Annotated[Path, typer.Option(help="dvc.lock with the train stage's hashes.")] = Path(
        "dvc.lock"
    ),
    reports: Annotated[
        Path, typer.Option(help="Directory of the GX reports (*.json) written by validate.")
    ] = Path("reports/validate"),
    family: Annotated[Detector, typer.Option(help="Detector family of the model.")] = Detector.copy,
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)
    stage = stage_of(family)
    where = cfg.register.family(family)
    sections = LOGGED[family]

    def body() -> StepSummary:
        from replica.registry.store import RegistryError, register_model, tracking_from_env

        summary = StepSummary("register", rows_in=1)
        model_config = _check_model(Path(model), family)
        metrics_path = Path(metrics) / "metrics.json" if Path(metrics).is_dir() else Path(metrics)
        try:
            raw = json.loads(metrics_path.read_text())
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise StepError(f"{str(metrics_path)!r} is not JSON: {exc}") from exc
        try:
            values = check_metrics(raw, str(metrics_path))
            stages = read_dvc_lock(lock) if Path(lock).is_file() else None
        except ValueError as exc:  # LockError is a ValueError
            raise StepError(str(exc)) from exc
        if stages is None or stage not in stages:
            why = "not found" if stages is None else f"has no {stage!r} stage"
            typer.echo(
                f"[register] warning: {lock} {why}; registering without data lineage "
                "(dvc.lock.present=false)",
                err=True,
            )
            stages = None
        gx = _read_reports(Path(reports))
        missing = [n for n in where.required_reports if n not in gx]
        if missing:
            typer.echo(
                f"[register] warning: GX report(s) {missing} missing from {reports}; "
                "validate.passed=false",
                err=True,
            )
        data = cfg.to_dict() | _ran_with(Path(model), metrics_path.parent, stages, stage, sections)
        logged = {s: data[s] for s in sections}
        tags = lineage_tags(git_state(), params_digest(logged), stages, os.environ, stage)
        tags |= validation_tags(gx, where.required_reports) | {"family": family.value}
        files = {
            "config/params.json": _json(data),
            "config/model.json": _json(model_config),
            **{f"validation/{name}.json": _json(rep) for name, rep in gx.items()},
        }
        predictions = metrics_path.parent / "predictions.parquet"
        if predictions.is_file() and family is Detector.synthetic:
            tags["eval.test_split"], plots = _detections(predictions)
            files |= plots
        elif predictions.is_file():
            tags["eval.test_split"], files["plots/predicted_vs_label.png"] = _predictions(
                predictions, where.model_name
            )
        else:
            tags["eval.test_split"] = "unknown"
            typer.echo(f"[register] warning: no {predictions}; test split unknown", err=True)
        if stages is not None:
            files["lineage/dvc.lock"] = Path(lock).read_bytes()
            files[RECORD_PATH] = _json(_record(stages, stage))
        run_params = flatten(model_config, "model.") | flatten(logged)
        tracking = tracking_from_env(os.environ, Path.cwd())
        try:
            reg = register_model(
                tracking,
                experiment=cfg.register.experiment,
                model_name=where.model_name,
                model_dir=Path(model).resolve(),
                code_dir=Path(__file__).resolve().parents[1],
                params=run_params,
                metrics=values,
                tags=tags,
                files=files,
                family=family.value,
            )
        except RegistryError as exc:
            raise StepError(str(exc)) from exc
        atomic_write_text(output, json.dumps(reg.to_dict(), indent=2, sort_keys=True) + "\n")
        shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(values.items()))
        typer.echo(f"[register] {reg.model_uri} run={reg.run_id} {shown}")
        summary.rows_out = 1
        summary.outputs = {"registration": 1}
        return summary

    run("register", body)


def _ran_with(
    model: Path,
    evaluation: Path,
    stages: dict[str, StageLock] | None,
    stage: str,
    sections: tuple[str, ...],
) -> dict:
    """The params sections the upstream steps ran with, from their outputs' sidecars: the train
    stage's input datasets, then the model, then the evaluation (later ones win)."""
    dirs = [Path(d.path) for d in (stages or {}).get(stage, StageLock()).deps]
    ran: dict = {}
    for directory in (*dirs, model, evaluation):
        sidecar = directory / SIDECAR
        if sidecar.is_file():
            try:
                ran |= json.loads(sidecar.read_text()).get("params") or {}
            except ValueError as exc:
                raise StepError(f"sidecar {str(sidecar)!r} is not JSON: {exc}") from exc
    missing = [s for s in sections if s not in ran and s != "register"]
    if missing:
        typer.echo(
            f"[register] warning: no sidecar records params {missing}; logging params.yaml's",
            err=True,
        )
    return ran


def _check_model(directory: Path, family: Detector) -> dict:
    """The model's config, after loading the model exactly as the served pyfunc will: a
    directory that is not a loadable model is an error now, not a broken registered version."""
    from replica.models.copy import CopyDetector
    from replica.models.synthetic import load_detector

    try:
        if family is Detector.synthetic:
            return dataclasses.asdict(load_detector(directory).config)
        return CopyDetector.load(directory).config.to_dict()
    except Exception as exc:  # missing files, bad config, weights that do not fit the config
        raise StepError(
            f"--model {str(directory)!r} is not a loadable {family.value} model dir: {exc}"
        ) from exc


def _json(doc: object) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n").encode()


def _read_reports(directory: Path) -> dict[str, dict]:
    """``{name: report}`` for every ``*.json`` GX report; none (or no directory) is allowed
    and tagged ``validate.passed=unknown``, an unreadable report is an error."""
    out = {}
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            report = json.loads(path.read_text())
        except ValueError as exc:
            raise StepError(f"GX report {str(path)!r} is not JSON: {exc}") from exc
        if not isinstance(report, dict) or "success" not in report:
            raise StepError(f"GX report {str(path)!r} has no 'success' field")
        out[path.stem] = report
    if not out:
        typer.echo(f"[register] warning: no GX reports in {directory}", err=True)
    return out


def _predictions(path: Path, name: str, levels: int = 6) -> tuple[str, bytes]:
    """The test split's hash and the predicted-vs-label plot, from evaluate's predictions."""
    from replica.contracts import PREDICTIONS
    from replica.registry.plots import predicted_vs_label

    table = PREDICTIONS.read(path.parent).to_pydict()
    test = [p for p, s in zip(table["pair_id"], table["split"], strict=True) if s == "test"]
    if not test:
        raise StepError(f"{path} has no test-split rows; evaluate must score the test split")
    target = [lv / max(levels - 1, 1) for lv in table["level"]]
    png = predicted_vs_label(table["predicted"], target, table["split"], name)
    return split_hash(test), png


def _detections(path: Path) -> tuple[str, dict[str, bytes]]:
    """The synthetic test split's hash (its images) and evaluate's plots and report."""
    from replica.contracts import DETECTIONS

    table = DETECTIONS.read(path.parent).to_pylist()
    test = [r["image_id"] for r in table if r["model"] == "candidate" and r["protocol"] == "test"]
    if not test:
        raise StepError(f"{path} has no test-split rows; evaluate must score the test split")
    files = {
        f"plots/{p.name}": p.read_bytes() for p in sorted((path.parent / "plots").glob("*.png"))
    }
    report = path.parent / "report.md"
    if report.is_file():
        files["evaluation/report.md"] = report.read_bytes()
    return split_hash(test), files


def _record(stages: dict[str, StageLock], stage: str) -> dict:
    """The lineage record: upstream stages and datasets (rows from their sidecars) and the
    files the crawl's sources file matches now (paths relative to the working directory)."""
    from replica.crawl.sources import SourcesError, load_sources

    chain = upstream(stages, stage)
    metas = {}
    for name in chain:
        for out in stages[name].outs:
            sidecar = Path(out.path) / SIDECAR
            if sidecar.is_file():
                try:
                    metas[out.path] = json.loads(sidecar.read_text())
                except ValueError as exc:
                    raise StepError(f"sidecar {str(sidecar)!r} is not JSON: {exc}") from exc
    sources = []
    for stage, file in sources_files(stages, chain):
        digest = next((d.hash for d in stages[stage].deps if d.path == file), None)
        try:
            entries = [
                {
                    "kind": src.kind,
                    "files": [
                        {"path": os.path.relpath(f), "size": f.stat().st_size}
                        for f in (*src.files, *src.url_index)
                    ],
                }
                for src in load_sources(Path(file))
            ]
        except (SourcesError, OSError) as exc:
            typer.echo(f"[register] warning: sources {file}: {exc}", err=True)
            entries = []
        sources.append({"file": file, "hash": digest, "stage": stage, "entries": entries})
    return build_record(stages, stage, metas, sources)
