"""The synthetic-detector dataset: real and generated images, re-encoded alike, split, matched."""
