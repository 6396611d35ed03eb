"""How good a resolve is: evaluation against a truth, and training labelled pairs and models."""
