"""Training the copy detector on labelled pairs."""
