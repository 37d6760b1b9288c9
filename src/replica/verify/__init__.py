"""Local-feature verification and hand-crafted global descriptors of image pairs."""
