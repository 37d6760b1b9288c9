"""Placeholder for the `extract` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("extract is not written yet")
