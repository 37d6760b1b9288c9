"""Kubeflow Pipelines components: one per pipeline step, each running its ``dvc.yaml`` command."""
