"""Deduplication: exact and near-duplicate text and images, clustered with union-find."""
