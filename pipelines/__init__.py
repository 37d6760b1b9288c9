"""Kubeflow Pipelines definitions; compiled specs are checked in under ``pipelines/compiled/``."""
