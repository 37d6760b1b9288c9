"""Validate every contract table in a step's output directory with its Great Expectations suite.

Command: ``replica validate --input data/extract --report reports/validate/extract.json``

Reads:  every ``*.parquet`` in ``--input`` stamped with a known contract (name@version in the
        Parquet metadata); for contracts with blob columns, the referenced files, which give
        the derived columns ``blob_ok`` (present, inside the dataset, sha256 matches, decodes),
        ``blob_format`` (the encoding of the row's files, ``mixed:...`` when they differ) and
        ``blob_encoding`` (format, mode, size and JPEG quality of the main blob: see
        ``replica.quality.encoding``); suites use them for format-parity rules. A ``*.parquet``
        that is not Parquet, carries an unknown stamp, or whose columns do not fit its contract
        fails as a dataset of the report (``readable_contract_table``).
Writes: ``--report`` (JSON: per dataset, expectations evaluated and the failures with examples).
Params: ``validate`` (max_failed_examples), ``extract.max_image_pixels`` for blob decoding.

A failing suite prints a readable report and exits 1, which stops ``dvc repro`` and every
orchestrator before anything downstream runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow.parquet as pq
import typer

from replica.contracts import Contract, ContractError, by_ref, stamp_of
from replica.io import StepSummary, atomic_write_text
from replica.quality.blobs import derive_blob_columns
from replica.quality.encoding import encoding_of
from replica.quality.suite import ExpectationOutcome, SuiteReport, run_suite
from replica.steps._common import Overrides, ParamsPath, StepError, load, run


def main(
    input: Annotated[Path, typer.Option(help="Step output directory holding contract tables.")],
    report: Annotated[Path, typer.Option(help="Where to write the JSON validation report.")],
    params: ParamsPath = Path("params.yaml"),
    set_: Overrides = None,
) -> None:
    cfg = load(params, set_)
    outcome: dict[str, bool] = {}

    def body() -> StepSummary:
        summary = StepSummary("validate")
        reports = []
        for path in sorted(Path(input).glob("*.parquet")):
            opened = _open(path)
            if opened is None:
                continue  # a foreign Parquet file: no contract to check it against
            if isinstance(opened, str):
                reports.append(_unreadable(path, opened))
                for line in reports[-1].lines():
                    typer.echo(line)
                continue
            contract, df = opened
            if contract.blobs:
                ok, formats, reasons = derive_blob_columns(
                    df, contract.blobs, Path(input), cfg.extract.max_image_pixels
                )
                df["blob_ok"], df["blob_format"] = ok, formats
                summary.rejects.update(reasons)
                main = contract.blobs[0][0]
                df["blob_encoding"] = [
                    encoding_of(Path(input) / uri) if good else None
                    for uri, good in zip(df[main], ok, strict=True)
                ]
            result = run_suite(contract, df, cfg.validate.max_failed_examples)
            reports.append(result)
            summary.rows_in += len(df)
            summary.outputs[contract.name] = len(df)
            for line in result.lines():
                typer.echo(line)
        if not reports:
            raise StepError(f"no contract-stamped Parquet tables in {str(input)!r}")
        outcome["success"] = all(r.success for r in reports)
        summary.rows_out = sum(r.rows for r in reports if r.success)
        doc = {"success": outcome["success"], "datasets": [r.to_dict() for r in reports]}
        atomic_write_text(report, json.dumps(doc, indent=2, default=str) + "\n")
        return summary

    run("validate", body)
    if not outcome["success"]:
        typer.echo(
            f"[validate] FAILED: {input} does not meet its contracts; see {report}", err=True
        )
        raise typer.Exit(code=1)


def _open(path: Path) -> tuple[Contract, pd.DataFrame] | str | None:
    """The contract and rows of a stamped table; None for a foreign (unstamped) Parquet file;
    why it cannot be validated, for a file that is not Parquet or does not fit its contract."""
    try:
        stamp = stamp_of(path)
        if stamp is None:
            return None
        contract = by_ref(stamp)
        contract.check_file(path)
        return contract, pq.read_table(path).to_pandas()
    except ContractError as exc:
        return str(exc)
    except (OSError, ValueError) as exc:  # pyarrow's errors on a corrupt file body
        return f"{str(path)!r} cannot be read: {type(exc).__name__}: {exc}"


def _unreadable(path: Path, why: str) -> SuiteReport:
    outcome = ExpectationOutcome("readable_contract_table", None, False, None, [why[:300]])
    return SuiteReport(path.stem, "unknown", 0, False, [outcome])
