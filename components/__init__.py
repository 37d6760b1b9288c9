"""Kubeflow Pipelines container components: one per ``replica`` step (see ``components.steps``)."""
