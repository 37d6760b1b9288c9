"""Prints the fuzz tally (cases per property and outcome) after the run."""

from __future__ import annotations

from typing import Any

from tests.fuzz._profiles import TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    total = sum(sum(c.values()) for c in TALLY.values())
    terminalreporter.section(f"fuzz: {total} cases")
    for name, counts in sorted(TALLY.items()):
        shown = ", ".join(f"{k}={v}" for k, v in counts.most_common(6))
        terminalreporter.write_line(f"{name}: {sum(counts.values())} ({shown})")
