"""Commands that are not pipeline steps (helpers for the demo and tests)."""

from replica.steps._common import StepError


def make_tiny_sd() -> None:
    """Placeholder (being written)."""
    raise StepError("make-tiny-sd is not written yet")
