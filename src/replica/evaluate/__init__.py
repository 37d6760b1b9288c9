"""Scoring a trained copy detector on held-out pairs."""
