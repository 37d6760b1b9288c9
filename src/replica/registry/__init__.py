"""Model registry: lineage tags, the promotion gate, the MLflow pyfunc wrapper, and MLflow I/O.

Light on import: ``gate`` and ``tags`` are pure; ``store`` and ``pyfunc`` import MLflow and are
imported only by the ``register`` and ``promote`` steps that need them.
"""
