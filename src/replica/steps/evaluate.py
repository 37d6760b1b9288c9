"""Placeholder for the `evaluate` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("evaluate is not written yet")
