"""Placeholder for the `train` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("train is not written yet")
