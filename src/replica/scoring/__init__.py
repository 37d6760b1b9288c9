"""Scoring image pairs with a copy detector: features per image (cached), per pair, fused."""
