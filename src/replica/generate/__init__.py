"""Making (source, replica) pairs: img2img generation, deterministic transforms, proxy labels."""
