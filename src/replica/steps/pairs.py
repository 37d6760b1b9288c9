"""Placeholder for the `pairs` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("pairs is not written yet")
