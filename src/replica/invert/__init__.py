"""FakeInversion features: what Stable Diffusion's DDIM inversion makes of an image."""
