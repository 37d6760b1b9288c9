"""Placeholder for the `dedup` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("dedup is not written yet")
