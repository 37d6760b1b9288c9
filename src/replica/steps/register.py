"""Placeholder for the `register` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("register is not written yet")
