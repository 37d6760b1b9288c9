"""Placeholder for the `crawl` step (being written)."""

from replica.steps._common import StepError


def main() -> None:
    raise StepError("crawl is not written yet")
