"""Placeholder for the `promote` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("promote is not written yet")
