"""Compile every Kubeflow pipeline into ``pipelines/compiled/`` (the checked-in golden specs).

Usage: ``python -m pipelines.compile`` (``make compile``). Prints each file written.
"""

from __future__ import annotations

from pipelines import replica_pipeline


def main() -> None:
    """Write each pipeline's compiled YAML next to the others and print its path."""
    print(replica_pipeline.compile_pipeline())


if __name__ == "__main__":
    main()
