"""D-Rep pairs by construction: the level rule, image operations and compositions, diffusion
replicas, references (clusters, splits, negatives), prompt matching and human labels."""
