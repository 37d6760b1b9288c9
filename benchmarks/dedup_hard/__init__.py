"""A hard near-duplicate text benchmark built from the real news bodies of the shared corpus.

Two variants whose edits come from separately written generators (``variant_a``,
``variant_b``): defaults are chosen on A and reported on B. ``corpus`` loads the stories and
the real page chrome; ``score`` grades a clustering against the truth.
"""
