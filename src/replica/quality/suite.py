"""Run a contract's Great Expectations suite on a table and summarize the result readably."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from replica.contracts import Contract


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    examples: list[Any] = field(default_factory=list)


@dataclass
class SuiteReport:
    dataset: str
    contract: str
    rows: int
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "contract": self.contract,
            "rows": self.rows,
            "success": self.success,
            "evaluated": len(self.outcomes),
            "failed": [o.__dict__ for o in self.failed],
        }

    def lines(self) -> list[str]:
        head = "PASS" if self.success else "FAIL"
        out = [
            f"{head} {self.dataset} ({self.contract}, {self.rows} rows): "
            f"{len(self.outcomes) - len(self.failed)}/{len(self.outcomes)} expectations met"
        ]
        for o in self.failed:
            where = f" on {o.column!r}" if o.column else ""
            out.append(
                f"  - {o.expectation}{where}: {o.unexpected_count} unexpected, e.g. {o.examples}"
            )
        return out


def run_suite(contract: Contract, df: pd.DataFrame, max_examples: int = 5) -> SuiteReport:
    """Validate ``df`` against the contract's suite in an ephemeral GX context."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        ctx.data_sources.add_pandas(f"{contract.name}_source")
        .add_dataframe_asset(contract.name)
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = gx.ExpectationSuite(name=f"{contract.ref}")
    for expectation in contract.suite():
        suite.add_expectation(expectation)
    result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": max_examples}
    )
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        assert cfg is not None, "GX returned a result without its expectation"
        res = r.result or {}
        if r.exception_info and r.exception_info.get("raised_exception"):
            examples = [r.exception_info.get("exception_message")]
        else:
            examples = list(res.get("partial_unexpected_list") or [])[:max_examples]
            if not examples and not r.success and res.get("observed_value") is not None:
                examples = [f"observed: {res['observed_value']}"]  # aggregate rules have no rows
        outcomes.append(
            ExpectationOutcome(
                expectation=cfg.type,
                column=cfg.kwargs.get("column"),
                success=bool(r.success),
                unexpected_count=res.get("unexpected_count"),
                examples=[str(x)[:120] for x in examples],
            )
        )
    return SuiteReport(
        dataset=contract.name,
        contract=contract.ref,
        rows=len(df),
        success=bool(result.success),
        outcomes=outcomes,
    )
